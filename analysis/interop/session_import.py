"""Another tool's face scores (OpenFace 2.x, py-feat) as a session's faces table.

:func:`import_faces` puts one tool file, computed from one of the session's
camera videos, where ``coaffect score`` writes
(``derivatives/coaffect/ses-<id>/faces.parquet``), so trial tables, models and
the report run on it unchanged.

**Clock.** A tool numbers the frames of the video it read: OpenFace's
``frame`` counts from 1, py-feat's from 0. Frame ``k`` of the file is frame
``k - 1`` (OpenFace) or ``k`` (py-feat) of ``cam-<name>_frames.tsv``, whose
``t`` is the frame's time on the session clock: every imported row gets that
time, never the tool's ``timestamp`` (video time, which starts at 0 when the
camera started and ignores dropped frames).

**Checks.** A file with frames the camera never recorded, or whose own
timestamps span a different duration than the camera's frames do over the
same frame numbers (beyond two frame intervals or 5%), was computed from
another video or at another frame rate: it is refused with both figures. A
file covering part of the recording is accepted with a warning naming the
covered span; the frames it does not cover are rows without a face, so a
trial's ``face_fraction`` counts against the whole clip and the
``min_face_fraction`` rule applies as for coaffect's own faces.

**Scale.** The tool's intensities are kept as they are in ``AUxx_raw``
(OpenFace 0-5, py-feat 0-1) and z-scored against the participant's
**baseline window only** (protocol ``analysis.baseline_window``), one rule for
every participant (:func:`analysis.expression.baseline.baseline_zscores`):
minus the baseline median, over the participant's own baseline robust SD, at
least :data:`MIN_SPREAD` (2% of the tool's range: its scale is clipped at 0,
and a still baseline often has no spread at all). coaffect's own units divide
by fixed per-unit scales instead, which exist only for its own geometry.
Every row says where it came from (``source``: ``openface`` or ``pyfeat``;
coaffect's own tables have no such column and mean ``coaffect``), and
models refuse to mix sources for one outcome unless asked
(:func:`analysis.stats.model_data.model_data`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_option
from coaffect.formats.errors import AnalysisError
from coaffect.formats.faces_schema import (
    ACTION_UNITS,
    ALL_COLUMNS,
    EMOTIONS,
    HEAD_POSE,
    RAW_UNITS,
    SOURCE_COLUMN,
)
from coaffect.formats.tables import derivatives_dir

from ..expression.baseline import baseline_mask, baseline_zscores
from ..expression.composites import composite_scores
from .readers import read_openface, read_pyfeat

#: Tools a file may come from, and the number of their first frame.
FIRST_FRAME = {"openface": 1, "pyfeat": 0}
TOOLS = tuple(FIRST_FRAME)
#: File rows with this file name keep coaffect's own rows a replaced participant had.
COAFFECT_ROWS = "faces-coaffect.parquet"
#: Smallest baseline spread in the tool's units (2% of its range): its scale is clipped at 0, so a still
#: baseline often has none (OpenFace AU12_r exactly 0), and the unit would otherwise be lost.
MIN_SPREAD = {"openface": 0.1, "pyfeat": 0.02}
#: Allowed difference between the file's and the camera's span over the same frames.
SPAN_TOLERANCE_FRAMES = 2
SPAN_TOLERANCE_SHARE = 0.05


@dataclass
class Imported:
    """What :func:`import_faces` returns (nothing written yet).

    Attributes
    ----------
    faces : pandas.DataFrame
        The session's faces table with the imported participants' rows replaced
        (columns of :data:`~coaffect.formats.faces_schema.ALL_COLUMNS` and ``source``).
    summary : dict
        The ``score_summary.json`` content, with ``sources`` per participant.
    warnings : list of str
        A partial file's covered span, and other things to read.
    replaced : pandas.DataFrame or None
        coaffect's own rows of the imported participants, kept for side-by-side checks.
    """

    faces: pd.DataFrame
    summary: dict
    warnings: list[str] = field(default_factory=list)
    replaced: pd.DataFrame | None = None

    def write(self, out_dir) -> Path:
        """Write faces.parquet, its sidecar and score_summary.json (summary last), and
        ``faces-coaffect.parquet`` with coaffect's own rows of the replaced participants."""
        from ..scoring.files import atomic_write, write_scores

        out = Path(out_dir)
        if self.replaced is not None and len(self.replaced):
            out.mkdir(parents=True, exist_ok=True)
            keep = out / COAFFECT_ROWS
            old = pd.read_parquet(keep) if keep.exists() else None
            rows = self.replaced
            if old is not None:
                rows = pd.concat(
                    [old[~old["participant_id"].isin(rows["participant_id"].unique())], rows],
                    ignore_index=True,
                )
            atomic_write(keep, lambda p: rows.to_parquet(p, index=False))
        return write_scores(out, self.faces, self.summary)


def _file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _tool_rows(tool: str, path: Path, session_id: str, camera: str) -> pd.DataFrame:
    """The file as a native-scale faces table, frames renumbered from 0, with ``file_t``."""
    read = read_openface if tool == "openface" else read_pyfeat
    rows = read(path, session_id=session_id, camera=camera, scale="native")
    if tool == "pyfeat":  # read_pyfeat keeps the file's frame numbers, which count from 0
        rows["frame"] = rows["frame"].astype("int64")
    rows = rows.rename(columns={"t": "file_t"})
    return rows


def _check_frames(rows: pd.DataFrame, frames: pd.DataFrame, path, tool: str, camera: str) -> None:
    """Refuse a file whose frame numbers or duration do not fit the camera's recording."""
    first = FIRST_FRAME[tool]
    n_cam = len(frames)
    top = int(rows["frame"].max())
    cam_frames = set(frames["frame"].astype(int))
    if rows["frame"].min() < 0 or top > int(frames["frame"].max()):
        raise AnalysisError(
            f"{path}: frame count does not match cam-{camera}: the file has frames "
            f"{int(rows['frame'].min()) + first}-{top + first} ({tool} counts from {first}), "
            f"cam-{camera} recorded {n_cam} frames ({first}-{n_cam - 1 + first})",
            hint="import the file computed from this camera's video (cam-<name>.mjpg), not another one",
        )
    missing = sorted(set(rows["frame"].astype(int)) - cam_frames)
    if missing:
        raise AnalysisError(
            f"{path}: frame {missing[0] + first} is not in cam-{camera}_frames.tsv "
            f"({len(missing)} frames of the file are not)"
        )
    dup = rows.duplicated(["participant_id", "frame"])
    if dup.any():
        f = int(rows.loc[dup, "frame"].iloc[0]) + first
        raise AnalysisError(
            f"{path}: frame {f} appears twice for one face",
            hint="several faces in one file need a face id map (face_id column, --faces)",
        )
    times = rows.drop_duplicates("frame").sort_values("frame")
    times = times[np.isfinite(times["file_t"].to_numpy(float))]
    if len(times) < 2:
        return
    cam_t = dict(zip(frames["frame"].astype(int), frames["t"].astype(float)))
    a, b = int(times["frame"].iloc[0]), int(times["frame"].iloc[-1])
    file_span = float(times["file_t"].iloc[-1] - times["file_t"].iloc[0])
    cam_span = cam_t[b] - cam_t[a]
    dt = float(np.median(np.diff(frames["t"].astype(float)))) if n_cam > 1 else 0.0
    tol = max(SPAN_TOLERANCE_FRAMES * dt, SPAN_TOLERANCE_SHARE * cam_span)
    if abs(file_span - cam_span) > tol:
        raise AnalysisError(
            f"{path}: duration does not match cam-{camera}: frames {a + first}-{b + first} span "
            f"{file_span:.2f} s in the file but {cam_span:.2f} s in cam-{camera}_frames.tsv "
            f"(allowed difference {tol:.2f} s)",
            hint="the file was computed from another video or at another frame rate",
        )


def _coverage(rows: pd.DataFrame, frames: pd.DataFrame, tool: str, camera: str) -> dict:
    first = FIRST_FRAME[tool]
    cam_t = frames.set_index(frames["frame"].astype(int))["t"].astype(float)
    a, b = int(rows["frame"].min()), int(rows["frame"].max())
    return {
        "file_frames": [a + first, b + first],
        "camera_frames": [int(cam_t.index.min()) + first, int(cam_t.index.max()) + first],
        "covered_s": [round(float(cam_t[a]), 3), round(float(cam_t[b]), 3)],
        "camera_s": [round(float(cam_t.iloc[0]), 3), round(float(cam_t.iloc[-1]), 3)],
        "frames_in_file": int(rows["frame"].nunique()),
        "camera_frame_count": int(len(cam_t)),
        "covered_fraction": round(rows["frame"].nunique() / len(cam_t), 4),
        "face_found_fraction": round(float(rows["face_found"].mean()), 4) if len(rows) else 0.0,
    }


def _on_session_grid(rows, frames, pid, session_id, camera, tool, mask_of) -> pd.DataFrame:
    """One row per camera frame for ``pid``: the file's rows where it has them, no face elsewhere."""
    grid = pd.DataFrame({"frame": frames["frame"].astype("int64"), "t": frames["t"].astype(float)})
    mine = rows[rows["participant_id"] == pid].drop(columns=["t", "session_id", "camera"], errors="ignore")
    m = grid.merge(mine.drop(columns=["participant_id"]), on="frame", how="left")
    found = m["face_found"].fillna(False).astype(bool).to_numpy()
    raw = pd.DataFrame({au: m[f"{au}_raw"].to_numpy(float) for au in ACTION_UNITS})
    raw[~found] = np.nan
    raw["participant_id"] = pid
    z = baseline_zscores(raw, ACTION_UNITS, mask_of(m["t"].to_numpy(float)), min_spread=MIN_SPREAD[tool])
    out = pd.DataFrame(
        {
            "session_id": session_id,
            "camera": camera,
            "frame": m["frame"].astype("int64"),
            "t": m["t"].astype(float),
            "participant_id": pid,
            "face_found": found,
        }
    )
    for col in ("face_x", "face_y", "face_w", "face_h", "detection_confidence", "identity_confidence"):
        out[col] = m[col].astype(float)
    out["track_id"] = m["track_id"].astype("Int64")
    out["face_quality"] = np.where(found, "ok", "no_face")
    out["landmark_jitter"] = np.nan  # coaffect's own landmark fit's; the tools' files do not give it
    out = pd.concat([out, z, composite_scores(z)], axis=1)
    for col in (*EMOTIONS, *HEAD_POSE):
        out[col] = np.where(found, m[col].to_numpy(float), np.nan)
    for au, col in zip(ACTION_UNITS, RAW_UNITS):
        out[col] = raw[au].to_numpy()
    out = out[list(ALL_COLUMNS)]
    out[SOURCE_COLUMN] = tool
    return out


def import_faces(
    session_dir,
    tool: str,
    path,
    camera: str,
    participant: str | None = None,
    faces: dict | None = None,
    tool_version: str | None = None,
) -> Imported:
    """Another tool's output of one camera video as this session's faces (pure: writes nothing).

    Parameters
    ----------
    session_dir : str or Path
        The ``ses-<id>`` folder the video was recorded in.
    tool : {"openface", "pyfeat"}
        What wrote ``path``.
    path : str or Path
        OpenFace 2.x ``FeatureExtraction`` CSV or py-feat detector CSV of the
        camera's video (``cam-<name>.mjpg``, or a conversion keeping every frame).
    camera : str
        The camera whose video the tool read (``cam-<camera>_frames.tsv`` gives the clock).
    participant : str, optional
        Whose face the file holds (one face per file).
    faces : dict, optional
        Several faces in one file: the tool's face id (OpenFace ``face_id``,
        from 0) -> participant id. Exactly one of ``participant`` and ``faces``.
    tool_version : str, optional
        The tool's version, recorded in the summary (neither tool writes it into its CSV).

    Returns
    -------
    Imported
        ``.write(derivatives/coaffect/ses-<id>)`` writes it where ``coaffect score`` writes.

    Raises
    ------
    AnalysisError
        Unknown tool, camera or participant; frames the camera never recorded;
        a duration that does not match the camera's (both figures in the message).

    Examples
    --------
    >>> imp = import_faces("data/ses-S1", "openface", "P01.csv", "wide", participant="P01")  # doctest: +SKIP
    >>> imp.summary["sources"]["P01"]["coverage"]["covered_s"]                               # doctest: +SKIP
    [5.512, 13.61]
    >>> imp.write("data/derivatives/coaffect/ses-S1")                                         # doctest: +SKIP
    """
    from coaffect.formats.protocol import load_protocol
    from coaffect.formats.session_reader import read_session

    check_option("tool", tool, TOOLS, error=AnalysisError)
    path = Path(path)
    sdir = Path(session_dir)
    session = read_session(sdir)
    if camera not in session.cameras:
        have = ", ".join(sorted(session.cameras)) or "none"
        raise AnalysisError(
            f"{sdir}: no cam-{camera}_frames.tsv (cameras of this session: {have})",
            hint="give the camera whose video the tool read",
        )
    frames = session.cameras[camera].sort_values("frame").reset_index(drop=True)
    if not len(frames):
        raise AnalysisError(f"{sdir / f'cam-{camera}_frames.tsv'}: no frames recorded")
    seats = {p.participant_id: p.seat for p in session.meta.participants}
    if (participant is None) == (faces is None):
        raise AnalysisError("give either participant (one face per file) or faces (face id -> participant)")
    wanted = [participant] if participant is not None else list(faces.values())
    unknown = [p for p in wanted if p not in seats]
    if unknown:
        raise AnalysisError(
            f"participant {unknown[0]!r} is not in {sdir / 'session.json'} (participants: {', '.join(seats)})"
        )
    rows = _tool_rows(tool, path, session.session_id, camera)
    if faces is not None:
        ids = (rows["track_id"].astype("int64") - 1).map({int(k): v for k, v in faces.items()})
        rows = rows.assign(participant_id=ids).dropna(subset=["participant_id"])
    else:
        rows = rows.assign(participant_id=participant)
    if not len(rows):
        raise AnalysisError(f"{path}: no rows for the faces given ({faces})")
    _check_frames(rows, frames, path, tool, camera)
    protocol = load_protocol(sdir / "protocol.yaml", check_manifest=False).protocol
    window = protocol.analysis.baseline_window

    def mask_of(t):
        return baseline_mask(t, session.events, window)[0]

    sha = _file_sha(path)
    tables, sources, warnings = [], {}, []
    for pid in wanted:
        mine = rows[rows["participant_id"] == pid]
        if not len(mine):
            raise AnalysisError(f"{path}: no rows of the face given for {pid} ({faces})")
        cover = _coverage(mine, frames, tool, camera)
        grid = _on_session_grid(rows, frames, pid, session.session_id, camera, tool, mask_of)
        base = int((mask_of(grid["t"].to_numpy(float)) & grid["face_found"].to_numpy()).sum())
        if cover["covered_fraction"] < 1:
            a, b = cover["covered_s"]
            c0, c1 = cover["camera_s"]
            warnings.append(
                f"{path.name}: {pid}'s file covers frames {cover['file_frames'][0]}-{cover['file_frames'][1]}"
                f", {a:.1f}-{b:.1f} s of cam-{camera}'s {c0:.1f}-{c1:.1f} s on the session clock "
                f"({100 * cover['covered_fraction']:.0f}% of its frames); frames outside count as "
                "frames without a face"
            )
        if not base:
            warnings.append(
                f"{path.name}: {pid} has no face in the baseline window: facial measures are NaN "
                "(the baseline is the only reference, as for coaffect's own units)"
            )
        sources[pid] = {
            "source": tool,
            "tool_version": tool_version,
            "file": str(path),
            "file_sha256": sha,
            "camera": camera,
            "first_frame_number": FIRST_FRAME[tool],
            "coverage": cover,
            "baseline_frames": base,
            "scale": f"{'OpenFace AUxx_r 0-5' if tool == 'openface' else 'py-feat AU 0-1'} in AUxx_raw; "
            "AUxx robust z against the baseline window only",
        }
        tables.append(grid)
    new = pd.concat(tables, ignore_index=True)
    deriv = derivatives_dir(sdir.parent) / sdir.name
    old, summary = _existing(deriv)
    replaced = None
    if old is not None:
        gone = old["participant_id"].isin(wanted)
        own = old[gone & (old.get(SOURCE_COLUMN, pd.Series("coaffect", index=old.index)) == "coaffect")]
        replaced = own if len(own) else None
        keep = old[~gone]
        if SOURCE_COLUMN not in keep.columns:
            keep = keep.assign(**{SOURCE_COLUMN: "coaffect"})
        new = pd.concat([keep, new], ignore_index=True)
    return Imported(new, _summary(new, summary, sources, warnings, tool), warnings, replaced)


def _existing(deriv: Path):
    """The session's faces table and summary so far (None, {} when it was never scored)."""
    parquet, summary = deriv / "faces.parquet", deriv / "score_summary.json"
    if not parquet.exists():
        return None, {}
    try:
        old = pd.read_parquet(parquet)
        meta = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    except (OSError, ValueError):
        raise AnalysisError(
            f"{parquet}: not readable; remove it or re-run 'coaffect score --force' first"
        ) from None
    old["participant_id"] = old["participant_id"].astype(str)
    return old, meta


def _summary(faces: pd.DataFrame, before: dict, sources: dict, warnings: list[str], tool: str) -> dict:
    from ..faces.table import au_correlation

    found = faces.groupby("participant_id")["face_found"].mean().round(4)
    all_sources = {**before.get("sources", {}), **sources}
    blob = json.dumps({k: v["file_sha256"] for k, v in sorted(all_sources.items())}, sort_keys=True)
    settings = dict(before.get("settings", {}))
    settings["imported"] = {pid: s["source"] for pid, s in all_sources.items()}
    notes = [n for n in before.get("notes", []) if not any(n.startswith(p + ":") for p in sources)]
    return {
        **before,
        "settings_hash": "import-" + hashlib.sha256(blob.encode()).hexdigest()[:9],
        "settings": settings,
        "rows": int(len(faces)),
        "scored_rows": int(len(faces)),
        "faces_found_fraction": round(float(faces["face_found"].mean()), 4),
        "faces_found_fraction_by_participant": {str(k): float(v) for k, v in found.items()},
        "smallest_face_px_found": before.get("smallest_face_px_found"),
        "cameras": before.get("cameras", {}),
        "au_correlation": au_correlation(faces),
        "sources": all_sources,
        "notes": [*notes, *warnings],
    }


def face_sources(faces: pd.DataFrame | None) -> pd.Series:
    """Each row's source (``coaffect`` where the table has no ``source`` column).

    Examples
    --------
    >>> face_sources(pd.DataFrame({"frame": [0, 1]})).tolist()
    ['coaffect', 'coaffect']
    """
    if faces is None:
        return pd.Series(dtype=str)
    if SOURCE_COLUMN not in faces.columns:
        return pd.Series("coaffect", index=faces.index)
    return faces[SOURCE_COLUMN].fillna("coaffect").astype(str)
