"""Assemble the frame x participant faces table and its summary from pipeline observations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import (
    ALL_COLUMNS,
    EMOTIONS,
    FACES_FORMAT_VERSION,
    QUALITY_FLAGS,
    RAW_UNITS,
)

from ..expression.baseline import baseline_mask
from ..expression.measures import expression_measures
from .identity import UNKNOWN
from .pipeline import VideoObservations
from .quality import quality_flags


def faces_table(
    obs: VideoObservations,
    identity: pd.DataFrame,
    participants: list[str],
    session_id: str,
    camera: str,
    frame_times=None,
    baseline=None,
) -> tuple[pd.DataFrame, dict]:
    """Turn pipeline observations into the frame x participant faces table.

    Parameters
    ----------
    obs : VideoObservations
    identity : pandas.DataFrame
        track_id, participant_id (or ``unknown``), identity_confidence.
    participants : list of str
        Participants of this camera: one row per frame for each, seen or not.
    session_id, camera : str
    frame_times : pandas.DataFrame, optional
        frame, t on the session clock (``cam-<name>_frames.tsv``); default frame / fps.
    baseline : (events, window), optional
        Session events and the protocol's baseline window; default: whole recording.

    Returns
    -------
    faces : pandas.DataFrame
        Columns :data:`coaffect.formats.faces_schema.ALL_COLUMNS`.
    notes : dict
        unknown_face_frames, baseline_source.

    Examples
    --------
    >>> from analysis.faces.observe import observe_video
    >>> obs = observe_video(shared / "edge/no_face.mp4", stop=5)
    >>> faces, _ = faces_table(obs, pd.DataFrame(columns=["track_id", "participant_id",
    ...     "identity_confidence"]), ["P01"], "S1", "wide")
    >>> len(faces), int(faces["face_found"].sum())
    (5, 0)
    """
    frames = obs.frames[["frame", "t_video", "scored"]]
    t = frames["t_video"].to_numpy(dtype=float)
    if frame_times is not None and len(frame_times):
        ft = dict(zip(frame_times["frame"].astype(int), frame_times["t"].astype(float)))
        t = np.array([ft.get(int(f), np.nan) for f in frames["frame"]])
    grid = pd.DataFrame(
        {
            "participant_id": np.repeat(np.asarray(participants, dtype=object), len(frames)),
            "frame": np.tile(frames["frame"].to_numpy(), len(participants)),
            "t": np.tile(t, len(participants)),
            "scored": np.tile(frames["scored"].to_numpy(), len(participants)),
        }
    )
    faces = obs.faces.merge(identity, on="track_id", how="left")
    faces["participant_id"] = faces["participant_id"].fillna(UNKNOWN)
    faces["row"] = np.arange(len(faces))
    known = faces[faces["participant_id"].isin(participants)]
    known = known.sort_values(["detection_confidence"], ascending=False).drop_duplicates(
        ["frame", "participant_id"]
    )
    n_unknown = int((faces["participant_id"] == UNKNOWN).sum())
    merged = grid.merge(known, on=["frame", "participant_id"], how="left")
    found = merged["row"].notna().to_numpy()
    lms = np.full((len(merged), 68, 2), np.nan)
    lms[found] = obs.landmarks[merged.loc[found, "row"].astype(int).to_numpy()]
    if baseline is not None:
        mask, source = baseline_mask(merged["t"].to_numpy(), *baseline)
    else:
        mask, source = np.zeros(len(merged), bool), "whole recording"
    if not mask[found].any():
        source = "whole recording"
    fps = obs.info["fps"]  # rows are every frame of the range, skipped ones too (NaN)
    measures = expression_measures(merged, lms, mask, fps)
    out = pd.DataFrame(
        {
            "session_id": session_id,
            "camera": camera,
            "frame": merged["frame"].astype("int64"),
            "t": merged["t"].astype(float),
            "participant_id": merged["participant_id"].astype(str),
            "face_found": found,
        }
    )
    for col in ("face_x", "face_y", "face_w", "face_h", "detection_confidence", "identity_confidence"):
        out[col] = merged[col].astype(float)
    out["track_id"] = merged["track_id"].astype("Int64")
    out["face_quality"] = quality_flags(
        merged["participant_id"].to_numpy(),
        merged["t"].to_numpy(dtype=float),
        lms,
        measures[["yaw", "pitch"]],
        merged["identity_confidence"].to_numpy(dtype=float),
    )
    out = pd.concat([out, measures], axis=1)
    for emo in EMOTIONS:
        out[emo] = merged[emo].astype(float)
    scored = merged["scored"].to_numpy(dtype=bool)
    by_pid = {
        pid: [int(found[idx].sum()), int(scored[idx].sum())]
        for pid, idx in merged.groupby("participant_id", sort=True).indices.items()
    }
    return out[list(ALL_COLUMNS)], {
        "unknown_face_frames": n_unknown,
        "baseline_source": source,
        "scored_rows": int(scored.sum()),
        "found_rows": int(found.sum()),
        "by_participant": by_pid,
    }


def score_summary(faces: pd.DataFrame, infos: dict, settings_hash: str, settings: dict, notes, extra) -> dict:
    """The ``score_summary.json`` of one scored session or video.

    Parameters
    ----------
    faces : pandas.DataFrame
        The faces table.
    infos : dict
        camera -> :attr:`VideoObservations.info`.
    settings_hash, settings
        What decides re-scoring.
    notes : list of str
    extra : dict
        From :func:`faces_table` (summed over cameras): scored_rows, found_rows,
        by_participant, unknown_face_frames, baseline_source.

    Examples
    --------
    >>> faces = pd.DataFrame({"participant_id": ["P"], "face_found": [False]})
    >>> score_summary(faces, {}, "abc", {}, [], {"scored_rows": 1, "found_rows": 0})["faces_found_fraction"]
    0.0
    >>> s = score_summary(faces, {"wide": {"frames_unreadable": 3, "min_face_px": 60,
    ...     "smallest_face_px": float("nan")}}, "abc", {}, [], {"scored_rows": 1, "found_rows": 0})
    >>> s["frames_unreadable"], s["notes"][0][:35]
    (3, '3 frames could not be decoded (cut ')
    """
    scored_rows = extra.pop("scored_rows", len(faces))
    found_rows = extra.pop("found_rows", int(faces["face_found"].sum()))
    per = {pid: round(f / n, 4) if n else 0.0 for pid, (f, n) in extra.pop("by_participant", {}).items()}
    smallest = [i["smallest_face_px"] for i in infos.values() if np.isfinite(i["smallest_face_px"])]
    quality = {}
    if "face_quality" in faces:
        q = faces.loc[faces["face_found"].astype(bool), "face_quality"].astype(str)
        quality = {flag: int(q.str.contains(flag, regex=False).sum()) for flag in QUALITY_FLAGS}
    unreadable = int(sum(i.get("frames_unreadable", 0) for i in infos.values()))
    resolutions = sorted({i["analysis_face_px"] for i in infos.values() if "analysis_face_px" in i}, key=str)
    if unreadable:
        notes = [
            *notes,
            f"{unreadable} frames could not be decoded (cut file or frame table longer than the "
            "video): their rows are NaN and not counted in scored_rows",
        ]
    return {
        "format_version": FACES_FORMAT_VERSION,
        "settings_hash": settings_hash,
        "settings": settings,
        "rows": int(len(faces)),
        "scored_rows": int(scored_rows),
        "frames_unreadable": unreadable,
        "faces_found_fraction": round(found_rows / scored_rows, 4) if scored_rows else 0.0,
        "faces_found_fraction_by_participant": per,
        "min_face_px_detectable": float(min(i["min_face_px"] for i in infos.values())) if infos else None,
        "smallest_face_px_found": float(min(smallest)) if smallest else None,
        # common analysis resolution (face px) the landmarks were fitted at; None: as filmed
        "analysis_face_px": resolutions[0] if len(resolutions) == 1 else resolutions or None,
        "cameras": infos,
        "quality_flag_rows": quality,
        "au_correlation": au_correlation(faces),
        "notes": list(notes),
        **extra,
    }


def au_correlation(faces: pd.DataFrame) -> dict:
    """Pearson correlation matrix of the raw action units over the rows with a face.

    Computed within each participant (their mean removed) and pooled, so
    differences between people do not create correlations. Published in
    ``score_summary.json`` (``au_correlation``) so a reviewer can see that the
    units move independently; None where a unit does not vary.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"participant_id": ["P"] * 50, "face_found": True,
    ...                   **{c: rng.normal(size=50) for c in RAW_UNITS}})
    >>> m = au_correlation(f)
    >>> m["AU12"]["AU12"], abs(m["AU12"]["AU15"]) < 0.4
    (1.0, True)
    """
    cols = [c for c in RAW_UNITS if c in faces.columns]
    if not cols or "face_found" not in faces:
        return {}
    rows = faces.loc[faces["face_found"].astype(bool), ["participant_id", *cols]]
    centred = rows[cols] - rows.groupby("participant_id")[cols].transform("mean")
    corr = centred.corr()
    names = [c[: -len("_raw")] for c in cols]
    return {
        a: {
            b: (round(float(corr.iloc[i, j]), 3) if np.isfinite(corr.iloc[i, j]) else None)
            for j, b in enumerate(names)
        }
        for i, a in enumerate(names)
    }
