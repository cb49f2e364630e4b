"""Validate coaffect's facial measures against an OpenFace 2.x output of the same video.

Many labs already have OpenFace (``FeatureExtraction``) outputs. This scores
the same video with coaffect and reports, per action unit, on the frames both
tools scored:

* **Pearson r** between coaffect's raw measure (``AUxx_raw``) and OpenFace's
  intensity (``AUxx_r``): do the two follow the same movement?
* **ICC(A,1)** (two-way, absolute agreement, single measures; McGraw & Wong
  1996, Psychol Methods 1:30-46) between coaffect's z-score and OpenFace's
  intensity z-scored the same way (median and robust SD of the same
  reference frames): do they agree in baseline-SD units, level included?

A unit OpenFace does not vary (SD < 0.05 on its 0-5 scale) gets NaN and a
note: a correlation with a flat reference means nothing. Besides the video
check, :func:`formulas_on_openface_landmarks` applies coaffect's formulas to
OpenFace's own 68 landmarks, which separates formula quality from landmark
quality. :func:`compare_sources` puts coaffect's units and an imported tool's
side by side for a session scored both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.faces_schema import ACTION_UNITS, SOURCE_COLUMN
from coaffect.formats.tables import derivatives_dir

from ..expression.baseline import baseline_mask, baseline_zscores
from ..expression.geometry import head_pose, landmark_action_units
from .alignment import FrameAlignment, check_frame_alignment, video_frames
from .readers import read_openface, read_tool_csv
from .session_import import COAFFECT_ROWS, MIN_SPREAD, face_sources

#: OpenFace intensity SD below which a unit is "not moving" in the reference.
MIN_REFERENCE_SD = 0.05


@dataclass
class FaceValidation:
    """Result of :func:`validate_faces`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per action unit both tools have: au, n_frames, pearson_r, icc,
        openface_sd, note.
    pose : pandas.DataFrame
        yaw, pitch, roll: Pearson r with OpenFace's pose_Ry, pose_Rx, pose_Rz.
    plot : Path or None
        The PNG written (scatter per unit), if an output folder was given.
    alignment : FrameAlignment or None
        How the CSV's rows were lined up with the video's frames (1- or 0-based).
    """

    table: pd.DataFrame
    pose: pd.DataFrame
    plot: Path | None = None
    alignment: FrameAlignment | None = None


def icc_a1(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(A,1): two-way, absolute agreement, single measures, for two raters.

    Examples
    --------
    >>> a = np.array([1.0, 2, 3, 4, 5])
    >>> round(icc_a1(a, a), 3), round(icc_a1(a, a + 1), 3), round(icc_a1(a, -a), 3)
    (1.0, 0.833, -0.128)
    """
    data = np.column_stack([x, y]).astype(float)
    data = data[np.isfinite(data).all(axis=1)]
    n, k = data.shape
    if n < 3:
        return float("nan")
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom > 0 else float("nan")


def _robust_z(v: np.ndarray) -> np.ndarray:
    med = np.nanmedian(v)
    sd = 1.4826 * np.nanmedian(np.abs(v - med))
    if not sd > 0:
        sd = np.nanstd(v)
    return (v - med) / sd if sd > 0 else v * np.nan


def compare_to_openface(
    faces: pd.DataFrame, openface: pd.DataFrame, pose: pd.DataFrame | None = None
) -> FaceValidation:
    """Per-AU agreement between a coaffect faces table and an OpenFace table (same video).

    Parameters
    ----------
    faces : pandas.DataFrame
        coaffect's faces table for one participant (``frame``, ``AUxx``, ``AUxx_raw``).
    openface : pandas.DataFrame
        :func:`analysis.interop.readers.read_openface` with ``scale="native"``.
    pose : pandas.DataFrame, optional
        OpenFace's pose in degrees (frame, yaw, pitch, roll).

    Returns
    -------
    FaceValidation

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.uniform(0, 3, 60)
    >>> faces = pd.DataFrame({"frame": range(60), "face_found": True, "AU12_raw": truth + rng.normal(0, .3, 60)})
    >>> faces["AU12"] = _robust_z(faces["AU12_raw"].to_numpy())
    >>> of = pd.DataFrame({"frame": range(60), "face_found": True, "AU12": truth})
    >>> row = compare_to_openface(faces, of).table.iloc[0]
    >>> row["au"], bool(row["pearson_r"] > 0.9), bool(row["icc"] > 0.8)
    ('AU12', True, True)
    """
    both = faces[faces["face_found"].astype(bool)].merge(
        openface[openface["face_found"].astype(bool)], on="frame", suffixes=("", "_of")
    )
    rows = []
    for au in ACTION_UNITS:
        if f"{au}_raw" not in both or f"{au}_of" not in both and au not in openface:
            continue
        ref_col = f"{au}_of" if f"{au}_of" in both else None
        if ref_col is None:
            continue
        ours, ref = both[f"{au}_raw"].to_numpy(float), both[ref_col].to_numpy(float)
        ok = np.isfinite(ours) & np.isfinite(ref)
        if not ok.any():
            continue
        sd = float(np.std(ref[ok]))
        note = ""
        r = icc = float("nan")
        if sd < MIN_REFERENCE_SD:
            note = f"OpenFace {au} does not move here (SD {sd:.2f})"
        elif ok.sum() >= 3:
            r = float(np.corrcoef(ours[ok], ref[ok])[0, 1])
            icc = icc_a1(both[au].to_numpy(float)[ok], _robust_z(ref[ok]))
        rows.append(
            {"au": au, "n_frames": int(ok.sum()), "pearson_r": r, "icc": icc, "openface_sd": sd, "note": note}
        )
    table = pd.DataFrame(rows, columns=["au", "n_frames", "pearson_r", "icc", "openface_sd", "note"])
    pose_rows = []
    if pose is not None and {"yaw", "pitch", "roll"} <= set(faces.columns):
        m = faces.merge(pose, on="frame", suffixes=("", "_of"))
        for name in ("yaw", "pitch", "roll"):
            a, b = m[name].to_numpy(float), m[f"{name}_of"].to_numpy(float)
            ok = np.isfinite(a) & np.isfinite(b)
            r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() >= 3 and np.std(b[ok]) > 0 else np.nan
            pose_rows.append(
                {"angle": name, "pearson_r": r, "mean_difference_deg": float(np.mean(a[ok] - b[ok]))}
            )
    return FaceValidation(
        table, pd.DataFrame(pose_rows, columns=["angle", "pearson_r", "mean_difference_deg"])
    )


def _openface_pose(csv, one_based: bool = True) -> pd.DataFrame | None:
    df = read_tool_csv(csv)
    if not {"pose_Rx", "pose_Ry", "pose_Rz"} <= set(df.columns):
        return None
    return pd.DataFrame(
        {
            "frame": df["frame"].to_numpy() - (1 if one_based else 0),
            "yaw": np.degrees(df["pose_Ry"].to_numpy(float)),
            "pitch": np.degrees(df["pose_Rx"].to_numpy(float)),
            "roll": np.degrees(df["pose_Rz"].to_numpy(float)),
        }
    )


def formulas_on_openface_landmarks(csv) -> FaceValidation:
    """coaffect's AU and pose formulas on OpenFace's own 68 landmarks, against OpenFace's AUs.

    Separates the formulas from the landmark fit: the landmarks are the same,
    only the AU computation differs.

    Examples
    --------
    >>> v = formulas_on_openface_landmarks(shared / "interop/OpenFace_Test.csv")
    >>> float(v.table.set_index("au").loc["AU45", "pearson_r"].round(2))
    0.92
    """
    df = read_tool_csv(csv)
    need = [f"{c}_{i}" for c in "xy" for i in range(68)]
    if not set(need) <= set(df.columns):
        raise AnalysisError(f"{csv}: no 2-D landmarks (x_0..x_67, y_0..y_67) in this OpenFace CSV")
    lms = np.stack(
        [
            df[[f"x_{i}" for i in range(68)]].to_numpy(float),
            df[[f"y_{i}" for i in range(68)]].to_numpy(float),
        ],
        -1,
    )
    raw = landmark_action_units(lms)
    faces = pd.DataFrame({"frame": df["frame"].to_numpy() - 1, "face_found": df["success"].to_numpy() == 1})
    for au in ACTION_UNITS:
        faces[f"{au}_raw"] = raw[au].to_numpy()
        faces[au] = _robust_z(raw[au].to_numpy())
    faces = pd.concat([faces, head_pose(lms)], axis=1)
    return compare_to_openface(faces, read_openface(csv, scale="native"), _openface_pose(csv))


def validation_figure(faces: pd.DataFrame, openface: pd.DataFrame, table: pd.DataFrame, path) -> Path:
    """Scatter of coaffect's raw measure against OpenFace's intensity, one panel per unit.

    Examples
    --------
    Not run as a doctest: it needs a scored clip and OpenFace's output
    (tests/test_validate_faces.py).

    >>> validation_figure(faces, openface, result.table, "validation.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = faces[faces["face_found"].astype(bool)].merge(openface, on="frame", suffixes=("", "_of"))
    units = list(table["au"])
    cols = 4
    rows = max(1, int(np.ceil(len(units) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    stats = table.set_index("au")
    for ax, au in zip(axes.flat, units):
        ax.scatter(both[f"{au}_of"], both[f"{au}_raw"], s=6, alpha=0.6)
        r, icc = stats.loc[au, "pearson_r"], stats.loc[au, "icc"]
        ax.set_title(
            f"{au}: r={r:.2f} ICC={icc:.2f}" if np.isfinite(r) else f"{au}: reference flat", fontsize=9
        )
        ax.set_xlabel("OpenFace intensity (0-5)", fontsize=8)
        ax.set_ylabel("coaffect raw", fontsize=8)
    for ax in list(axes.flat)[len(units) :]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def validate_faces(
    video, openface_csv, out_dir=None, settings=None, participant: str | None = None
) -> FaceValidation:
    """Score ``video`` and compare it with OpenFace's output for the same video.

    Parameters
    ----------
    video : str or Path
        The video OpenFace scored.
    openface_csv : str or Path
        OpenFace 2.x ``FeatureExtraction`` CSV of that video (one face).
    out_dir : str or Path, optional
        Where to write ``validation.tsv`` and ``validation.png``.
    settings : analysis.scoring.score.ScoreSettings, optional
    participant : str, optional
        Which coaffect face to compare (default: the one found most often).

    Returns
    -------
    FaceValidation

    Examples
    --------
    Not run as a doctest: it scores a clip and reads OpenFace's output for it (tens of seconds;
    tests/test_validate_faces.py).

    >>> v = validate_faces("clip.mp4", "clip_openface.csv", out_dir="val")  # doctest: +SKIP
    >>> v.table[["au", "pearson_r", "icc"]]                                 # doctest: +SKIP
    """
    from coaffect.formats.tables import write_tsv

    from ..scoring.video import score_video

    raw = read_tool_csv(openface_csv)
    if not {"frame", "timestamp"} <= set(raw.columns):
        raise AnalysisError(f"{openface_csv}: not an OpenFace 2.x CSV (needs frame and timestamp columns)")
    # refuse another video's output before scoring (an 88-frame CSV gave plausible r values)
    alignment = check_frame_alignment(raw["frame"], raw["timestamp"], *video_frames(video), str(openface_csv))
    openface = read_openface(openface_csv, scale="native")
    if not alignment.one_based:  # read_openface takes OpenFace's 1-based numbers
        openface["frame"] = openface["frame"] + 1
    faces, _ = score_video(video, settings)
    seen = faces[faces["face_found"]]
    if not len(seen):
        raise AnalysisError(f"{video}: coaffect found no face, nothing to compare")
    pid = participant or seen["participant_id"].value_counts().index[0]
    mine = faces[faces["participant_id"] == pid]
    result = compare_to_openface(mine, openface, _openface_pose(openface_csv, alignment.one_based))
    result.alignment = alignment
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_tsv(result.table, out / "validation.tsv")
        write_tsv(result.pose, out / "validation_pose.tsv")
        result.plot = validation_figure(mine, openface, result.table, out / "validation.png")
    return result


#: Tool intensity SD below which a unit "does not move" (1% of the tool's range: OpenFace 0-5, py-feat 0-1).
FLAT_SD = {"openface": 0.05, "pyfeat": 0.01}
SIDE_BY_SIDE_COLUMNS = ("participant_id", "source", "au", "n_frames", "pearson_r", "icc", "tool_sd", "note")


def _baseline_z(values: np.ndarray, in_baseline: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """One participant's series z-scored against its baseline frames (:func:`baseline_zscores`)."""
    frame = pd.DataFrame({"v": values, "participant_id": "p"})
    return baseline_zscores(frame, ["v"], in_baseline, min_spread=floor)["v"].to_numpy(float)


def compare_sources(session_dir) -> pd.DataFrame:
    """coaffect's units and an imported tool's, side by side, per participant and unit.

    For a session scored with ``coaffect score`` and then given another tool's
    output with :func:`import_faces` (which keeps coaffect's own rows in
    ``faces-coaffect.parquet``), on the frames where both found the face:

    * ``pearson_r`` between coaffect's raw measure (``AUxx_raw``) and the tool's
      intensity: do they follow the same movement?
    * ``icc``: ICC(A,1) (McGraw & Wong 1996) between the two measures, each
      z-scored on those frames by the same rule (minus the participant's median
      over the protocol's baseline window, over its robust baseline SD; the
      tool's floored as on import): do they agree in baseline-SD units, level
      included? coaffect's own ``AUxx`` columns divide by fixed per-unit scales
      instead (issue 20), a different unit, so they are not compared as they are.

    A unit the tool does not move (SD below 1% of its range) gets no figures, a note.

    Parameters
    ----------
    session_dir : str or Path
        The ``ses-<id>`` folder.

    Returns
    -------
    pandas.DataFrame
        :data:`SIDE_BY_SIDE_COLUMNS`, one row per imported participant x unit both have.

    Examples
    --------
    >>> compare_sources("data/ses-S1").query("au == 'AU12'")  # doctest: +SKIP
    """
    sdir = Path(session_dir)
    deriv = derivatives_dir(sdir.parent) / sdir.name
    if not (deriv / COAFFECT_ROWS).exists():
        raise AnalysisError(
            f"{deriv / COAFFECT_ROWS}: no coaffect rows to compare with",
            hint="run 'coaffect score' on the session before 'coaffect import-faces' (import keeps "
            "coaffect's own rows of the participants it replaces there)",
        )
    from coaffect.formats.protocol import load_protocol
    from coaffect.formats.session_reader import read_session

    events = read_session(sdir).events
    window = load_protocol(sdir / "protocol.yaml", check_manifest=False).protocol.analysis.baseline_window
    ours = pd.read_parquet(deriv / COAFFECT_ROWS)
    theirs = pd.read_parquet(deriv / "faces.parquet")
    theirs = theirs[face_sources(theirs) != "coaffect"]
    keys = ["participant_id", "camera", "frame"]
    both = ours[ours["face_found"].astype(bool)].merge(
        theirs[theirs["face_found"].astype(bool)], on=keys, suffixes=("", "_tool")
    )
    rows = []
    for (pid, source), part in both.groupby(["participant_id", SOURCE_COLUMN], sort=True):
        base = baseline_mask(part["t"].to_numpy(float), events, window)[0]
        for au in ACTION_UNITS:
            a, b = part[f"{au}_raw"].to_numpy(float), part[f"{au}_raw_tool"].to_numpy(float)
            ok = np.isfinite(a) & np.isfinite(b)
            if not ok.any():
                continue
            sd = float(np.std(b[ok]))
            r = icc = np.nan
            note = ""
            if sd < FLAT_SD.get(source, 0.0):
                note = f"{source} {au} does not move here (SD {sd:.3f})"
            elif ok.sum() >= 3:
                r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if np.std(a[ok]) > 0 else np.nan
                za = _baseline_z(np.where(ok, a, np.nan), base)
                zb = _baseline_z(np.where(ok, b, np.nan), base, MIN_SPREAD[source])
                icc = icc_a1(za[ok], zb[ok])
            rows.append(
                {
                    "participant_id": pid,
                    "source": source,
                    "au": au,
                    "n_frames": int(ok.sum()),
                    "pearson_r": r,
                    "icc": icc,
                    "tool_sd": sd,
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=list(SIDE_BY_SIDE_COLUMNS))
