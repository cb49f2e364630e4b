"""Run detection, tracking, landmarks, FER and sparse encodings over one video.

:func:`~.observe.observe_video` is the per-face pipeline shared by alone and group
recordings, single videos and sessions: every face gets the same crops and
models. It returns observations per (frame, track); identity and baseline
normalisation come after (:mod:`analysis.scoring.score`).

Speed: per frame only the face work is done (one grey conversion, a landmark
fit and a FER crop per face); the tables are built once at the end, and
``jobs > 1`` scores contiguous chunks in parallel processes
(:mod:`analysis.faces.chunks`) with the same result as one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..expression.fer_model import FER_CLASSES, expression_probabilities_batch
from .detect import HOG_WINDOW_PX, fit_landmarks, to_grey
from .frames import VideoRange, open_range
from .identity import encode_chips, face_chip
from .orientation import rotate_image
from .settings import PipelineSettings
from .track import FaceTracker


@dataclass
class VideoObservations:
    """What the pipeline saw in one video.

    Attributes
    ----------
    frames : pandas.DataFrame
        Every frame of the range: frame, t_video (s from the video's own clock), scored (bool).
    faces : pandas.DataFrame
        One row per scored frame x visible track: frame, track_id, face_x, face_y,
        face_w, face_h (px), detected (HOG confirmed in this frame),
        detection_confidence (HOG score at the track's last detection), emo_* probabilities.
    landmarks : numpy.ndarray
        (len(faces), 68, 2) pixel landmarks, row-aligned with ``faces``.
    tracks : pandas.DataFrame
        track_id, first_frame, last_frame, x_center (0-1 of width), encoding (mean or None), n_encodings.
    info : dict
        fps, width, height, n_frames, detections_run (full-frame HOG, including
        the chunks' warm-up), min_face_px (detector limit), analysis_face_px
        (the common analysis resolution used), smallest_face_px
        (smallest face found); with ``jobs > 1`` also jobs and chunks.
    """

    frames: pd.DataFrame
    faces: pd.DataFrame
    landmarks: np.ndarray
    tracks: pd.DataFrame
    info: dict


@dataclass
class RangeObservations:
    """Raw per-process output of :func:`observe_range` (picklable; stitched by :mod:`.chunks`).

    Track ids are the tracker's own; ``confirmed`` holds those the tracker ever
    confirmed and ``chips`` the face chips kept for identity encodings.
    """

    frames: list
    rows: list
    landmarks: np.ndarray
    confirmed: set
    chips: dict
    min_width: dict
    info: dict


@contextmanager
def one_opencv_thread() -> Iterator[None]:
    """Run OpenCV single-threaded for a while (the previous setting comes back).

    Scoring works on one face at a time: OpenCV's thread pool finds little to
    split and its waiting threads cost CPU (measured: 14.5 against about
    17 ms of CPU per frame on ``bench/score_scaling.py``'s dataset, in one
    process, with no loss of speed). One thread per process also makes a Dask
    worker use exactly the core it is given, so N workers scale against one.

    Examples
    --------
    >>> with one_opencv_thread():
    ...     cv2.getNumThreads()
    1
    """
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def analysis_landmarks(grey: np.ndarray, track, analysis_face_px: float | None) -> np.ndarray:
    """The landmarks the faces table measures a tracked face by: fitted at the common resolution.

    The tracker follows each face with dlib's fit in the frame as it is
    (whole-pixel points: two runs that start at different frames, e.g. a
    chunk's warm-up, fall into the same track); the units are measured on a
    second fit of the same box at the common analysis resolution
    (:func:`~.detect.fit_at_resolution`), which does not feed back into the
    tracking. FER and identity chips keep the tracking landmarks. None: the
    tracking landmarks themselves.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from skimage.data import astronaut
    >>> from .detect import box_from_landmarks, detect_faces
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> pts = fit_landmarks(g, detect_faces(g)[0][0])
    >>> tr = SimpleNamespace(landmarks=pts, box=box_from_landmarks(pts))
    >>> analysis_landmarks(g, tr, None) is pts, analysis_landmarks(g, tr, 80).shape
    (True, (68, 2))
    """
    if analysis_face_px is None:
        return track.landmarks
    return fit_landmarks(grey, track.box, analysis_face_px)


def observe_range(
    video: VideoRange | str | Path,
    settings: PipelineSettings | None = None,
    encode: bool | str = True,
    progress=None,
    warm_up_to: int | None = None,
) -> RangeObservations:
    """Run the tracker over frames ``[start, stop)`` and keep everything, unfiltered.

    The per-process worker of :func:`~.observe.observe_video` (one call per chunk when
    ``jobs > 1``). Per frame it does only the face work (grey conversion once,
    landmarks, FER on a batch of that frame's faces, face chips on a few
    detected frames); tables are assembled once at the end.

    Parameters
    ----------
    video : VideoRange, str or Path
        The frames to score (a path: all of its frames).
    settings, encode, progress
        As for :func:`~.observe.observe_video`.
    warm_up_to : int, optional
        Frames before this one only warm the tracker up (a chunk's overlap with
        the previous chunk): boxes and landmarks are kept for stitching, FER
        probabilities (NaN) and identity chips are skipped.

    Returns
    -------
    RangeObservations

    Examples
    --------
    >>> raw = observe_range(VideoRange.of(shared / "single/single_face.mp4", stop=3))
    >>> sorted({r[1] for r in raw.rows})
    [1]
    """
    settings = settings or PipelineSettings()
    step = max(1, int(settings.step))
    cap, fps, n_total, frames_iter = open_range(VideoRange.of(video), step)
    tracker = FaceTracker(fps / step, settings.tracker)
    encode_gap = max(1, int(round(settings.encode_every_s * fps)))
    frames, rows, lms = [], [], []
    chips: dict[int, list] = {}
    last_enc: dict[int, int] = {}
    width = height = 0
    nan_probs = (np.nan,) * len(FER_CLASSES)
    k = 0
    unreadable = []
    with one_opencv_thread():
        try:
            for pos, (i, img, scored) in enumerate(frames_iter):
                frames.append((i, i / fps, scored))
                if progress is not None:
                    progress.update(1)
                if not scored:
                    if pos % step == 0:  # due for scoring but no image: cut or missing bytes
                        unreadable.append(i)
                    continue
                if settings.rotate:
                    img = rotate_image(img, settings.rotate)
                height, width = img.shape[:2]
                grey = to_grey(img)
                visible = tracker.update(k, grey)
                k += 1
                if not visible:
                    continue
                warm = warm_up_to is not None and i < warm_up_to
                probs = (
                    expression_probabilities_batch(grey, [tr.landmarks for tr in visible])
                    if settings.fer and not warm
                    else [nan_probs] * len(visible)
                )
                for tr, p in zip(visible, probs):
                    x, y, w, h = tr.box
                    rows.append((i, tr.track_id, x, y, w, h, tr.detected_now, tr.det_score, *p))
                    # the tracker replaces, never mutates, its arrays
                    lms.append(analysis_landmarks(grey, tr, settings.analysis_face_px))
                    if (
                        encode
                        and not warm
                        and tr.detected_now
                        and len(chips.get(tr.track_id, ())) < settings.encodings_per_track
                        and i - last_enc.get(tr.track_id, -(10**9)) >= encode_gap
                    ):
                        chips.setdefault(tr.track_id, []).append((i, face_chip(img, tr.landmarks)))
                        last_enc[tr.track_id] = i
        finally:
            if cap is not None:
                cap.release()
    info = {
        "fps": fps,
        "width": width,
        "height": height,
        "n_frames_in_file": n_total,
        "step": step,
        "detections_run": tracker.n_detections_run,
        "min_face_px": HOG_WINDOW_PX / tracker.scale,
        "unreadable_frames": unreadable,
    }
    return RangeObservations(
        frames,
        rows,
        np.asarray(lms, dtype=float).reshape(-1, 68, 2),
        {t for t, ok in tracker.confirmed_ids.items() if ok},
        chips,
        dict(tracker.min_width),
        info,
    )


def _encode_group(group: dict) -> dict:
    return {t: encode_chips(c) for t, c in group.items()}


def _encode_tracks(chips: dict, jobs: int) -> dict:
    """Mean encoding per track; spread over ``jobs`` processes (about 115 ms a chip)."""
    if jobs < 2 or len(chips) < 2:
        return _encode_group(chips)
    from joblib import Parallel, delayed

    items = sorted(chips.items(), key=lambda kv: -len(kv[1]))
    groups = [dict(items[k::jobs]) for k in range(min(jobs, len(items)))]
    out: dict = {}
    for part in Parallel(n_jobs=len(groups), backend="loky")(delayed(_encode_group)(g) for g in groups):
        out.update(part)
    return out


def finish_observations(
    raw: RangeObservations, settings: PipelineSettings, encode: bool | str = True
) -> VideoObservations:
    """Keep confirmed tracks, pick and encode identity chips, build the tables (vectorised).

    Examples
    --------
    The doctests' 3-frame clip of one face (no identity chips encoded):

    >>> obs = finish_observations(observe_range(clip), PipelineSettings(), encode=False)
    >>> len(obs.frames), len(obs.faces), obs.landmarks.shape
    (3, 3, (3, 68, 2))
    """
    cols = [
        "frame",
        "track_id",
        "face_x",
        "face_y",
        "face_w",
        "face_h",
        "detected",
        "detection_confidence",
        *FER_CLASSES,
    ]
    faces = pd.DataFrame(raw.rows, columns=cols)
    faces["track_id"] = faces["track_id"].astype("int64")
    faces["detected"] = faces["detected"].astype(bool)
    keep = faces["track_id"].isin(sorted(raw.confirmed)).to_numpy()
    # rows in (frame, track_id) order: the tracker's own order, and stitched chunks' too
    order = np.flatnonzero(keep)
    order = order[np.lexsort((faces["track_id"].to_numpy()[order], faces["frame"].to_numpy()[order]))]
    faces = faces.iloc[order].reset_index(drop=True)
    landmarks = raw.landmarks[order] if len(raw.landmarks) else raw.landmarks
    width = raw.info["width"] or 1
    g = faces.assign(xc=(faces["face_x"] + faces["face_w"] / 2) / width).groupby("track_id", sort=False)
    spans = pd.DataFrame(
        {"first_frame": g["frame"].min(), "last_frame": g["frame"].max(), "x_center": g["xc"].median()}
    ).reset_index()
    fps = raw.info["fps"]
    encode_gap = max(1, int(round(settings.encode_every_s * fps)))
    chips = {}
    for tid in spans["track_id"]:
        picked, last = [], -(10**9)
        for frame, chip in sorted(raw.chips.get(int(tid), []), key=lambda fc: fc[0]):
            if len(picked) < settings.encodings_per_track and frame - last >= encode_gap:
                picked.append(chip)
                last = frame
        if picked:
            chips[int(tid)] = picked
    if not encode or (encode == "auto" and len(spans) < 2):
        chips = {}  # one face only: no identity to decide, skip the slow encodings
    encs = _encode_tracks(chips, int(raw.info.get("jobs", 1)))
    tracks = pd.DataFrame(
        {
            "track_id": spans["track_id"].astype("int64").tolist(),
            "first_frame": spans["first_frame"].astype("int64").tolist(),
            "last_frame": spans["last_frame"].astype("int64").tolist(),
            "x_center": spans["x_center"].astype(float).tolist(),
            "encoding": [encs.get(int(t)) for t in spans["track_id"]],
            "n_encodings": [len(chips[int(t)]) if int(t) in encs else 0 for t in spans["track_id"]],
        },
        columns=["track_id", "first_frame", "last_frame", "x_center", "encoding", "n_encodings"],
    )
    widths = [w for t, w in raw.min_width.items() if t in raw.confirmed]
    info = {
        "fps": fps,
        "width": raw.info["width"],
        "height": raw.info["height"],
        "n_frames": len(raw.frames),
        "n_frames_in_file": raw.info["n_frames_in_file"],
        "step": raw.info["step"],
        "detections_run": raw.info["detections_run"],
        "min_face_px": raw.info["min_face_px"],
        # the common analysis resolution the landmarks were fitted at (None: as filmed)
        "analysis_face_px": settings.analysis_face_px,
        "smallest_face_px": float(min(widths)) if widths else float("nan"),
        # frames due for scoring that could not be decoded (their rows are NaN)
        "frames_unreadable": len(raw.info.get("unreadable_frames", ())),
    }
    if "jobs" in raw.info:
        info["jobs"], info["chunks"] = raw.info["jobs"], raw.info["chunks"]
    return VideoObservations(
        pd.DataFrame(raw.frames, columns=["frame", "t_video", "scored"]),
        faces,
        landmarks.reshape(-1, 68, 2),
        tracks,
        info,
    )
