"""Open, check and list the response device of every seat (see the package docstring)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from coaffect.formats.errors import HardwareError


def device_key(seat: str, kind: str, button: str) -> str:
    """Key name of a seat's own device in ``buttons.tsv``.

    Examples
    --------
    >>> device_key("B", "serial", "happy")
    'B:serial:happy'
    """
    return f"{seat}:{kind}:{button}"


def response_key_map(protocol, participants, seats) -> dict:
    """key -> (seat, participant_id, button) for every seat, whatever its device."""
    by_id = {s.id: s for s in protocol.seats}
    out = {}
    for pid, sid in zip(participants, seats):
        s = by_id[sid]
        kind = s.response.kind
        for button in ("happy", "sad"):
            key = getattr(s.buttons, button) if kind == "keyboard" else device_key(sid, kind, button)
            out[key] = (sid, pid, button)
    return out


def _ptb_keyboards() -> list[tuple[int, str]]:
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        # PsychHID ends the process (segfault) without an X display
        raise HardwareError(
            "no display: Psychtoolbox lists keyboards through the X server", hint="run on the desktop"
        )
    from psychtoolbox import hid

    indices, names, _ = hid.get_keyboard_indices()
    return [(int(i), str(n)) for i, n in zip(indices, names)]


def list_devices() -> list[dict]:
    """Response devices this computer offers: keyboards (ptb index), serial ports, XID boxes.

    Returns
    -------
    list of dict
        ``kind``, ``index`` or ``port``, ``name``.

    Examples
    --------
    Not run as a doctest: it asks Psychtoolbox for the keyboards of an X display
    (tests/test_responses.py).

    >>> any(d["kind"] == "ptb_keyboard" for d in list_devices())  # doctest: +SKIP
    True
    """
    out = [{"kind": "ptb_keyboard", "index": i, "name": n} for i, n in _ptb_keyboards()]
    try:
        from serial.tools import list_ports

        for p in list_ports.comports():
            out.append({"kind": "serial", "port": p.device, "name": p.description})
    except ImportError:  # pragma: no cover - pyserial is a runner requirement
        pass
    try:
        import pyxid2  # noqa: F401 - optional, untested without a device

        for i, dev in enumerate(pyxid2.get_xid_devices()):
            out.append({"kind": "xid", "index": i, "name": str(dev)})
    except ImportError:
        pass
    return out


def check_devices(protocol, seats) -> None:
    """Stop with one line naming seat and device if a seat's device is missing or busy.

    Opens and closes each serial port (exclusively), looks the keyboard index up
    in Psychtoolbox's list, and finds XID boxes through ``pyxid2``. Writes nothing.

    Raises
    ------
    HardwareError
    """
    by_id = {s.id: s for s in protocol.seats}
    keyboards = None
    for sid in seats:
        r = by_id[sid].response
        if r.kind == "serial":
            from .serial_box import open_port

            open_port(r.port, r.baud, sid).close()
        elif r.kind == "ptb_keyboard":
            keyboards = keyboards if keyboards is not None else _ptb_keyboards()
            if r.index not in {i for i, _ in keyboards}:
                listed = ", ".join(f"{i} {n}" for i, n in keyboards) or "none"
                raise HardwareError(
                    f"seat {sid}: keyboard index {r.index} is not connected (keyboards: {listed})",
                    hint="plug it in, or pick an index from coaffect devices",
                )
        elif r.kind == "xid":
            _xid_device(sid, r.index or 0)


def _xid_device(seat: str, index: int):
    try:
        import pyxid2
    except ImportError:
        raise HardwareError(
            f"seat {seat}: Cedrus XID box needs pyxid2, which is not installed",
            hint="pip install pyxid2",
        ) from None
    devs = pyxid2.get_xid_devices()
    if index >= len(devs):
        raise HardwareError(f"seat {seat}: Cedrus XID box {index} is not connected ({len(devs)} found)")
    return devs[index]


class XidBox:
    """A Cedrus XID box through pyxid2 (untested here: no device on this machine).

    Button 0 is happy, button 1 is sad; pyxid2's response time (ms since its
    reset at open) is mapped to the host clock at the reset.
    """

    def __init__(self, seat, index, clock):
        import time

        self.seat = seat
        self.clock = clock
        self.dev = _xid_device(seat, index)
        self.dev.reset_timer()
        self._t0 = time.perf_counter()
        self.index = index

    def poll(self):
        from ..runner.keyboard import KeyEvent

        out = []
        self.dev.poll_for_response()
        while self.dev.has_response():
            r = self.dev.get_next_response()
            button = {0: "happy", 1: "sad"}.get(int(r["key"]))
            if button is None:
                continue
            perf = self._t0 + r["time"] / 1000.0
            action = "down" if r["pressed"] else "up"
            out.append(
                KeyEvent(round(self.clock.from_perf(perf), 6), action, device_key(self.seat, "xid", button))
            )
            self.dev.poll_for_response()
        return out

    def describe(self) -> dict:
        return {"kind": "xid", "index": self.index, "timestamps": "box"}

    def close(self) -> None:
        pass


class SeatKeyboard:
    """One seat's own keyboard (Psychtoolbox index); its two keys renamed to device keys."""

    def __init__(self, seat, index, buttons, clock):
        from ..runner.keyboard import PtbKeyboard

        self.seat = seat
        self.index = index
        self._kb = PtbKeyboard(clock, only=[index])
        self._names = {buttons.happy: "happy", buttons.sad: "sad"}

    def poll(self):
        from ..runner.keyboard import KeyEvent

        out = []
        for ev in self._kb.poll():
            b = self._names.get(ev.key)
            if b is not None:
                out.append(KeyEvent(ev.t, ev.action, device_key(self.seat, "ptb_keyboard", b)))
        return out

    def describe(self) -> dict:
        return {"kind": "ptb_keyboard", "index": self.index, "name": ", ".join(self._kb.devices)}

    def close(self) -> None:
        self._kb.close()


@dataclass
class Responses:
    """The shared keyboard plus every seat's own device, merged (``PtbKeyboard`` interface)."""

    shared: object  # PtbKeyboard: experimenter keys and keyboard seats
    seat_sources: dict = field(default_factory=dict)  # seat -> source
    #: seat -> extra facts for session.json (a rehearsal's simulated box and the port it stood in for)
    notes: dict = field(default_factory=dict)

    @property
    def devices(self):
        return self.shared.devices

    @property
    def ptb_offset(self):
        return self.shared.ptb_offset

    @property
    def offset_error(self):
        return self.shared.offset_error

    def poll(self):
        events = list(self.shared.poll())
        for src in self.seat_sources.values():
            events += src.poll()
        events.sort(key=lambda e: e.t)
        return events

    def held(self):
        return self.shared.held()

    def describe(self) -> dict:
        """Per seat: its device, where its timestamps come from, lines read so far (for session.json)."""
        return {s: {**src.describe(), **self.notes.get(s, {})} for s, src in self.seat_sources.items()}

    def close(self) -> None:
        for src in self.seat_sources.values():
            try:
                src.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        self.shared.close()


def open_responses(protocol, seats, clock, ports=None, failed=None) -> Responses:
    """Open the shared keyboard and each seat's own device (seats: ids in use).

    Parameters
    ----------
    protocol : coaffect.formats.protocol.Protocol
    seats : list of str
    clock : SessionClock
    ports : dict, optional
        Seat -> serial port opened instead of the protocol's (a rehearsal's
        simulated box, :mod:`experiments.responses.simulated_box`).
    failed : dict, optional
        When given, a seat whose own device cannot be opened is left out and its
        :class:`~coaffect.formats.errors.HardwareError` stored here by seat (the
        rig check goes on with the other seats); otherwise the error is raised.
    """
    from ..runner.keyboard import PtbKeyboard

    by_id = {s.id: s for s in protocol.seats}
    ports = dict(ports or {})
    own = [by_id[s].response.index for s in seats if by_id[s].response.kind == "ptb_keyboard"]
    sources: dict = {}
    notes: dict = {}
    try:
        for sid in seats:
            s = by_id[sid]
            r = s.response
            try:
                if r.kind == "serial":
                    from .serial_box import SerialBox

                    port = ports.get(sid, r.port)
                    sources[sid] = SerialBox(sid, port, r.baud, r.codes, clock, r.timestamps == "box")
                    if port != r.port:
                        notes[sid] = {"simulated": True, "configured_port": r.port}
                elif r.kind == "ptb_keyboard":
                    sources[sid] = SeatKeyboard(sid, r.index, s.buttons, clock)
                elif r.kind == "xid":
                    sources[sid] = XidBox(sid, r.index or 0, clock)
            except HardwareError as exc:
                if failed is None:
                    raise
                failed[sid] = exc
        shared = PtbKeyboard(clock, exclude=own)
    except BaseException:
        for src in sources.values():
            src.close()
        raise
    return Responses(shared, sources, notes)


def describe_device(seat, button: str) -> str:
    """How a seat's button is pressed, in words (messages of the button and rig checks).

    Examples
    --------
    >>> from coaffect.formats.protocol_model import Seat
    >>> describe_device(Seat(id="A", buttons={"happy": "a", "sad": "z"}), "happy")
    "key 'a'"
    """
    r = seat.response
    if r.kind == "serial":
        c = r.codes[button]
        return f"serial box {r.port}, code '{c.down}'/'{c.up}'"
    if r.kind == "ptb_keyboard":
        return f"keyboard {r.index}, key '{getattr(seat.buttons, button)}'"
    if r.kind == "xid":
        return f"Cedrus XID box {r.index or 0}, button {0 if button == 'happy' else 1}"
    return f"key '{getattr(seat.buttons, button)}'"


def device_names(protocol, seats) -> dict:
    """(seat, button) -> :func:`describe_device` for every seat in use."""
    by_id = {s.id: s for s in protocol.seats}
    return {(sid, b): describe_device(by_id[sid], b) for sid in seats for b in ("happy", "sad")}
