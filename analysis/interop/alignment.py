"""Does another tool's per-frame output belong to this video? Frame numbers, timestamps, length.

:func:`~analysis.interop.agreement.validate_faces` checks an OpenFace output
against the video's frames before comparing it with coaffect's scoring: an
88-frame CSV of another clip gave plausible agreement figures before this check
existed. Any other import of a tool's per-frame output should reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coaffect.formats.errors import AnalysisError

#: Frames by which another tool's frame count may differ from the video's (a decoder may
#: miss the last frame of a stream); more means the output belongs to another video or a cut.
FRAME_COUNT_TOLERANCE = 1
#: Largest gap, in frame periods, between a row's timestamp and its frame number's time.
TIMESTAMP_TOLERANCE_FRAMES = 0.5


@dataclass(frozen=True)
class FrameAlignment:
    """How another tool's rows line up with a video's frames (:func:`check_frame_alignment`).

    ``one_based`` says how the tool's frame numbers were read (OpenFace writes
    1-based numbers: its frame 1 is the video's frame 0).
    """

    source: str
    tool_frames: int
    tool_seconds: float
    video_frames: int
    video_seconds: float
    fps: float
    one_based: bool

    def describe(self) -> str:
        """One line for the console.

        Examples
        --------
        >>> FrameAlignment("of.csv", 288, 9.567, 288, 9.6, 30.0, True).describe()
        'of.csv: 288 rows of frames 1..288 read as 1-based (frame 1 = video frame 0); video 288 frames, 9.60 s at 30 fps'
        """
        first = 1 if self.one_based else 0
        base = "1-based (frame 1 = video frame 0)" if self.one_based else "0-based (frame 0 = video frame 0)"
        return (
            f"{self.source}: {self.tool_frames} rows of frames {first}..{first + self.tool_frames - 1} read as "
            f"{base}; video {self.video_frames} frames, {self.video_seconds:.2f} s at {self.fps:g} fps"
        )


def video_frames(video) -> tuple[int, float]:
    """(number of frames, frames per second) of a video file, by OpenCV.

    Raises
    ------
    AnalysisError
        The file is missing or OpenCV cannot read it.
    """
    import cv2

    path = Path(video)
    cap = cv2.VideoCapture(str(path))
    try:
        if not path.exists() or not cap.isOpened():
            raise AnalysisError(f"{path}: not a readable video")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if n <= 0:  # containers without an index: count by reading
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if not fps > 0:
        raise AnalysisError(f"{path}: the video has no frame rate; cannot line its frames up")
    return n, fps


def check_frame_alignment(
    frames, timestamps, n_video_frames: int, fps: float, source: str = "output"
) -> FrameAlignment:
    """Check that another tool's output (frame numbers, timestamps) belongs to this video.

    The frame numbers are read as 1-based when they start at 1 (OpenFace) and
    as 0-based when they start at 0; every row's timestamp must then be its
    frame's time within :data:`TIMESTAMP_TOLERANCE_FRAMES` frame periods, and
    the number of frames covered must match the video's within
    :data:`FRAME_COUNT_TOLERANCE`. Reused by every import of another tool's
    per-frame output.

    Parameters
    ----------
    frames, timestamps : array-like
        The tool's ``frame`` and ``timestamp`` (s) columns, one per row.
    n_video_frames : int
    fps : float
        The video's frame count and rate (:func:`video_frames`).
    source : str
        Name of the output in messages (its path).

    Returns
    -------
    FrameAlignment

    Raises
    ------
    AnalysisError
        One line saying what disagrees (exit status 2 on the command line).

    Examples
    --------
    >>> f = np.arange(1, 289); ts = (f - 1) / 30
    >>> check_frame_alignment(f, ts, 288, 30.0, "of.csv").one_based
    True
    >>> check_frame_alignment(f[:88], ts[:88], 288, 30.0, "of.csv")
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.AnalysisError: of.csv: covers 88 frames (2.93 s) but the video has 288 frames (9.60 s at 30 fps); more than 1 frame apart: the output of another video, or a cut one
    >>> check_frame_alignment(f - 1, ts + 1 / 30, 288, 30.0, "of.csv")
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.AnalysisError: of.csv:2: frame 0 has timestamp 0.033 s, but frame 0 (read as 0-based) is at 0.000 s in a 30 fps video: frame numbers and timestamps disagree (an edited or off-by-one copy?)
    """
    f = np.asarray(frames, dtype=float)
    ts = np.asarray(timestamps, dtype=float)
    ok = np.isfinite(f) & np.isfinite(ts)
    if not ok.any():
        raise AnalysisError(f"{source}: no rows with a frame number and a timestamp")
    f, ts = f[ok], ts[ok]
    first = int(np.min(f))
    if first not in (0, 1):
        raise AnalysisError(
            f"{source}: frame numbers start at {first}, not at 0 or 1: a cut or renumbered output; "
            "give the whole output of this video"
        )
    one_based = first == 1
    index = f - (1 if one_based else 0)
    expected = index / fps
    bad = np.flatnonzero(np.abs(ts - expected) > TIMESTAMP_TOLERANCE_FRAMES / fps)
    if len(bad):
        worst = int(bad[0])
        row = int(np.flatnonzero(ok)[worst]) + 2  # CSV line: after the header
        raise AnalysisError(
            f"{source}:{row}: frame {int(f[worst])} has timestamp {ts[worst]:.3f} s, but frame {int(f[worst])} "
            f"(read as {'1' if one_based else '0'}-based) is at {expected[worst]:.3f} s in a {fps:g} fps video: "
            "frame numbers and timestamps disagree (an edited or off-by-one copy?)"
        )
    n_tool = int(np.max(index)) + 1
    if abs(n_tool - n_video_frames) > FRAME_COUNT_TOLERANCE:
        raise AnalysisError(
            f"{source}: covers {n_tool} frames ({float(np.max(ts)) + 1 / fps:.2f} s) but the video has "
            f"{n_video_frames} frames ({n_video_frames / fps:.2f} s at {fps:g} fps); more than "
            f"{FRAME_COUNT_TOLERANCE} frame apart: the output of another video, or a cut one"
        )
    return FrameAlignment(
        source, n_tool, float(np.max(ts)), n_video_frames, n_video_frames / fps, fps, one_based
    )
