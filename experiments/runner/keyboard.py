"""Raw key downs and ups from Psychtoolbox's keyboard queues (PsychoPy's ``ptb`` backend).

PsychoPy's Keyboard pairs downs with ups itself and mis-logs keys held across
routines (PsychoPy issue 6853), so this source reads the same Psychtoolbox
``KbQueue`` that PsychoPy's ``ptb`` backend uses, one queue per keyboard device,
and hands every raw transition to the session, which writes it to
``buttons.tsv``. Key repeats of a held key (X auto-repeat) are dropped: a down
is only reported for a key that is up, an up only for a key that is down.

Timestamps: ptb's ``GetSecs`` is the wall clock on Linux, not
``perf_counter``; the offset is measured when the source opens and every key
time is converted to the session clock with it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .clock import SessionClock, measure_offset


@dataclass(frozen=True)
class KeyEvent:
    """One raw key transition on the session clock."""

    t: float
    action: str  # "down" | "up"
    key: str


class PtbKeyboard:
    """Every keyboard's raw down/up events, timestamped on the session clock.

    Parameters
    ----------
    clock : SessionClock
    only : list of int, optional
        Open only these Psychtoolbox keyboard indices (a seat's own keyboard).
    exclude : list of int, optional
        Leave these indices out (they belong to seats with their own keyboard).

    Examples
    --------
    Not run as a doctest: it needs an X display and key events (tests/test_responses.py).

    >>> kb = PtbKeyboard(clock)          # doctest: +SKIP
    >>> for ev in kb.poll(): print(ev)   # doctest: +SKIP
    KeyEvent(t=12.3456, action='down', key='a')
    """

    def __init__(self, clock: SessionClock, only=None, exclude=()):
        import psychtoolbox as ptb
        from psychopy.hardware import keyboard as pkb
        from psychtoolbox import hid

        from coaffect.formats.errors import HardwareError

        self.clock = clock
        self._names = (
            pkb.keyNamesLinux
            if sys.platform.startswith("linux")
            else (pkb.keyNamesMac if sys.platform == "darwin" else pkb.keyNamesWin)
        )
        offset, self.offset_error = measure_offset(ptb.GetSecs)
        #: GetSecs() - perf_counter(), seconds
        self.ptb_offset = offset
        indices, names, _ = hid.get_keyboard_indices()
        if not indices and sys.platform != "win32":
            raise HardwareError(
                "no keyboard found by Psychtoolbox",
                hint="connect the response keyboard(s); under Linux check "
                "that the X server has input devices",
            )
        pairs = [(i, str(n)) for i, n in zip(indices, names) if i not in set(exclude)]
        if only is not None:
            pairs = [(i, n) for i, n in pairs if i in set(only)]
        self.devices = [n for _, n in pairs]
        self.indices = [int(i) for i, _ in pairs]
        self._kbs = []
        for idx in self.indices or ([-1] if only is None and not exclude else []):
            kb = hid.Keyboard(int(idx)) if idx != -1 else hid.Keyboard()
            kb._create_queue(10000, win_handle=None)
            kb.queue_start()
            self._kbs.append(kb)
        self._down: set[str] = set()

    def poll(self) -> list[KeyEvent]:
        """Key transitions since the last call, oldest first."""
        raw = []
        for kb in self._kbs:
            while kb.flush(flush_type=1):
                evt, _ = kb.queue_get_event()
                if not evt:
                    break
                raw.append(evt)
        raw.sort(key=lambda e: e["Time"])
        out = []
        for evt in raw:
            name = self._names.get(int(evt["Keycode"]))
            if name is None:
                continue
            down = bool(evt["Pressed"])
            if down == (name in self._down):
                continue  # auto-repeat, or the same key seen on two devices
            (self._down.add if down else self._down.discard)(name)
            perf = evt["Time"] - self.ptb_offset
            out.append(KeyEvent(round(self.clock.from_perf(perf), 6), "down" if down else "up", name))
        return out

    def held(self) -> set[str]:
        """Keys currently down."""
        return set(self._down)

    def close(self) -> None:
        for kb in self._kbs:
            try:
                kb.queue_stop()
                kb._release_queue()
            except Exception:  # pragma: no cover
                pass
        self._kbs = []
