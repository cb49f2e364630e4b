"""Benchmark: statsmodels MixedLM vs R lme4 on the same simulated study.

Simulates 200 participants x 12 clips (by default 80 alone + 40 groups of 3),
builds the trial table, fits ``AU12 ~ condition * valence`` with crossed
random effects with both engines in ``--rounds`` rounds (lme4 is the baseline;
the order alternates between rounds, so a drift of the machine's speed falls
on both), and ends with one JSON line:
``{"bench": "stats_speed", "participants": 200, "clips": 12, "observations": ...,
"statsmodels_s": ..., "lme4_s": ..., "ratio_statsmodels_over_lme4": ...,
"max_rel_diff_fixed": ...}`` (times: medians over the rounds). Fit times are
the fits alone (R: inside R, without R's start-up). Exits 1 when an engine
did not converge or the two disagree (relative difference of a fixed effect
over 1e-3).

Run: ``.venv/bin/python bench/stats_speed.py [--alone 80 --groups 40 --clips 12 --rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.measures.trials import trial_table  # noqa: E402
from analysis.simulate.study import SimulationSpec, simulate_study  # noqa: E402
from analysis.stats import fit_mixed  # noqa: E402
from analysis.stats.mixed_statsmodels import _one_blas_thread, mixedlm_model  # noqa: E402
from analysis.stats.model_data import model_data  # noqa: E402
from analysis.study.load import load_study  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the study's flags are stored under SimulationSpec's field names (as coaffect power does)
    ap.add_argument("--alone", dest="n_alone", type=int, default=80)
    ap.add_argument("--groups", dest="n_group_sessions", type=int, default=40)
    ap.add_argument("--group-size", type=int, default=3)
    ap.add_argument("--clips", dest="n_clips", type=int, default=12)
    ap.add_argument("--clip-duration", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--formula", default="AU12 ~ condition * valence")
    ap.add_argument("--rounds", type=int, default=3, help="fits per engine, alternating (3)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coaffect-bench-") as tmp:
        t0 = time.perf_counter()
        spec = SimulationSpec.from_options({**vars(args), "seed": 7})
        ds = simulate_study(Path(tmp) / "sim", spec, progress=True)
        t1 = time.perf_counter()
        trials = trial_table(load_study(ds), measures=["AU12"], progress=True)
        t2 = time.perf_counter()
        fits: dict = {"statsmodels": [], "lme4": []}
        walls: dict = {"statsmodels": [], "lme4": []}
        for k in range(args.rounds):
            for engine in ("statsmodels", "lme4") if k % 2 == 0 else ("lme4", "statsmodels"):
                w0 = time.perf_counter()
                fits[engine].append(fit_mixed(trials, args.formula, engine=engine))
                walls[engine].append(time.perf_counter() - w0)
                print(f"round {k + 1}: {engine} {fits[engine][-1].seconds:.3f} s", flush=True)
        sm, r = fits["statsmodels"][0], fits["lme4"][0]
        sm_s = statistics.median(f.seconds for f in fits["statsmodels"])
        r_s = statistics.median(f.seconds for f in fits["lme4"])
        # statsmodels' own default optimiser alone, for reference (what the boundary-aware
        # search in analysis.stats.mixed_statsmodels costs, and whether it mattered here)
        with warnings.catch_warnings(), _one_blas_thread():
            warnings.simplefilter("ignore")
            model, _ = mixedlm_model(model_data(trials, args.formula))
            t5 = time.perf_counter()
            plain = model.fit(reml=True)
            t6 = time.perf_counter()
    rel = (
        (sm.fixed["estimate"] - r.fixed["estimate"]).abs() / r.fixed["estimate"].abs().clip(lower=1e-12)
    ).max()
    rel_vc = (
        (sm.random["variance"] - r.random["variance"]).abs() / r.random["variance"].abs().clip(lower=1e-3)
    ).max()
    out = {
        "bench": "stats_speed",
        "rounds": args.rounds,
        "participants": sm.n["participants"],
        "clips": sm.n["stimuli"],
        "observations": sm.n["observations"],
        "formula": sm.full_formula,
        "simulate_s": round(t1 - t0, 2),
        "trial_table_s": round(t2 - t1, 2),
        "statsmodels_s": round(sm_s, 3),
        "lme4_s": round(r_s, 3),
        "lme4_wall_s": round(statistics.median(walls["lme4"]), 3),
        "statsmodels_wall_s": round(statistics.median(walls["statsmodels"]), 3),
        "ratio_statsmodels_over_lme4": round(sm_s / max(r_s, 1e-3), 2),
        "statsmodels_default_optimizer_s": round(t6 - t5, 3),
        "reml_loglik": {
            "statsmodels": round(sm.loglik, 4),
            "lme4": round(r.loglik, 4),
            "statsmodels_default_optimizer": round(float(plain.llf), 4),
        },
        "max_rel_diff_fixed": float(rel),
        "max_rel_diff_variances": float(rel_vc),
        "converged": {"statsmodels": sm.converged, "lme4": r.converged},
    }
    print(json.dumps(out))
    # a failed run: an engine did not converge, or the two disagree beyond the tests' tolerance
    agree = rel <= 1e-3 and all(f.converged for runs in fits.values() for f in runs)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
