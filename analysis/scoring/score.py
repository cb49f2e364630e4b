"""Score faces: settings, the per-session pure function and the dataset driver.

:func:`score_session` reads one session folder and returns the faces table
and a summary without writing anything (so it can be mapped on a cluster);
:meth:`Scored.write` writes them atomically; :func:`score_dataset` scores a
dataset on the executor (chunks and per-session finishing as Dask tasks, see
:mod:`analysis.scoring.archive`), skips sessions already scored with the same
settings hash, and shows progress (tqdm). Plain videos and images:
:mod:`analysis.scoring.video`; one call for either: :func:`analysis.scoring.run.score`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from coaffect.formats.errors import AnalysisError, CoaffectError, SessionFormatError
from coaffect.formats.faces_schema import FACES_FORMAT_VERSION, QUALITY_LIMITS
from coaffect.formats.tables import derivatives_dir

from ..faces.chunks import CHUNK_SECONDS
from ..faces.identity import assign_tracks, enrollment_encodings
from ..faces.observe import observe_video
from ..faces.pipeline import finish_observations
from ..faces.quality import POSE_PITCH_ZERO
from ..faces.settings import PipelineSettings, TrackerSettings
from ..faces.table import faces_table, score_summary
from .archive import camera_pipeline, score_sessions
from .camera_checks import orientation_note, outside_seats_warning
from .files import is_scored, protocol_scoring_key, write_scores

__all__ = ["score_dataset", "score_session", "Scored", "ScoreSettings"]


@dataclass(frozen=True)
class ScoreSettings:
    """Everything that changes the faces table; its hash decides re-scoring.

    Attributes
    ----------
    pipeline : PipelineSettings
    tolerance : float
        Encoding distance up to which a face is the enrolled participant.
    """

    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    tolerance: float = 0.6

    def __post_init__(self):
        """Check the values once, here, for the CLI and library callers alike.

        Examples
        --------
        >>> from analysis.faces.settings import TrackerSettings
        >>> ScoreSettings(PipelineSettings(tracker=TrackerSettings(min_face_px=-1)))
        Traceback (most recent call last):
        ...
        coaffect.formats.errors.AnalysisError: min_face_px: must be positive (got -1)
        """
        if int(self.pipeline.step) < 1:
            raise AnalysisError(f"step: must be at least 1 (got {self.pipeline.step})", field="step")
        if not self.pipeline.tracker.min_face_px > 0:
            raise AnalysisError(
                f"min_face_px: must be positive (got {self.pipeline.tracker.min_face_px:g})",
                field="min_face_px",
            )
        if not 0 < self.tolerance <= 2:
            raise AnalysisError(f"tolerance: must be in (0, 2] (got {self.tolerance:g})", field="tolerance")

    @classmethod
    def of(
        cls,
        step: int = PipelineSettings.step,
        min_face_px: float = TrackerSettings.min_face_px,
        tolerance: float = tolerance,
    ) -> ScoreSettings:
        """Settings from the options people set: frame step, smallest face width (px), identity tolerance.

        The defaults are those of the settings' own fields (one source).

        Examples
        --------
        >>> ScoreSettings.of(step=5).pipeline.step
        5
        >>> ScoreSettings.of() == ScoreSettings()
        True
        """
        return cls(PipelineSettings(tracker=TrackerSettings(min_face_px=min_face_px), step=step), tolerance)

    @staticmethod
    def check_jobs(jobs: int) -> int:
        """``jobs`` as an int of at least 1, or an AnalysisError.

        Examples
        --------
        >>> ScoreSettings.check_jobs(2)
        2
        """
        if int(jobs) < 1:
            raise AnalysisError(f"jobs: must be at least 1 (got {jobs})", field="jobs")
        return int(jobs)

    def settings_hash(self, protocol: dict | None = None) -> str:
        """Short sha256 of the settings and the table format version.

        Parameters
        ----------
        protocol : dict, optional
            What a session's frozen protocol adds to the settings
            (:func:`protocol_scoring_key`): a session scored before the protocol's
            camera rotation or analysis face resolution changed is scored again.

        Examples
        --------
        >>> len(ScoreSettings().settings_hash())
        16
        >>> key = {"face_resolution_px": 60.0, "rotate": {"wide": 0}}
        >>> ScoreSettings().settings_hash(key) == ScoreSettings().settings_hash({**key, "face_resolution_px": None})
        False
        """
        parts = {
            "pipeline": self.pipeline.as_dict(),
            "tolerance": self.tolerance,
            "format": FACES_FORMAT_VERSION,
            # the quality flags' limits and rule: a session flagged by an older rule is scored again
            "quality": {**QUALITY_LIMITS, "pitch_zero": POSE_PITCH_ZERO},
        }
        if protocol is not None:
            parts["protocol"] = protocol
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class Scored(NamedTuple):
    """What scoring one video or session returns (unpacks as ``faces, summary``).

    Attributes
    ----------
    faces : pandas.DataFrame
        The faces table (columns of :data:`coaffect.formats.faces_schema.ALL_COLUMNS`).
    summary : dict
        The ``score_summary.json`` content.
    """

    faces: pd.DataFrame
    summary: dict

    def write(self, out_dir: str | Path) -> Path:
        """Write faces.parquet, its sidecar and score_summary.json (:func:`~analysis.scoring.files.write_scores`)."""
        return write_scores(out_dir, self.faces, self.summary)


def settings_dict(settings: ScoreSettings) -> dict:
    """The settings as recorded in ``score_summary.json``."""
    return {"pipeline": settings.pipeline.as_dict(), "tolerance": settings.tolerance}


def score_session(
    session_dir,
    settings: ScoreSettings | None = None,
    progress=None,
    jobs: int = 1,
    raw_by_camera: dict | None = None,
) -> Scored:
    """Score every camera of one session folder (pure: reads, returns, writes nothing).

    Parameters
    ----------
    session_dir : str or Path
        A ``ses-<id>`` folder with session.json, protocol.yaml, cam-<name> videos,
        their frame tables, events.tsv and enroll/.
    settings : ScoreSettings, optional
    progress : tqdm-like, optional
    jobs : int
        Processes per camera video (chunks scored in parallel, see :func:`score_video`).
    raw_by_camera : dict, optional
        Camera name -> observations already made (stitched chunks from the
        executor, see :mod:`analysis.scoring.archive`); other cameras are observed here.

    Returns
    -------
    Scored
        ``faces``: one row per camera frame x participant seen by that camera;
        ``summary``: per camera info, faces-found fractions, minimum face size,
        AU correlation matrix, quality-flag counts, notes.

    Raises
    ------
    AnalysisError
        No camera video, or a participant on a seat that no camera sees.

    Examples
    --------
    Not run as a doctest: it scores a recorded session (seconds; tests/test_score.py).

    >>> faces, summary = score_session("data/ses-S01")   # doctest: +SKIP
    >>> summary["faces_found_fraction"]                   # doctest: +SKIP
    0.98
    """
    from coaffect.formats.protocol import load_protocol
    from coaffect.formats.session_reader import read_session

    settings = settings or ScoreSettings()
    jobs = ScoreSettings.check_jobs(jobs)
    session = read_session(session_dir)
    sdir = Path(session_dir)
    protocol_path = sdir / "protocol.yaml"
    if not protocol_path.exists():
        raise SessionFormatError(f"{protocol_path}: missing; the runner freezes the protocol here")
    protocol = load_protocol(protocol_path, check_manifest=False).protocol
    seats = {p.participant_id: p.seat for p in session.meta.participants}
    condition = session.meta.condition
    enrollment, notes = enrollment_encodings(sdir / "enroll", list(seats))
    tables, infos = [], {}
    extra = {"unknown_face_frames": 0, "baseline_source": {}, "scored_rows": 0, "found_rows": 0}
    for cam in protocol.cameras:
        video = session.camera_video(cam.name)
        if video is None:
            notes.append(f"cam-{cam.name}: no video in the session folder")
            continue
        layout = cam.seats_in(condition)
        mine = [pid for pid, seat in seats.items() if seat in layout]
        raw = (raw_by_camera or {}).get(cam.name)
        pipeline = camera_pipeline(settings.pipeline, cam.rotate, protocol.analysis.face_resolution_px)
        obs = (
            finish_observations(raw, pipeline, bool(enrollment))
            if raw is not None
            else observe_video(
                video,
                pipeline,
                progress=progress,
                encode=bool(enrollment),
                frame_table=session.cameras.get(cam.name),
                jobs=jobs,
            )
        )
        identity = assign_tracks(obs.tracks, mine, seats, layout, enrollment, settings.tolerance)
        faces, cam_notes = faces_table(
            obs,
            identity,
            mine,
            session.session_id,
            cam.name,
            session.cameras.get(cam.name),
            (session.events, protocol.analysis.baseline_window),
        )
        tables.append(faces)
        infos[cam.name] = obs.info
        for key in ("unknown_face_frames", "scored_rows", "found_rows"):
            extra[key] += cam_notes[key]
        for pid, (f, n) in cam_notes["by_participant"].items():
            tot = extra.setdefault("by_participant", {}).setdefault(pid, [0, 0])
            tot[0] += f
            tot[1] += n
        extra["baseline_source"][cam.name] = cam_notes["baseline_source"]
        turned = orientation_note(cam.name, video, obs, session.cameras.get(cam.name), cam.rotate)
        if turned:
            extra.setdefault("orientation_warnings", []).append(turned)
        seated = {seat: pid for pid, seat in seats.items() if pid in mine}
        warning = outside_seats_warning(cam.name, obs, identity, cam_notes, layout, condition, seated)
        if warning:
            extra.setdefault("seat_warnings", []).append(warning)
    if not tables:
        raise AnalysisError(
            f"{sdir}: no camera video to score (looked for cam-<name>.* of "
            f"{', '.join(c.name for c in protocol.cameras) or 'no cameras in protocol.yaml'})"
        )
    seen = {pid for t in tables for pid in t["participant_id"]}
    for pid in seats:
        if pid not in seen:
            notes.append(f"{pid}: seat {seats[pid]} is in no camera's view; no rows")
    faces = pd.concat(tables, ignore_index=True)
    digest = settings.settings_hash(protocol_scoring_key(protocol))
    return Scored(faces, score_summary(faces, infos, digest, settings_dict(settings), notes, extra))


def finish_session(session_dir: Path, out_dir: Path, settings: ScoreSettings, raw_by_camera: dict) -> dict:
    """Score one session from its cameras' observations and write it: the per-session task.

    Identity, baseline and the faces table come from :func:`score_session`;
    :func:`write_scores` writes atomically, the summary last.

    Examples
    --------
    Not run as a doctest: it scores a recorded session (seconds; tests/test_score.py).

    >>> finish_session(Path("data/ses-S01"), out, ScoreSettings(), raws)  # doctest: +SKIP
    """
    faces, summary = score_session(session_dir, settings, raw_by_camera=raw_by_camera)
    write_scores(out_dir, faces, summary)
    return summary


def score_dataset(
    path,
    jobs: int | None = None,
    settings: ScoreSettings | None = None,
    force: bool = False,
    *,
    workers: int | None = None,
    scheduler=None,
    progress: bool = True,
    chunk_s: float = CHUNK_SECONDS,
) -> pd.DataFrame:
    """Score every session of a dataset (or one session folder), resumably, on the executor.

    Each camera video is cut into chunks of about a minute, scored as Dask
    tasks, and each session is finished (identity, baseline, writing) by one
    task (see :mod:`analysis.scoring.archive`); the table is the same for 1
    worker, N workers or a remote cluster.

    Parameters
    ----------
    path : str or Path
        A dataset folder (with ses-* folders) or one ses-<id> folder.
    jobs : int, optional
        Deprecated name of ``workers``.
    settings : ScoreSettings, optional
    force : bool
        Re-score sessions already scored with the same settings.
    workers : int, optional
        Local worker processes (default: the machine's cores; 1: in this process).
    scheduler : str or dask.distributed.Client, optional
        An existing Dask cluster (``tcp://host:8786``); default ``COAFFECT_SCHEDULER``.
    progress : bool
        One progress bar over frames and sessions.
    chunk_s : float
        Seconds of video per chunk task (default one minute).

    Returns
    -------
    pandas.DataFrame
        One row per session: session, status (scored | skipped), faces_found_fraction,
        smallest_face_px_found, output, warnings (list of str: faces outside every seat).

    Raises
    ------
    AnalysisError
        A session could not be scored (the first such error; the other sessions
        are scored and written), or the cluster was lost (rerun to resume).

    Examples
    --------
    Not run as a doctest: it scores every session of a dataset (minutes; tests/test_score.py).

    >>> score_dataset("data", workers=2)  # doctest: +SKIP
    """
    from coaffect.formats.session_reader import read_session_meta

    from ..parallel.executor import open_executor

    settings = settings or ScoreSettings()
    path = Path(path)
    if (path / "session.json").exists():
        sessions, dataset = [path], path.parent
    else:
        sessions, dataset = sorted(p for p in path.glob("ses-*") if p.is_dir()), path
    if not sessions:
        raise AnalysisError(
            f"{path}: no ses-* folders and no session.json here",
            hint="give a dataset folder or one ses-<id> folder",
        )
    outs = [derivatives_dir(dataset) / s.name for s in sessions]
    todo = [(s, o) for s, o in zip(sessions, outs) if force or not is_scored(o, settings, s)]
    for sdir, _ in todo:  # a folder that is no readable session stops us before a cluster starts
        read_session_meta(sdir)
    outcomes = {}
    if todo:
        with open_executor(scheduler, workers if workers is not None else jobs) as ex:
            outcomes = score_sessions(
                ex, todo, dataset, derivatives_dir(dataset), settings, finish_session, progress, chunk_s
            )
    failed = [(s, o.error) for s, o in outcomes.items() if o.error is not None]
    if failed:
        err = failed[0][1]
        if not isinstance(err, CoaffectError):
            raise err
        others = len(outcomes) - len(failed)
        more = f"{len(failed) - 1} more sessions failed too; " if len(failed) > 1 else ""
        raise type(err)(
            err.message,
            hint="; ".join(
                x for x in (err.hint, f"{more}{others} other sessions were scored and written") if x
            ),
            lines=err.lines,
        )
    rows = []
    for s, o in zip(sessions, outs):
        summary = outcomes[s].summary if s in outcomes else json.loads((o / "score_summary.json").read_text())
        rows.append(
            {
                "session": s.name,
                "status": "scored" if s in outcomes else "skipped",
                "faces_found_fraction": summary["faces_found_fraction"],
                "smallest_face_px_found": summary["smallest_face_px_found"],
                "output": str(o / "faces.parquet"),
                "warnings": [*summary.get("orientation_warnings", []), *summary.get("seat_warnings", [])],
            }
        )
    return pd.DataFrame(rows)
