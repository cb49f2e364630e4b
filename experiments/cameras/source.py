"""What every camera backend offers, and the picklable description of one camera.

A backend opens a source, hands out frames one by one and closes it; it knows
nothing about clocks, files or processes (that is :mod:`.capture_process`).
Backends: :mod:`.opencv_device` (a real camera) and :mod:`.file_replay` (a video
file replayed at its own frame rate, for rehearsals, tests and the demo);
:func:`.backends.make_source` picks one for a :class:`CameraSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Protocol, Union

if TYPE_CHECKING:  # a capture process imports this before its parent-death guard: keep it light
    import numpy as np


class SourceEnded(Exception):
    """The source will deliver no more frames (a file that ended without loop)."""


class SourceFailed(Exception):
    """The source cannot be opened or stopped delivering (it may come back)."""


@dataclass
class Grab:
    """One frame as the backend delivered it."""

    image: np.ndarray
    source_frame: Optional[int] = None  # index in the replayed file; None for devices


@dataclass(frozen=True)
class CameraSpec:
    """Everything a capture process needs to know about one camera (picklable).

    Parameters
    ----------
    name : str
        Camera name from the protocol (used in file names).
    device : int or str, optional
        Device index or ``/dev/video*`` path (real camera).
    file : str, optional
        Absolute path of a video file to replay (file-backed camera).
    loop : bool
        Replay the file in a loop.
    resolution : tuple of int
        Requested ``(width, height)`` of a device; files keep their own size.
    fps : float
        Requested frame rate of a device; files play at their own rate.
    seats : tuple of str
        Seats the camera sees, left to right.
    required : bool
        Whether the session may not start without it.

    Examples
    --------
    >>> spec = CameraSpec(name="wide", file="/data/wide.avi", loop=True, seats=("A", "B"))
    >>> spec.kind
    'file'
    """

    name: str
    device: Optional[Union[int, str]] = None
    file: Optional[str] = None
    loop: bool = False
    resolution: tuple[int, int] = (640, 480)
    fps: float = 30.0
    seats: tuple[str, ...] = field(default_factory=tuple)
    required: bool = True

    @property
    def kind(self) -> str:
        """``'device'`` or ``'file'``."""
        return "file" if self.file is not None else "device"

    @property
    def where(self) -> str:
        """The device or file, as a person would name it."""
        return str(self.file if self.file is not None else self.device)


class CameraSource(Protocol):
    """Interface of a camera backend."""

    #: Frame rate the source is supposed to deliver.
    fps_nominal: float

    def open(self) -> None:
        """Open the source; raise :class:`SourceFailed` if impossible."""

    def read(self) -> Grab:
        """Block until the next frame; raise SourceFailed or SourceEnded."""

    def close(self) -> None:
        """Release the source (idempotent)."""
