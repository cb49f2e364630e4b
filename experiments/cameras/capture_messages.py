"""What a capture process and the runner tell each other: one dataclass per message kind.

The runner (:class:`~.recorder.CameraSet`) starts a capture process with a
:class:`CaptureJob`; the process answers through a one-way pipe with the
messages below, in this order: :class:`Opened` (or :class:`Failed`), then
:class:`FirstFrame`, any :class:`GapOpened` / :class:`GapClosed`, and last a
:class:`Summary`. Everything here is plain picklable data; the runner side
reads a message's type, never a ``kind`` string.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Optional

from .source import CameraSpec

#: Bound of the grab-to-write queue (about one second at 30 fps).
QUEUE_FRAMES = 32


@dataclass(frozen=True)
class CaptureJob:
    """Everything a capture process is started with (the options of one camera's process).

    Parameters
    ----------
    spec : CameraSpec
        The camera.
    session_dir : str
        Session folder receiving ``cam-<name>.mjpg`` and its frame table.
    clock_zero : float
        ``time.perf_counter()`` value that is t = 0 of the session clock.
    parent_pid : int
        The runner's process id: the capture process exits at once if it has another parent.
    gap_start : float, optional
        Session time at which the previous capture process of this camera died;
        the gap is closed at this process's first frame.
    queue_frames : int
        Bound of the grab-to-write queue.
    parent_death_signal : int
        Signal Linux sends the process when the runner dies (``PR_SET_PDEATHSIG``);
        0 sets none, leaving the watchdog thread alone on guard (the tests check each
        guard by itself).

    Examples
    --------
    >>> job = CaptureJob(CameraSpec("wide", file="/data/wide.avi"), "ses-01", 0.0, parent_pid=1)
    >>> job.parent_death_signal == signal.SIGKILL, job.queue_frames
    (True, 32)
    """

    spec: CameraSpec
    session_dir: str
    clock_zero: float
    parent_pid: int
    gap_start: Optional[float] = None
    queue_frames: int = QUEUE_FRAMES
    parent_death_signal: int = signal.SIGKILL


@dataclass(frozen=True)
class Opened:
    """The source is open and the files are ready (``frames_before``: frames already on disk)."""

    camera: str
    fps_nominal: float
    frames_before: int
    pid: int


@dataclass(frozen=True)
class Failed:
    """The source cannot be opened, or writing failed (``error`` is :data:`DISK_FULL` then)."""

    camera: str
    error: str


@dataclass(frozen=True)
class FirstFrame:
    """The first frame of this process is on disk, at session time ``t``."""

    camera: str
    t: float


@dataclass(frozen=True)
class GapOpened:
    """Frames stopped coming at session time ``start`` (``reason``: ``no frames`` or ``file ended``)."""

    camera: str
    start: float
    reason: str


@dataclass(frozen=True)
class GapClosed:
    """No frames from ``start`` to ``end`` (session clock, s) because of ``reason``."""

    camera: str
    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class Summary:
    """What one capture process did, sent as it ends.

    ``delivered`` frames came from the source, ``written_by_process`` is the
    frame count of the file at the end (with the frames of earlier processes),
    ``dropped`` did not fit the queue; latencies are capture to disk (s).
    """

    camera: str
    delivered: int
    written_by_process: int
    dropped: int
    gaps: list
    status: str
    reopens: int
    latency_median: Optional[float]
    latency_max: float
    stop_t: float


#: Any message a capture process sends.
Message = Opened | Failed | FirstFrame | GapOpened | GapClosed | Summary


@dataclass
class CaptureState:
    """What the grab thread and the writer loop of one capture process share.

    Examples
    --------
    >>> state = CaptureState(open_gap=1.5)
    >>> state.status, state.gap_reason, state.gaps
    ('ok', 'capture process restarted', [])
    """

    delivered: int = 0
    dropped: int = 0
    gaps: list = field(default_factory=list)
    status: str = "ok"  # or "ended": a file that ended without loop
    reopens: int = 0
    open_gap: Optional[float] = None
    stop_t: Optional[float] = None
    gap_reason: str = "capture process restarted"
