"""``coaffect power``: simulation-based power for the group effect over designs."""

from __future__ import annotations

from .cluster_options import add_cluster_arguments
from .model_options import add_engine_argument
from .spec_options import add_spec_arguments

HELP = "estimate power for the group effect over numbers of group sessions, alone participants and clips"
#: Library parameters shown as the verb's own words.
FLAGS = {"n_sims": "--sims"}
#: Flags that set a :class:`~analysis.simulate.spec.SimulationSpec` field of the same name.
SPEC_HELP = {
    "group_size": "people per group",
    "sd_participant": "SD of participant intercepts",
    "sd_stimulus": "SD of clip intercepts",
    "sd_session": "SD of group-session intercepts",
    "sd_stimulus_condition": "SD of clip x condition",
    "sd_participant_valence": "SD of participant x valence",
    "sd_session_stimulus": "SD of session x clip (contagion)",
    "sd_residual_group": "residual SD in groups (default: sd_residual, 1)",
    "p_dropout_alone": "share of trials whose face is lost, alone",
    "p_dropout_group": "... in groups",
    "face_loss_expression": "log-odds of losing a face per SD of smile",
}
EXAMPLE = "coaffect power --group-sessions 4 8 12 --alone 12 24 --clips 8 --sims 200 --out power"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--group-sessions", type=int, nargs="+", default=[4, 8, 12], help="group sessions (default 4 8 12)"
    )
    parser.add_argument("--alone", type=int, nargs="+", default=[24], help="alone participants (default 24)")
    parser.add_argument("--clips", type=int, nargs="+", default=[8], help="clips (default 8)")
    parser.add_argument(
        "--valences",
        nargs="+",
        default=["positive", "negative"],
        help="clip valences, cycled over clips (default positive negative)",
    )
    parser.add_argument(
        "--effect",
        type=float,
        default=0.2,
        help="true group effect as d, the scale of the model's d_group (default 0.2)",
    )
    parser.add_argument("--target", type=float, default=0.8, help="power to reach (default 0.8)")
    add_spec_arguments(parser, SPEC_HELP)
    parser.add_argument("--sims", type=int, default=200, help="studies per design (default 200)")
    add_engine_argument(parser)
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
