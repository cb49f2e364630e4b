"""Send planned key actions at their session times from a background thread.

:class:`ScheduledSender` keeps a heap of :class:`~experiments.runner.simulated.Action`
and sends each one at its planned time through :meth:`ScheduledSender.send`,
recording the session time just before and just after. Subclasses say how an
action travels: real X key events (:mod:`experiments.runner.xdotool_input`) or
lines of a simulated serial button box (:mod:`experiments.responses.simulated_box`).
"""

from __future__ import annotations

import heapq
import threading
import time

from .clock import SessionClock
from .simulated import Action


class ScheduledSender:
    """Background thread sending queued actions at their planned session times.

    Parameters
    ----------
    clock : SessionClock
    name : str
        Name of the thread.

    Examples
    --------
    >>> class Echo(ScheduledSender):
    ...     def send(self, a):
    ...         pass
    >>> import time
    >>> s = Echo(SessionClock(time.perf_counter()))
    >>> s.schedule([Action(s.clock.now() + 0.01, "down", "a")])
    >>> while not s.idle(): time.sleep(0.005)
    >>> [a.key for a, before, after in s.sent]
    ['a']
    >>> s.close()
    """

    def __init__(self, clock: SessionClock, name: str = "scheduled-sender"):
        self.clock = clock
        self._heap: list[Action] = []
        self._cv = threading.Condition()
        self._stop = False
        self._busy = False
        #: (action, t_before, t_after) for every action sent
        self.sent: list[tuple[Action, float, float]] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(self, a: Action) -> None:  # pragma: no cover - every subclass says how
        raise NotImplementedError

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

    def _send_timed(self, a: Action) -> None:
        before = self.clock.now()
        self.send(a)
        self.sent.append((a, before, self.clock.now()))

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
                self._send_timed(a)
            finally:
                with self._cv:
                    self._busy = False

    def stop_thread(self) -> None:
        """Drop what is queued and stop the thread (subclasses then release their device)."""
        with self._cv:
            self._stop = True
            self._heap.clear()
            self._cv.notify()
        self._thread.join(timeout=2)

    def close(self) -> None:
        """Stop sending (subclasses also release their device)."""
        self.stop_thread()
