"""One process per camera: grab, stamp with the session clock, write to disk.

Inside the process a grab thread reads frames from the backend and stamps each
one with ``time.perf_counter() - clock_zero`` the moment it arrives (the
session clock: ``perf_counter`` is CLOCK_MONOTONIC, shared by all processes on
Linux). Frames pass through a bounded queue (memory stays flat; frames that do
not fit are counted as dropped) to the writer, which appends each to the MJPEG
file as it arrives. Messages to the runner (:mod:`.capture_messages`: opened,
failed, gaps, summary) go through a one-way pipe; the runner's stop request
comes through another, read by the watchdog thread (:mod:`.parent_watch`),
which also ends the process when the runner dies.
"""

from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time
from pathlib import Path

from .capture_messages import (
    QUEUE_FRAMES,
    CaptureJob,
    CaptureState,
    Failed,
    FirstFrame,
    GapClosed,
    GapOpened,
    Opened,
    Summary,
)
from .parent_watch import EXIT_PARENT_GONE, Watchdog, die_with_parent, parent_gone

__all__ = ["capture_main", "stop_on_sigterm", "DISK_FULL", "QUEUE_FRAMES"]

#: The ``error`` reported when a write fails with ENOSPC/EDQUOT (the runner stops on it).
DISK_FULL = "disk full"
#: Seconds the writer waits for the grab thread to stop (a blocked device read: it gives up).
GRAB_STOP_TIMEOUT = 2.0
#: Seconds between attempts to reopen a camera that stopped delivering.
REOPEN_INTERVAL = 1.0
_LATENCY_BINS_MS = 5000


def stop_on_sigterm():
    """Record SIGTERM in a handler that takes no lock; return whether it came.

    A SIGTERM (``kill PID``, the runner's last resort after a stop request)
    asks for a clean stop. Signals can arrive while the handler still runs (a
    burst of them), so a handler that called ``threading.Event.set()`` could
    wait for the lock it held itself, for ever (seen when the parent-death
    signal was SIGTERM and a dying runner sent one per exiting thread). This
    one only appends to a list (one C call, no lock).

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
        import numpy as np

        self._np = np
        self.hist = np.zeros(_LATENCY_BINS_MS + 1, dtype=np.int64)
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.hist[min(int(seconds * 1000), _LATENCY_BINS_MS)] += 1
        self.max = max(self.max, seconds)

    def median(self) -> float | None:
        n = int(self.hist.sum())
        if n == 0:
            return None
        return (int(self._np.searchsorted(self._np.cumsum(self.hist), (n + 1) / 2)) + 0.5) / 1000


class _Outbox:
    """The message pipe to the runner, shared by the grab and writer threads.

    A runner that is gone cannot read: what it would have been told is dropped.
    """

    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()  # in this process only; never taken in a signal handler

    def put(self, message) -> None:
        with self.lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # BrokenPipeError: the runner is gone
                pass


def capture_main(job: CaptureJob, messages, stop_pipe) -> None:
    """Body of a capture process (started by :class:`~.recorder.CameraSet`).

    Before anything else the process arms the parent-death signal, exits at
    once if the runner is already gone, and starts the watchdog thread
    (:mod:`.parent_watch`); only then does it open its camera.

    Parameters
    ----------
    job : CaptureJob
        The camera, the session folder, the clock and the runner's pid.
    messages : multiprocessing.connection.Connection
        Write end of a one-way pipe: :mod:`.capture_messages` dataclasses, in
        the order :class:`Opened` (or :class:`Failed`), :class:`FirstFrame`,
        gaps, :class:`Summary`.
    stop_pipe : multiprocessing.connection.Connection
        Read end of a one-way pipe: any message asks for a clean stop;
        end-of-file means the runner died.

    Examples
    --------
    Not run as a doctest (a spawned process with a camera; ``tests/test_cameras*.py`` run it):

    >>> ctx = multiprocessing.get_context("spawn")                      # doctest: +SKIP
    >>> job = CaptureJob(spec, "ses-01", t0, parent_pid=os.getpid())    # doctest: +SKIP
    >>> ctx.Process(target=capture_main, args=(job, msg_w, stop_r)).start()  # doctest: +SKIP
    """
    die_with_parent(job.parent_death_signal)
    if parent_gone(job.parent_pid):  # died while this process was starting: open nothing
        os._exit(0)
    stopping = threading.Event()  # the grab thread and the writer loop stop on it
    finished = threading.Event()  # the writer has closed its files
    watchdog = Watchdog(stop_pipe, stopping, finished)
    watchdog.start()
    signalled = stop_on_sigterm()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C goes to the runner, which stops us
    outbox = _Outbox(messages)
    try:
        _record(job, outbox, stopping, signalled)
    finally:
        finished.set()
    if watchdog.parent_died:  # the files are closed; say why this process ended
        os._exit(EXIT_PARENT_GONE)


def _record(job: CaptureJob, outbox: _Outbox, stopping: threading.Event, signalled) -> None:
    from .backends import make_source
    from .mjpeg_store import MjpegRecorder
    from .source import SourceEnded, SourceFailed

    spec, name = job.spec, job.spec.name

    def now() -> float:
        return time.perf_counter() - job.clock_zero

    source = make_source(spec)
    try:
        source.open()
    except SourceFailed as exc:
        outbox.put(Failed(name, str(exc)))
        return
    recorder = MjpegRecorder(Path(job.session_dir), name)
    outbox.put(Opened(name, source.fps_nominal, recorder.frames, os.getpid()))
    frames: queue.Queue = queue.Queue(maxsize=job.queue_frames)
    state = CaptureState(open_gap=job.gap_start)
    if job.gap_start is None and recorder.frames > 0:
        # a resumed session: frames are missing from the interruption until now
        from .mjpeg_store import last_frame_row

        last = last_frame_row(recorder.table_path)  # repaired by MjpegRecorder: complete
        if last is not None:
            fps = source.fps_nominal or spec.fps or 30.0
            state.open_gap = min(last.t + 1.0 / fps, now())
            state.gap_reason = "session interrupted until resumed"

    def close_gap(end: float) -> None:
        start, state.open_gap = state.open_gap, None
        state.gaps.append([start, end])
        outbox.put(GapClosed(name, start, end, state.gap_reason))

    def grab_loop() -> None:
        last_t = None
        while not stopping.is_set():
            try:
                grab = source.read()
            except SourceEnded:
                if state.open_gap is None:  # from when the next frame was due
                    state.open_gap = last_t + 1.0 / source.fps_nominal if last_t else now()
                state.status = "ended"
                state.gap_reason = "file ended"
                outbox.put(GapOpened(name, state.open_gap, "file ended"))
                return
            except SourceFailed:
                if state.open_gap is None:
                    expected = last_t + 1.0 / source.fps_nominal if last_t is not None else now()
                    state.open_gap = min(expected, now())
                    state.gap_reason = "camera stopped delivering"
                    outbox.put(GapOpened(name, state.open_gap, "no frames"))
                source.close()
                while not stopping.wait(REOPEN_INTERVAL):
                    try:
                        source.open()
                        state.reopens += 1
                        break
                    except SourceFailed:
                        continue
                continue
            t = now()
            last_t = t
            state.delivered += 1
            if state.open_gap is not None:
                close_gap(t)
            try:
                frames.put_nowait((grab.image, t, grab.source_frame))
            except queue.Full:
                state.dropped += 1

    grabber = threading.Thread(target=grab_loop, name=f"grab-{name}", daemon=True)
    grabber.start()
    latency = _Latency()
    first = True
    last_sync = time.monotonic()
    try:
        while True:
            if signalled():
                stopping.set()
            if stopping.is_set() and state.stop_t is None:
                state.stop_t = now()
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
                outbox.put(Failed(name, DISK_FULL))
                stopping.set()
                break
            latency.add(now() - t)
            if first:
                outbox.put(FirstFrame(name, t))
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
        stop_t = state.stop_t if state.stop_t is not None else now()
        if state.open_gap is not None:
            close_gap(stop_t)
        outbox.put(
            Summary(
                camera=name,
                delivered=state.delivered,
                written_by_process=recorder.frames,
                dropped=state.dropped,
                gaps=state.gaps,
                status=state.status,
                reopens=state.reopens,
                latency_median=latency.median(),
                latency_max=latency.max,
                stop_t=stop_t,
            )
        )
