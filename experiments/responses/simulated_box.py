"""A simulated serial button box for rehearsals (``--simulate``): real lines on a pseudo-terminal.

A seat on a serial box cannot be pressed with keyboard keys, so a simulated
participant on that seat "presses" a box of its own: :class:`SimulatedSerialBox`
opens a pseudo-terminal pair, and the seat's :class:`~experiments.responses.serial_box.SerialBox`
reads the slave end exactly as it reads a real box (pyserial, the reader thread,
the protocol's codes, box or host timestamps). Each planned action is written to
the master end at its session time as the protocol's code line (with the box's
own time in ms when the seat uses ``timestamps: box``).

The configured port is still checked before the session (it must exist and be
free), but during a rehearsal nothing is read from it: a real box's presses do
not count, as a real keyboard's do not with ``--simulate inprocess``.
"""

from __future__ import annotations

import os
import time
import tty

from ..runner.clock import SessionClock
from ..runner.scheduled_sender import ScheduledSender
from ..runner.simulated import Action


class SimulatedSerialBox(ScheduledSender):
    """Writes a seat's code lines to a pseudo-terminal at their planned session times.

    Parameters
    ----------
    seat : str
    codes : dict
        ``{'happy': ButtonCodes, 'sad': ButtonCodes}`` from the protocol.
    clock : SessionClock
    box_timestamps : bool
        Append the box's own time in ms (its clock starts at an arbitrary zero).

    Examples
    --------
    >>> from coaffect.formats.protocol import ButtonCodes
    >>> codes = {"happy": ButtonCodes(down="H", up="h"), "sad": ButtonCodes(down="S", up="s")}
    >>> box = SimulatedSerialBox("C", codes, SessionClock(time.perf_counter()))
    >>> box.port.startswith("/dev/pts/")
    True
    >>> box.line(Action(1.0, "down", "C:serial:happy", "C", "happy"))
    b'H\\n'
    >>> box.close()
    """

    def __init__(self, seat: str, codes: dict, clock: SessionClock, box_timestamps: bool = False):
        self.seat = seat
        self.codes = codes
        self.box_timestamps = box_timestamps
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        #: the path the seat's SerialBox opens instead of the configured port
        self.port = os.ttyname(self._slave)
        self._box_zero = time.perf_counter() - 1000.0  # a box clock with its own zero
        super().__init__(clock, name=f"simulated-box-{seat}")

    def line(self, a: Action) -> bytes:
        """The bytes the box sends for one action."""
        c = self.codes[a.button]
        code = c.down if a.action == "down" else c.up
        stamp = f" {1000 * (time.perf_counter() - self._box_zero):.3f}" if self.box_timestamps else ""
        return f"{code}{stamp}\n".encode("ascii")

    def send(self, a: Action) -> None:
        os.write(self._master, self.line(a))

    def close(self) -> None:
        """Stop sending and close both ends of the pseudo-terminal."""
        self.stop_thread()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:  # pragma: no cover - already closed
                pass
