"""A serial button box: one text line per button transition, read by a thread.

Each line is a code from the protocol (``codes: {happy: {down: H, up: h}, ...}``),
optionally followed by the box's own time in milliseconds (``timestamps: box``).
A reader thread blocks on the port and stamps each line with
``time.perf_counter()`` the moment it arrives, so host-time stamps do not wait
for the next screen flip. With box timestamps, box time is mapped to host time by
the smallest ``host_receive - box_time`` seen so far (the line that waited least
in the USB/serial path); the choice is recorded in ``session.json``.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Optional

from coaffect.formats.errors import HardwareError

from ..runner.keyboard import KeyEvent


def open_port(port: str, baud: int, seat: str):
    """Open ``port`` exclusively; a missing or busy port is a one-line HardwareError."""
    import serial

    try:
        return serial.Serial(port, baud, timeout=0.2, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        text = str(exc)
        busy = "lock" in text.lower() or "busy" in text.lower() or "Resource temporarily" in text
        what = "is busy (another program has it open)" if busy else "cannot be opened"
        raise HardwareError(
            f"seat {seat}: serial button box {port} {what}: {text.splitlines()[0][:120]}",
            hint="check the cable and the port name (ls /dev/ttyUSB* /dev/ttyACM*), "
            "and close other programs using it",
        ) from None


class SerialBox:
    r"""Raw down/up events of one seat's serial box, on the session clock.

    Parameters
    ----------
    seat : str
    port : str
    baud : int
    codes : dict
        ``{'happy': ButtonCodes, 'sad': ButtonCodes}``.
    clock : SessionClock
    box_timestamps : bool
        Lines carry the box's time in ms after the code.

    Examples
    --------
    A box on a pseudo-terminal pair (a real box sits at ``/dev/ttyUSB0``, say):

    >>> import os, time
    >>> from coaffect.formats.protocol_model import ButtonCodes
    >>> from experiments.runner.clock import SessionClock
    >>> box_end, port_end = os.openpty()
    >>> codes = {"happy": ButtonCodes(down="H1", up="H0"), "sad": ButtonCodes(down="S1", up="S0")}
    >>> box = SerialBox("B", os.ttyname(port_end), 115200, codes, SessionClock(time.perf_counter()))
    >>> _ = os.write(box_end, b"H1\nS1\nH0\n")
    >>> events, end = [], time.monotonic() + 5
    >>> while len(events) < 3 and time.monotonic() < end:
    ...     events += box.poll(); time.sleep(0.01)
    >>> [(e.action, e.key) for e in events]
    [('down', 'B:serial:happy'), ('down', 'B:serial:sad'), ('up', 'B:serial:happy')]
    >>> box.close(); os.close(box_end); os.close(port_end)
    """

    def __init__(self, seat, port, baud, codes, clock, box_timestamps: bool = False):
        self.seat = seat
        self.port = port
        self.clock = clock
        self.box_timestamps = box_timestamps
        self._lookup = {}
        for button, c in codes.items():
            self._lookup[c.down] = ("down", button)
            self._lookup[c.up] = ("up", button)
        self._ser = open_port(port, baud, seat)
        self._ser.reset_input_buffer()
        self.opened_at = clock.now()
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._box_offset: Optional[float] = None  # host perf - box seconds (minimum seen)
        self.unknown_lines = 0
        self.lines = 0
        self._thread = threading.Thread(target=self._read, name=f"serial-{seat}", daemon=True)
        self._thread.start()

    @property
    def timestamp_source(self) -> str:
        return "box" if self.box_timestamps else "host"

    def _read(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = self._ser.read(self._ser.in_waiting or 1)
            except Exception:  # port gone: stop reading, the session goes on
                return
            now = time.perf_counter()
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._q.put((now, line.decode("ascii", "replace").strip()))

    def poll(self) -> list[KeyEvent]:
        """Transitions received since the last call, oldest first."""
        out = []
        while True:
            try:
                host, line = self._q.get_nowait()
            except queue.Empty:
                break
            if not line:
                continue
            self.lines += 1
            parts = line.split()
            hit = self._lookup.get(parts[0])
            if hit is None:
                self.unknown_lines += 1
                continue
            perf = host
            if self.box_timestamps and len(parts) > 1:
                try:
                    box_s = float(parts[1]) / 1000.0
                except ValueError:
                    box_s = None
                if box_s is not None:
                    off = host - box_s
                    if self._box_offset is None or off < self._box_offset:
                        self._box_offset = off
                    perf = box_s + self._box_offset
            action, button = hit
            out.append(KeyEvent(round(self.clock.from_perf(perf), 6), action, f"{self.seat}:serial:{button}"))
        return out

    def describe(self) -> dict:
        return {
            "kind": "serial",
            "port": self.port,
            "timestamps": self.timestamp_source,
            "box_minus_host_offset_s": None if self._box_offset is None else -self._box_offset,
            "lines": self.lines,
            "unknown_lines": self.unknown_lines,
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        try:
            self._ser.close()
        except Exception:  # pragma: no cover
            pass
