"""Calibration of the default mixed model in several worlds: CI coverage and false-positive rate.

A model that is only checked on data drawn from itself shows self-consistency,
not calibration. So studies are simulated in four worlds (``SCENARIOS``):

* ``model_world``: every variance component the default model has (clip-by-
  condition, participant-by-valence, session-by-clip), faces lost at random
  (more in groups);
* ``contagion``: the session-by-clip SD equals the residual SD (a group's shared
  moment on a clip as large as the trial noise);
* ``unequal_residual``: the residual SD is 1.5 in groups and 1 alone (the
  model assumes one residual variance);
* ``face_loss_expression``: faces are lost more often during strong expressions
  (+1 log-odds per residual SD of the trial's smile; 5% alone, 20% in groups at
  an average smile): not at random.

Each study is fitted with the default model (lme4 + lmerTest Satterthwaite,
the maximal identified random structure, the singular-fit rule) and, on the
same data, with the models the toolkit fitted before (intercepts only; without
the session-by-clip term). Per scenario and model: coverage of the 95% CI at a
true group effect of 0.3 and the false-positive rate at 0, each with its Monte
Carlo SE (Morris, White & Crowther 2019). Fits go to R in batches (one R
call per chunk of studies) through ``analysis.parallel.executor``.

Prints a table and ends with one JSON line with a ``bench`` key. The run passes
when, in the worlds the default model is meant to handle (``model_world``,
``contagion``), its coverage is at least 0.95 and its false-positive rate at
most 0.05 give or take 3 Monte Carlo SEs at the run's size; the other worlds
are reported with ``calibrated`` true or false. Exits 1 when the run does not
pass, 2 when it cannot run (no R).

    python bench/inference_calibration.py                 # 500 + 500 studies per world
    python bench/inference_calibration.py --studies 100   # quick look
    python bench/inference_calibration.py --scenarios contagion
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from analysis.parallel.executor import open_executor  # noqa: E402
from analysis.simulate.power import fit_batch_task  # noqa: E402
from analysis.simulate.study import SimulationSpec  # noqa: E402
from analysis.stats.batch import INTERCEPTS_ONLY, nominal_bounds, summarise_batch  # noqa: E402
from analysis.stats.model_data import RANDOM_TERMS  # noqa: E402

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
    sd_session_stimulus=0.3,
)
FORMULA = "AU12 ~ condition * valence"
TRUE_EFFECT = 0.3

#: The models before issue 23 (no session-by-clip term) and before issue 11 (intercepts only).
WITHOUT_SESSION_STIMULUS = [t for t in RANDOM_TERMS if t != "session_stimulus"]
COMPARE = {"intercepts_only": INTERCEPTS_ONLY, "without_session_stimulus": WITHOUT_SESSION_STIMULUS}

#: world -> (changes to SPEC, whether the default model must be calibrated there).
SCENARIOS = {
    "model_world": ({}, True),
    "contagion": ({"sd_session_stimulus": 1.0}, True),
    "unequal_residual": ({"sd_residual_group": 1.5}, False),
    "face_loss_expression": (
        {"p_dropout_alone": 0.05, "p_dropout_group": 0.20, "face_loss_expression": 1.0},
        False,
    ),
}


def calibrate(
    scenario: str, n_studies: int, chunk: int = 50, workers: int | None = None, spec: SimulationSpec = SPEC
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fits of ``n_studies`` studies at the true effect and ``n_studies`` at zero in one world, and their summary."""
    changes, _ = SCENARIOS[scenario]
    world = asdict(replace(spec, **changes))
    tasks = []
    for truth, offset in ((TRUE_EFFECT, 0), (0.0, 10_000_000)):
        for start in range(0, n_studies, chunk):
            seeds = list(range(offset + start + 1, offset + min(start + chunk, n_studies) + 1))
            tasks.append((world, seeds, truth, FORMULA, COMPARE))
    with open_executor(workers=workers) as ex:
        parts = ex.map(fit_batch_task, tasks, desc=f"calibration: {scenario}")
    fits = pd.concat(parts, ignore_index=True).assign(scenario=scenario)
    return fits, summarise_batch(fits).assign(scenario=scenario)


def verdicts(summary: pd.DataFrame, n_studies: int) -> dict:
    """Per world: the default model's coverage, false-positive rate, MC SEs and whether it is calibrated."""
    low, high = nominal_bounds(n_studies)
    out = {}
    for scenario, part in summary.groupby("scenario", sort=False):
        s = part.set_index(["model", "true_effect"])
        cov, fpr = s.loc[("default", TRUE_EFFECT)], s.loc[("default", 0.0)]
        row = {
            "coverage": round(cov["coverage"], 4),
            "coverage_mc_se": round(cov["coverage_mc_se"], 4),
            "fpr": round(fpr["rejection_rate"], 4),
            "fpr_mc_se": round(fpr["rejection_mc_se"], 4),
            "power": round(cov["rejection_rate"], 4),
            "not_converged": round(1 - float(cov["converged_share"] + fpr["converged_share"]) / 2, 4),
            "calibrated": bool(cov["coverage"] >= low and fpr["rejection_rate"] <= high),
            "required": SCENARIOS[scenario][1],
        }
        for model in COMPARE:
            if (model, 0.0) in s.index:
                row[f"{model}_coverage"] = round(s.loc[(model, TRUE_EFFECT), "coverage"], 4)
                row[f"{model}_fpr"] = round(s.loc[(model, 0.0), "rejection_rate"], 4)
        out[scenario] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=500, help="studies per true effect and world (500)")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--chunk", type=int, default=50, help="studies per R call")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=None, help="also write every fit as TSV here")
    args = ap.parse_args(argv)
    from analysis.stats.mixed_lme4 import rscript

    if rscript() is None:
        print(
            "inference_calibration: Rscript not found (install r-cran-lme4 r-cran-lmertest)", file=sys.stderr
        )
        return 2
    t0 = time.perf_counter()
    runs = [calibrate(s, args.studies, args.chunk, args.workers) for s in args.scenarios]
    seconds = time.perf_counter() - t0
    fits = pd.concat([f for f, _ in runs], ignore_index=True)
    summary = pd.concat([s for _, s in runs], ignore_index=True)
    if args.out:
        fits.to_csv(args.out, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(summary.to_string(index=False))
    worlds = verdicts(summary, args.studies)
    ok = all(w["calibrated"] for w in worlds.values() if w["required"])
    low, high = nominal_bounds(args.studies)
    print(f"{len(fits)} lme4 fits in {seconds:.0f} s ({seconds / len(fits):.3f} s per fit)")
    print(
        json.dumps(
            {
                "bench": "inference_calibration",
                "studies_per_effect": args.studies,
                "true_effect": TRUE_EFFECT,
                "coverage_min": round(low, 4),
                "fpr_max": round(high, 4),
                "scenarios": worlds,
                "seconds": round(seconds, 1),
                "seconds_per_fit": round(seconds / len(fits), 4),
                "pass": bool(ok),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
