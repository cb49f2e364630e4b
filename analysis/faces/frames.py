"""Frames of a video file or of a session's raw MJPEG camera file, and their rate.

One place for the rules both the single-process and the chunked scorer follow:
how a frame range is read (byte ranges for session MJPEG files, forward
decoding for plain videos) and how the frame rate and count are found.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

#: Frame rate assumed when neither the file nor the frame table gives one.
FALLBACK_FPS = 25.0


@dataclass(frozen=True, eq=False)
class VideoRange:
    """Frames ``[start, stop)`` of a video file or of a session's MJPEG camera file.

    Attributes
    ----------
    path : Path
        Any video OpenCV reads, or a session's ``cam-<name>.mjpg``.
    start : int
    stop : int or None
        None: to the end.
    frame_table : pandas.DataFrame, optional
        The camera's ``cam-<name>_frames.tsv`` (frame, t, byte_offset,
        byte_length): frames are then read by their byte ranges.

    Examples
    --------
    >>> VideoRange.of("clip.mp4", stop=10).part(4, 8)
    VideoRange(path=PosixPath('clip.mp4'), start=4, stop=8, frame_table=None)
    """

    path: Path
    start: int = 0
    stop: int | None = None
    frame_table: pd.DataFrame | None = None

    @classmethod
    def of(cls, video: VideoRange | str | Path, **fields) -> VideoRange:
        """``video`` as a range: a range as it is (with ``fields`` changed), a path from its start."""
        return replace(video, **fields) if isinstance(video, VideoRange) else cls(Path(video), **fields)

    def part(self, start: int, stop: int | None) -> VideoRange:
        """The frames ``[start, stop)`` of the same file."""
        return replace(self, start=start, stop=stop)


def has_byte_ranges(frame_table: pd.DataFrame | None) -> bool:
    """Whether ``frame_table`` locates each frame in a raw MJPEG file.

    Examples
    --------
    >>> has_byte_ranges(pd.DataFrame(columns=["frame", "t", "byte_offset", "byte_length"]))
    True
    >>> has_byte_ranges(None)
    False
    """
    return frame_table is not None and {"byte_offset", "byte_length"} <= set(frame_table.columns)


def _table_facts(frame_table: pd.DataFrame) -> tuple[float, int]:
    t = frame_table["t"].to_numpy(dtype=float)
    d = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return (1.0 / d if d > 0 else FALLBACK_FPS), len(frame_table)


def _capture_facts(cap: cv2.VideoCapture) -> tuple[float, int]:
    return float(cap.get(cv2.CAP_PROP_FPS)) or FALLBACK_FPS, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)


def video_facts(path: Path, frame_table: pd.DataFrame | None = None) -> tuple[float, int]:
    """Frame rate and frame count of a video (or of a session camera file).

    A session camera's rate is the median frame interval of its session-clock
    times; a plain video's is what OpenCV reads from the container.

    Examples
    --------
    >>> table = pd.DataFrame({"frame": [0, 1, 2], "t": [0.0, 0.04, 0.08],
    ...                       "byte_offset": [0, 10, 20], "byte_length": [10, 10, 10]})
    >>> fps, n = video_facts(Path("cam-wide.mjpg"), table)
    >>> round(fps, 3), n
    (25.0, 3)
    """
    if has_byte_ranges(frame_table):
        return _table_facts(frame_table)
    cap = open_video(path)
    try:
        return _capture_facts(cap)
    finally:
        cap.release()


def open_video(path: Path) -> cv2.VideoCapture:
    """Open a video file with OpenCV or raise an :class:`AnalysisError`.

    Examples
    --------
    >>> open_video(Path("missing.mp4"))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    coaffect.formats.errors.AnalysisError: missing.mp4: no such video file
    """
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise AnalysisError(
            f"{path}: OpenCV cannot open this video",
            hint="convert it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4",
        )
    return cap


def _mjpeg_frames(path: Path, table: pd.DataFrame, start: int, stop: int | None, step: int):
    """Frames of a session's raw MJPEG camera file, decoded from their byte ranges."""
    rows = table.iloc[start:stop]
    with open(path, "rb") as fh:
        for k, (frame, offset, length) in enumerate(
            rows[["frame", "byte_offset", "byte_length"]].astype("int64").itertuples(index=False)
        ):
            if k % step:
                yield int(frame), None, False
                continue
            fh.seek(offset)
            data = fh.read(length)
            img = (
                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if len(data) == length else None
            )
            if img is None:  # a frame cut by a crash: no image, the row stays (NaN)
                yield int(frame), None, False
                continue
            yield int(frame), img, True


def _video_frames(cap: cv2.VideoCapture, start: int, stop: int | None, step: int):
    # Decode forward to ``start`` rather than seek: CAP_PROP_POS_FRAMES / _MSEC seeks
    # land a few frames off in variable-frame-rate files (edge/*.mov, no_face.mp4).
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


def open_range(video: VideoRange, step: int):
    """Open the frames of ``video``, every ``step``-th decoded (the others only grabbed).

    Returns
    -------
    cap : cv2.VideoCapture or None
        To release when done (None for MJPEG byte ranges).
    fps : float
        Frame rate (:func:`video_facts`).
    n_total : int
        Frames in the file (0 if OpenCV does not know).
    frames : iterator of (frame, image or None, scored)
    """
    path, start, stop, table = video.path, video.start, video.stop, video.frame_table
    if has_byte_ranges(table):
        if not path.exists():
            raise AnalysisError(f"{path}: no such video file")
        fps, n_total = _table_facts(table)
        return None, fps, n_total, _mjpeg_frames(path, table, start, stop, step)
    cap = open_video(path)
    fps, n_total = _capture_facts(cap)
    return cap, fps, n_total, _video_frames(cap, start, stop, step)
