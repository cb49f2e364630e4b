"""``coaffect stats``: mixed models (and mixed ANOVA) on a dataset's trial table."""

from __future__ import annotations

from .model_options import MODEL_FLAGS, add_model_arguments, model_keywords

#: Library parameters shown as the verb's own words.
FLAGS = {**MODEL_FLAGS, "out_dir": "--out", "study": "DATASET"}
HELP = "fit mixed-effects models (lme4 when R is installed, else statsmodels) and a mixed ANOVA on a dataset"
EXAMPLE = "coaffect stats sim-data --formula 'AU12 ~ condition * valence' --engine lme4"


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder (participants.tsv, ses-*)")
    add_model_arguments(parser)
    parser.add_argument(
        "--out", default=None, help="folder for the tables (default DATASET/derivatives/coaffect/stats)"
    )


def run(args) -> int:
    import pandas as pd

    from analysis.stats import stats_for_study

    out = stats_for_study(args.dataset, **model_keywords(args))
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4g}".format
    ):
        for res in out.models:
            label = "" if res.engine == "lme4" else " (fallback: R not installed or not chosen)"
            print(
                f"\n== {res.full_formula}  [{res.engine}{label}, {res.test}, "
                f"converged: {'yes' if res.converged else 'NO'}]"
            )
            if res.verdict:
                print(res.verdict)
            print(res.fixed.to_string(index=False))
            print(res.random.to_string(index=False))
            if res.omnibus is not None and len(res.omnibus):
                print("omnibus (Type III):")
                print(res.omnibus.to_string(index=False))
            if res.effect_sizes is not None and len(res.effect_sizes):
                print(res.effect_sizes[["measure", "value"]].to_string(index=False))
            print("N: " + ", ".join(f"{k} {v}" for k, v in res.n.items()))
            for step in res.simplification:
                print(f"random part: {step}")
            if res.warnings:
                print(f"warnings ({len(res.warnings)}, all in the model's _info.json):")
                for w in res.warnings[:5]:
                    print(f"  {w}")
        for a in out.anovas:
            print(f"\n== mixed ANOVA on means: {a.dv} ({a.info['n_units']} units: {a.info['unit']})")
            print(a.anova.to_string(index=False))
    for note in out.notes:
        print(f"note: {note}")
    for s in out.skipped:
        print(f"skipped: {s}")
    if not out.models:
        print("no model was fitted (see the reasons above); nothing written")
        return 2
    print(f"\ntables: {out.write(args.out)}")
    return 0
