"""Pick the camera backend for a :class:`~.source.CameraSpec` (the one place that knows them all)."""

from __future__ import annotations

from .file_replay import FileReplaySource
from .opencv_device import DeviceSource
from .source import CameraSource, CameraSpec


def make_source(spec: CameraSpec) -> CameraSource:
    """The backend for ``spec``: a device or a file replay.

    Examples
    --------
    >>> src = make_source(CameraSpec(name="s", file=str(clip)))
    >>> src.open(); type(src).__name__, src.read().image.shape
    ('FileReplaySource', (512, 512, 3))
    >>> src.close()
    """
    if spec.kind == "file":
        return FileReplaySource(spec.file, loop=spec.loop)
    return DeviceSource(spec.device, resolution=spec.resolution, fps=spec.fps)
