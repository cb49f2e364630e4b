"""Import OpenFace 2.x and py-feat CSV outputs into coaffect's faces-table schema.

A lab that already scores faces with OpenFace (``FeatureExtraction``) or
py-feat can run coaffect's statistics on those outputs. These readers give a
plain video's table (``t`` is the tool's video time); for a session, use
:func:`analysis.interop.session_import.import_faces`, which maps frames to the
session clock and takes the baseline window from the session. The tool's
action-unit intensities (OpenFace ``AUxx_r`` 0-5, py-feat 0-1) stay in
``AUxx_raw``; ``AUxx`` is their robust z-score by the rule of coaffect's own
measures (:func:`analysis.expression.baseline.baseline_zscores`) against the
rows marked ``in_baseline``, or, when none is marked (a plain video, like
coaffect's own plain videos), the whole recording; composites are computed
from them the same way. py-feat's emotion probabilities fill the ``emo_``
columns; OpenFace has none (NaN). Units the tool lacks are NaN. OpenFace's
``pose_R*`` are radians and become degrees here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_option
from coaffect.formats.errors import AnalysisError
from coaffect.formats.faces_schema import ACTION_UNITS, ALL_COLUMNS, EMOTIONS, HEAD_POSE, RAW_UNITS

from ..expression.baseline import baseline_zscores
from ..expression.composites import composite_scores
from ..faces.detect import box_from_landmarks

_PYFEAT_EMOTIONS = {
    "anger": "emo_angry",
    "disgust": "emo_disgust",
    "fear": "emo_fear",
    "happiness": "emo_happy",  # py-feat's own column names
    "sadness": "emo_sad",
    "surprise": "emo_surprise",
    "neutral": "emo_neutral",
}


def read_tool_csv(path) -> pd.DataFrame:
    """A tool's CSV (OpenFace, py-feat) with stripped column names, or one-line AnalysisError.

    Examples
    --------
    >>> read_tool_csv("/nonexistent.csv")
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.AnalysisError: /nonexistent.csv: no such file
    """
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _boxes(df: pd.DataFrame) -> np.ndarray:
    xs = [f"x_{i}" for i in range(68)]
    ys = [f"y_{i}" for i in range(68)]
    if not set(xs + ys) <= set(df.columns):
        return np.full((len(df), 4), np.nan)
    pts = np.stack([df[xs].to_numpy(float), df[ys].to_numpy(float)], axis=-1)
    out = np.full((len(df), 4), np.nan)
    for i, p in enumerate(pts):
        if np.isfinite(p).all():
            out[i] = box_from_landmarks(p)
    return out


def _assemble(
    df,
    frame,
    t,
    found,
    boxes,
    det_conf,
    aus: dict,
    emotions: dict,
    session_id,
    camera,
    participant_id,
    in_baseline,
    track,
    scale,
    pose: dict | None = None,
) -> pd.DataFrame:
    check_option("scale", scale, ("z", "native"), error=AnalysisError)
    n = len(df)
    out = pd.DataFrame(
        {
            "session_id": session_id,
            "camera": camera,
            "frame": np.asarray(frame, dtype="int64"),
            "t": np.asarray(t, dtype=float),
            "participant_id": participant_id,
            "face_found": np.asarray(found, dtype=bool),
        }
    )
    for k, col in enumerate(("face_x", "face_y", "face_w", "face_h")):
        out[col] = boxes[:, k]
    out["detection_confidence"] = np.asarray(det_conf, dtype=float)
    out["identity_confidence"] = np.nan
    out["track_id"] = pd.array(track, dtype="Int64")
    out["face_quality"] = np.where(out["face_found"], "ok", "no_face")  # no flags from other tools
    out["landmark_jitter"] = np.nan  # needs coaffect's own pose fit
    raw = pd.DataFrame({au: aus.get(au, np.full(n, np.nan)) for au in ACTION_UNITS}, index=out.index)
    raw[~out["face_found"].to_numpy()] = np.nan
    raw["participant_id"] = participant_id
    mask = np.zeros(n, bool) if in_baseline is None else np.asarray(in_baseline, dtype=bool)
    z = baseline_zscores(raw, ACTION_UNITS, mask) if scale == "z" else raw[list(ACTION_UNITS)]
    out = pd.concat([out, z, composite_scores(z)], axis=1)
    for emo in EMOTIONS:
        vals = np.asarray(emotions.get(emo, np.full(n, np.nan)), dtype=float)
        out[emo] = np.where(out["face_found"], vals, np.nan)
    for au, col in zip(ACTION_UNITS, RAW_UNITS):
        out[col] = raw[au]  # the tool's own intensities
    for name in HEAD_POSE:
        vals = np.asarray((pose or {}).get(name, np.full(n, np.nan)), dtype=float)
        out[name] = np.where(out["face_found"], vals, np.nan)
    return out[list(ALL_COLUMNS)]


def read_openface(
    path,
    session_id: str | None = None,
    camera: str = "video",
    participant_id: str = "face01",
    in_baseline=None,
    scale: str = "z",
) -> pd.DataFrame:
    """Read an OpenFace 2.x FeatureExtraction CSV as a coaffect faces table.

    Parameters
    ----------
    path : str or Path
        The CSV (``frame, timestamp, confidence, success, ..., AU01_r ... AU45_r``).
    session_id, camera, participant_id : str
        Key columns to fill (default session_id: the file stem).
    in_baseline : array-like of bool, optional
        One value per CSV row: True in the neutral baseline, the only reference of
        the z-scores (default: no baseline, so the whole recording is the
        reference, as for coaffect's own plain videos).
    scale : {"z", "native"}
        ``z``: robust z-scores against the baseline, as coaffect's own measures
        (needs several frames); ``native``: OpenFace's 0-5 intensities as they are.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`coaffect.formats.faces_schema.ALL_COLUMNS`; frames where
        OpenFace's ``success`` is 0 have NaN measures. ``detection_confidence``
        holds OpenFace's ``confidence`` (0-1).

    Examples
    --------
    >>> faces = read_openface(shared / "interop/OpenFace_Test.csv")
    >>> len(faces), int(faces["frame"].iloc[0])
    (100, 0)
    """
    df = read_tool_csv(path)
    needed = {"frame", "timestamp", "success"}
    if not needed <= set(df.columns) or not any(c.endswith("_r") for c in df.columns):
        raise AnalysisError(
            f"{path}: not an OpenFace 2.x CSV (needs frame, timestamp, success "
            f"and AUxx_r columns; got {', '.join(list(df.columns)[:6])}...)"
        )
    aus = {au: df[f"{au}_r"].to_numpy(float) for au in ACTION_UNITS if f"{au}_r" in df.columns}
    track = df["face_id"].to_numpy() + 1 if "face_id" in df.columns else np.ones(len(df), int)
    pose = {
        name: np.degrees(df[col].to_numpy(float))
        for name, col in (("yaw", "pose_Ry"), ("pitch", "pose_Rx"), ("roll", "pose_Rz"))
        if col in df.columns
    }
    return _assemble(
        df,
        df["frame"].to_numpy() - 1,
        df["timestamp"],
        df["success"].to_numpy() == 1,
        _boxes(df),
        df.get("confidence", pd.Series(np.nan, index=df.index)),
        aus,
        {},
        session_id or Path(path).stem,
        camera,
        participant_id,
        in_baseline,
        track,
        scale,
        pose,
    )


def read_pyfeat(
    path,
    *,
    session_id: str | None = None,
    camera: str = "video",
    participant_id: str = "face01",
    in_baseline=None,
    scale: str = "z",
    fps: float | None = None,
) -> pd.DataFrame:
    """Read a py-feat detector CSV (Fex table) as a coaffect faces table.

    Parameters
    ----------
    path : str or Path
        The CSV (``FaceRectX...``, ``AU01``... 0-1, ``anger``... ``neutral``).
    session_id, camera, participant_id : str
    fps : float, optional
        Frame rate to compute ``t`` from ``frame`` (default: ``approx_time``
        if present, else NaN).
    in_baseline : array-like of bool, optional
        As for :func:`read_openface`: the baseline rows (default: the whole recording).
    scale : {"z", "native"}
        ``z`` as coaffect's own measures; ``native``: py-feat's 0-1 values as they
        are (use for single images, where a z-score has no reference).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ALL_COLUMNS`. Face box from FaceRect*, detection
        confidence from FaceScore, emo_ columns from py-feat's emotion probabilities.

    Examples
    --------
    >>> faces = read_pyfeat(shared / "interop/pyfeat_single_face_jpg_detections.csv", scale="native")
    >>> faces[["AU12", "emo_happy"]].round(2).values.tolist()
    [[0.86, 1.0]]
    """
    df = read_tool_csv(path)
    if not {"FaceRectX", "FaceRectWidth"} <= set(df.columns) or "AU12" not in df.columns:
        raise AnalysisError(f"{path}: not a py-feat CSV (needs FaceRectX.., FaceRectWidth and AU columns)")
    frame = df["frame"].to_numpy() if "frame" in df.columns else np.arange(len(df))
    if fps:
        t = frame / float(fps)
    elif "approx_time" in df.columns:
        t = pd.to_numeric(df["approx_time"], errors="coerce").to_numpy()
    else:
        t = np.full(len(df), np.nan)
    boxes = df[["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]].to_numpy(float)
    found = np.isfinite(boxes).all(axis=1)
    aus = {au: df[au].to_numpy(float) for au in ACTION_UNITS if au in df.columns}
    emotions = {emo: df[col].to_numpy(float) for col, emo in _PYFEAT_EMOTIONS.items() if col in df.columns}
    return _assemble(
        df,
        frame,
        t,
        found,
        boxes,
        df.get("FaceScore", pd.Series(np.nan, index=df.index)),
        aus,
        emotions,
        session_id or Path(path).stem,
        camera,
        participant_id,
        in_baseline,
        np.ones(len(df), int),
        scale,
        {
            name: df[col].to_numpy(float)
            for name, col in (("yaw", "Yaw"), ("pitch", "Pitch"), ("roll", "Roll"))
            if col in df
        },
    )
