"""``coaffect run``: run one session (thin wrapper over :func:`experiments.runner.run_session`)."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "run a session: clips, continuous happy/sad buttons, ratings (PsychoPy window)"
EXAMPLE = (
    "coaffect run protocols/bittersweet-demo.yaml --condition group "
    "--participants P01,P02,P03 --simulate --no-cameras --output /tmp/x"
)


def _camera_file(text: str) -> tuple[str, str]:
    import argparse

    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (got '{text}')")
    return name, path


def add_arguments(parser) -> None:
    parser.add_argument("protocol", type=Path, help="protocol YAML file")
    parser.add_argument(
        "--condition", choices=["alone", "group"], help="viewing condition (required unless --resume)"
    )
    parser.add_argument(
        "--participants",
        help="comma-separated pseudonyms, one per seat in "
        "protocol order, e.g. P01,P02,P03 (required unless --resume)",
    )
    parser.add_argument("--session-id", help="session label (letters and digits); default: date and time")
    parser.add_argument("--output", type=Path, default=Path("data"), help="dataset folder (default: ./data)")
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="inprocess",
        choices=["inprocess", "xdotool"],
        help="simulated participants: key events made in-process (default) "
        "or injected as real X key events with xdotool",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of simulated participants")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="SESSION_DIR",
        help="continue an interrupted session folder at its first unfinished trial",
    )
    parser.add_argument("--no-cameras", action="store_true", help="do not record cameras")
    parser.add_argument(
        "--camera-file",
        action="append",
        type=_camera_file,
        default=[],
        metavar="NAME=PATH",
        help="replay a video file as camera NAME",
    )
    parser.add_argument(
        "--skip-button-check", action="store_true", help="skip the button check (logged in events.tsv)"
    )
    parser.add_argument(
        "--experimenter-screen",
        type=int,
        default=None,
        metavar="N",
        help="open the experimenter's live view on screen N (buttons, cameras, trial, warnings; "
        "ESC and P work there)",
    )
    parser.add_argument(
        "--audio-latency-ms",
        type=_latency,
        default=0.0,
        metavar="MS",
        help="start each clip's sound this much before its picture: the output latency that "
        "coaffect rig-check measured on this computer (default 0: no compensation)",
    )


def _latency(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 500:
        raise argparse.ArgumentTypeError(f"expected milliseconds between 0 and 500 (got '{text}')")
    return value


def run(args) -> int:
    from experiments.runner import run_session

    participants = [x for x in args.participants.split(",")] if args.participants else None
    result = run_session(
        args.protocol,
        args.condition,
        participants,
        session_id=args.session_id,
        output=args.output,
        simulate=args.simulate,
        seed=args.seed,
        resume=args.resume,
        cameras=not args.no_cameras,
        camera_files=dict(args.camera_file),
        skip_button_check=args.skip_button_check,
        experimenter_view=None if args.experimenter_screen is None else {"screen": args.experimenter_screen},
        audio_latency_ms=args.audio_latency_ms,
    )
    print(f"{result.session_dir}: {result.status} ({len(result.trials_done)} trial(s) run this time)")
    if result.abort_reason:
        from experiments.runner.stops import resume_command

        cmd = resume_command(
            args.protocol,
            result.session_dir,
            simulate=args.simulate,
            cameras=not args.no_cameras,
            camera_files=dict(args.camera_file),
            audio_latency_ms=args.audio_latency_ms,
        )
        print(
            f"coaffect: session stopped: {result.abort_reason}; everything recorded is kept", file=sys.stderr
        )
        print(f"continue it with: {cmd}", file=sys.stderr)
    if result.stop_signal:
        return 128 + result.stop_signal  # what a shell reports for a signal
    return 0 if result.status == "complete" else 1
