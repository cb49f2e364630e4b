"""Benchmark: statsmodels MixedLM vs R lme4 on the same simulated study.

Simulates 200 participants x 12 clips (by default 80 alone + 40 groups of 3),
builds the trial table, fits ``AU12 ~ condition * valence`` with crossed
random effects with both engines, and ends with one JSON line:
``{"participants": 200, "clips": 12, "observations": ..., "statsmodels_s": ...,
"lme4_s": ..., "ratio_statsmodels_over_lme4": ..., "max_rel_diff_fixed": ...}``.
Fit times are the fits alone (R: inside R, without Rscript start-up).

Run: ``.venv/bin/python bench/stats_speed.py [--alone 80 --groups 40 --clips 12]``
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--alone", type=int, default=80)
    ap.add_argument("--groups", type=int, default=40)
    ap.add_argument("--group-size", type=int, default=3)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--clip-duration", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--formula", default="AU12 ~ condition * valence")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coaffect-bench-") as tmp:
        t0 = time.perf_counter()
        ds = simulate_study(
            Path(tmp) / "sim",
            SimulationSpec(
                n_alone=args.alone,
                n_group_sessions=args.groups,
                group_size=args.group_size,
                n_clips=args.clips,
                clip_duration=args.clip_duration,
                fps=args.fps,
                seed=7,
            ),
            progress=True,
        )
        t1 = time.perf_counter()
        trials = trial_table(load_study(ds), measures=["AU12"], progress=True)
        t2 = time.perf_counter()
        sm = fit_mixed(trials, args.formula, engine="statsmodels")
        t3 = time.perf_counter()
        r = fit_mixed(trials, args.formula, engine="lme4")
        t4 = time.perf_counter()
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
        "participants": sm.n["participants"],
        "clips": sm.n["stimuli"],
        "observations": sm.n["observations"],
        "formula": sm.full_formula,
        "simulate_s": round(t1 - t0, 2),
        "trial_table_s": round(t2 - t1, 2),
        "statsmodels_s": round(sm.seconds, 3),
        "lme4_s": round(r.seconds, 3),
        "lme4_wall_s": round(t4 - t3, 3),
        "statsmodels_wall_s": round(t3 - t2, 3),
        "ratio_statsmodels_over_lme4": round(sm.seconds / max(r.seconds, 1e-3), 2),
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
    agree = rel <= 1e-3 and sm.converged and r.converged
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
