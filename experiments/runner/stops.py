"""Ways a session stops early that are not the experimenter's abort: signals and a full disk.

* ``SIGTERM`` (``kill PID``, a logout, a batch system) and ``SIGINT`` (Ctrl-C in
  the terminal) raise :class:`SessionStopped` in the runner's main thread, so the
  session ends like an abort: an ``abort`` row, ``status: aborted`` with the
  reason, cameras stopped, no traceback, and a folder that ``--resume`` continues.
  A second signal during that clean-up is ignored (the clean-up takes a moment).
  A step that must not be cut in half (handing a capture process its job)
  holds the stop until it ends (:mod:`experiments.signal_hold`).
* A full output disk (``ENOSPC`` from any write) ends the session with reason
  ``disk full``. A small reserve file made at the start is deleted first so the
  last rows and ``session.json`` still fit.
* The display closing under the window (the X server ends: a remote session
  dropped, the desktop logged out) makes Xlib call its I/O error handler and then
  end the process; :func:`watch_display` puts a handler there that first ends the
  session as ``aborted`` with reason ``display closed``.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ..signal_hold import holding, note_held

#: Bytes kept free for the final rows and session.json after the disk fills up.
RESERVE_BYTES = 1024 * 1024
#: Name of the reserve file inside the session folder (deleted at the end).
RESERVE_NAME = ".coaffect-reserve"
DISK_FULL = "disk full"

_SIGNAL_REASONS = {
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGINT: "interrupted (Ctrl-C, SIGINT)",
}

log = logging.getLogger(__name__)


class SessionStopped(KeyboardInterrupt):
    """A signal asked the session to stop.

    A KeyboardInterrupt, so that a stop before the session folder exists (e.g.
    while the cameras open) still ends as the CLI's "coaffect: interrupted",
    never as a traceback.

    Examples
    --------
    >>> SessionStopped(signal.SIGTERM).reason
    'terminated (SIGTERM)'
    """

    def __init__(self, signum: int):
        super().__init__(_SIGNAL_REASONS.get(signum, f"signal {signum}"))
        self.signum = int(signum)
        self.reason = _SIGNAL_REASONS.get(signum, f"signal {signum}")


class SignalGuard:
    """Turn SIGTERM and SIGINT into :class:`SessionStopped` while a session runs.

    Use as a context manager around the session; :meth:`quiet` ignores further
    signals during the clean-up. The previous handlers are restored on exit.
    Only the main thread can install handlers; elsewhere this does nothing.

    Examples
    --------
    >>> with SignalGuard() as guard:
    ...     signal.getsignal(signal.SIGTERM) == guard._raise
    True
    """

    def __init__(self):
        self._old: dict = {}
        #: a signal that arrived while the display-lost handler ran (it finishes the session itself)
        self.deferred: int | None = None

    def _raise(self, signum, frame) -> None:
        if holding():  # a step that must not be cut in half; its end raises the signal again
            note_held(signum)
            return
        self.quiet()  # one stop is enough; a second Ctrl-C must not cut the clean-up
        if _in_display_handler(frame):
            # Xlib's I/O error handler is finishing the folder; an exception raised in a
            # ctypes callback is only printed ("Exception ignored ...") and then Xlib ends
            # the process: the handler's own clean-up must run to its end instead
            self.deferred = signum
            return
        raise SessionStopped(signum)

    def _ignore(self, signum, frame) -> None:
        pass

    def __enter__(self) -> SignalGuard:
        try:
            for sig in _SIGNAL_REASONS:
                self._old[sig] = signal.signal(sig, self._raise)
        except ValueError:  # not the main thread
            self._old.clear()
        return self

    def quiet(self) -> None:
        """Ignore SIGTERM and SIGINT from now on (until the guard exits)."""
        for sig in self._old:
            try:
                signal.signal(sig, self._ignore)
            except ValueError:  # called from another thread (e.g. Xlib's error handler)
                pass

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class SimulationStalled(Exception):
    """A rehearsal's simulated button never arrived: the session stops instead of waiting for ever.

    Examples
    --------
    >>> SimulationStalled("button check: seat C happy not pressed").reason
    'button check: seat C happy not pressed'
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DisplayClosed(Exception):
    """The X display went away under the session window."""

    reason = "display closed"


_HANDLERS: list = []  # ctypes callbacks must stay alive as long as Xlib may call them
_HANDLER_CODES: set = set()  # code of those callbacks: a signal arriving inside one is deferred


def _in_display_handler(frame) -> bool:
    """Whether ``frame`` (where a signal arrived) runs inside the display-lost handler."""
    while frame is not None:
        if frame.f_code in _HANDLER_CODES:
            return True
        frame = frame.f_back
    return False


def watch_display(on_lost) -> bool:
    """Call ``on_lost()`` if the X display is lost, before Xlib ends the process.

    Returns False where there is no Xlib (not Linux/X11). The handler cannot keep
    the process alive (Xlib exits once it returns), so ``on_lost`` must finish
    the session folder itself.

    Examples
    --------
    >>> watch_display(lambda: None) in (True, False)
    True
    """
    try:
        from pyglet.libs.x11 import xlib
    except Exception:  # no X11 library: nothing to watch
        return False

    # Several threads with their own X connection may fail at once: the first
    # finishes the folder; the others wait for it (Xlib exits once a handler returns).
    lock, done = threading.Lock(), []

    def handler(_display):
        with lock:
            if not done:
                done.append(True)
                try:
                    on_lost()
                except BaseException as exc:  # never raise into Xlib's C code
                    log.error(f"coaffect: could not finish the session folder: {exc!r}")
                sys.stderr.flush()
                # Xlib would exit(1) once this returns, while other threads still use the
                # dead connection (seen: SIGSEGV); end now, with Xlib's status
                os._exit(1)
        return 0

    cb = xlib.XIOErrorHandler(handler)
    _HANDLERS.append(cb)
    _HANDLER_CODES.add(handler.__code__)
    xlib.XSetIOErrorHandler(cb)
    return True


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it came from) is "no space left on device".

    Examples
    --------
    >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    True
    >>> is_disk_full(ValueError("x"))
    False
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def stop_reason(exc: BaseException) -> str:
    """The ``abort_reason`` written to session.json for an early stop.

    Examples
    --------
    >>> stop_reason(KeyboardInterrupt())
    'interrupted (Ctrl-C, SIGINT)'
    >>> stop_reason(OSError(errno.ENOSPC, "No space left on device"))
    'disk full'
    """
    if isinstance(exc, (SessionStopped, DisplayClosed, SimulationStalled)):
        return exc.reason
    if isinstance(exc, KeyboardInterrupt):
        return _SIGNAL_REASONS[signal.SIGINT]
    if is_disk_full(exc):
        return DISK_FULL
    return f"error: {type(exc).__name__}: {exc}"


def is_clean_stop(exc: BaseException) -> bool:
    """Stops that end as ``aborted`` without a traceback (signals, full disk, a stalled rehearsal).

    Examples
    --------
    >>> is_clean_stop(SessionStopped(signal.SIGTERM)), is_clean_stop(RuntimeError())
    (True, False)
    """
    return isinstance(exc, (SessionStopped, KeyboardInterrupt, SimulationStalled)) or is_disk_full(exc)


class DiskReserve:
    """A small file that holds back space for the end of a session on a full disk.

    Examples
    --------
    >>> import tempfile
    >>> r = DiskReserve(Path(tempfile.mkdtemp()))
    >>> r.path.stat().st_size == RESERVE_BYTES
    True
    >>> r.release(); r.path.exists()
    False
    """

    def __init__(self, folder: Path, nbytes: int = RESERVE_BYTES):
        self.path = Path(folder) / RESERVE_NAME
        try:
            with open(self.path, "wb") as fh:
                # real blocks (not a sparse file): deleting it gives them back
                fh.write(b"\0" * nbytes)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:  # already full at the start: nothing to hold back
            self.path.unlink(missing_ok=True)

    def release(self) -> None:
        """Give the space back (idempotent)."""
        self.path.unlink(missing_ok=True)


def resume_command(
    argv_protocol, session_dir, *, simulate=None, cameras=True, camera_files=None, audio_latency_ms=0.0
) -> str:
    """The exact ``coaffect run ... --resume`` command that continues a session.

    Examples
    --------
    >>> resume_command("study.yaml", "data/ses-S1", simulate="inprocess", cameras=False)
    'coaffect run study.yaml --resume data/ses-S1 --simulate inprocess --no-cameras'
    """
    import shlex

    parts = ["coaffect", "run", str(argv_protocol), "--resume", str(session_dir)]
    if simulate:
        parts += ["--simulate", simulate]
    if not cameras:
        parts.append("--no-cameras")
    for name, path in (camera_files or {}).items():
        parts += ["--camera-file", f"{name}={path}"]
    if audio_latency_ms:
        parts += ["--audio-latency-ms", f"{audio_latency_ms:g}"]
    return " ".join(shlex.quote(p) for p in parts)


def stopped_lines(protocol, session_dir, reason: str, options) -> list[str]:
    """What to tell the experimenter when a session stopped early: why, and how to continue it.

    ``options`` is the session's :class:`~experiments.runner.session.SessionOptions`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> opts = SimpleNamespace(simulate=None, cameras=True, camera_files={}, audio_latency_ms=0.0)
    >>> stopped_lines("study.yaml", "data/ses-S1", "disk full", opts)[1]
    'continue it with: coaffect run study.yaml --resume data/ses-S1'
    """
    cmd = resume_command(
        protocol,
        session_dir,
        simulate=options.simulate,
        cameras=options.cameras,
        camera_files=options.camera_files,
        audio_latency_ms=options.audio_latency_ms,
    )
    return [f"coaffect: session stopped: {reason}; everything recorded is kept", f"continue it with: {cmd}"]
