"""Real X key events for simulated participants, injected with ``xdotool``.

A background thread (:class:`~experiments.runner.scheduled_sender.ScheduledSender`)
writes ``keydown|keyup KEYSYM`` lines, at each planned session time, to one
long-lived ``xdotool -`` process (which runs each line as it arrives: measured
here about 0.4 ms from the write to Psychtoolbox's key timestamp, against 5-20 ms
for starting ``xdotool`` once per key). The key events travel the real path
(X server -> Psychtoolbox queue -> :class:`~experiments.runner.keyboard.PtbKeyboard`).
For each action it keeps the session time just before and just after the write.
"""

from __future__ import annotations

import shutil
import subprocess

from coaffect.formats.errors import HardwareError
from coaffect.formats.keys import XDOTOOL_KEYSYMS

from .clock import SessionClock
from .scheduled_sender import ScheduledSender
from .simulated import Action

#: Keys outside the protocol's key names that the experimenter uses.
_EXPERIMENTER_KEYSYMS = {"escape": "Escape"}


def keysym(key: str) -> str:
    """The X keysym xdotool needs for a PsychoPy key name."""
    return _EXPERIMENTER_KEYSYMS.get(key) or XDOTOOL_KEYSYMS.get(key, key)


def require_xdotool() -> str:
    """Path of the xdotool program, or the error that ``simulate='xdotool'`` cannot run here."""
    path = shutil.which("xdotool")
    if path is None:
        raise HardwareError(
            "simulate: mode 'xdotool' needs the xdotool program",
            hint="apt-get install xdotool, or simulate 'inprocess'",
            field="simulate",
        )
    return path


class XdotoolInjector(ScheduledSender):
    """Inject planned key actions as X events from a background thread.

    Parameters
    ----------
    clock : SessionClock

    Examples
    --------
    Not run as a doctest: it sends real key events to an X display (tests/test_runner_session.py).

    >>> inj = XdotoolInjector(clock)                          # doctest: +SKIP
    >>> inj.schedule([Action(clock.now() + 0.5, "down", "a")])  # doctest: +SKIP
    >>> inj.close()                                            # doctest: +SKIP
    """

    def __init__(self, clock: SessionClock):
        self.xdotool = require_xdotool()
        self._proc = subprocess.Popen(
            [self.xdotool, "-"],
            stdin=subprocess.PIPE,
            text=True,
            bufsize=1,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._held: set[str] = set()
        super().__init__(clock, name="xdotool-injector")

    def send(self, a: Action) -> None:
        self._proc.stdin.write(f"{'keydown' if a.action == 'down' else 'keyup'} {keysym(a.key)}\n")
        self._proc.stdin.flush()
        (self._held.add if a.action == "down" else self._held.discard)(a.key)

    def close(self) -> None:
        """Stop the thread and release every key still held (so X is left clean)."""
        self.stop_thread()
        try:
            for key in list(self._held):
                self._proc.stdin.write(f"keyup {keysym(key)}\n")
            self._proc.stdin.close()
            self._proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
            self._proc.kill()
            self._proc.wait()
        self._held.clear()
