"""What every screen of a session shares: the window, the keys, the writer.

:class:`Runtime` polls the button sources once per frame, writes every raw
participant key event to ``buttons.tsv`` at once (whatever phase it falls in),
and handles the experimenter's keys: ``escape`` opens the abort dialog
(``y`` aborts, ``n`` goes back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from coaffect.formats.session_format import event_row

from .keyboard import KeyEvent

#: Seconds an instruction screen stays up in simulated sessions (no experimenter).
SIM_TEXT_SECONDS = 0.3


class SessionAborted(Exception):
    """The experimenter confirmed an abort."""


class SkipRequested(Exception):
    """The experimenter chose to skip the current step (e.g. the button check)."""


@dataclass(frozen=True)
class ButtonEvent:
    """A participant key event, resolved to its seat and button."""

    t: float
    action: str
    key: str
    seat: str
    participant_id: str
    button: str


@dataclass
class Runtime:
    """Shared state of a running session (see module docstring)."""

    display: object  # Display
    writer: object  # SessionWriter
    clock: object  # SessionClock
    keyboard: object  # PtbKeyboard (experimenter keys; participants unless simulated)
    key_map: dict  # key -> (seat, participant_id, button)
    simulated: object = None  # SimulatedInput, or None
    planner: object = None  # SimulatedParticipants, or None
    cams: object = None
    on_abort_check: Optional[Callable] = None
    held: dict = field(default_factory=dict)  # (seat, button) -> down time
    experimenter_keys: list = field(default_factory=list)
    #: extra choice offered by the abort dialog, e.g. ("s", "skip the button check")
    skip_choice: Optional[tuple] = None
    #: the experimenter's window (issue 13), or None: dialogs go there, not to participants
    view: object = None
    #: (seat, button) -> how it is pressed, in words (messages while waiting for it)
    devices: dict = field(default_factory=dict)

    @property
    def simulate(self) -> bool:
        return self.planner is not None

    def plan(self, phase: str, t0: float, **info) -> None:
        """Let simulated participants plan their keys for a phase starting at ``t0``."""
        if self.planner is not None:
            self.simulated.schedule(self.planner.on_phase(phase, t0, **info))
        if self.view is not None:
            self.view.phase(phase, t0, **info)

    def _record(self, ev: KeyEvent) -> Optional[ButtonEvent]:
        seat, pid, button = self.key_map[ev.key]
        k = (seat, button)
        if ev.action == "down":
            if k in self.held:
                return None
            self.held[k] = ev.t
        else:
            # an up without a down here is still written: after a crash + --resume it
            # closes the hold that was going on when the session died
            self.held.pop(k, None)
        self.writer.append(
            "buttons.tsv",
            {
                "t": ev.t,
                "action": ev.action,
                "participant_id": pid,
                "seat": seat,
                "button": button,
                "key": ev.key,
            },
        )
        return ButtonEvent(ev.t, ev.action, ev.key, seat, pid, button)

    def tick(self, allow_abort: bool = True) -> list[ButtonEvent]:
        """Poll every source; record participant keys; handle escape. Call once per frame."""
        events: list[KeyEvent] = list(self.keyboard.poll())
        if self.simulated is not None:  # buttons simulated in-process replace their real keys
            events = [e for e in events if e.key not in self.simulated.replaces]
            events += self.simulated.poll(self.clock.now())
            events.sort(key=lambda e: e.t)
        out = []
        for ev in events:
            if ev.key in self.key_map:
                rec = self._record(ev)
                if rec is not None:
                    out.append(rec)
            elif ev.action == "down":
                self.experimenter_keys.append(ev.key)
        if self.view is not None:
            try:
                self.view.update(self, allow_abort)
            except (SessionAborted, SkipRequested):
                raise
            except Exception as exc:  # a broken view never stops the session
                self.view, view = None, self.view
                view.close()
                self.writer.update(experimenter_view={"error": f"{type(exc).__name__}: {exc}"[:300]})
        if self.cams is not None:
            self.cams.check_disk()  # a camera that hit a full disk stops the session now
        if allow_abort and "escape" in self.experimenter_keys:
            self.experimenter_keys.clear()
            self.abort_dialog()
        return out

    def pop_experimenter_key(self, *names: str) -> Optional[str]:
        """The first pending experimenter key among ``names`` (consumed), if any."""
        for i, k in enumerate(self.experimenter_keys):
            if k in names:
                del self.experimenter_keys[i]
                return k
        return None

    def abort_dialog(self) -> None:
        """Ask the experimenter to confirm an abort; raise :class:`SessionAborted` on ``y``."""
        if self.on_abort_check:
            self.on_abort_check(True)
        t0 = self.clock.now()
        self.experimenter_keys.clear()
        if self.view is not None:
            self.view.warn(f"abort dialog at {t0:.1f} s")
        text = "Abort the session?\n\nY = yes, abort (everything recorded is kept)\nN = no, continue"
        keys = ["y", "n", "escape"]
        if self.skip_choice:
            text += f"\n{self.skip_choice[0].upper()} = {self.skip_choice[1]}"
            keys.append(self.skip_choice[0])
        while True:
            if self.view is not None:
                self.view.dialog(self, text)  # participants' screen stays blank
            else:
                self.display.text(text, color="yellow")
            self.display.flip()
            self.tick(allow_abort=False)
            key = self.pop_experimenter_key(*keys)
            if key == "y":
                raise SessionAborted()
            if self.skip_choice and key == self.skip_choice[0]:
                if self.on_abort_check:
                    self.on_abort_check(False)
                raise SkipRequested()
            if key in ("n", "escape"):
                self.writer.append(
                    "events.tsv",
                    event_row(t0, self.clock.now() - t0, "abort", detail="abort dialog cancelled"),
                )
                if self.on_abort_check:
                    self.on_abort_check(False)
                return

    def text_screen(
        self,
        text: str,
        trial_type: Optional[str] = None,
        seconds: Optional[float] = None,
        wait_keys: tuple = ("space", "return"),
    ) -> tuple[float, float]:
        """Show ``text`` until the experimenter presses SPACE or RETURN (or ``seconds`` pass).

        In simulated sessions the screen advances by itself after
        :data:`SIM_TEXT_SECONDS`. Returns (onset, offset) and logs an event if
        ``trial_type`` is given.
        """
        if seconds is None and self.simulate:
            seconds = SIM_TEXT_SECONDS
        self.experimenter_keys.clear()
        self.display.text(text)
        onset = self.display.flip()
        while True:
            self.display.text(text)
            t = self.display.flip()
            self.tick()
            if seconds is not None and t - onset >= seconds:
                break
            if seconds is None and self.pop_experimenter_key(*wait_keys):
                break
        self.display.flip()
        offset = self.clock.now()
        if trial_type:
            self.writer.append("events.tsv", event_row(onset, offset - onset, trial_type))
        return onset, offset

    def wait_sources(self, timeout: float = 2.0) -> None:
        """Keep polling until the simulated input has delivered everything (or timeout)."""
        if self.simulated is None:
            return
        end = self.clock.now() + timeout
        while self.clock.now() < end and not self.simulated.idle():
            self.display.flip()
            self.tick()
