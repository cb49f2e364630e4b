"""``coaffect rig-check``: cameras, their real frame rates, previews, display refresh, buttons."""

from __future__ import annotations

import sys
from pathlib import Path

from .session_options import add_camera_file_argument, add_simulate_argument

HELP = (
    "check a rig before a session: cameras, their measured fps, previews, display refresh, "
    "every seat's buttons"
)
EXAMPLE = "coaffect rig-check protocols/bittersweet-demo.yaml --seconds 3 --output rig-check/"


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
    add_camera_file_argument(parser)
    parser.add_argument("--no-display", action="store_true", help="do not measure the refresh rate")
    parser.add_argument(
        "--no-buttons", action="store_true", help="skip the button check (no window, no keyboard)"
    )
    add_simulate_argument(parser, "rehearse the button check")
    parser.add_argument(
        "--no-sound", action="store_true", help="do not play the test tone (no output latency)"
    )
    parser.add_argument(
        "--button-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds each button may take before it counts as not seen (default 30)",
    )


def _prompter(protocol):
    from experiments.responses import describe_device

    seats = {s.id: s for s in protocol.seats}

    def prompt(seat: str, button: str) -> None:
        if seat == "*":
            print(
                "rollover check: everyone press and hold BOTH buttons at once, then release them",
                file=sys.stderr,
                flush=True,
            )
            return
        s = seats[seat]
        name = f"{seat} ({s.label})" if s.label else seat
        print(
            f"button check: seat {name}: press and hold the {button.upper()} button "
            f"({describe_device(s, button)}), then release it",
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
    errors = check.get("device_errors") or {}
    for b in check["buttons"]:
        seat = f"{b['seat']} ({b['label']})" if b["label"] else b["seat"]
        if b["seat"] in errors:
            state = f"NOT CHECKED: {errors[b['seat']]['error']}"
        elif b["seen_up"]:
            state = f"down at {b['down_t']:.3f} s, up at {b['up_t']:.3f} s, held {b['hold_s']:.3f} s"
        elif b["seen_down"]:
            state = f"down at {b['down_t']:.3f} s, NEVER RELEASED"
        else:
            state = "NEVER PRESSED" if b["prompted"] else "not checked"
        print(f"  seat {seat:12s} {b['button']:5s} {b['device']}: {state}")


def _print_extras(report) -> None:
    roll = (report["button_check"] or {}).get("rollover")
    if roll:
        lost = ", ".join(f"seat {a} {b}" for a, b in roll["lost"]) or "none"
        print(
            f"rollover: {roll['status'].upper()}, {roll['seen']} of {roll['expected']} presses seen "
            f"with all buttons pressed at once (spread {roll['spread_ms']} ms); lost: {lost}"
        )
    snd = report.get("sound")
    if snd is not None:
        if snd["latency_ms_median"] is not None:
            print(
                f"sound: test tone played on {snd['sink']}; output latency {snd['latency_ms_median']} ms "
                f"(repeats {snd['latency_ms']}, first play {snd['cold_ms']} ms); start each clip's sound "
                f"that much earlier with: coaffect run ... --audio-latency-ms {snd['latency_ms_median']:g}"
            )
        else:
            print(f"sound: {'tone played, ' if snd['played'] else ''}latency not measured: {snd['error']}")


def _print_orientation(protocol, cameras) -> None:
    """Say when a camera's preview shows faces only when turned (a camera mounted sideways)."""
    from analysis.faces.orientation import image_orientation_advice

    rotate = {c.name: c.rotate for c in protocol.cameras}
    for cam in cameras:
        if cam.get("opened") and cam.get("preview"):
            advice = image_orientation_advice(cam["camera"], cam["preview"], rotate.get(cam["camera"], 0))
            if advice:
                print(f"WARNING {advice}")


def run(args) -> int:
    from coaffect.formats.protocol import load_protocol
    from experiments.cameras.rig_check import rig_check

    lp = load_protocol(args.protocol, check_manifest=False)
    result = rig_check(
        lp,
        seconds=args.seconds,
        output_dir=args.output,
        overrides=dict(args.camera_file),
        display=not args.no_display,
        buttons=not args.no_buttons,
        simulate=args.simulate,
        button_timeout=args.button_timeout,
        on_prompt=_prompter(lp.protocol),
        sound=not args.no_sound,
    )
    report = result.report
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
    _print_orientation(lp.protocol, report["cameras"])
    disp = report["display"]
    if disp is not None:
        if disp["refresh_hz"]:
            print(f"display: {disp['refresh_hz']} Hz measured")
        else:
            print(f"display: refresh rate not measured: {disp['error']}")
    _print_buttons(report["button_check"])
    _print_extras(report)
    print(f"report: {result.report_path}")
    sys.stdout.flush()
    result.raise_for_verdict()
    return 0
