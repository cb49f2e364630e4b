"""``coaffect stats``: mixed models (and mixed ANOVA) on a dataset's trial table."""

from __future__ import annotations

HELP = "fit mixed-effects models (statsmodels or lme4) and a mixed ANOVA on a dataset"
EXAMPLE = "coaffect stats sim-data --formula 'AU12 ~ condition * valence' --engine lme4"


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder (participants.tsv, ses-*)")
    parser.add_argument(
        "--formula",
        action="append",
        default=None,
        help="fixed part, e.g. 'AU12 ~ condition * valence' (repeatable; "
        "default: the protocol's analysis.models)",
    )
    parser.add_argument(
        "--engine",
        choices=("statsmodels", "lme4"),
        default="statsmodels",
        help="statsmodels MixedLM (default) or R lme4 + lmerTest via Rscript",
    )
    parser.add_argument(
        "--out", default=None, help="folder for the tables (default DATASET/derivatives/coaffect/stats)"
    )


def run(args) -> int:
    import pandas as pd

    from analysis.stats import stats_for_dataset

    out = stats_for_dataset(args.dataset, args.formula, engine=args.engine, out_dir=args.out)
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4g}".format
    ):
        for res in out.models:
            print(
                f"\n== {res.full_formula}  [{res.engine}, {res.test}, "
                f"converged: {'yes' if res.converged else 'NO'}]"
            )
            print(res.fixed.to_string(index=False))
            print(res.random.to_string(index=False))
            print("N: " + ", ".join(f"{k} {v}" for k, v in res.n.items()))
            for w in res.warnings:
                print(f"warning: {w}")
        for dv, aov, _, info in out.anovas:
            print(f"\n== mixed ANOVA on participant means: {dv} ({info['n_participants']} participants)")
            print(aov.to_string(index=False))
    for s in out.skipped:
        print(f"skipped: {s}")
    print(f"\ntables: {out.out_dir}")
    return 0 if out.models else 2
