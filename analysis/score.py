"""Score faces: per-session pure function, dataset driver, single videos and images.

:func:`score_session` reads one session folder and returns the faces table
and a summary without writing anything (so it can be mapped on a cluster);
:func:`write_scores` writes them atomically; :func:`score_dataset` scores a
dataset on the executor (chunks and per-session finishing as Dask tasks, see
:mod:`analysis.score_archive`), skips sessions already scored with the same
settings hash, and shows progress (tqdm).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError, CoaffectError, SessionFormatError
from coaffect.formats.faces_schema import ACTION_UNITS, FACES_FORMAT_VERSION
from coaffect.formats.tables import derivatives_dir

from .expression.fer_model import FER_CLASSES
from .expression.geometry import head_pose, landmark_action_units
from .faces.chunks import CHUNK_SECONDS
from .faces.identity import UNKNOWN, assign_tracks, enrollment_encodings, label_tracks_by_cluster
from .faces.observe import observe_video
from .faces.pipeline import PipelineSettings, finish_observations
from .faces.table import faces_table, score_summary
from .score_archive import score_sessions
from .score_files import is_scored, write_scores

#: Folder of coaffect's outputs inside a dataset.


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
        >>> from analysis.faces.track import TrackerSettings
        >>> ScoreSettings(PipelineSettings(tracker=TrackerSettings(min_face_px=-1)))
        Traceback (most recent call last):
        ...
        coaffect.formats.errors.AnalysisError: --min-face-px must be positive (got -1)
        """
        if int(self.pipeline.step) < 1:
            raise AnalysisError(f"--step must be at least 1 (got {self.pipeline.step})")
        if not self.pipeline.tracker.min_face_px > 0:
            raise AnalysisError(f"--min-face-px must be positive (got {self.pipeline.tracker.min_face_px:g})")
        if not 0 < self.tolerance <= 2:
            raise AnalysisError(f"tolerance must be in (0, 2] (got {self.tolerance:g})")

    @staticmethod
    def check_jobs(jobs: int) -> int:
        """``jobs`` as an int of at least 1, or an AnalysisError.

        Examples
        --------
        >>> ScoreSettings.check_jobs(2)
        2
        """
        if int(jobs) < 1:
            raise AnalysisError(f"--jobs must be at least 1 (got {jobs})")
        return int(jobs)

    def settings_hash(self) -> str:
        """Short sha256 of the settings and the table format version.

        Examples
        --------
        >>> len(ScoreSettings().settings_hash())
        16
        """
        blob = json.dumps(
            {
                "pipeline": self.pipeline.as_dict(),
                "tolerance": self.tolerance,
                "format": FACES_FORMAT_VERSION,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def _settings_dict(settings: ScoreSettings) -> dict:
    return {"pipeline": settings.pipeline.as_dict(), "tolerance": settings.tolerance}


def score_video(
    path,
    settings: ScoreSettings | None = None,
    start: int = 0,
    stop: int | None = None,
    progress=None,
    jobs: int = 1,
) -> Scored:
    """Score a plain video (no session): faces clustered into face01, face02... left to right.

    Parameters
    ----------
    path : str or Path
        Any video OpenCV reads.
    settings : ScoreSettings, optional
    start, stop : int
        Frame range to score (default: the whole video).
    progress : tqdm-like, optional
    jobs : int
        Processes for this one video (contiguous chunks scored in parallel and
        stitched; same table as with one process, see :mod:`analysis.faces.chunks`).

    Returns
    -------
    Scored
        ``faces``: one row per frame x face label (columns of :data:`ALL_COLUMNS`);
        with no face at all, one ``face01`` row per frame, all NaN. ``summary``:
        frames, faces found fraction, minimum face size, settings hash, AU
        correlation matrix, quality-flag counts...

    Examples
    --------
    >>> faces, summary = score_video(shared / "edge/no_face.mp4", stop=4)
    >>> len(faces), summary["faces_found_fraction"]
    (4, 0.0)
    >>> faces, summary = score_video(clip)  # 3 frames of one face
    >>> faces["face_found"].tolist(), faces["participant_id"].unique().tolist()
    ([True, True, True], ['face01'])
    """
    settings = settings or ScoreSettings()
    jobs = ScoreSettings.check_jobs(jobs)
    path = Path(path)
    settings = _still_settings(path, settings)
    obs = observe_video(path, settings.pipeline, start, stop, encode="auto", progress=progress, jobs=jobs)
    identity = label_tracks_by_cluster(obs.tracks, settings.tolerance)
    participants = sorted(set(identity["participant_id"])) or ["face01"]
    faces, notes = faces_table(obs, identity, participants, path.stem, "video")
    turned = orientation_note("video", path, obs, None, settings.pipeline.rotate)
    if turned:
        notes["orientation_warnings"] = [turned]
    return Scored(
        faces,
        score_summary(
            faces,
            {"video": obs.info},
            settings.settings_hash(),
            _settings_dict(settings),
            notes=[],
            extra=notes,
        ),
    )


#: File types OpenCV opens as a one-frame "video" (scored like score_image).
STILL_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _still_settings(path: Path, settings: ScoreSettings) -> ScoreSettings:
    """For a still image: find faces as :func:`score_image` does (same size limit, one detection).

    A one-frame "video" has no second frame to confirm a face with, and
    score_image looks for faces down to 40 px or 1/25 of the image's longer
    side; without this, ``score --video photo.jpg`` missed faces
    ``score_image`` found (detection4.jpg: 2 of 3).

    Examples
    --------
    >>> _still_settings(Path("clip.mp4"), ScoreSettings()) == ScoreSettings()
    True
    """
    if path.suffix.lower() not in STILL_SUFFIXES:
        return settings
    from dataclasses import replace

    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    longer = 2 * max(img.shape) if img is not None else 0
    tracker = settings.pipeline.tracker
    still = replace(
        tracker, confirm_detections=1, min_face_px=min(tracker.min_face_px, max(40.0, longer / 25.0))
    )
    return replace(settings, pipeline=replace(settings.pipeline, tracker=still))


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
        executor, see :mod:`analysis.score_archive`); other cameras are observed here.

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
    people = session.meta.get("participants") or []
    seats = {p["participant_id"]: p.get("seat") for p in people}
    condition = session.meta.get("condition")
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
        pipeline = replace(settings.pipeline, rotate=cam.rotate)
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
    return Scored(
        faces, score_summary(faces, infos, settings.settings_hash(), _settings_dict(settings), notes, extra)
    )


def _unassigned_by_seat(obs, identity, layout) -> dict:
    """Seat slot -> frames in which a face nobody was given (``unknown``) sat in it."""
    lost = set(identity.loc[identity["participant_id"] == UNKNOWN, "track_id"])
    if not lost or not len(layout):
        return {}
    n = len(layout)
    x = obs.tracks.set_index("track_id")["x_center"] if "x_center" in obs.tracks else pd.Series(dtype=float)
    out: dict = {}
    for tid, frames in obs.faces[obs.faces["track_id"].isin(lost)].groupby("track_id")["frame"]:
        pos = float(x.get(tid, np.nan))
        seat = layout[min(n - 1, max(0, int(pos * n)))] if np.isfinite(pos) else "?"
        out.setdefault(seat, set()).update(frames.tolist())
    return out


def orientation_note(camera: str, video, obs, frame_table=None, rotate: int = 0) -> str | None:
    """When a camera's faces are found only in a turned frame, the message saying so (else None).

    Checked only when no face was found in the camera's first seconds: the
    first 5 s (one frame every 0.5 s) are tried turned by 90, 180 and 270
    deg (:func:`analysis.faces.orientation.check_orientation`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> obs = SimpleNamespace(faces=pd.DataFrame({"frame": [0]}), info={"fps": 25.0})
    >>> orientation_note("wide", "clip.mp4", obs) is None      # a face early on: nothing to check
    True
    """
    from .faces.orientation import check_orientation, first_seconds, orientation_advice, rotate_image

    fps = float(obs.info.get("fps") or 25.0)
    if len(obs.faces) and float(obs.faces["frame"].min()) < ORIENTATION_CHECK_S * fps:
        return None
    images = [
        rotate_image(img, rotate) for img in first_seconds(video, ORIENTATION_CHECK_S, 0.5, frame_table)
    ]
    return orientation_advice(camera, check_orientation(images), rotate) if images else None


#: Seconds at a camera's start in which a face must be found, else the orientation is checked.
ORIENTATION_CHECK_S = 5.0


def outside_seats_warning(camera, obs, identity, cam_notes, layout, condition, seated=None) -> str | None:
    """A message saying where faces nobody was given were seen and what to do, else None.

    Faces that are in no participant's rows (``unknown``) in at least 10% of the
    scored frames are reported by the seat slot they sat in (the camera's seats
    left to right): on a seat nobody took in this session, or beside the
    participant of a taken seat. What to do depends on the condition: in an
    alone session a face on an empty seat is somebody (or a picture) who should
    not be in view, or the participant sat elsewhere; in a group session the
    seat plan or the seating may not match the room.

    Parameters
    ----------
    camera : str
    obs : observations with ``faces`` (track_id, frame) and ``tracks`` (track_id, x_center)
    identity : pandas.DataFrame
        track_id, participant_id.
    cam_notes : dict
        ``by_participant``: participant -> [frames with a face, frames].
    layout : list of str
        Seats in view, left to right.
    condition : str
    seated : dict, optional
        Seat -> participant of this session (default: none known).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> obs = SimpleNamespace(faces=pd.DataFrame({"track_id": [2] * 10 + [3] * 10, "frame": [*range(10)] * 2}),
    ...                       tracks=pd.DataFrame({"track_id": [1, 2, 3], "x_center": [0.15, 0.5, 0.85]}))
    >>> ident = pd.DataFrame({"track_id": [1, 2, 3], "participant_id": ["P09", "unknown", "unknown"]})
    >>> notes = {"scored_rows": 10, "by_participant": {"P09": [10, 10]}}
    >>> print(outside_seats_warning("wide", obs, ident, notes, ["A", "B", "C"], "alone", {"A": "P09"}))
    ... # doctest: +NORMALIZE_WHITESPACE
    cam-wide: faces seen on seats nobody took in this alone session: B in 10 of 10 frames (100%),
    C in 10 of 10 frames (100%); they are in no participant's rows (P09 on seat A: face in 100% of
    frames). In an alone session only the participant should be in view: if other people or pictures
    of faces were filmed, they are left out, as they should be, and nothing needs doing; if P09 sat on
    another seat than A, give camera wide 'condition_seats: {alone: [SEAT]}' in the session's
    protocol.yaml and run 'coaffect score --force'
    """
    per = cam_notes.get("by_participant", {})
    n = max((tot for _f, tot in per.values()), default=cam_notes.get("scored_rows", 0))
    by_seat = _unassigned_by_seat(obs, identity, layout)
    frames = len(set().union(*by_seat.values())) if by_seat else 0
    if not n or frames < 0.1 * n:
        return None
    seated = dict(seated or {})
    pct = {seat: len(f) / n for seat, f in by_seat.items()}
    empty = [s for s in layout if s in by_seat and s not in seated and pct[s] >= 0.01]
    beside = [s for s in layout if s in by_seat and s in seated and pct[s] >= 0.01]
    where = []
    if empty:
        where.append(
            f"on seats nobody took in this {condition} session: "
            + ", ".join(f"{s} in {len(by_seat[s])} of {n} frames ({100 * pct[s]:.0f}%)" for s in empty)
        )
    if beside:
        where.append(
            "beside the participant of seat "
            + ", ".join(
                f"{s} ({seated[s]}) in {len(by_seat[s])} of {n} frames ({100 * pct[s]:.0f}%)" for s in beside
            )
        )
    if "?" in by_seat:
        where.append(f"at no known place in {len(by_seat['?'])} of {n} frames")
    who = "; ".join(
        f"{pid} on seat {seat}: face in {100 * per[pid][0] / per[pid][1]:.0f}% of frames"
        for seat, pid in sorted(seated.items())
        if pid in per and per[pid][1]
    )
    seen = f"cam-{camera}: faces seen {'; '.join(where)}; they are in no participant's rows" + (
        f" ({who})" if who else ""
    )
    redo = "in the session's protocol.yaml and run 'coaffect score --force'"
    if condition == "alone":
        pid, seat = next(((p, s) for s, p in seated.items()), ("the participant", "their seat"))
        todo = (
            "In an alone session only the participant should be in view: if other people or pictures of "
            "faces were filmed, they are left out, as they should be, and nothing needs doing; if "
            f"{pid} sat on another seat than {seat}, give camera {camera} 'condition_seats: "
            f"{{alone: [SEAT]}}' {redo}"
        )
    else:
        todo = (
            f"In a group session: check that camera {camera}'s 'seats' lists the seats left to right as "
            "the camera sees them and that everyone sat where participants.tsv says; fix the seats "
            f"{redo}. A face on an empty seat (a late-comer, an experimenter) or a second face at a "
            "seat (someone leaning over) is left out, as it should be"
        )
    return f"{seen}. {todo}"


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
    task (see :mod:`analysis.score_archive`); the table is the same for 1
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

    from .executor import open_executor

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
    todo = [(s, o) for s, o in zip(sessions, outs) if force or not is_scored(o, settings)]
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


def score_image(path, min_face_px: float | None = None) -> pd.DataFrame:
    """Score every face in one still image.

    A still has no baseline, so the action-unit columns hold the raw geometric
    measures (face-frame units, see docs/faces-table.md), not z-scores; the
    emo_ columns are FER probabilities.

    Parameters
    ----------
    path : str or Path
        An image OpenCV reads (jpg, png...).
    min_face_px : float, optional
        Smallest face width to find (default: 40 px or 1/25 of the longer side).

    Returns
    -------
    pandas.DataFrame
        One row per face, left to right: face, face_x, face_y, face_w, face_h,
        detection_confidence, AU01...AU45 (raw), yaw, pitch, roll (deg),
        emo_angry...emo_neutral.

    Examples
    --------
    >>> faces = score_image(shared / "single/single_face.jpg")
    >>> faces["emo_happy"].round(2).tolist()
    [0.98]
    """
    import cv2

    from .expression.fer_model import expression_probabilities
    from .faces.detect import to_grey
    from .faces.identity import encode_image_faces

    img = cv2.imread(str(path))
    if img is None:
        raise AnalysisError(
            f"{path}: cannot read this image",
            hint="give a JPEG or PNG file" if Path(path).exists() else "check the path",
        )
    found = encode_image_faces(img, min_face_px).sort_values("face_x").reset_index(drop=True)
    grey = to_grey(img)
    lms = np.stack(found["landmarks"].to_list()) if len(found) else np.zeros((0, 68, 2))
    aus = landmark_action_units(lms)[list(ACTION_UNITS)]
    probs = [expression_probabilities(grey, p) for p in lms]
    emo = pd.DataFrame(probs, columns=list(FER_CLASSES)) if probs else pd.DataFrame(columns=list(FER_CLASSES))
    base = found[["face_x", "face_y", "face_w", "face_h", "detection_confidence"]].astype(float)
    base.insert(0, "face", np.arange(1, len(found) + 1))
    return pd.concat([base, aus, head_pose(lms), emo], axis=1)
