"""``coaffect run``: run one session (thin wrapper over :func:`experiments.runner.run_session`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .session_options import add_camera_file_argument, add_simulate_argument

FLAGS = {"experimenter_view": "--experimenter-screen"}
#: the session folder is finished when :func:`run` returns; see :func:`coaffect.cli.exit_without_teardown`
EXIT_WITHOUT_TEARDOWN = True
HELP = "run a session: clips, continuous happy/sad buttons, ratings (PsychoPy window)"
EXAMPLE = (
    "coaffect run protocols/bittersweet-demo.yaml --condition group "
    "--participants P01,P02,P03 --simulate --no-cameras --output /tmp/x"
)


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
    add_simulate_argument(parser, "run the session")
    parser.add_argument("--seed", type=int, default=0, help="seed of simulated participants")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="SESSION_DIR",
        help="continue an interrupted session folder at its first unfinished trial",
    )
    parser.add_argument("--no-cameras", action="store_true", help="do not record cameras")
    add_camera_file_argument(parser)
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
    from experiments.runner.session import SessionOptions

    participants = [x for x in args.participants.split(",")] if args.participants else None
    view = None if args.experimenter_screen is None else {"screen": args.experimenter_screen}
    opts = SessionOptions(args.simulate, args.seed, not args.no_cameras, dict(args.camera_file))
    opts.skip_button_check, opts.experimenter_view = args.skip_button_check, view
    opts.audio_latency_ms = args.audio_latency_ms
    where = {"session_id": args.session_id, "output": args.output, "resume": args.resume}
    result = run_session(args.protocol, args.condition, participants, options=opts, **where)
    print(f"{result.session_dir}: {result.status} ({len(result.trials_done)} trial(s) run this time)")
    for line in result.stop_lines:
        print(line, file=sys.stderr)
    if result.stop_signal:
        return 128 + result.stop_signal  # what a shell reports for a signal
    return 0 if result.status == "complete" else 1
