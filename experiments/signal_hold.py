"""Hold a session's stop signal over a step that must not be cut in half.

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
from contextlib import contextmanager


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
