"""A capture process never outlives its runner: three guards, set up before anything else.

1. :func:`die_with_parent`: Linux kills the process (``PR_SET_PDEATHSIG``,
   SIGKILL by default) the moment the runner dies, whatever the process is
   doing: a SIGKILL needs no handler, takes no lock and cannot be ignored. Each
   frame's row and bytes are already in the kernel's page cache, so nothing
   written is lost; a frame cut in the middle of its write is dropped by the
   next repair (:func:`~.mjpeg_store.repair`).
2. :func:`parent_gone`, called right after: a runner that died before the
   signal was armed (while the spawned child was still importing) shows as a
   changed parent pid or a readable parent sentinel, and the process exits at
   once, before it opens its camera.
3. :class:`Watchdog`, a thread blocked on the runner's sentinel
   (``multiprocessing.parent_process().sentinel``, a pipe the runner holds
   open) and on the stop pipe: where no parent-death signal exists (not Linux,
   or none set), it stops the writer and ends the process within
   :data:`WATCHDOG_GRACE` seconds of the runner's death. The same thread hands
   over the runner's stop request, so no cross-process lock is ever taken:
   a runner killed while holding one would wedge the capture process.

The runner must start capture processes from a thread that lives as long as
they do (the main thread): Linux sends the parent-death signal when the
*thread* that started the child ends.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
from multiprocessing.connection import wait

#: Seconds the writer gets, after the watchdog sees the runner gone, to finish the frame in
#: hand and close its files; as long again for the process to end by itself. The watchdog
#: then ends it (``os._exit``): the process is gone within 1 s of the runner's death.
WATCHDOG_GRACE = 0.4
#: Exit status of a capture process that ended because its runner was gone.
EXIT_PARENT_GONE = 3
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; return whether it took.

    Examples
    --------
    >>> die_with_parent(0)  # 0 clears it: the default of every process
    True
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: the watchdog is the guard
        return False


def parent_gone(parent_pid: int) -> bool:
    """Whether the process that started this one has ended (or is ending).

    True when this process has another parent by now (it was handed to init
    or a subreaper) or when the parent's sentinel pipe is readable.

    Examples
    --------
    >>> parent_gone(os.getppid())
    False
    >>> parent_gone(-1)
    True
    """
    if os.getppid() != parent_pid:
        return True
    parent = multiprocessing.parent_process()
    return parent is not None and bool(wait([parent.sentinel], timeout=0))


class Watchdog(threading.Thread):
    """Waits on the runner's sentinel and the stop pipe; stops the writer, or ends the process.

    Parameters
    ----------
    stop_pipe : multiprocessing.connection.Connection
        Read end of the runner's stop pipe: a message asks for a clean stop;
        end-of-file means the runner is gone (its end closed as it died).
    stopping : threading.Event
        Set on either: the writer loop finishes the frame in hand and closes.
    finished : threading.Event
        Set by the writer once its files are closed.
    grace : float
        Seconds the writer gets after the runner's death to close its files, and
        the process to end after that, before ``os._exit(EXIT_PARENT_GONE)``.

    Examples
    --------
    >>> reader, writer = multiprocessing.Pipe(duplex=False)
    >>> stopping, finished = threading.Event(), threading.Event()
    >>> dog = Watchdog(reader, stopping, finished); dog.start()
    >>> writer.send_bytes(b"stop"); stopping.wait(5), dog.parent_died
    (True, False)
    """

    def __init__(self, stop_pipe, stopping: threading.Event, finished: threading.Event, grace=WATCHDOG_GRACE):
        super().__init__(name="capture-watchdog", daemon=True)
        self.stop_pipe = stop_pipe
        self.stopping = stopping
        self.finished = finished
        self.grace = grace
        self.parent_died = False
        parent = multiprocessing.parent_process()
        self._sentinel = parent.sentinel if parent is not None else None

    def run(self) -> None:
        watched = [self.stop_pipe] + ([self._sentinel] if self._sentinel is not None else [])
        while watched:
            ready = wait(watched)
            if self.stop_pipe in ready:
                try:
                    self.stop_pipe.recv_bytes()
                except (EOFError, OSError):  # the runner's end closed: it died
                    break
                self.stopping.set()  # a clean stop; keep watching the runner while it lasts
                watched.remove(self.stop_pipe)
                continue
            break  # the sentinel: the runner is gone
        else:
            return
        self.parent_died = True
        self.stopping.set()
        if self.finished.wait(self.grace):
            threading.main_thread().join(self.grace)  # a clean end of the process, if it comes
        os._exit(EXIT_PARENT_GONE)
