"""Rig check: what an experimenter runs before participants arrive.

Opens every camera of a protocol at once (as in a session), measures each
one's real frame rate for a few seconds, saves a preview PNG per camera,
measures the display's refresh rate with PsychoPy, and runs the session's own
button check (:func:`experiments.runner.button_check.run_button_check`) for
every seat of the protocol, in the protocol's window with the ptb keyboard.
The button check writes nothing to disk: its rows go to an in-memory log
(see :mod:`experiments.cameras.rig_buttons`), so no session folder is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
    >>> probe_camera(CameraSpec("s", file="single_face.mp4"), 2.0)["fps_measured"]  # doctest: +SKIP
    30.0
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
) -> dict:
    """Check the cameras, the display and the buttons of a protocol.

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
            loaded_protocol, simulate=simulate, timeout=button_timeout, refresh=display, on_prompt=on_prompt
        )
        disp = check.pop("display")
        if display and disp is None:  # the check's window did not open: say why
            disp = {"refresh_hz": None, "error": check["error"]}
    elif display:
        disp = measure_refresh_rate(loaded_protocol.protocol.display)
    return {"cameras": cams, "display": disp, "button_check": check}
