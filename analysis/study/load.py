"""Read everything the analysis needs from a dataset folder (I/O only).

:func:`load_study` reads each ``ses-<id>`` folder (validated by
:mod:`coaffect.formats.session_reader`), its frozen ``protocol.yaml``, the stimulus
tags from the protocol's manifest, and ``derivatives/coaffect/ses-<id>/faces.parquet``
when face scoring has run. The computations (:mod:`analysis.measures.trials`,
:mod:`analysis.measures.timecourse`, ...) take the :class:`Study` it returns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from coaffect.formats import faces_schema as fs
from coaffect.formats.checks import check_type
from coaffect.formats.errors import AnalysisError, CoaffectError
from coaffect.formats.manifest import VALENCES, load_manifest
from coaffect.formats.protocol import Analysis, load_protocol
from coaffect.formats.session_reader import Session, read_dataset, read_participants
from coaffect.formats.tables import derivatives_dir


@dataclass
class SessionData:
    """One session with what the analysis derives from its files.

    Attributes
    ----------
    session : Session
        The validated session folder.
    condition : str
        ``alone`` or ``group``.
    participants : pandas.DataFrame
        participant_id, seat of the people in this session.
    clips : pandas.DataFrame
        ``events.tsv`` clip rows: onset, duration, trial, stimulus_id.
    baseline : tuple of float or None
        Absolute [start, end] of the baseline reference window (s), or None.
    intervals : pandas.DataFrame
        Button hold intervals (:func:`coaffect.formats.session_reader.button_intervals`).
    faces : pandas.DataFrame or None
        ``faces.parquet`` rows, or None when the session has not been scored.
    aborts : list of float
        Onsets of ``abort`` events.
    score_warnings : list of str
        ``seat_warnings`` of its ``score_summary.json`` (faces seen outside every seat).
    """

    session: Session
    condition: str
    participants: pd.DataFrame
    clips: pd.DataFrame
    baseline: tuple[float, float] | None
    intervals: pd.DataFrame
    faces: pd.DataFrame | None
    aborts: list[float] = field(default_factory=list)
    score_warnings: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def session_id(self) -> str:
        return self.session.session_id


@dataclass
class Study:
    """A dataset ready for analysis.

    Attributes
    ----------
    path : Path
        Dataset folder.
    sessions : list of SessionData
    stimuli : pandas.DataFrame
        stimulus_id, valence, planned_duration and ``tag_<name>`` columns.
    settings : coaffect.formats.protocol.Analysis
        Analysis settings of the (first) frozen protocol.
    notes : list of str
        What the loader noticed (missing faces, differing protocols, ...).
    """

    path: Path
    sessions: list[SessionData]
    stimuli: pd.DataFrame
    settings: Analysis
    notes: list[str] = field(default_factory=list)

    @property
    def has_faces(self) -> bool:
        """Whether any session has a faces table."""
        return any(s.faces is not None for s in self.sessions)

    @property
    def reference_levels(self) -> dict | None:
        """The protocol's ``analysis.reference_levels`` (None: the defaults)."""
        return getattr(self.settings, "reference_levels", None) or None

    @property
    def protocol_sha256(self) -> str | None:
        """sha256 of the first session's frozen protocol.yaml (recorded with every model)."""
        import hashlib

        for s in self.sessions:
            p = Path(s.session.path) / "protocol.yaml"
            if p.exists():
                return hashlib.sha256(p.read_bytes()).hexdigest()
        return None


def as_study(study: Study | str | Path) -> Study:
    """A :class:`Study`: loaded from a folder, or the one given.

    Raises
    ------
    TypeError
        Anything else (a trial table, say), naming the parameter.

    Examples
    --------
    >>> as_study(sim).path == Path(sim)
    True
    >>> import pandas as pd
    >>> as_study(pd.DataFrame())
    Traceback (most recent call last):
    ...
    TypeError: study: expected a Study (load_study(folder)) or a dataset folder, got a pandas DataFrame
    """
    if isinstance(study, Study):
        return study
    check_type("study", study, (str, Path), "a Study (load_study(folder)) or a dataset folder")
    return load_study(study)


def _valence_from_id(stimulus_id: str) -> str:
    for v in VALENCES:
        if re.search(v, stimulus_id, flags=re.IGNORECASE):
            return v
    return "unknown"


def _stimuli_table(ids: list[str], manifests: list[Path], notes: list[str]) -> pd.DataFrame:
    tags: dict[str, dict] = {}
    durations: dict[str, float] = {}
    for mpath in manifests:
        try:
            man = load_manifest(mpath)
        except CoaffectError:
            continue
        for clip in man.clips:
            tags.setdefault(clip.id, dict(clip.tags))
            durations.setdefault(clip.id, clip.duration)
    rows = []
    for sid in sorted(set(ids)):
        t = tags.get(sid)
        if t is None:
            notes.append(f"stimulus '{sid}': not in any manifest found; valence guessed from its id")
            t = {"valence": _valence_from_id(sid)}
        row = {
            "stimulus_id": sid,
            "valence": t.get("valence", "unknown"),
            "planned_duration": durations.get(sid, float("nan")),
        }
        row.update({f"tag_{k}": v for k, v in t.items() if k != "valence"})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["stimulus_id", "valence", "planned_duration"])


def read_faces(dataset_dir: Path, session_id: str) -> pd.DataFrame | None:
    """``derivatives/coaffect/ses-<id>/faces.parquet`` of one session, or None if absent.

    Examples
    --------
    >>> read_faces(sim, "a01").columns[:5].tolist()
    ['session_id', 'camera', 'frame', 't', 'participant_id']
    """
    path = derivatives_dir(dataset_dir, session_id, "faces.parquet")
    if not path.exists():
        return None
    try:
        faces = pd.read_parquet(path)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        raise AnalysisError(
            f"{path}: not a readable Parquet file (cut short, corrupted, or not a Parquet file)",
            hint="re-run 'coaffect score --force' for this session",
        ) from None
    missing = [c for c in ("t", "participant_id", "face_found") if c not in faces.columns]
    if missing:
        raise AnalysisError(
            f"{path}: missing column(s) {', '.join(missing)}", hint="re-run 'coaffect score' for this session"
        )
    faces["participant_id"] = faces["participant_id"].astype(str)
    return _scored_rows_only(faces, path.parent / "score_summary.json")


def score_warnings(dataset_dir: Path, session_id: str) -> list[str]:
    """``orientation_warnings`` and ``seat_warnings`` of a session's ``score_summary.json`` ([] when absent).

    Examples
    --------
    >>> score_warnings(Path("/nonexistent"), "S1")
    []
    """
    path = derivatives_dir(dataset_dir, session_id, "score_summary.json")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        return [*summary.get("orientation_warnings", []), *summary.get("seat_warnings", [])]
    except (OSError, json.JSONDecodeError):
        return []


def _scored_rows_only(faces: pd.DataFrame, summary_path: Path) -> pd.DataFrame:
    """Drop the rows of frames that ``coaffect score --step N`` skipped.

    Skipped frames are NaN rows like frames without a face; keeping them
    would make every face look visible in at most 1/N of the frames.
    """
    if not summary_path.exists() or "frame" not in faces.columns:
        return faces
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return faces
    default = summary.get("settings", {}).get("pipeline", {}).get("step", 1) or 1
    cams = summary.get("cameras", {}) or {}
    steps = (
        faces["camera"].map(lambda c: int((cams.get(c) or {}).get("step", default) or 1))
        if "camera" in faces.columns
        else pd.Series(int(default), index=faces.index)
    )
    if (steps <= 1).all():
        return faces
    return faces[(faces["frame"].astype("int64") % steps) == 0].reset_index(drop=True)


def load_study(dataset_dir: str | Path, manifest: str | Path | None = None) -> Study:
    """Read a dataset for analysis.

    Parameters
    ----------
    dataset_dir : str or Path
        Folder holding ``participants.tsv`` and ``ses-*`` folders.
    manifest : str or Path, optional
        Stimulus manifest giving each clip's tags (valence). Default: the
        manifest named by each frozen protocol, then ``<dataset>/stimuli/manifest.yaml``.

    Returns
    -------
    Study

    Raises
    ------
    SessionFormatError, AnalysisError
        When a session folder is malformed or a table is missing.

    Examples
    --------
    >>> study = load_study(sim)
    >>> len(study.sessions), study.has_faces
    (5, True)
    """
    check_type("dataset_dir", dataset_dir, (str, Path), "a dataset folder (str or Path)")
    path = Path(dataset_dir)
    if not path.is_dir():
        raise AnalysisError(
            f"{path}: no such dataset folder",
            hint="give the folder holding participants.tsv and ses-* folders",
        )
    sessions = read_dataset(path)
    people = read_participants(path)
    people = people.assign(
        participant_id=people["participant_id"].astype(str),
        session_id=people["session_id"].astype(str),
        seat=people["seat"].astype(str),
        condition=people["condition"].astype(str),
    )
    notes: list[str] = []
    manifests = [Path(manifest)] if manifest else []
    settings = None
    out = []
    stim_ids: list[str] = []
    for s in sessions:
        notes += [f"ses-{s.session_id}: {n}" for n in s.notes]
        proto_path = s.path / "protocol.yaml"
        proto = None
        if proto_path.exists():
            lp = load_protocol(proto_path, check_manifest=False)
            proto = lp.protocol
            manifests.append(lp.manifest_path)
            if settings is None:
                settings = proto.analysis
            elif proto.analysis != settings:
                notes.append(
                    f"ses-{s.session_id}: analysis settings differ from the first "
                    "session's protocol; the first are used"
                )
        else:
            notes.append(f"ses-{s.session_id}: no frozen protocol.yaml; default analysis settings")
        source = s.meta.protocol.source
        if source and Path(source).is_file():  # the original protocol's manifest, where it still is
            try:
                manifests.append(load_protocol(source, check_manifest=False).manifest_path)
            except CoaffectError:
                pass
        ev = s.events
        clips = ev.loc[ev["trial_type"] == "clip", ["onset", "duration", "trial", "stimulus_id"]]
        clips = clips.dropna(subset=["trial", "stimulus_id"]).astype(
            {"onset": "float64", "duration": "float64", "trial": "int64", "stimulus_id": "str"}
        )
        stim_ids += clips["stimulus_id"].tolist()
        stim_ids += [str(c) for c in (s.meta.trial_order or []) if isinstance(c, str)]
        base_rows = ev.loc[ev["trial_type"] == "baseline"]
        baseline = None
        if len(base_rows):
            b = base_rows.iloc[0]
            win = (proto.analysis if proto else Analysis()).baseline_window
            start = float(b["onset"]) + win[0]
            end = float(b["onset"]) + (win[1] if win[1] is not None else float(b["duration"]))
            baseline = (start, min(end, float(b["onset"]) + float(b["duration"])))
        mine = people.loc[people["session_id"] == s.session_id, ["participant_id", "seat", "condition"]]
        if mine.empty:
            mine = pd.DataFrame(
                [
                    {"participant_id": p.participant_id, "seat": str(p.seat), "condition": s.meta.condition}
                    for p in s.meta.participants
                ],
                columns=["participant_id", "seat", "condition"],
            )
        condition = str(s.meta.condition or (mine["condition"].iloc[0] if len(mine) else "unknown"))
        faces = read_faces(path, s.session_id)
        if faces is None:
            notes.append(
                f"ses-{s.session_id}: no faces.parquet (run 'coaffect score'); "
                "facial measures are missing for this session"
            )
        aborts = ev.loc[ev["trial_type"] == "abort", "onset"].astype(float).tolist()
        out.append(
            SessionData(
                s,
                condition,
                mine[["participant_id", "seat"]].reset_index(drop=True),
                clips.reset_index(drop=True),
                baseline,
                s.intervals(),
                faces,
                aborts,
                score_warnings(path, s.session_id),
            )
        )
    manifests.append(path / "stimuli" / "manifest.yaml")
    seen, uniq = set(), []
    for m in manifests:
        if m not in seen:
            seen.add(m)
            uniq.append(m)
    stimuli = _stimuli_table(stim_ids, [m for m in uniq if m.exists()], notes)
    if settings is None:
        settings = Analysis()
    return Study(path, out, stimuli, settings, notes)


def measure_columns(faces: pd.DataFrame | None) -> list[str]:
    """The facial measures present in a faces table, in schema order."""
    if faces is None:
        return []
    return [m for m in fs.MEASURES if m in faces.columns]
