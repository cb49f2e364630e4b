"""``coaffect simulate-study``: write a simulated dataset with known effects."""

from __future__ import annotations

import sys

from .default_options import add_default_argument
from .spec_options import add_spec_arguments

HELP = "write a simulated group-vs-alone study (sessions, buttons, ratings, faces) with known effects"
#: Library parameters shown as the verb's own words.
FLAGS = {"out_dir": "OUTPUT"}
EXAMPLE = (
    "coaffect simulate-study sim-data --n-alone 24 --n-group-sessions 8 --seed 1\n"
    "  coaffect simulate-study planted --video --n-alone 6 --n-group-sessions 4 --clips 4 "
    "--clip-duration 13 --smile-group-effect 0.25 --coupling 0.6 --session-signal-sd 0.8"
)


#: Flags that set a :class:`~analysis.simulate.spec.SimulationSpec` field of the same name.
SPEC_HELP = {
    "n_alone": "alone sessions",
    "n_group_sessions": "group sessions",
    "group_size": "people per group",
    "clip_duration": "seconds",
    "fps": "face frames per second",
    "smile_group_effect": "AU12 difference group - alone, in residual SDs",
    "sad_group_effect": "inner_brow_lip_down (AU01+AU04+AU15) difference group - alone",
    "coupling": "how much the smile follows the happy button (planted coupling)",
    "coupling_lag": "seconds the face lags the happy button",
    "session_signal_sd": "SD of the group's shared within-clip signal (synchrony)",
    "baseline_duration": "seconds of neutral baseline",
    "seed": "seed of every random draw",
}


def add_arguments(parser) -> None:
    from analysis.simulate.spec import SimulationSpec

    parser.add_argument("output", help="new dataset folder")
    add_spec_arguments(parser, SPEC_HELP)
    what = "clips, valences cycling positive/negative/bittersweet"
    add_default_argument(parser, "--clips", SimulationSpec.n_clips, what, dest="n_clips")
    parser.add_argument(
        "--video",
        action="store_true",
        help="film every session (3-D faces that show the planted states) instead of writing faces "
        "tables; score them with 'coaffect score'; the truth goes to derivatives/planted/",
    )
    parser.add_argument(
        "--turn-yaw",
        type=float,
        default=0.0,
        help="with --video: degrees group members turn towards their neighbours (a pose confound; default 0)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from analysis.simulate.study import SimulationSpec, simulate_study

    spec = SimulationSpec.from_options(vars(args))
    if not args.video:
        print(simulate_study(args.output, spec, progress=not args.quiet))
        return 0
    from analysis.simulate.camera_feed import VideoSpec
    from analysis.simulate.planted import simulate_planted_study

    video = VideoSpec(
        seed=spec.seed, turn_yaw_deg=args.turn_yaw, turn_pitch_deg=8.0 if args.turn_yaw else 0.0
    )
    path = simulate_planted_study(args.output, spec, video, progress=not args.quiet)
    print(path)
    print(f"next: coaffect score {path} && coaffect report {path}", file=sys.stderr)
    return 0
