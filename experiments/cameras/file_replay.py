"""File-backed camera: replays a real video file at its own frame rate.

Each frame is handed out when it is due, ``start + pts`` where ``pts`` is the
frame's own presentation time in the file (``CAP_PROP_POS_MSEC``, exact on
files), so GIFs with uneven frame delays replay as recorded. With ``loop`` the
file starts again after its last frame, one frame interval later.
"""

from __future__ import annotations

import time
from pathlib import Path

from .source import Grab, SourceEnded, SourceFailed


class FileReplaySource:
    """A video file that behaves like a live camera.

    Parameters
    ----------
    path : str or Path
        Any file OpenCV reads (mp4, mkv, avi, gif...).
    loop : bool
        Start again at the end instead of ending.

    Examples
    --------
    A 3-frame clip at 15 fps, looped: frames come when due, and the fourth is the first again.

    >>> src = FileReplaySource(clip, loop=True)
    >>> src.open(); [src.read().source_frame for _ in range(4)], src.fps_nominal
    ([0, 1, 2, 0], 15.0)
    >>> src.close()
    """

    def __init__(self, path, loop: bool = False):
        self.path = Path(path)
        self.loop = loop
        self.fps_nominal = 0.0
        self._cap = None
        self._start = 0.0  # perf_counter at which frame 0 of the first pass is due
        self._offset = 0.0  # seconds added per completed loop
        self._index = 0  # frame index within the file
        self._last_pts = 0.0
        self._passes = 0
        self._started = False

    def open(self) -> None:
        import cv2

        if not self.path.is_file():
            raise SourceFailed(f"no such video file: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceFailed(f"OpenCV cannot read {self.path}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps_nominal = float(fps) if fps and fps > 0 else 30.0
        self._cap = cap
        self._start = time.perf_counter()
        self._started = False
        self._offset = 0.0
        self._index = 0

    def read(self) -> Grab:
        import cv2

        if self._cap is None:
            raise SourceFailed("not open")
        ok, image = self._cap.read()
        if not ok:
            if not self.loop or self._index == 0:
                raise SourceEnded(f"{self.path.name} ended after {self._index} frames")
            self._offset += self._last_pts + 1.0 / self.fps_nominal
            self._passes += 1
            if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                self._cap.release()
                self._cap = cv2.VideoCapture(str(self.path))
            self._index = 0
            ok, image = self._cap.read()
            if not ok:
                raise SourceFailed(f"cannot rewind {self.path.name}")
        pts = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self._index > 0 and pts <= self._last_pts:  # container without timestamps
            pts = self._index / self.fps_nominal
        self._last_pts = pts
        if self._started is False:  # the schedule starts when the first frame is ready
            self._start = time.perf_counter() - pts
            self._started = True
        due = self._start + self._offset + pts
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        grab = Grab(image, self._index)
        self._index += 1
        return grab

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
