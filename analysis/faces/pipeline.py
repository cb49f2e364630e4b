"""Run detection, tracking, landmarks, FER and sparse encodings over one video.

:func:`observe_video` is the per-face pipeline shared by alone and group
recordings, single videos and sessions: every face gets the same crops and
models. It returns observations per (frame, track); identity and baseline
normalisation come after (:mod:`analysis.score`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from experiments.errors import AnalysisError

from ..expression.fer_model import FER_CLASSES, expression_probabilities
from .detect import HOG_WINDOW_PX, to_grey
from .identity import encode_chips, face_chip
from .track import FaceTracker, TrackerSettings


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of the per-face pipeline (hashed into the scoring settings).

    Attributes
    ----------
    tracker : TrackerSettings
    step : int
        Score every ``step``-th frame (1 = every frame; others get NaN rows).
    encodings_per_track : int
        At most this many 128-d encodings per track, on detected frames.
    encode_every_s : float
        Minimum seconds between two encodings of one track.
    fer : bool
        Compute FER expression probabilities.
    """

    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    step: int = 1
    encodings_per_track: int = 2
    encode_every_s: float = 2.0
    fer: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


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
        fps, width, height, n_frames, detections_run, min_face_px (detector limit),
        smallest_face_px (smallest face found).
    """

    frames: pd.DataFrame
    faces: pd.DataFrame
    landmarks: np.ndarray
    tracks: pd.DataFrame
    info: dict


def open_video(path: Path) -> cv2.VideoCapture:
    """Open a video file with OpenCV or raise an :class:`AnalysisError`.

    Examples
    --------
    >>> open_video(Path("missing.mp4"))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    experiments.errors.AnalysisError: missing.mp4: no such video file
    """
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise AnalysisError(f"{path}: OpenCV cannot open this video",
                            hint="convert it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
    return cap


def _mjpeg_frames(path: Path, table: pd.DataFrame, start: int, stop: int | None, step: int):
    """Frames of a session's raw MJPEG camera file, decoded from their byte ranges."""
    rows = table.iloc[start:stop]
    with open(path, "rb") as fh:
        for k, (frame, offset, length) in enumerate(
                rows[["frame", "byte_offset", "byte_length"]].astype("int64").itertuples(index=False)):
            if k % step:
                yield int(frame), None, False
                continue
            fh.seek(offset)
            data = fh.read(length)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if len(data) == length else None
            if img is None:  # a frame cut by a crash: no image, the row stays (NaN)
                yield int(frame), None, False
                continue
            yield int(frame), img, True


def _video_frames(cap: cv2.VideoCapture, start: int, stop: int | None, step: int):
    for _ in range(start):
        if not cap.grab():
            return
    i = start
    while stop is None or i < stop:
        if (i - start) % step == 0:
            ok, img = cap.read()
        else:
            ok, img = cap.grab(), None
        if not ok:
            return
        yield i, img, img is not None
        i += 1


def observe_video(path, settings: PipelineSettings | None = None, start: int = 0,
                  stop: int | None = None, encode: bool | str = True, progress=None,
                  frame_table: pd.DataFrame | None = None) -> VideoObservations:
    """Detect, track and measure every face in frames ``[start, stop)`` of a video.

    Parameters
    ----------
    path : str or Path
        Any video OpenCV reads (mp4, avi, mkv, mov, gif), or a session's raw
        MJPEG camera file (``cam-<name>.mjpg``) together with ``frame_table``.
    settings : PipelineSettings, optional
    start, stop : int
        Frame range (stop None = to the end).
    encode : bool or "auto"
        Compute identity encodings (about 115 ms each, at most
        ``encodings_per_track`` per track); ``"auto"``: only if more than one
        face track was found.
    progress : tqdm-like, optional
        Updated by one per frame read.
    frame_table : pandas.DataFrame, optional
        The camera's ``cam-<name>_frames.tsv`` (frame, t, byte_offset, byte_length):
        frames are then decoded from their byte ranges and the frame rate is
        taken from the session-clock times.

    Returns
    -------
    VideoObservations

    Examples
    --------
    >>> obs = observe_video("../shared/data/single/single_face.mp4", stop=3)  # doctest: +SKIP
    >>> obs.faces["track_id"].tolist()                                       # doctest: +SKIP
    [1, 1, 1]
    """
    settings = settings or PipelineSettings()
    step = max(1, int(settings.step))
    path = Path(path)
    if frame_table is not None and {"byte_offset", "byte_length"} <= set(frame_table.columns):
        if not path.exists():
            raise AnalysisError(f"{path}: no such video file")
        t = frame_table["t"].to_numpy(dtype=float)
        fps = 1.0 / float(np.median(np.diff(t))) if len(t) > 1 and np.median(np.diff(t)) > 0 else 25.0
        n_total = len(frame_table)
        frames_iter = _mjpeg_frames(path, frame_table, start, stop, step)
        cap = None
    else:
        cap = open_video(path)
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        n_total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames_iter = _video_frames(cap, start, stop, step)
    tracker = FaceTracker(fps / step, settings.tracker)
    encode_gap = max(1, int(round(settings.encode_every_s * fps)))
    frames, rows, lms = [], [], []
    encs: dict[int, list] = {}
    last_enc: dict[int, int] = {}
    spans: dict[int, list] = {}
    width = height = 0
    k = 0
    try:
        for i, img, scored in frames_iter:
            frames.append((i, i / fps, scored))
            if progress is not None:
                progress.update(1)
            if scored:
                height, width = img.shape[:2]
                grey = to_grey(img)
                for tr in tracker.update(k, grey):
                    x, y, w, h = tr.box
                    probs = expression_probabilities(grey, tr.landmarks) if settings.fer \
                        else np.full(len(FER_CLASSES), np.nan)
                    rows.append((i, tr.track_id, x, y, w, h, tr.detected_now, tr.det_score, *probs))
                    lms.append(tr.landmarks.copy())
                    span = spans.setdefault(tr.track_id, [i, i, []])
                    span[1] = i
                    span[2].append((x + w / 2) / width)
                    if (encode and tr.detected_now and len(encs.get(tr.track_id, [])) < settings.encodings_per_track
                            and i - last_enc.get(tr.track_id, -10 ** 9) >= encode_gap):
                        encs.setdefault(tr.track_id, []).append(face_chip(img, tr.landmarks))
                        last_enc[tr.track_id] = i
                k += 1
    finally:
        if cap is not None:
            cap.release()
    confirmed = {tr_id for tr_id, ok in tracker.confirmed_ids.items() if ok}
    keep = [j for j, r in enumerate(rows) if r[1] in confirmed]
    rows = [rows[j] for j in keep]
    lms = [lms[j] for j in keep]
    spans = {t: v for t, v in spans.items() if t in confirmed}
    encs = {t: v for t, v in encs.items() if t in confirmed}
    if encode == "auto" and len(spans) < 2:
        encs = {}  # one face only: no identity to decide, skip the slow encodings
    n_chips = {t: len(chips) for t, chips in encs.items()}
    encs = {t: encode_chips(chips) for t, chips in encs.items() if chips}
    cols = ["frame", "track_id", "face_x", "face_y", "face_w", "face_h", "detected",
            "detection_confidence", *FER_CLASSES]
    faces = pd.DataFrame(rows, columns=cols)
    faces["track_id"] = faces["track_id"].astype("int64")
    tracks = pd.DataFrame({
        "track_id": list(spans),
        "first_frame": [s[0] for s in spans.values()],
        "last_frame": [s[1] for s in spans.values()],
        "x_center": [float(np.median(s[2])) for s in spans.values()],
        "encoding": [encs.get(t) for t in spans],
        "n_encodings": [n_chips.get(t, 0) if t in encs else 0 for t in spans],
    }, columns=["track_id", "first_frame", "last_frame", "x_center", "encoding", "n_encodings"])
    info = {"fps": fps, "width": width, "height": height, "n_frames": len(frames),
            "n_frames_in_file": n_total, "step": step,
            "detections_run": tracker.n_detections_run,
            "min_face_px": HOG_WINDOW_PX / tracker.scale,
            "smallest_face_px": tracker.smallest_detected_px}
    return VideoObservations(
        pd.DataFrame(frames, columns=["frame", "t_video", "scored"]), faces,
        np.asarray(lms, dtype=float).reshape(-1, 68, 2), tracks, info)
