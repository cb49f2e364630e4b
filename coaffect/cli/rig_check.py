"""``coaffect rig-check``: cameras, their real frame rates, previews, display refresh, buttons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = (
    "check a rig before a session: cameras, their measured fps, previews, display refresh, "
    "every seat's buttons"
)
EXAMPLE = "coaffect rig-check protocols/bittersweet-demo.yaml --seconds 3 --output rig-check/"


def _camera_file(text: str) -> tuple[str, str]:
    import argparse

    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (got '{text}')")
    return name, path


def _seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 600 (got '{text}')")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("protocol", type=Path, help="protocol YAML file")
    parser.add_argument(
        "--seconds", type=_seconds, default=3.0, help="seconds to read each camera (default 3)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("rig-check"),
        help="folder for preview PNGs and rig-check.json (default ./rig-check)",
    )
    parser.add_argument(
        "--camera-file",
        action="append",
        type=_camera_file,
        default=[],
        metavar="NAME=PATH",
        help="replay a video file as camera NAME",
    )
    parser.add_argument("--no-display", action="store_true", help="do not measure the refresh rate")
    parser.add_argument(
        "--no-buttons", action="store_true", help="skip the button check (no window, no keyboard)"
    )
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="inprocess",
        choices=["inprocess", "xdotool"],
        help="rehearse the button check with simulated participants: key "
        "events made in-process (default) or real X key events (xdotool)",
    )
    parser.add_argument(
        "--button-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds each button may take before it counts as not seen (default 30)",
    )


def _prompter(protocol):
    seats = {s.id: s for s in protocol.seats}

    def prompt(seat: str, button: str) -> None:
        s = seats[seat]
        name = f"{seat} ({s.label})" if s.label else seat
        print(
            f"button check: seat {name}: press and hold the {button.upper()} button "
            f"(key {getattr(s.buttons, button)}), then release it",
            file=sys.stderr,
            flush=True,
        )

    return prompt


def _print_buttons(check) -> None:
    if check is None:
        print("buttons: not checked (--no-buttons)")
        return
    n = len(check["buttons"])
    ok = sum(b["seen_down"] and b["seen_up"] for b in check["buttons"])
    sim = f", simulated: {check['simulate']}" if check["simulate"] else ""
    if check["status"] == "error":
        print(f"buttons: NOT CHECKED: {check['error']}")
        return
    print(f"buttons: {check['status'].upper()}, {ok} of {n} seen down and up{sim}")
    for b in check["buttons"]:
        seat = f"{b['seat']} ({b['label']})" if b["label"] else b["seat"]
        if b["seen_up"]:
            state = f"down at {b['down_t']:.3f} s, up at {b['up_t']:.3f} s, held {b['hold_s']:.3f} s"
        elif b["seen_down"]:
            state = f"down at {b['down_t']:.3f} s, NEVER RELEASED"
        else:
            state = "NEVER PRESSED" if b["prompted"] else "not checked"
        print(f"  seat {seat:12s} {b['button']:5s} key {b['key']}: {state}")


def run(args) -> int:
    from coaffect.formats.errors import HardwareError
    from coaffect.formats.protocol import load_protocol
    from experiments.cameras.rig_buttons import button_problems
    from experiments.cameras.rig_check import RigCheckFailed, rig_check

    lp = load_protocol(args.protocol, check_manifest=False)
    report = rig_check(
        lp,
        seconds=args.seconds,
        output_dir=args.output,
        overrides=dict(args.camera_file),
        display=not args.no_display,
        buttons=not args.no_buttons,
        simulate=args.simulate,
        button_timeout=args.button_timeout,
        on_prompt=_prompter(lp.protocol),
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "rig-check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not report["cameras"]:
        print("cameras: none in this protocol")
    for cam in report["cameras"]:
        if cam["opened"]:
            note = f"  ({cam['error']})" if cam["error"] else ""
            print(
                f"camera {cam['camera']}: ok, {cam['kind']} {cam['where']}, "
                f"{cam['width']}x{cam['height']}, {cam['fps_measured']} fps measured "
                f"({cam['fps_nominal']} nominal, {cam['frames']} frames); "
                f"preview {cam['preview']}{note}"
            )
        else:
            print(f"camera {cam['camera']}: CANNOT OPEN {cam['kind']} {cam['where']}: {cam['error']}")
    disp = report["display"]
    if disp is not None:
        if disp["refresh_hz"]:
            print(f"display: {disp['refresh_hz']} Hz measured")
        else:
            print(f"display: refresh rate not measured: {disp['error']}")
    _print_buttons(report["button_check"])
    print(f"report: {args.output / 'rig-check.json'}")
    sys.stdout.flush()
    check = report["button_check"]
    button_lines = button_problems(lp, check) if check is not None else []
    button_hint = (
        "check the button's cable and that it sends the key named in the protocol "
        "(press it in a text editor), fix the seat's buttons in the protocol if not, "
        "then run rig-check again"
    )
    if check is not None and check["status"] == "error":
        button_hint = (
            "run on the lab computer's desktop (or headless: xvfb-run -a coaffect "
            "rig-check ... --simulate), or pass --no-buttons"
        )
    failed = [c for c in report["cameras"] if not c["opened"] and c.get("required", True)]
    if failed:
        lines = [
            f"camera '{c['camera']}' ({c['kind']} {c['where']}): {c['error']}" for c in failed
        ] + button_lines
        raise HardwareError(
            lines[0],
            lines=lines,
            hint="plug the camera in, close other programs using it, or fix "
            "its device/file in the protocol" + (f"; buttons: {button_hint}" if button_lines else ""),
        )
    if button_lines:
        raise RigCheckFailed(button_lines[0], lines=button_lines, hint=button_hint)
    return 0
