"""One process per camera: grab, stamp with the session clock, write to disk.

Inside the process a grab thread reads frames from the backend and stamps each
one with ``time.perf_counter() - clock_zero`` the moment it arrives (the
session clock: ``perf_counter`` is CLOCK_MONOTONIC, shared by all processes on
Linux). Frames pass through a bounded queue (memory stays flat; frames that do
not fit are counted as dropped) to the writer, which appends each to the MJPEG
file as it arrives. Messages to the parent (opened, failed, gap, summary) go
through a multiprocessing queue.
"""

from __future__ import annotations

import ctypes
import errno
import os
import queue
import signal
import threading
import time
from pathlib import Path

import numpy as np

from .backends import make_source
from .source import CameraSpec, SourceEnded, SourceFailed

#: The ``error`` reported when a write fails with ENOSPC/EDQUOT (the runner stops on it).
DISK_FULL = "disk full"
#: Frames held between grab and write at most (about one second at 30 fps).
QUEUE_FRAMES = 32
#: Seconds the writer waits for the grab thread to stop (a blocked device read: it gives up).
GRAB_STOP_TIMEOUT = 2.0
#: Seconds between attempts to reopen a camera that stopped delivering.
REOPEN_INTERVAL = 1.0
_LATENCY_BINS_MS = 5000


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent dies (kill -9 of the runner)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the parent-pid check in the writer loop still works
        pass


def stop_on_sigterm():
    """Record SIGTERM in a handler that takes no lock; return whether it came.

    When a multi-threaded runner dies, Linux sends the parent-death signal once
    per exiting runner thread, so the handler can run again while it is still
    running. A handler that called ``threading.Event.set()`` then waited for the
    lock it held itself, for ever (seen after ``kill -9`` of ``coaffect run``).
    This one only appends to a list (one C call, no lock).

    Returns
    -------
    callable
        ``signalled() -> bool``.

    Examples
    --------
    >>> signalled = stop_on_sigterm()
    >>> signalled()
    False
    >>> signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None); signalled()
    True
    >>> _ = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    """
    came: list = []
    signal.signal(signal.SIGTERM, lambda *_: came.append(True))
    return lambda: bool(came)


class _Latency:
    """Median and max of capture-to-disk latency in constant memory (1 ms bins)."""

    def __init__(self):
        self.hist = np.zeros(_LATENCY_BINS_MS + 1, dtype=np.int64)
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.hist[min(int(seconds * 1000), _LATENCY_BINS_MS)] += 1
        self.max = max(self.max, seconds)

    def median(self) -> float | None:
        n = int(self.hist.sum())
        if n == 0:
            return None
        return (int(np.searchsorted(np.cumsum(self.hist), (n + 1) / 2)) + 0.5) / 1000


def capture_main(
    spec: CameraSpec,
    session_dir: str,
    clock_zero: float,
    messages,
    stop_event,
    parent_pid: int,
    gap_start: float | None = None,
    queue_frames: int = QUEUE_FRAMES,
) -> None:
    """Body of a capture process (started by :class:`~.recorder.CameraSet`).

    Parameters
    ----------
    spec : CameraSpec
        The camera.
    session_dir : str
        Session folder receiving ``cam-<name>.mjpg`` and its frame table.
    clock_zero : float
        ``time.perf_counter()`` value that is t = 0 of the session clock.
    messages : multiprocessing.Queue
        Receives dicts with a ``kind``: ``opened``, ``failed``, ``first_frame``,
        ``gap``, ``gap_open``, ``summary``.
    stop_event : multiprocessing.Event
        Set by the parent to stop recording.
    parent_pid : int
        The process stops by itself if its parent disappears.
    gap_start : float, optional
        Session time at which the previous capture process of this camera died;
        the gap is closed at this process's first frame.
    queue_frames : int
        Bound of the grab-to-write queue.

    Examples
    --------
    >>> ctx = multiprocessing.get_context("spawn")                      # doctest: +SKIP
    >>> ctx.Process(target=capture_main, args=(spec, "ses-01", t0, q, ev, os.getpid())).start()  # doctest: +SKIP
    """
    _die_with_parent()
    signalled = stop_on_sigterm()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C goes to the runner, which stops us
    stopping = threading.Event()  # set by the writer loop below, never by a signal handler

    def now() -> float:
        return time.perf_counter() - clock_zero

    source = make_source(spec)
    try:
        source.open()
    except SourceFailed as exc:
        messages.put({"kind": "failed", "camera": spec.name, "error": str(exc)})
        return
    from .mjpeg_store import MjpegRecorder

    recorder = MjpegRecorder(Path(session_dir), spec.name)
    messages.put(
        {
            "kind": "opened",
            "camera": spec.name,
            "fps_nominal": source.fps_nominal,
            "frames_before": recorder.frames,
            "pid": os.getpid(),
        }
    )
    frames: queue.Queue = queue.Queue(maxsize=queue_frames)
    state = {
        "delivered": 0,
        "dropped": 0,
        "gaps": [],
        "status": "ok",
        "reopens": 0,
        "open_gap": gap_start,
        "stop_t": None,
        "gap_reason": "capture process restarted",
    }
    if gap_start is None and recorder.frames > 0:
        # a resumed session: frames are missing from the interruption until now
        from .mjpeg_store import last_frame_row

        last = last_frame_row(recorder.table_path)  # repaired by MjpegRecorder: complete
        if last is not None:
            fps = source.fps_nominal or spec.fps or 30.0
            state["open_gap"] = min(last.t + 1.0 / fps, now())
            state["gap_reason"] = "session interrupted until resumed"

    def close_gap(end: float) -> None:
        start = state["open_gap"]
        state["open_gap"] = None
        state["gaps"].append([start, end])
        messages.put(
            {"kind": "gap", "camera": spec.name, "start": start, "end": end, "reason": state["gap_reason"]}
        )

    def grab_loop() -> None:
        last_t = None
        while not stopping.is_set():
            try:
                grab = source.read()
            except SourceEnded:
                if state["open_gap"] is None:  # from when the next frame was due
                    state["open_gap"] = last_t + 1.0 / source.fps_nominal if last_t else now()
                state["status"] = "ended"
                state["gap_reason"] = "file ended"
                messages.put(
                    {
                        "kind": "gap_open",
                        "camera": spec.name,
                        "start": state["open_gap"],
                        "reason": "file ended",
                    }
                )
                return
            except SourceFailed:
                if state["open_gap"] is None:
                    expected = last_t + 1.0 / source.fps_nominal if last_t is not None else now()
                    state["open_gap"] = min(expected, now())
                    state["gap_reason"] = "camera stopped delivering"
                    messages.put(
                        {
                            "kind": "gap_open",
                            "camera": spec.name,
                            "start": state["open_gap"],
                            "reason": "no frames",
                        }
                    )
                source.close()
                while not stopping.wait(REOPEN_INTERVAL):
                    try:
                        source.open()
                        state["reopens"] += 1
                        break
                    except SourceFailed:
                        continue
                continue
            t = now()
            last_t = t
            state["delivered"] += 1
            if state["open_gap"] is not None:
                close_gap(t)
            try:
                frames.put_nowait((grab.image, t, grab.source_frame))
            except queue.Full:
                state["dropped"] += 1

    grabber = threading.Thread(target=grab_loop, name=f"grab-{spec.name}", daemon=True)
    grabber.start()
    latency = _Latency()
    first = True
    last_sync = time.monotonic()
    try:
        while True:
            if not stopping.is_set() and (signalled() or stop_event.is_set() or os.getppid() != parent_pid):
                stopping.set()
            if stopping.is_set() and state["stop_t"] is None:
                state["stop_t"] = now()
            try:
                image, t, source_frame = frames.get(timeout=0.1)
            except queue.Empty:
                if stopping.is_set() and not grabber.is_alive():
                    break
                if stopping.is_set():
                    grabber.join(GRAB_STOP_TIMEOUT)  # a blocked device read: give up
                    if grabber.is_alive() and frames.empty():
                        break
                continue
            try:
                recorder.write(image, t, source_frame)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                # the disk is full: what is on it stays readable; a restart would not help
                messages.put({"kind": "failed", "camera": spec.name, "error": DISK_FULL})
                stopping.set()
                break
            latency.add(now() - t)
            if first:
                messages.put({"kind": "first_frame", "camera": spec.name, "t": t})
                first = False
            if time.monotonic() - last_sync >= 1.0:
                recorder.sync()
                last_sync = time.monotonic()
    finally:
        stopping.set()
        grabber.join(GRAB_STOP_TIMEOUT)
        try:
            recorder.close()
        except OSError:  # disk full: the flushed frames and rows are on disk already
            pass
        if not grabber.is_alive():
            # never while the grab thread is inside read(): a VideoCapture released under
            # a running read corrupts memory (seen after a full disk: heap corruption, hangs)
            source.close()
        stop_t = state["stop_t"] if state["stop_t"] is not None else now()
        if state["open_gap"] is not None:
            close_gap(stop_t)
        messages.put(
            {
                "kind": "summary",
                "camera": spec.name,
                "delivered": state["delivered"],
                "written_by_process": recorder.frames,
                "dropped": state["dropped"],
                "gaps": state["gaps"],
                "status": state["status"],
                "reopens": state["reopens"],
                "latency_median": latency.median(),
                "latency_max": latency.max,
                "stop_t": stop_t,
            }
        )
        if os.getppid() != parent_pid:  # nobody will read: do not hang at exit
            messages.cancel_join_thread()
