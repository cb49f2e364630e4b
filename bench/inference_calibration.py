"""Calibration of the default mixed model: CI coverage and false-positive rate of the group effect.

Simulates studies with every variance component of the full structure present
(clip-by-condition and participant-by-valence slopes included), fits each with
the default model (lme4 + lmerTest Satterthwaite, maximal identified random
structure, the singular-fit rule) and, on the same data in the same run, with
the intercepts-only model the toolkit fitted before. Fits go to R in batches
(one Rscript call per chunk of studies) through ``analysis.parallel.executor``.

Prints a table and ends with one JSON line; exits 1 when coverage < 0.93 or
the false-positive rate > 0.06 for the default model (at 1,000 studies; a
quick run's bounds widen by its Monte Carlo error: 0.95 and 0.05 give or take
two standard errors).

    python bench/inference_calibration.py               # 1,000 + 1,000 studies
    python bench/inference_calibration.py --studies 100 # quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from analysis.parallel.executor import open_executor  # noqa: E402
from analysis.simulate.power import fit_batch_task  # noqa: E402
from analysis.simulate.study import SimulationSpec  # noqa: E402
from analysis.stats.batch import summarise_batch  # noqa: E402

#: The simulated design: 16 alone participants, 6 groups of 3, 8 clips (4 per valence).
SPEC = SimulationSpec(
    n_alone=16,
    n_group_sessions=6,
    group_size=3,
    n_clips=8,
    valences=("positive", "negative"),
    sd_participant=0.35,
    sd_stimulus=0.3,
    sd_session=0.3,
    sd_stimulus_condition=0.4,
    sd_participant_valence=0.4,
)
FORMULA = "AU12 ~ condition * valence"
TRUE_EFFECT = 0.3


def calibrate(
    n_studies: int, chunk: int = 50, workers: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fits of ``n_studies`` studies at the true effect and ``n_studies`` at zero, and their summary."""
    tasks = []
    for truth, offset in ((TRUE_EFFECT, 0), (0.0, 10_000_000)):
        for start in range(0, n_studies, chunk):
            seeds = list(range(offset + start + 1, offset + min(start + chunk, n_studies) + 1))
            tasks.append((asdict(SPEC), seeds, truth, FORMULA, True))
    with open_executor(workers=workers) as ex:
        parts = ex.map(fit_batch_task, tasks, desc="calibration batches")
    fits = pd.concat(parts, ignore_index=True)
    return fits, summarise_batch(fits)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=1000, help="studies per true effect (default 1000)")
    ap.add_argument("--chunk", type=int, default=50, help="studies per Rscript call")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=None, help="also write every fit as TSV here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    fits, summary = calibrate(args.studies, args.chunk, args.workers)
    seconds = time.perf_counter() - t0
    if args.out:
        fits.to_csv(args.out, sep="\t", index=False)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
        print(summary.to_string(index=False))
    s = summary.set_index(["model", "true_effect"])
    cov = s.loc[("default", TRUE_EFFECT)]
    fpr = s.loc[("default", 0.0)]
    io_cov = s.loc[("intercepts_only", TRUE_EFFECT)]
    io_fpr = s.loc[("intercepts_only", 0.0)]
    # 0.93 and 0.06 at 1,000 studies (about 2 MC standard errors from 0.95 and 0.05); a quick
    # run's bounds widen with its larger MC error, so it fails on a miscalibration, not on noise
    cov_min = min(0.93, 0.95 - 2 * (0.95 * 0.05 / args.studies) ** 0.5)
    fpr_max = max(0.06, 0.05 + 2 * (0.05 * 0.95 / args.studies) ** 0.5)
    ok = cov["coverage"] >= cov_min and fpr["rejection_rate"] <= fpr_max
    n_fits = len(fits)
    print(
        f"{n_fits} lme4 fits of {2 * args.studies} studies in {seconds:.0f} s ({seconds / n_fits:.3f} s per fit)"
    )
    print(
        json.dumps(
            {
                "bench": "inference_calibration",
                "studies_per_effect": args.studies,
                "coverage": round(cov["coverage"], 4),
                "coverage_mc_se": round(cov["coverage_mc_se"], 4),
                "fpr": round(fpr["rejection_rate"], 4),
                "fpr_mc_se": round(fpr["rejection_mc_se"], 4),
                "intercepts_only_coverage": round(io_cov["coverage"], 4),
                "intercepts_only_fpr": round(io_fpr["rejection_rate"], 4),
                "intercepts_only_fpr_mc_se": round(io_fpr["rejection_mc_se"], 4),
                "fpr_inflation_intercepts_only": (
                    round(io_fpr["rejection_rate"] / fpr["rejection_rate"], 3)
                    if fpr["rejection_rate"]
                    else None
                ),
                "coverage_min": round(cov_min, 4),
                "fpr_max": round(fpr_max, 4),
                "power_default": round(s.loc[("default", TRUE_EFFECT), "rejection_rate"], 4),
                "seconds": round(seconds, 1),
                "seconds_per_fit": round(seconds / n_fits, 4),
                "pass": bool(ok),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
