"""Rig check: what an experimenter runs before participants arrive.

Opens every camera of a protocol at once (as in a session), measures each
one's real frame rate for a few seconds, saves a preview PNG per camera,
measures the display's refresh rate with PsychoPy, and runs the session's own
button check (:func:`experiments.runner.button_check.run_button_check`) for
every seat of the protocol, in the protocol's window with the ptb keyboard.
The button check writes nothing to disk: its rows go to an in-memory log
(:class:`MemoryLog`) in place of a session writer, so no session folder is made.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import HardwareError
from ..runner.runtime import Runtime
from .source import CameraSpec, SourceEnded, SourceFailed, make_source

#: Seconds each button may take (down and up) before the rig check gives it up.
BUTTON_TIMEOUT = 30.0
SIMULATE_MODES = ("inprocess", "xdotool")


class RigCheckFailed(HardwareError):
    """A button was not seen, or the experimenter skipped the check (exit status 1)."""

    exit_code = 1


def probe_camera(spec: CameraSpec, seconds: float, preview: Path | None = None) -> dict:
    """Open one camera, read frames for ``seconds``, measure its frame rate.

    Parameters
    ----------
    spec : CameraSpec
        The camera.
    seconds : float
        How long to read frames.
    preview : Path, optional
        Save the last frame here as PNG.

    Returns
    -------
    dict
        ``camera``, ``kind``, ``where``, ``opened``, ``error``, ``frames``,
        ``fps_nominal``, ``fps_measured``, ``width``, ``height``, ``preview``.

    Examples
    --------
    >>> probe_camera(CameraSpec("s", file="single_face.mp4"), 2.0)["fps_measured"]  # doctest: +SKIP
    30.0
    """
    import cv2

    out = {"camera": spec.name, "kind": spec.kind, "where": spec.where, "required": spec.required,
           "opened": False, "error": None, "frames": 0, "fps_nominal": None,
           "fps_measured": None, "width": None, "height": None, "preview": None}
    source = make_source(spec)
    try:
        source.open()
    except SourceFailed as exc:
        out["error"] = str(exc)
        return out
    out["opened"] = True
    out["fps_nominal"] = round(source.fps_nominal, 3)
    times, image = [], None
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            try:
                image = source.read().image
            except (SourceFailed, SourceEnded) as exc:
                out["error"] = str(exc)
                break
            times.append(time.perf_counter())
    finally:
        source.close()
    out["frames"] = len(times)
    if len(times) >= 2 and times[-1] > times[0]:
        out["fps_measured"] = round((len(times) - 1) / (times[-1] - times[0]), 2)
    if image is not None:
        out["height"], out["width"] = image.shape[:2]
        if preview is not None:
            preview.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(preview), image)
            out["preview"] = str(preview)
    return out


def measure_refresh_rate(display) -> dict:
    """Open the protocol's PsychoPy window and measure its refresh rate.

    Parameters
    ----------
    display : experiments.protocol.Display
        Window size, screen and fullscreen setting from the protocol.

    Returns
    -------
    dict
        ``refresh_hz`` (None if PsychoPy could not measure a stable rate) and
        ``error`` (None, or why no window could be opened).

    Examples
    --------
    >>> measure_refresh_rate(lp.protocol.display)  # doctest: +SKIP
    {'refresh_hz': 60.0, 'error': None}
    """
    try:
        from psychopy import logging as plog
        from psychopy import visual

        plog.console.setLevel(plog.ERROR)
        win = visual.Window(size=tuple(display.size), fullscr=display.fullscreen,
                            screen=display.screen, units="pix", allowGUI=False,
                            waitBlanking=True, checkTiming=False)
    except Exception as exc:  # no display, no GL: report, do not crash the check
        return {"refresh_hz": None, "error": f"cannot open a window: {type(exc).__name__}: {exc}"}
    try:
        return _window_refresh(win)
    finally:
        win.close()


def _window_refresh(win) -> dict:
    rate = win.getActualFrameRate(nIdentical=10, nMaxFrames=120, nWarmUpFrames=10, threshold=1)
    return {"refresh_hz": round(rate, 2) if rate else None,
            "error": None if rate else "no stable refresh rate (no vsync, e.g. a virtual display)"}


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
    seats : list of experiments.protocol.Seat

    Returns
    -------
    list of dict
        ``seat``, ``label``, ``button``, ``key``, ``prompted``, ``seen_down``,
        ``seen_up``, ``down_t``, ``up_t``, ``hold_s`` (seconds on the check's
        clock; None where not seen).

    Examples
    --------
    >>> [(r["seat"], r["button"], r["hold_s"]) for r in button_results(rt, p.seats)][:1]  # doctest: +SKIP
    [('A', 'happy', 0.3)]
    """
    last = {(seat, button): i for i, (_, seat, button) in enumerate(rt.prompts)}
    out = []
    for s in seats:
        for button in ("happy", "sad"):
            row = {"seat": s.id, "label": s.label or "", "button": button,
                   "key": getattr(s.buttons, button), "prompted": (s.id, button) in last,
                   "seen_down": False, "seen_up": False, "down_t": None, "up_t": None,
                   "hold_s": None}
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


def check_buttons(loaded_protocol, simulate: Optional[str] = None,
                  timeout: float = BUTTON_TIMEOUT, seed: int = 0, refresh: bool = True,
                  on_prompt: Optional[Callable] = None) -> dict:
    """Run the session's button check for every seat of a protocol, in its window.

    Opens the protocol's window and the ptb keyboard, (optionally) measures the
    refresh rate in that window, and runs
    :func:`~experiments.runner.button_check.run_button_check` with a per-button
    ``timeout``. Nothing is written to disk.

    Parameters
    ----------
    loaded_protocol : experiments.protocol.LoadedProtocol
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
    >>> res = check_buttons(load_protocol("protocols/bittersweet-demo.yaml"),
    ...                     simulate="inprocess")  # doctest: +SKIP
    >>> res["status"], res["buttons"][0]["hold_s"]  # doctest: +SKIP
    ('passed', 0.3)
    """
    from ..runner.button_check import ButtonCheckFailed, run_button_check
    from ..runner.clock import SessionClock
    from ..runner.runtime import SessionAborted

    p = loaded_protocol.protocol
    out = {"status": "error", "error": None, "simulate": simulate, "timeout_s": timeout,
           "buttons": [], "missing": [], "injected": [], "display": None}
    if simulate is not None and simulate not in SIMULATE_MODES:
        raise HardwareError(f"--simulate: unknown mode '{simulate}' "
                            f"(allowed: {', '.join(SIMULATE_MODES)})")
    clock = SessionClock(time.perf_counter())
    key_map = {}
    for s in p.seats:
        key_map[s.buttons.happy] = (s.id, "", "happy")
        key_map[s.buttons.sad] = (s.id, "", "sad")
    seat_rows = [(s.id, s.label or "", "") for s in p.seats]
    display = keyboard = source = rt = None
    try:
        from ..runner.display import Display
        from ..runner.keyboard import PtbKeyboard

        d = p.display
        try:
            display = Display(d.size, clock, fullscreen=d.fullscreen, screen=d.screen,
                              background=d.background, text_height=d.text_height,
                              font=p.texts.font)
        except Exception as exc:  # no X display, no GL: a check that could not run
            out["error"] = f"cannot open a window: {type(exc).__name__}: {exc}"
            return out
        if refresh:
            out["display"] = _window_refresh(display.win)
        keyboard = PtbKeyboard(clock)
        planner = None
        if simulate:
            from ..runner.simulated import InProcessSource, SeatKeys, SimulatedParticipants

            planner = SimulatedParticipants(
                [SeatKeys(s.id, s.buttons.happy, s.buttons.sad) for s in p.seats], seed)
            if simulate == "xdotool":
                from ..runner.xdotool_input import XdotoolInjector

                source = XdotoolInjector(clock)
            else:
                source = InProcessSource()
        rt = CheckRuntime(display, MemoryLog(), clock, keyboard, key_map, simulated=source,
                          planner=planner, inprocess=simulate == "inprocess",
                          on_prompt=on_prompt)
        try:
            passed = run_button_check(rt, seat_rows, p.texts.button_check, timeout=timeout)
            out["status"] = "passed" if passed else "skipped"
        except ButtonCheckFailed:
            out["status"] = "failed"
        except SessionAborted:  # escape + y: the experimenter stopped the check
            out["status"] = "skipped"
        if out["status"] == "passed":
            rt.wait_sources(0.5)
    finally:
        if source is not None:
            source.close()
            out["injected"] = [{"t_planned": a.t, "t_sent": round(before, 6),
                                "action": a.action, "key": a.key, "seat": a.seat,
                                "button": a.button} for a, before, _ in source.sent]
        if keyboard is not None:
            keyboard.close()
        if display is not None:
            display.close()
    out["buttons"] = button_results(rt, p.seats)
    out["missing"] = [[b["seat"], b["button"]] for b in out["buttons"]
                      if not (b["seen_down"] and b["seen_up"])]
    return out


def button_problems(loaded_protocol, result: dict) -> list[str]:
    """One line per button that failed the check, naming the seat, the key and its protocol line.

    Parameters
    ----------
    loaded_protocol : experiments.protocol.LoadedProtocol
    result : dict
        What :func:`check_buttons` returned.

    Returns
    -------
    list of str
        Empty when the check passed.

    Examples
    --------
    >>> button_problems(lp, res)  # doctest: +SKIP
    ["demo.yaml:54:45: seats[1].buttons.sad: seat B (middle) sad button (key 'b') never pressed within 30 s"]
    """
    from ..strict_yaml import read_located

    status = result["status"]
    if status == "passed":
        return []
    if status == "error":
        return [f"button check: could not run: {result['error']}"]
    fname = str(loaded_protocol.path)
    try:
        doc = read_located(loaded_protocol.path)
    except Exception:  # the file changed since it was loaded: name the field only
        doc = None
    index = {s.id: i for i, s in enumerate(loaded_protocol.protocol.seats)}
    lines = []
    for b in result["buttons"]:
        if b["seen_down"] and b["seen_up"]:
            continue
        loc = ("seats", index[b["seat"]], "buttons", b["button"])
        line, col = doc.where(loc) if doc is not None else ("?", "?")
        seat = f"seat {b['seat']} ({b['label']})" if b["label"] else f"seat {b['seat']}"
        if not b["prompted"]:
            what = "not checked (the experimenter skipped the check)"
        elif not b["seen_down"]:
            what = (f"never pressed within {result['timeout_s']:g} s" if status == "failed"
                    else "never pressed before the experimenter skipped the check")
        else:
            what = (f"pressed but never released within {result['timeout_s']:g} s"
                    if status == "failed" else
                    "pressed but never released before the experimenter skipped the check")
        lines.append(f"{fname}:{line}:{col}: seats[{index[b['seat']]}].buttons.{b['button']}: "
                     f"{seat} {b['button']} button (key '{b['key']}') {what}")
    if not lines:
        lines.append("button check: skipped by the experimenter after every button was seen")
    return lines


def rig_check(loaded_protocol, seconds: float = 3.0, output_dir=".", overrides=None,
              display: bool = True, buttons: bool = True, simulate: Optional[str] = None,
              button_timeout: float = BUTTON_TIMEOUT, on_prompt: Optional[Callable] = None
              ) -> dict:
    """Check the cameras, the display and the buttons of a protocol.

    Parameters
    ----------
    loaded_protocol : experiments.protocol.LoadedProtocol
        The protocol whose cameras, display and seats are checked.
    seconds : float
        How long each camera is read (all at once, as in a session).
    output_dir : str or Path
        Where ``rig-check-<camera>.png`` previews are saved.
    overrides : dict, optional
        ``{camera_name: video_path}``, as for ``coaffect run --camera-file``.
    display : bool
        Also measure the display refresh rate.
    buttons : bool
        Run the button check (see :func:`check_buttons`); its window is also
        the one whose refresh rate is measured.
    simulate : {None, 'inprocess', 'xdotool'}
        Rehearse the button check with simulated participants.
    button_timeout : float
        Seconds each button may take before it counts as not seen.
    on_prompt : callable, optional
        Called as ``on_prompt(seat, button)`` when each button prompt appears.

    Returns
    -------
    dict
        ``cameras`` (one dict per camera, see :func:`probe_camera`), ``display``
        (see :func:`measure_refresh_rate`, or None) and ``button_check`` (see
        :func:`check_buttons`, or None when not run).

    Examples
    --------
    >>> report = rig_check(load_protocol("protocols/bittersweet-demo.yaml"), 2, "/tmp",
    ...                    simulate="inprocess")                         # doctest: +SKIP
    >>> report["cameras"][0]["fps_measured"], report["button_check"]["status"]  # doctest: +SKIP
    (30.0, 'passed')
    """
    from . import camera_specs

    output_dir = Path(output_dir)
    specs = camera_specs(loaded_protocol, overrides)
    results: dict[str, dict] = {}

    def one(spec: CameraSpec) -> None:
        results[spec.name] = probe_camera(spec, seconds, output_dir / f"rig-check-{spec.name}.png")

    threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in specs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 30)
    cams = [results.get(s.name) or {"camera": s.name, "kind": s.kind, "where": s.where,
                                    "required": s.required, "opened": False,
                                    "error": "no answer within the time limit"} for s in specs]
    check, disp = None, None
    if buttons:
        check = check_buttons(loaded_protocol, simulate=simulate, timeout=button_timeout,
                              refresh=display, on_prompt=on_prompt)
        disp = check.pop("display")
        if display and disp is None:  # the check's window did not open: say why
            disp = {"refresh_hz": None, "error": check["error"]}
    elif display:
        disp = measure_refresh_rate(loaded_protocol.protocol.display)
    return {"cameras": cams, "display": disp, "button_check": check}
