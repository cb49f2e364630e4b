"""``coaffect report``: HTML report with PNG figures for a dataset."""

from __future__ import annotations

from .model_options import add_model_arguments

#: Library parameters shown as the verb's own words.
FLAGS = {"formulas": "--formula", "out_dir": "--out", "n_boot": "--boot"}
HELP = "analyse a dataset (trials, time courses, coherence, synchrony, models) into an HTML report"
EXAMPLE = "coaffect report sim-data"


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder (participants.tsv, ses-*)")
    parser.add_argument(
        "--out", default=None, help="report folder (default DATASET/derivatives/coaffect/report)"
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "lme4", "statsmodels"),
        default="auto",
        help="auto (default): lme4 when R is installed, else the statsmodels fallback",
    )
    parser.add_argument(
        "--formula",
        action="append",
        default=None,
        help="model formula (repeatable; default: the protocol's analysis.models)",
    )
    add_model_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from analysis.report import build_report

    analysed = build_report(
        args.dataset,
        out_dir=args.out,
        engine=args.engine,
        formulas=args.formula,
        progress=not args.quiet,
        n_boot=args.boot,
        mixed_sources=args.mixed_sources,
    )
    print(analysed.report_path)
    return 0
