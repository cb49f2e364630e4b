"""``coaffect power``: simulation-based power for the group effect over designs."""

from __future__ import annotations

from .cluster_options import add_cluster_arguments

HELP = "estimate power for the group effect over numbers of group sessions, alone participants and clips"
#: Library parameters shown as the verb's own words.
FLAGS = {"n_sims": "--sims"}
EXAMPLE = "coaffect power --group-sessions 4 8 12 --alone 12 24 --clips 8 --sims 200 --out power"


def add_arguments(parser) -> None:
    parser.add_argument("--group-sessions", type=int, nargs="+", default=[4, 8, 12], help="(default 4 8 12)")
    parser.add_argument("--alone", type=int, nargs="+", default=[24], help="alone participants (default 24)")
    parser.add_argument("--clips", type=int, nargs="+", default=[8], help="clips (default 8)")
    parser.add_argument("--group-size", type=int, default=3, help="people per group (default 3)")
    parser.add_argument(
        "--valences", nargs="+", default=["positive", "negative"], help="clip valences, cycled over clips"
    )
    parser.add_argument(
        "--effect",
        type=float,
        default=0.2,
        help="true group effect as d, the scale of the model's d_group (0.2)",
    )
    parser.add_argument("--target", type=float, default=0.8, help="power to reach (0.8)")
    parser.add_argument("--sd-participant", type=float, default=0.35)
    parser.add_argument("--sd-stimulus", type=float, default=0.25)
    parser.add_argument("--sd-session", type=float, default=0.15)
    parser.add_argument("--sd-stimulus-condition", type=float, default=0.15)
    parser.add_argument("--sd-participant-valence", type=float, default=0.2)
    parser.add_argument("--sd-session-stimulus", type=float, default=0.15, help="session x clip (contagion)")
    parser.add_argument("--sd-residual-group", type=float, default=None, help="residual SD in groups (1)")
    parser.add_argument(
        "--p-dropout-alone", type=float, default=0.02, help="trials whose face is lost, alone"
    )
    parser.add_argument("--p-dropout-group", type=float, default=0.06, help="... in groups")
    parser.add_argument(
        "--face-loss-expression",
        type=float,
        default=0.0,
        help="log-odds of losing a face per SD of smile (0)",
    )
    parser.add_argument("--sims", type=int, default=200, help="studies per design (default 200)")
    parser.add_argument("--engine", choices=("auto", "lme4", "statsmodels"), default="auto")
    add_cluster_arguments(parser)
    parser.add_argument("--out", default="power", help="folder for power.tsv and power.png (default ./power)")


def run(args) -> int:
    from analysis.simulate.power import power_analysis
    from analysis.simulate.study import SimulationSpec

    grid = (args.group_sessions, args.alone, args.clips)
    run = {
        "n_sims": args.sims,
        "engine": args.engine,
        "scheduler": args.scheduler,
        "workers": args.workers,
        "effect": args.effect,
        "target": args.target,
    }
    result = power_analysis(SimulationSpec.from_options(vars(args)), *grid, **run)
    tsv, png, txt = result.write(args.out)
    print("\n".join(result.lines()))
    print(f"tables: {tsv}  plot: {png}  text: {txt}")
    return 0
