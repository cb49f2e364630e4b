"""``coaffect simulate-study``: write a simulated dataset with known effects."""

from __future__ import annotations

HELP = "write a simulated group-vs-alone study (sessions, buttons, ratings, faces) with known effects"
#: Library parameters shown as the verb's own words.
FLAGS = {"out_dir": "OUTPUT"}
EXAMPLE = "coaffect simulate-study sim-data --n-alone 24 --n-group-sessions 8 --seed 1"


#: Options that set a :class:`~analysis.simulate.study.SimulationSpec` field of the same name.
SPEC_OPTIONS = (
    ("--n-alone", int, 24, "alone sessions"),
    ("--n-group-sessions", int, 8, "group sessions"),
    ("--group-size", int, 3, "people per group"),
    ("--clip-duration", float, 20.0, "seconds"),
    ("--fps", float, 5.0, "face frames per second"),
    ("--smile-group-effect", float, 0.25, "AU12 difference group - alone, in residual SDs"),
    ("--sad-group-effect", float, -0.20, "inner_brow_lip_down (AU01+AU04+AU15) difference group - alone"),
    ("--seed", int, 1, "seed of every random draw"),
)


def add_arguments(parser) -> None:
    parser.add_argument("output", help="new dataset folder")
    for flag, kind, default, what in SPEC_OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:g})")
    parser.add_argument(
        "--clips",
        type=int,
        default=6,
        dest="n_clips",
        help="clips, valences cycling positive/negative/bittersweet (default 6)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from analysis.simulate.study import SimulationSpec, simulate_study

    spec = SimulationSpec.from_options(vars(args))
    path = simulate_study(args.output, spec, progress=not args.quiet)
    print(path)
    return 0
