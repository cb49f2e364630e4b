"""Stop signals around the runner's steps that must not be cut in half, and its helper processes.

A capture process is started by ``spawn``: the child is launched, then the
runner writes the child's job down a pipe. A SIGTERM between the two made the
runner stop without writing it, and the child printed Python's ``EOFError:
Ran out of input`` traceback on the console (a CI run of
``tests/test_runner_crash.py``). Inside :func:`stop_signals_held` the runner's
signal handler (:class:`experiments.runner.stops.SignalGuard`) only notes the
signal; the block's end raises it again, so the stop happens right after the
step, with the step's state whole.

Examples
--------
>>> import signal
>>> from experiments.runner.stops import SessionStopped, SignalGuard
>>> with SignalGuard():
...     try:
...         with stop_signals_held():
...             signal.raise_signal(signal.SIGTERM)
...             print("the step ends")
...     except SessionStopped as stop:
...         print("then the stop:", stop.reason)
the step ends
then the stop: terminated (SIGTERM)
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path


class _Hold:
    depth = 0
    pending: int | None = None


def holding() -> bool:
    """Whether a :func:`stop_signals_held` block is running."""
    return _Hold.depth > 0


def note_held(signum: int) -> None:
    """Keep ``signum`` for the end of the running block (the handler's call)."""
    if _Hold.pending is None:
        _Hold.pending = signum


@contextmanager
def stop_signals_held():
    """Delay the stop of a signal that arrives inside the block to the block's end."""
    _Hold.depth += 1
    try:
        yield
    finally:
        _Hold.depth -= 1
        if _Hold.depth == 0 and _Hold.pending is not None:
            signum, _Hold.pending = _Hold.pending, None
            signal.raise_signal(signum)


@contextmanager
def launched_ignoring_sigint():
    """Processes launched inside the block start with SIGINT ignored.

    A terminal's Ctrl+C goes to the whole process group, so it reaches the
    runner's helper processes too (capture processes, the experimenter's view);
    a capture process still starting (importing, before it ignores SIGINT
    itself) ended with a KeyboardInterrupt traceback on the console. The runner
    stops its helpers itself. An ignored signal stays ignored through ``exec``,
    and Python then installs no handler of its own. For the launch itself
    (milliseconds) the runner ignores SIGINT too: a Ctrl+C in that moment is
    lost, and the next one stops the session.

    Examples
    --------
    >>> import multiprocessing, time
    >>> with launched_ignoring_sigint():
    ...     child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
    ...     child.start()
    >>> sigint_ignored(child.pid)
    True
    >>> child.terminate(); child.join()
    """
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def sigint_ignored(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT (Linux: ``SigIgn`` in ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False
