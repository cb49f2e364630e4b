"""Rig check: what an experimenter runs before participants arrive.

Opens every camera of a protocol at once (as in a session), measures each
one's real frame rate for a few seconds, saves a preview PNG per camera,
measures the display's refresh rate with PsychoPy, and runs the session's own
button check (:func:`experiments.runner.button_check.run_button_check`) for
every seat of the protocol, in the protocol's window with each seat's response
device, then a key rollover test (every seat presses both buttons at once) and
a test tone whose output latency is measured where the sound server allows.
:func:`rig_check` returns a :class:`RigCheckResult` with its verdict and
writes ``rig-check.json``; the CLI only prints.
The button check writes nothing to disk: its rows go to an in-memory log
(see :mod:`experiments.cameras.rig_buttons`), so no session folder is made.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from coaffect.formats.errors import HardwareError

from .backends import make_source
from .rig_buttons import BUTTON_TIMEOUT, check_buttons, window_refresh
from .source import CameraSpec, SourceEnded, SourceFailed

#: Seconds each button may take (down and up) before the rig check gives it up.


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
    >>> r = probe_camera(CameraSpec("s", file=str(clip), loop=True), 0.4)
    >>> r["opened"], r["fps_nominal"], r["width"], r["height"]
    (True, 15.0, 512, 512)
    """
    import cv2

    out = {
        "camera": spec.name,
        "kind": spec.kind,
        "where": spec.where,
        "required": spec.required,
        "opened": False,
        "error": None,
        "frames": 0,
        "fps_nominal": None,
        "fps_measured": None,
        "width": None,
        "height": None,
        "preview": None,
    }
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
    display : coaffect.formats.protocol.Display
        Window size, screen and fullscreen setting from the protocol.

    Returns
    -------
    dict
        ``refresh_hz`` (None if PsychoPy could not measure a stable rate) and
        ``error`` (None, or why no window could be opened).

    Examples
    --------
    Not run as a doctest: it opens a PsychoPy window (seconds; tests/test_cameras_cli.py).

    >>> measure_refresh_rate(lp.protocol.display)  # doctest: +SKIP
    {'refresh_hz': 60.0, 'error': None}
    """
    try:
        from psychopy import logging as plog
        from psychopy import visual

        plog.console.setLevel(plog.ERROR)
        win = visual.Window(
            size=tuple(display.size),
            fullscr=display.fullscreen,
            screen=display.screen,
            units="pix",
            allowGUI=False,
            waitBlanking=True,
            checkTiming=False,
        )
    except Exception as exc:  # no display, no GL: report, do not crash the check
        return {"refresh_hz": None, "error": f"cannot open a window: {type(exc).__name__}: {exc}"}
    try:
        return window_refresh(win)
    finally:
        win.close()


def check_sound(loaded_protocol, output_dir) -> dict:
    """Play a test tone as clips are played and measure its output latency where possible.

    The tone goes to the protocol's audio device (or the default PulseAudio
    sink); its arrival is timed in that sink's monitor. Returns ``played``,
    ``sink``, ``latency_ms`` (per repeat), ``latency_ms_median``, ``cold_ms``
    (first play), ``match`` and ``error``.
    """
    import os

    from ..audio.av_sync import make_av_clip, measure_output_latency
    from ..audio.sink import default_sink, sink_names

    out = {"played": False, "sink": None, "latency_ms": None, "latency_ms_median": None, "error": None}
    a = loaded_protocol.protocol.audio
    out["protocol_plays_sound"] = a.play == "on" and a.volume > 0
    sinks = sink_names()
    if not sinks:
        out["error"] = "no PulseAudio server answers: output latency cannot be measured here"
        return out
    sink = a.device or default_sink() or sinks[0]
    if sink not in sinks:
        out["error"] = f"output device '{sink}' not found (sinks: {', '.join(sinks)})"
        return out
    os.environ.setdefault("SDL_AUDIODRIVER", "pulseaudio")
    os.environ["PULSE_SINK"] = sink
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    tone = Path(output_dir) / "rig-check-tone.mp4"
    try:
        make_av_clip(tone, seconds=1.0)
        lat = measure_output_latency({}, sink, tone, repeats=3, volume=a.volume)
    except Exception as exc:  # the sound check never hides the other results
        out["error"] = f"test tone failed: {type(exc).__name__}: {exc}"
        return out
    finally:
        tone.unlink(missing_ok=True)
    out.update(played=True, sink=sink, cold_ms=lat.cold_ms, match=round(lat.median_match, 3))
    if lat.median_match < 0.5:  # no repeat found the tone intact
        out["error"] = "the tone was not found in the sink's monitor: latency not measured"
    else:
        out.update(latency_ms=lat.latency_ms, latency_ms_median=round(lat.median_ms, 2))
    return out


def _output_only(loaded_protocol) -> Optional[dict]:
    """Without the test tone (``--no-sound``): is the output of a protocol that plays sound there?"""
    from ..audio.output import AudioPlan, check_output

    a = loaded_protocol.protocol.audio
    if a.play != "on" or a.volume <= 0:
        return None
    out = {"played": False, "sink": None, "latency_ms": None, "latency_ms_median": None, "error": None}
    out["protocol_plays_sound"] = True
    try:
        plan = AudioPlan(True, a.volume, a.device)
        check_output(plan)
        out.update(output_ok=True, sink=plan.sink, error="not measured (--no-sound)")
    except HardwareError as exc:
        out["error"] = exc.message
    return out


@dataclass
class RigCheckResult:
    """What :func:`rig_check` found, its verdict, and where the report went."""

    report: dict
    verdict: str  # "passed" or "failed"
    problems: list  # one line per problem (cameras first, then buttons, rollover)
    hint: str
    report_path: Optional[Path]
    camera_failed: bool

    def __getitem__(self, key):  # the report's parts, as before: result["cameras"]
        return self.report[key]

    def raise_for_verdict(self) -> None:
        """Raise the one-line error of a failed check (HardwareError for cameras, else RigCheckFailed)."""
        if self.verdict == "passed":
            return
        cls = HardwareError if self.camera_failed else RigCheckFailed
        raise cls(self.problems[0], lines=self.problems, hint=self.hint)


BUTTON_HINT = (
    "check the button's cable and that it sends the key named in the protocol "
    "(press it in a text editor), fix the seat's buttons in the protocol if not, "
    "then run rig-check again"
)


SOUND_HINT = (
    "start the sound server (headless: docs/run-a-session.md, 'A sound server on a headless "
    "machine'), pick an existing sink in audio.device (pactl list short sinks), or set audio: {play: off}"
)


def sound_problem(loaded_protocol, report: dict) -> Optional[str]:
    """The sound line of the verdict: a protocol that plays sound needs a working output.

    ``coaffect run`` refuses such a protocol without a sound server (exit 2), so the
    rig check fails where the run would (exit 1).
    """
    from coaffect.formats.strict_yaml import read_located

    snd = report.get("sound")
    if not snd or not snd.get("protocol_plays_sound") or snd.get("played") or snd.get("output_ok"):
        return None
    try:
        line, col = read_located(loaded_protocol.path).where(("audio", "play"))
    except Exception:  # the file changed since it was loaded: name the field only
        line, col = "?", "?"
    return (
        f"{loaded_protocol.path}:{line}:{col}: audio.play: the protocol plays sound but {snd['error']}; "
        "coaffect run would refuse to start"
    )


def _verdict(loaded_protocol, report: dict) -> tuple[list, str, bool]:
    from .rig_buttons import button_problems

    check = report["button_check"]
    button_lines = button_problems(loaded_protocol, check) if check is not None else []
    sound_line = sound_problem(loaded_protocol, report)
    roll = (check or {}).get("rollover")
    if roll and roll["lost"]:
        button_lines.append(
            "rollover: lost "
            + ", ".join(f"seat {s} {b}" for s, b in roll["lost"])
            + f" when all {roll['expected']} buttons were pressed at once"
        )
    button_hint = BUTTON_HINT
    if check is not None and check["status"] == "error":
        button_hint = check.get("error_hint") or (
            "run on the lab computer's desktop (or headless: xvfb-run -a coaffect "
            "rig-check ... --simulate), or pass --no-buttons"
        )
    errors = (check or {}).get("device_errors") or {}
    device_hints = [e["hint"] for e in errors.values() if e.get("hint")]
    if device_hints:  # a seat's box or keyboard did not open: what to do about that device
        others = [m for m in check["missing"] if m[0] not in errors]
        button_hint = device_hints[0] + (f"; other buttons: {button_hint}" if others else "")
    if roll and roll["lost"]:
        button_hint += "; for lost presses: a keyboard with n-key rollover, one keyboard or box per seat"
    if sound_line:
        button_hint = SOUND_HINT + (f"; buttons: {button_hint}" if button_lines else "")
        button_lines = [sound_line, *button_lines]
    failed = [c for c in report["cameras"] if not c["opened"] and c.get("required", True)]
    if failed:
        lines = [f"camera '{c['camera']}' ({c['kind']} {c['where']}): {c['error']}" for c in failed]
        hint = "plug the camera in, close other programs using it, or fix its device/file in the protocol"
        return lines + button_lines, hint + (f"; {button_hint}" if button_lines else ""), True
    return button_lines, button_hint, False


def rig_check(
    loaded_protocol,
    seconds: float = 3.0,
    output_dir=".",
    overrides=None,
    display: bool = True,
    buttons: bool = True,
    simulate: Optional[str] = None,
    button_timeout: float = BUTTON_TIMEOUT,
    on_prompt: Optional[Callable] = None,
    sound: bool = True,
    rollover: bool = True,
    write_report: bool = True,
) -> RigCheckResult:
    """Check the cameras, the display, the buttons and the sound of a protocol.

    Parameters
    ----------
    loaded_protocol : coaffect.formats.protocol.LoadedProtocol
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

    sound : bool
        Play a test tone and measure the output latency (:func:`check_sound`).
    rollover : bool
        After the button check, every seat presses both buttons at once.
    write_report : bool
        Write ``rig-check.json`` into ``output_dir``.

    Returns
    -------
    RigCheckResult
        ``report`` holds ``cameras`` (one dict per camera, see
        :func:`probe_camera`), ``display`` (see :func:`measure_refresh_rate`, or
        None), ``button_check`` (see :func:`check_buttons`, with ``rollover``;
        None when not run) and ``sound`` (see :func:`check_sound`, or None);
        ``verdict`` is passed or failed, with one line per problem.

    Examples
    --------
    Not run as a doctest: it opens cameras and a PsychoPy window (seconds;
    tests/test_cameras_cli.py).

    >>> report = rig_check(load_protocol("protocols/bittersweet-demo.yaml"), 2, "/tmp",
    ...                    simulate="inprocess")                         # doctest: +SKIP
    >>> report["cameras"][0]["fps_measured"], report.verdict  # doctest: +SKIP
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
    cams = [
        results.get(s.name)
        or {
            "camera": s.name,
            "kind": s.kind,
            "where": s.where,
            "required": s.required,
            "opened": False,
            "error": "no answer within the time limit",
        }
        for s in specs
    ]
    check, disp = None, None
    if buttons:
        check = check_buttons(
            loaded_protocol,
            simulate=simulate,
            timeout=button_timeout,
            refresh=display,
            on_prompt=on_prompt,
            rollover=rollover,
        )
        disp = check.pop("display")
        if display and disp is None:  # the check's window did not open: say why
            disp = {"refresh_hz": None, "error": check["error"]}
    elif display:
        disp = measure_refresh_rate(loaded_protocol.protocol.display)
    report = {
        "cameras": cams,
        "display": disp,
        "button_check": check,
        "sound": check_sound(loaded_protocol, output_dir) if sound else _output_only(loaded_protocol),
    }
    path = None
    if write_report:
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / "rig-check.json"
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    problems, hint, camera_failed = _verdict(loaded_protocol, report)
    return RigCheckResult(report, "failed" if problems else "passed", problems, hint, path, camera_failed)
