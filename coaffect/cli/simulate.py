"""``coaffect simulate-study``: write a simulated dataset with known effects."""

from __future__ import annotations

HELP = "write a simulated group-vs-alone study (sessions, buttons, ratings, faces) with known effects"
#: Library parameters shown as the verb's own words.
FLAGS = {"out_dir": "OUTPUT"}
EXAMPLE = "coaffect simulate-study sim-data --n-alone 24 --n-group-sessions 8 --seed 1"


def add_arguments(parser) -> None:
    parser.add_argument("output", help="new dataset folder")
    parser.add_argument("--n-alone", type=int, default=24, help="alone sessions (default 24)")
    parser.add_argument("--n-group-sessions", type=int, default=8, help="group sessions (default 8)")
    parser.add_argument("--group-size", type=int, default=3, help="people per group (default 3)")
    parser.add_argument(
        "--clips",
        type=int,
        default=6,
        dest="n_clips",
        help="clips, valences cycling positive/negative/bittersweet (default 6)",
    )
    parser.add_argument("--clip-duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--fps", type=float, default=5.0, help="face frames per second (default 5)")
    parser.add_argument(
        "--smile-group-effect",
        type=float,
        default=0.25,
        help="AU12 difference group - alone, in residual SDs (default 0.25)",
    )
    parser.add_argument(
        "--sad-group-effect",
        type=float,
        default=-0.20,
        help="inner_brow_lip_down (AU01+AU04+AU15) difference group - alone (default -0.20)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from analysis.simulate.study import SimulationSpec, simulate_study

    spec = SimulationSpec(
        n_alone=args.n_alone,
        n_group_sessions=args.n_group_sessions,
        group_size=args.group_size,
        n_clips=args.n_clips,
        clip_duration=args.clip_duration,
        fps=args.fps,
        smile_group_effect=args.smile_group_effect,
        sad_group_effect=args.sad_group_effect,
        seed=args.seed,
    )
    path = simulate_study(args.output, spec, progress=not args.quiet)
    print(path)
    return 0
