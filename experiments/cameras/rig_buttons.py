"""The button check of ``coaffect rig-check``: the session's own check, without a session.

:func:`check_buttons` runs :func:`experiments.runner.button_check.run_button_check`
for every seat in the protocol's window with the ptb keyboard; its rows go to
an in-memory log (:class:`MemoryLog`) instead of a session writer, so nothing
is written to a dataset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from coaffect.formats.checks import check_option
from coaffect.formats.errors import HardwareError

from ..runner.runtime import Runtime
from ..runner.simulated import SIMULATE_MODES

#: Seconds each button may take before it counts as not seen.
BUTTON_TIMEOUT = 30.0


def window_refresh(win) -> dict:
    """Measured refresh rate of an open PsychoPy window."""
    rate = win.getActualFrameRate(nIdentical=10, nMaxFrames=120, nWarmUpFrames=10, threshold=1)
    return {
        "refresh_hz": round(rate, 2) if rate else None,
        "error": None if rate else "no stable refresh rate (no vsync, e.g. a virtual display)",
    }


class MemoryLog:
    """Takes the session writer's place in the rig check: rows are kept in memory.

    Examples
    --------
    >>> log = MemoryLog()
    >>> log.append("buttons.tsv", {"t": 1.5, "action": "down"})
    >>> log.tables["buttons.tsv"]
    [{'t': 1.5, 'action': 'down'}]
    """

    def __init__(self):
        self.tables: dict[str, list[dict]] = {}

    def append(self, table: str, row: dict) -> None:
        self.tables.setdefault(table, []).append(dict(row))


@dataclass
class CheckRuntime(Runtime):
    """The session :class:`~experiments.runner.runtime.Runtime`, noting each button prompt.

    ``prompts`` holds ``(onset, seat, button)`` per prompt shown and ``seen``
    ``(prompt index, ButtonEvent)`` per participant key event, exactly as the
    button check received them; ``on_prompt(seat, button)`` is called as each
    prompt appears.
    """

    prompts: list = field(default_factory=list)
    seen: list = field(default_factory=list)
    on_prompt: Optional[Callable] = None

    def plan(self, phase: str, t0: float, **info) -> None:
        super().plan(phase, t0, **info)
        if phase == "button_check":
            self.prompts.append((t0, info["seat"], info["button"]))
            if self.on_prompt is not None:
                self.on_prompt(info["seat"], info["button"])

    def tick(self, allow_abort: bool = True) -> list:
        out = super().tick(allow_abort)
        if self.prompts:
            self.seen.extend((len(self.prompts) - 1, ev) for ev in out)
        return out


def button_results(rt: CheckRuntime, seats: list) -> list[dict]:
    """Per seat and button: seen down, seen up, key and hold time, from the check's events.

    The last prompt of each button counts (the experimenter may repeat the
    check); a button counts as down at its first press after its prompt, and
    as up at the first release after that press, as in the check itself.

    Parameters
    ----------
    rt : CheckRuntime
        The runtime the check ran on.
    seats : list of coaffect.formats.protocol.Seat

    Returns
    -------
    list of dict
        ``seat``, ``label``, ``button``, ``key``, ``prompted``, ``seen_down``,
        ``seen_up``, ``down_t``, ``up_t``, ``hold_s`` (seconds on the check's
        clock; None where not seen).

    Examples
    --------
    Not run as a doctest: it reads the runtime of a button check run in a window
    (tests/test_cameras_cli.py).

    >>> rows = button_results(rt, p.seats)               # doctest: +SKIP
    >>> rows[0]["seat"], rows[0]["button"], rows[0]["hold_s"]  # doctest: +SKIP
    ('A', 'happy', 0.3)
    """
    from ..responses import describe_device

    last = {(seat, button): i for i, (_, seat, button) in enumerate(rt.prompts)}
    out = []
    for s in seats:
        for button in ("happy", "sad"):
            row = {
                "seat": s.id,
                "label": s.label or "",
                "button": button,
                "key": getattr(s.buttons, button),
                "device": describe_device(s, button),
                "prompted": (s.id, button) in last,
                "seen_down": False,
                "seen_up": False,
                "down_t": None,
                "up_t": None,
                "hold_s": None,
            }
            idx = last.get((s.id, button))
            for i, ev in rt.seen:
                if i != idx or ev.seat != s.id or ev.button != button:
                    continue
                if ev.action == "down" and not row["seen_down"]:
                    row["seen_down"], row["down_t"] = True, round(ev.t, 6)
                elif ev.action == "up" and row["seen_down"]:
                    row["seen_up"], row["up_t"] = True, round(ev.t, 6)
                    row["hold_s"] = round(ev.t - row["down_t"], 4)
                    break
            out.append(row)
    return out


def check_buttons(
    loaded_protocol,
    simulate: Optional[str] = None,
    timeout: float = BUTTON_TIMEOUT,
    seed: int = 0,
    refresh: bool = True,
    on_prompt: Optional[Callable] = None,
    rollover: bool = True,
) -> dict:
    """Run the session's button check for every seat of a protocol, in its window.

    After a passed check, ``rollover`` also runs the key rollover test
    (:func:`~experiments.cameras.rig_rollover.check_rollover`); its result is
    under ``rollover``. Seats on their own response device are read from it.

    Opens the protocol's window and the ptb keyboard, (optionally) measures the
    refresh rate in that window, and runs
    :func:`~experiments.runner.button_check.run_button_check` with a per-button
    ``timeout``. Nothing is written to disk.

    Parameters
    ----------
    loaded_protocol : coaffect.formats.protocol.LoadedProtocol
    simulate : {None, 'inprocess', 'xdotool'}
        Rehearse with simulated participants (in-process key events, or real X
        key events injected with xdotool).
    timeout : float
        Seconds each button may take before it counts as not seen.
    seed : int
        Seed of the simulated participants.
    refresh : bool
        Measure the refresh rate of the window first.
    on_prompt : callable, optional
        Called as ``on_prompt(seat, button)`` when each prompt appears.

    Returns
    -------
    dict
        ``status`` (``passed``, ``failed``, ``skipped`` or ``error``),
        ``error``, ``simulate``, ``timeout_s``, ``buttons`` (see
        :func:`button_results`), ``missing`` (``[seat, button]`` pairs not
        seen down and up), ``injected`` (simulated key actions: ``t_planned``,
        ``t_sent``, ``action``, ``key``, ``seat``, ``button``) and ``display``
        (refresh rate measured in the window, or None).

    Examples
    --------
    Not run as a doctest: it opens a PsychoPy window (seconds; tests/test_cameras_cli.py).

    >>> res = check_buttons(load_protocol("protocols/bittersweet-demo.yaml"),
    ...                     simulate="inprocess")  # doctest: +SKIP
    >>> res["status"], res["buttons"][0]["hold_s"]  # doctest: +SKIP
    ('passed', 0.3)
    """
    from ..runner.button_check import ButtonCheckFailed, run_button_check
    from ..runner.clock import SessionClock
    from ..runner.runtime import SessionAborted

    p = loaded_protocol.protocol
    out = {
        "status": "error",
        "error": None,
        "simulate": simulate,
        "timeout_s": timeout,
        "buttons": [],
        "missing": [],
        "injected": [],
        "display": None,
        "rollover": None,
        "device_errors": {},
    }
    if simulate is not None:
        check_option("simulate", simulate, SIMULATE_MODES, noun="mode", error=HardwareError)
    clock = SessionClock(time.perf_counter())
    from ..responses import check_devices, device_names, response_key_map

    seat_ids = [s.id for s in p.seats]
    key_map = response_key_map(p, [""] * len(seat_ids), seat_ids)  # each seat's own device
    seat_rows = [(s.id, s.label or "", "") for s in p.seats]
    display = keyboard = source = rt = None
    try:
        from ..responses import open_responses
        from ..runner.display import Display

        try:
            display = Display.for_protocol(p, clock)
        except Exception as exc:  # no X display, no GL: a check that could not run
            out["error"] = f"cannot open a window: {type(exc).__name__}: {exc}"
            return out
        if refresh:
            out["display"] = window_refresh(display.win)
        planner = None
        failed: dict = {}  # seat -> HardwareError: its own device is missing or busy
        for sid in seat_ids:  # checked even in a rehearsal, where a simulated box stands in
            try:
                check_devices(p, [sid])
            except HardwareError as exc:
                failed[sid] = exc
        working = [sid for sid in seat_ids if sid not in failed]
        try:
            if simulate:
                from ..runner.simulated_input import open_simulation

                planner, source = open_simulation(p, working, clock, simulate, seed)
            keyboard = open_responses(
                p, working, clock, ports=source.ports if source else None, failed=failed
            )
        except HardwareError as exc:  # no keyboard, no xdotool: keep the camera results
            out["error"] = exc.message + (f" ({exc.hint})" if exc.hint else "")
            out["error_hint"] = exc.hint
            return out
        out["device_errors"] = {sid: {"error": exc.message, "hint": exc.hint} for sid, exc in failed.items()}
        seat_rows = [row for row in seat_rows if row[0] not in failed]  # the others are still checked
        rt = CheckRuntime(
            display,
            MemoryLog(),
            clock,
            keyboard,
            key_map,
            simulated=source,
            planner=planner,
            on_prompt=on_prompt,
            devices=device_names(p, seat_ids),
        )
        try:
            passed = run_button_check(rt, seat_rows, p.texts.button_check, timeout=timeout, texts=p.texts)
            out["status"] = "passed" if passed else "skipped"
        except ButtonCheckFailed:
            out["status"] = "failed"
        except SessionAborted:  # escape + y: the experimenter stopped the check
            out["status"] = "skipped"
        if out["status"] == "passed":
            rt.wait_sources(0.5)
            if rollover:
                from .rig_rollover import check_rollover

                if on_prompt is not None:
                    on_prompt("*", "both")  # every seat, both buttons at once
                out["rollover"] = check_rollover(rt, [s for s, _, _ in seat_rows], timeout=timeout)
                rt.wait_sources(0.5)
        if failed and out["status"] == "passed":  # the other seats passed; these could not be tried
            out["status"] = "failed"
    finally:
        if source is not None:
            source.close()
            out["injected"] = [
                {
                    "t_planned": a.t,
                    "t_sent": round(before, 6),
                    "action": a.action,
                    "key": a.key,
                    "seat": a.seat,
                    "button": a.button,
                }
                for a, before, _ in source.sent
            ]
        if keyboard is not None:
            keyboard.close()
        if display is not None:
            display.close()
    out["buttons"] = button_results(rt, p.seats)
    out["missing"] = [
        [b["seat"], b["button"]] for b in out["buttons"] if not (b["seen_down"] and b["seen_up"])
    ]
    return out


def button_problems(loaded_protocol, result: dict) -> list[str]:
    """One line per button that failed the check, naming the seat, the key and its protocol line.

    Parameters
    ----------
    loaded_protocol : coaffect.formats.protocol.LoadedProtocol
    result : dict
        What :func:`check_buttons` returned.

    Returns
    -------
    list of str
        Empty when the check passed.

    Examples
    --------
    A check where seat B's sad button never came:

    >>> from coaffect.formats.protocol import load_protocol
    >>> lp = load_protocol("protocols/bittersweet-demo.yaml")
    >>> never = {"seat": "B", "button": "sad", "label": "middle", "key": "b", "device": "key 'b'",
    ...          "prompted": True, "seen_down": False, "seen_up": False}
    >>> res = {"status": "failed", "timeout_s": 30.0, "buttons": [never]}
    >>> print(button_problems(lp, res)[0])
    /.../bittersweet-demo.yaml:...: seats[1].buttons.sad: seat B (middle) sad button (key 'b') never pressed within 30 s
    """
    from coaffect.formats.strict_yaml import read_located

    status = result["status"]
    errors = result.get("device_errors") or {}
    if status == "passed" and not errors:
        return []
    if status == "error":
        return [f"button check: could not run: {result['error']}"]
    fname = str(loaded_protocol.path)
    try:
        doc = read_located(loaded_protocol.path)
    except Exception:  # the file changed since it was loaded: name the field only
        doc = None
    seats = loaded_protocol.protocol.seats
    index = {s.id: i for i, s in enumerate(seats)}

    def where(i: int, *field) -> str:
        line, col = doc.where(("seats", i, *field)) if doc is not None else ("?", "?")
        return f"{fname}:{line}:{col}: seats[{i}].{'.'.join(field)}"

    lines = []
    for sid, err in errors.items():  # the seat's own device did not open: nothing to press
        lines.append(f"{where(index[sid], 'response')}: {err['error']} (its buttons were not checked)")
    for b in result["buttons"]:
        if (b["seen_down"] and b["seen_up"]) or b["seat"] in errors:
            continue
        own = seats[index[b["seat"]]].response.kind != "keyboard"
        field = ("response",) if own else ("buttons", b["button"])
        seat = f"seat {b['seat']} ({b['label']})" if b["label"] else f"seat {b['seat']}"
        if not b["prompted"]:
            what = "not checked (the experimenter skipped the check)"
        elif not b["seen_down"]:
            what = (
                f"never pressed within {result['timeout_s']:g} s"
                if status == "failed"
                else "never pressed before the experimenter skipped the check"
            )
        else:
            what = (
                f"pressed but never released within {result['timeout_s']:g} s"
                if status == "failed"
                else "pressed but never released before the experimenter skipped the check"
            )
        lines.append(f"{where(index[b['seat']], *field)}: {seat} {b['button']} button ({b['device']}) {what}")
    if not lines:
        lines.append("button check: skipped by the experimenter after every button was seen")
    return lines
