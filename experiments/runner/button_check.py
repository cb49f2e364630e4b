"""The button check: every seat presses and releases each of its two buttons.

Seat by seat, each button is prompted (``texts.button_check`` with ``{seat}``
and ``{button}`` filled in) until it has been seen going down and then up. When
all seats pass, the experimenter presses space to go on or ``r`` to repeat.
Escape opens the abort dialog, which here also offers ``s`` to skip the check;
a skip (or ``--skip-button-check``) is logged as ``button_check_skipped``.
With a ``timeout`` (``coaffect rig-check``; sessions use none), a button not
seen down and up in time is given up and the check raises
:class:`ButtonCheckFailed` once every seat has had its turn.
"""

from __future__ import annotations

import logging
from typing import Optional

from coaffect.formats.session_format import event_row

from .runtime import Runtime, SkipRequested

log = logging.getLogger(__name__)

#: Seconds a session waits for a button before it says so (console and experimenter's view).
WAIT_NOTICE_S = 10.0
#: Seconds a simulated participant may take for one button (it presses within 0.4 s and holds
#: 0.3 s; the rest is room for a loaded machine). A rehearsal never waits for ever.
SIMULATED_TIMEOUT_S = 10.0


class ButtonCheckFailed(Exception):
    """Buttons not seen down and up within the timeout: ``missing`` lists (seat, button)."""

    def __init__(self, missing: list[tuple[str, str]]):
        super().__init__(", ".join(f"{s} {b}" for s, b in missing))
        self.missing = list(missing)


def participant_text(texts, name: str) -> str:
    """``texts.<name>`` of the protocol, or its English default when ``texts`` is None.

    Examples
    --------
    >>> participant_text(None, "happy_button")
    'HAPPY'
    """
    from coaffect.formats.protocol import Texts

    value = getattr(texts, name, None) if texts is not None else None
    return value if value is not None else Texts.model_fields[name].default


def run_button_check(
    rt: Runtime,
    seats: list[tuple[str, str, str]],
    prompt: str,
    skip: bool = False,
    timeout: Optional[float] = None,
    texts=None,
) -> bool:
    """Run the check; return True if it passed, False if it was skipped.

    Parameters
    ----------
    rt : Runtime
    seats : list of (seat_id, seat_label, participant_id)
    prompt : str
        Template with ``{seat}`` and ``{button}``.
    skip : bool
        Skip at once (logged).
    timeout : float, optional
        Seconds each button may take (down and up) before it is given up;
        None (sessions) waits until it is seen or the experimenter skips.
    texts : coaffect.formats.protocol.Texts, optional
        The protocol's texts: button names (``happy_button``, ``sad_button``)
        and ``button_check_ok``; default: the English defaults.

    Raises
    ------
    ButtonCheckFailed
        Only with a ``timeout``: some buttons were not seen in time.

    Examples
    --------
    Not run as a doctest: it needs a session's window and keyboard (tests/test_runner_session.py).

    >>> run_button_check(rt, [("A", "left", "P01")], "Seat {seat}: hold {button}")  # doctest: +SKIP
    True
    """
    t0 = rt.clock.now()
    if skip:
        rt.writer.append(
            "events.tsv",
            event_row(t0, 0.0, "button_check_skipped", detail="--skip-button-check"),
        )
        return False
    rt.skip_choice = ("s", "skip the button check")
    try:
        while True:
            start = rt.clock.now()
            missing = []
            for seat_id, label, _pid in seats:
                for button in ("happy", "sad"):
                    if not _check_one(rt, seat_id, label, button, prompt, timeout, texts):
                        missing.append((seat_id, button))
            if missing:
                raise ButtonCheckFailed(missing)
            done = rt.clock.now()
            rt.writer.append(
                "events.tsv",
                event_row(start, done - start, "button_check", detail=f"passed: {len(seats)} seat(s)"),
            )
            msg = "Button check passed.\n\nSPACE = continue, R = repeat the check"
            rt.experimenter_keys.clear()
            repeat = False
            while True:
                rt.display.text(msg)
                t = rt.display.flip()
                rt.tick()
                if rt.simulate and t - done > 0.2:
                    break
                key = rt.pop_experimenter_key("space", "return", "r")
                if key:
                    repeat = key == "r"
                    break
            if not repeat:
                return True
    except SkipRequested:
        now = rt.clock.now()
        rt.writer.append(
            "events.tsv",
            event_row(t0, now - t0, "button_check_skipped", detail="skipped by the experimenter"),
        )
        return False
    finally:
        rt.skip_choice = None


def _check_one(
    rt: Runtime,
    seat_id: str,
    label: str,
    button: str,
    prompt: str,
    timeout: Optional[float] = None,
    texts=None,
) -> bool:
    seat_name = f"{seat_id} ({label})" if label else seat_id
    text = prompt.format(seat=seat_name, button=participant_text(texts, f"{button}_button"))
    ok = participant_text(texts, "button_check_ok")
    rt.display.text(text)
    t0 = rt.display.flip()
    rt.plan("button_check", t0, seat=seat_id, button=button)
    seen_down = noticed = False
    while True:
        rt.display.text(text)
        if seen_down:
            rt.display.text(ok, pos=(0, -150), color="lightgreen")
        t = rt.display.flip()
        for ev in rt.tick():
            if ev.seat == seat_id and ev.button == button:
                if ev.action == "down":
                    seen_down = True
                elif seen_down:
                    return True
        if timeout is not None and t - t0 >= timeout:
            return False
        if not noticed and t - t0 >= WAIT_NOTICE_S:
            noticed = True
            _notice(rt, seat_name, button, WAIT_NOTICE_S, seen_down)


def _notice(rt: Runtime, seat_name: str, button: str, waited: float, seen_down: bool) -> None:
    """Say on the console (and in the experimenter's view) which button the check waits for."""
    seat_id = seat_name.split(" ", 1)[0]
    device = rt.devices.get((seat_id, button), "")
    state = "pressed but not released" if seen_down else "not pressed"
    line = (
        f"button check: seat {seat_name} {button.upper()}{f' ({device})' if device else ''} {state} "
        f"after {waited:g} s; still waiting (ESC then S skips the check, ESC then Y aborts)"
    )
    log.warning(line)
    if rt.view is not None:
        rt.view.warn(line[:90])
