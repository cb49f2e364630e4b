"""``coaffect rig-check``: cameras, their real frame rates, previews, display refresh."""
from __future__ import annotations

import json
from pathlib import Path

HELP = "check a rig before a session: cameras, their measured fps, previews, display refresh"
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
    parser.add_argument("--seconds", type=_seconds, default=3.0,
                        help="seconds to read each camera (default 3)")
    parser.add_argument("--output", type=Path, default=Path("rig-check"),
                        help="folder for preview PNGs and rig-check.json (default ./rig-check)")
    parser.add_argument("--camera-file", action="append", type=_camera_file, default=[],
                        metavar="NAME=PATH", help="replay a video file as camera NAME")
    parser.add_argument("--no-display", action="store_true",
                        help="do not open a window to measure the refresh rate")


def run(args) -> int:
    from .cameras.rig_check import rig_check
    from .errors import HardwareError
    from .protocol import load_protocol

    lp = load_protocol(args.protocol, check_manifest=False)
    report = rig_check(lp, seconds=args.seconds, output_dir=args.output,
                       overrides=dict(args.camera_file), display=not args.no_display)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "rig-check.json").write_text(json.dumps(report, indent=2) + "\n",
                                                encoding="utf-8")
    if not report["cameras"]:
        print("cameras: none in this protocol")
    for cam in report["cameras"]:
        if cam["opened"]:
            note = f"  ({cam['error']})" if cam["error"] else ""
            print(f"camera {cam['camera']}: ok, {cam['kind']} {cam['where']}, "
                  f"{cam['width']}x{cam['height']}, {cam['fps_measured']} fps measured "
                  f"({cam['fps_nominal']} nominal, {cam['frames']} frames); "
                  f"preview {cam['preview']}{note}")
        else:
            print(f"camera {cam['camera']}: CANNOT OPEN {cam['kind']} {cam['where']}: "
                  f"{cam['error']}")
    disp = report["display"]
    if disp is not None:
        if disp["refresh_hz"]:
            print(f"display: {disp['refresh_hz']} Hz measured")
        else:
            print(f"display: refresh rate not measured: {disp['error']}")
    print(f"buttons: {report['button_check']}")
    print(f"report: {args.output / 'rig-check.json'}")
    failed = [c for c in report["cameras"] if not c["opened"] and c.get("required", True)]
    if failed:
        lines = [f"camera '{c['camera']}' ({c['kind']} {c['where']}): {c['error']}"
                 for c in failed]
        raise HardwareError(lines[0], lines=lines,
                            hint="plug the camera in, close other programs using it, or fix "
                                 "its device/file in the protocol")
    return 0
