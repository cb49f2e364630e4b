"""The session clock and its link to Psychtoolbox's clock.

The session clock is ``time.perf_counter() - clock_zero`` (seconds). On Linux,
``perf_counter`` is ``CLOCK_MONOTONIC`` (system-wide), but Psychtoolbox's
``GetSecs`` -- the base of every ptb key timestamp -- is *not*: measured on
this machine it is the wall clock (``CLOCK_REALTIME``), about 1.8e9 s ahead of
``perf_counter``. :class:`SessionClock` measures that offset so key times can be
converted exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def measure_offset(other_clock, samples: int = 7) -> tuple[float, float]:
    """Offset ``other_clock() - perf_counter()`` and its uncertainty (s).

    Takes the sample with the narrowest perf_counter bracket around the call.

    Examples
    --------
    >>> off, err = measure_offset(time.perf_counter)
    >>> abs(off) < 1e-3 and err < 1e-3
    True
    """
    best = None
    for _ in range(samples):
        a = time.perf_counter()
        t = other_clock()
        b = time.perf_counter()
        width = b - a
        if best is None or width < best[1]:
            best = (t - (a + b) / 2, width)
    return best[0], best[1] / 2


@dataclass
class SessionClock:
    """Seconds since ``zero`` (a ``time.perf_counter()`` value).

    Examples
    --------
    >>> clock = SessionClock(time.perf_counter())
    >>> 0 <= clock.now() < 1
    True
    """

    zero: float

    def now(self) -> float:
        """Current session time in seconds."""
        return time.perf_counter() - self.zero

    def from_perf(self, perf: float) -> float:
        """Convert a ``perf_counter`` value to session time."""
        return perf - self.zero
