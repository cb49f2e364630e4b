"""A real camera through OpenCV ``VideoCapture`` (V4L2 on Linux)."""

from __future__ import annotations

import os
import re
import sys

from .source import Grab, SourceFailed


class DeviceSource:
    """A USB/webcam device, by index (``0``) or path (``/dev/video2``).

    Parameters
    ----------
    device : int or str
        Device index or ``/dev/video*`` path.
    resolution : tuple of int
        Requested ``(width, height)``; the driver may choose another size.
    fps : float
        Requested frame rate.

    Notes
    -----
    MJPG is requested from the camera because most USB cameras deliver full
    resolution at 30 fps only in MJPG. ``read`` blocks until the driver hands
    over a frame; the capture process stamps the frame when ``read`` returns.

    Examples
    --------
    Not run as a doctest: it needs a camera device.

    >>> src = DeviceSource(0, resolution=(640, 480), fps=30)  # doctest: +SKIP
    >>> src.open(); src.read().image.shape                    # doctest: +SKIP
    (480, 640, 3)
    """

    def __init__(self, device, resolution=(640, 480), fps: float = 30.0):
        self.device = device
        self.resolution = tuple(resolution)
        self.fps_nominal = float(fps)
        self._cap = None

    def open(self) -> None:
        import cv2

        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        target = self.device
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, str):
            if not os.path.exists(target):
                raise SourceFailed(f"no such device {target}")
            # /dev/v4l/by-id/... links to /dev/videoN; OpenCV's V4L2 backend opens by index
            match = re.fullmatch(r"/dev/video(\d+)", os.path.realpath(target))
            if match:
                target = int(match.group(1))
        cap = cv2.VideoCapture(target, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceFailed(f"cannot open camera device {self.device}")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.resolution[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.resolution[1])
        cap.set(cv2.CAP_PROP_FPS, self.fps_nominal)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not one queued in the driver
        ok, _ = cap.read()
        if not ok:
            cap.release()
            raise SourceFailed(f"camera device {self.device} opened but delivers no frames")
        actual = cap.get(cv2.CAP_PROP_FPS)
        if actual and actual > 0:
            self.fps_nominal = float(actual)
        self._cap = cap

    def read(self) -> Grab:
        if self._cap is None:
            raise SourceFailed("not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceFailed(f"camera device {self.device} stopped delivering frames")
        return Grab(image, None)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
