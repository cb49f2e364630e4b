"""Real X key events for simulated participants, injected with ``xdotool``.

A background thread writes ``keydown|keyup KEYSYM`` lines, at each planned
session time, to one long-lived ``xdotool -`` process (which runs each line as
it arrives: measured here about 0.4 ms from the write to Psychtoolbox's key
timestamp, against 5-20 ms for starting ``xdotool`` once per key). The key
events travel the real path (X server -> Psychtoolbox queue ->
:class:`~experiments.runner.keyboard.PtbKeyboard`). For each action it keeps
the session time just before and just after the write.
"""

from __future__ import annotations

import heapq
import shutil
import subprocess
import threading
import time

from coaffect.formats.errors import HardwareError
from coaffect.formats.keys import XDOTOOL_KEYSYMS

from .clock import SessionClock
from .simulated import Action

#: Keys outside the protocol's key names that the experimenter uses.
_EXPERIMENTER_KEYSYMS = {"escape": "Escape"}


def keysym(key: str) -> str:
    """The X keysym xdotool needs for a PsychoPy key name."""
    return _EXPERIMENTER_KEYSYMS.get(key) or XDOTOOL_KEYSYMS.get(key, key)


class XdotoolInjector:
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
        self.xdotool = shutil.which("xdotool")
        if self.xdotool is None:
            raise HardwareError(
                "--simulate xdotool needs the xdotool program",
                hint="apt-get install xdotool, or use --simulate inprocess",
            )
        self.clock = clock
        self._proc = subprocess.Popen(
            [self.xdotool, "-"],
            stdin=subprocess.PIPE,
            text=True,
            bufsize=1,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._heap: list[Action] = []
        self._cv = threading.Condition()
        self._stop = False
        self._busy = False
        #: (action, t_before, t_after) for every injected action
        self.sent: list[tuple[Action, float, float]] = []
        self._held: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="xdotool-injector", daemon=True)
        self._thread.start()

    def schedule(self, actions: list[Action]) -> None:
        """Queue actions (session-clock times)."""
        with self._cv:
            for a in actions:
                heapq.heappush(self._heap, a)
            self._cv.notify()

    def idle(self) -> bool:
        """True when nothing is queued or being sent."""
        with self._cv:
            return not self._heap and not self._busy

    def _send(self, a: Action) -> None:
        line = f"{'keydown' if a.action == 'down' else 'keyup'} {keysym(a.key)}\n"
        before = self.clock.now()
        self._proc.stdin.write(line)
        self._proc.stdin.flush()
        after = self.clock.now()
        (self._held.add if a.action == "down" else self._held.discard)(a.key)
        self.sent.append((a, before, after))

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._heap:
                    self._cv.wait()
                if self._stop:
                    return
                wait = self._heap[0].t - self.clock.now()
                if wait > 0.002:
                    self._cv.wait(timeout=min(wait - 0.001, 0.05))
                    continue
                a = heapq.heappop(self._heap)
                self._busy = True
            if wait > 0:
                time.sleep(wait)
            try:
                self._send(a)
            finally:
                with self._cv:
                    self._busy = False

    def close(self) -> None:
        """Stop the thread and release every key still held (so X is left clean)."""
        with self._cv:
            self._stop = True
            self._heap.clear()
            self._cv.notify()
        self._thread.join(timeout=2)
        try:
            for key in list(self._held):
                self._proc.stdin.write(f"keyup {keysym(key)}\n")
            self._proc.stdin.close()
            self._proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
            self._proc.kill()
            self._proc.wait()
        self._held.clear()
