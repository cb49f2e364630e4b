"""Simulated participants on every kind of response device (``--simulate``).

:class:`SimulatedInput` takes the key actions that
:class:`~experiments.runner.simulated.SimulatedParticipants` plans and delivers
each through the device kind of its seat, so a rehearsal presses every seat's
buttons whatever they are wired to:

========================  =======================================  ==========================================
seat's device             ``--simulate inprocess``                 ``--simulate xdotool``
========================  =======================================  ==========================================
shared keyboard           key events made in-process               real X key events (xdotool)
own keyboard (index)      its device key, in-process               real X key events (the XTEST keyboard)
serial box                code lines on a pseudo-terminal that the seat's real serial reader reads
Cedrus XID                its device key, in-process (no XID simulator exists)
========================  =======================================  ==========================================

Real input of a button simulated in-process is dropped (``replaces``), so a
person leaning on the keyboard does not count twice; experimenter keys (space,
escape, p) are always real.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from .simulated import Action, InProcessSource, SeatKeys, SimulatedParticipants


def _device_key(seat: str, kind: str, button: str) -> str:
    from ..responses import device_key

    return device_key(seat, kind, button)


class SimulatedInput:
    """Deliver planned actions through each seat's device kind (see module docstring).

    Parameters
    ----------
    protocol : coaffect.formats.protocol.Protocol
    seats : list of str
        Seat ids in use.
    clock : SessionClock
    mode : {'inprocess', 'xdotool'}

    Examples
    --------
    Not run as a doctest: it opens a pseudo-terminal per simulated serial box and runs on a
    session's clock (tests/test_responses.py).

    >>> sim = SimulatedInput(protocol, ["A", "C"], clock, "inprocess")   # doctest: +SKIP
    >>> sim.ports                                                         # doctest: +SKIP
    {'C': '/dev/pts/7'}
    """

    def __init__(self, protocol, seats, clock, mode: str):
        by_id = {s.id: s for s in protocol.seats}
        self.mode = mode
        self.inprocess = InProcessSource()
        self.injector = None
        self.boxes: dict = {}
        self._seats: dict = {}  # seat -> (kind, Seat)
        #: keys whose real events are dropped: these buttons are simulated in-process
        self.replaces: set[str] = set()
        try:
            if mode == "xdotool":
                from .xdotool_input import XdotoolInjector

                self.injector = XdotoolInjector(clock)
            for sid in seats:
                s = by_id[sid]
                r = s.response
                self._seats[sid] = (r.kind, s)
                if r.kind == "serial":
                    from ..responses.simulated_box import SimulatedSerialBox

                    self.boxes[sid] = SimulatedSerialBox(sid, r.codes, clock, r.timestamps == "box")
                elif r.kind == "xid" or (mode == "inprocess" and r.kind != "keyboard"):
                    self.replaces |= {_device_key(sid, r.kind, b) for b in ("happy", "sad")}
                elif mode == "inprocess":
                    self.replaces |= {s.buttons.happy, s.buttons.sad}
        except BaseException:
            self.close()
            raise

    @property
    def ports(self) -> dict:
        """Seat -> pseudo-terminal its serial reader opens instead of the configured port."""
        return {sid: box.port for sid, box in self.boxes.items()}

    def _route(self, a: Action):
        """(where, action as delivered) for one planned action."""
        kind, seat = self._seats.get(a.seat, ("keyboard", None))
        if seat is not None and a.button in ("happy", "sad"):
            if kind == "serial":
                return self.boxes[a.seat], replace(a, key=_device_key(a.seat, kind, a.button))
            if kind == "xid" or (kind == "ptb_keyboard" and self.injector is None):
                return self.inprocess, replace(a, key=_device_key(a.seat, kind, a.button))
            a = replace(a, key=getattr(seat.buttons, a.button))
        return (self.injector or self.inprocess), a

    def schedule(self, actions: list[Action]) -> None:
        """Queue actions, each on its seat's device."""
        groups: dict = {}
        for a in actions:
            where, delivered = self._route(a)
            groups.setdefault(id(where), (where, []))[1].append(delivered)
        for where, acts in groups.values():
            where.schedule(acts)

    def poll(self, now: float):
        """Key events delivered in-process up to ``now`` (the others arrive through their devices)."""
        return self.inprocess.poll(now)

    def _senders(self) -> list:
        return [self.inprocess, *([self.injector] if self.injector else []), *self.boxes.values()]

    def idle(self) -> bool:
        return all(s.idle() for s in self._senders())

    @property
    def sent(self) -> list:
        """(action, t_before, t_after) of every action delivered, in time order."""
        return sorted((x for s in self._senders() for x in s.sent), key=lambda x: x[1])

    def close(self) -> None:
        for s in self._senders():
            try:
                s.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass


def open_simulation(protocol, seats, clock, mode: str, seed: int, scripted: Optional[list] = None):
    """Simulated participants for ``seats`` and the input that delivers their keys.

    Returns
    -------
    (SimulatedParticipants, SimulatedInput)
    """
    by_id = {s.id: s for s in protocol.seats}
    planner = SimulatedParticipants(
        [SeatKeys(s, by_id[s].buttons.happy, by_id[s].buttons.sad) for s in seats], seed, scripted
    )
    return planner, SimulatedInput(protocol, seats, clock, mode)
