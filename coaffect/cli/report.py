"""``coaffect report``: HTML report with PNG figures for a dataset."""

from __future__ import annotations

from .model_options import MODEL_FLAGS, add_model_arguments, model_keywords

#: Library parameters shown as the verb's own words.
FLAGS = {**MODEL_FLAGS, "out_dir": "--out"}
HELP = "analyse a dataset (trials, time courses, coherence, synchrony, models) into an HTML report"
EXAMPLE = "coaffect report sim-data"


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder (participants.tsv, ses-*)")
    parser.add_argument(
        "--out", default=None, help="report folder (default DATASET/derivatives/coaffect/report)"
    )
    add_model_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from analysis.report import build_report

    analysed = build_report(args.dataset, out_dir=args.out, progress=not args.quiet, **model_keywords(args))
    print(analysed.report_path)
    return 0
