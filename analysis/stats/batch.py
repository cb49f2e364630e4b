"""Many studies' group effects in one R session (power and calibration runs).

Starting R and loading lme4 costs about a second, longer than one fit, so
:func:`group_effect_batch` sends many simulated studies to one ``Rscript``
call. Each study gets exactly the model :func:`analysis.stats.fit_mixed`
would fit (the same design matrix from
:func:`~analysis.stats.model_data.model_data`, the same identified random
terms and the same singular-fit rule), and, when asked, the intercepts-only
model on the same data for comparison.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from .inference import GROUP_TERM
from .mixed_lme4 import _R_TERMS, r_frame, rscript
from .model_data import model_data
from .run import _DROP_ORDER

#: The intercepts-only structure (what this toolkit fitted before issue 11).
INTERCEPTS_ONLY = ["participant_id", "stimulus_id", "session_id"]

#: Columns of :func:`group_effect_batch`'s table.
BATCH_COLUMNS = ("study", "model", "estimate", "se", "df", "ci_low", "ci_high", "p_val", "singular", "random")

_R_BATCH = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
all <- read.csv(args[1], stringsAsFactors = FALSE)
spec <- fromJSON(args[2], simplifyVector = FALSE)
ties <- unlist(spec$drop_order)
rterm <- unlist(spec$r_terms)
rows <- list()
quiet <- function(expr) suppressWarnings(suppressMessages(expr))
for (i in seq_along(spec$studies)) {
  st <- spec$studies[[i]]
  d <- all[all$study == st$study, , drop = FALSE]
  for (f in c("participant_id", "stimulus_id", "session_id", "stimulus_condition", "participant_valence"))
    if (!is.null(d[[f]])) d[[f]] <- factor(d[[f]])
  for (m in names(st$models)) {
    rand <- unlist(st$models[[m]])
    repeat {
      form <- as.formula(paste(st$fixed, "+", paste(rterm[rand], collapse = " + ")))
      fit <- quiet(lmer(form, data = d, REML = TRUE))
      sing <- isSingular(fit)
      if (!sing || length(rand) <= 1) break
      vc <- as.data.frame(VarCorr(fit))
      vc <- vc[vc$grp != "Residual", ]
      v <- setNames(vc$vcov, vc$grp)
      small <- names(v)[v <= min(v) + 1e-12 * (1 + abs(min(v)))]
      drop <- ties[ties %in% small][1]
      if (is.na(drop)) drop <- names(which.min(v))
      rand <- setdiff(rand, drop)
    }
    co <- quiet(summary(fit, ddf = spec$ddf)$coefficients)
    k <- st$group_col
    est <- co[k, 1]; se <- co[k, 2]; df <- co[k, 3]; q <- qt(0.975, df)
    rows[[length(rows) + 1]] <- data.frame(study = st$study, model = m, estimate = est, se = se,
      df = df, ci_low = est - q * se, ci_high = est + q * se, p_val = co[k, 5], singular = sing,
      random = paste(rand, collapse = "+"))
  }
}
write.csv(do.call(rbind, rows), args[3], row.names = FALSE)
"""


def group_effect_batch(
    studies: list[pd.DataFrame],
    formula: str = "AU12 ~ condition * valence",
    intercepts_only: bool = False,
    ddf: str = "Satterthwaite",
    first_study: int = 0,
    timeout: float = 3600,
) -> pd.DataFrame:
    """Fit the default model (and optionally the intercepts-only one) to many trial tables in one R call.

    Parameters
    ----------
    studies : list of pandas.DataFrame
        Trial tables (e.g. from :func:`analysis.simulate_trials.simulate_trials`).
    formula : str
        Fixed part; its ``condition[group-alone]`` coefficient is reported.
    intercepts_only : bool
        Also fit ``(1 | participant) + (1 | stimulus) + (0 + in_group | session)``.
    ddf : {"Satterthwaite", "Kenward-Roger"}
    first_study : int
        Number of the first study (for the ``study`` column).
    timeout : float
        Seconds for the whole batch.

    Returns
    -------
    pandas.DataFrame
        study, model (``default`` / ``intercepts_only``), estimate, se, df,
        ci_low, ci_high, p_val, singular, random (the terms kept).

    Examples
    --------
    >>> from analysis.simulate_study import SimulationSpec
    >>> from analysis.simulate_trials import simulate_trials
    >>> spec = SimulationSpec(n_alone=6, n_group_sessions=3, n_clips=8, valences=("positive", "negative"))
    >>> out = group_effect_batch([simulate_trials(spec, seed=s) for s in (1, 2)])  # doctest: +SKIP
    >>> out[["study", "model"]].values.tolist()                                     # doctest: +SKIP
    [[0, 'default'], [1, 'default']]
    """
    exe = rscript()
    if exe is None:
        raise AnalysisError("batch: Rscript not found", hint="install r-cran-lme4 r-cran-lmertest")
    frames, specs = [], []
    for i, trials in enumerate(studies, start=first_study):
        md = model_data(trials, formula)
        if GROUP_TERM not in md.X.columns:
            raise AnalysisError(f"batch: formula '{formula}' has no {GROUP_TERM} coefficient")
        f, names = r_frame(md)
        f.insert(0, "study", i)
        frames.append(f)
        models = {"default": list(md.random)}
        if intercepts_only:
            models["intercepts_only"] = [r for r in md.random if r in INTERCEPTS_ONLY]
        specs.append(
            {
                "study": i,
                "fixed": "y ~ 0 + " + " + ".join(names),
                "models": models,
                "group_col": list(md.X.columns).index(GROUP_TERM) + 1,
            }
        )
    with tempfile.TemporaryDirectory(prefix="coaffect-batch-") as tmp:
        tmp = Path(tmp)
        pd.concat(frames, ignore_index=True).to_csv(tmp / "data.csv", index=False)
        (tmp / "batch.R").write_text(_R_BATCH)
        (tmp / "spec.json").write_text(
            json.dumps({"studies": specs, "ddf": ddf, "drop_order": _DROP_ORDER, "r_terms": _R_TERMS})
        )
        try:
            proc = subprocess.run(
                [
                    exe,
                    "--vanilla",
                    str(tmp / "batch.R"),
                    str(tmp / "data.csv"),
                    str(tmp / "spec.json"),
                    str(tmp / "out.csv"),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise AnalysisError(f"batch: R did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0 or not (tmp / "out.csv").exists():
            err = " | ".join(proc.stderr.strip().splitlines()[-3:]) or "(no message)"
            raise AnalysisError(f"batch: R failed: {err}")
        out = pd.read_csv(tmp / "out.csv")
    out["singular"] = out["singular"].astype(bool)
    return out[list(BATCH_COLUMNS)]


def fit_batch_task(
    spec_dict: dict, seeds: list[int], group_effect: float, formula: str, intercepts_only: bool
) -> pd.DataFrame:
    """Simulate one study per seed and fit them in one R call (an executor task: picklable arguments).

    Examples
    --------
    >>> from dataclasses import asdict
    >>> from analysis.simulate_study import SimulationSpec
    >>> fit_batch_task(asdict(SimulationSpec(n_clips=8)), [1], 0.0, "AU12 ~ condition", False)  # doctest: +SKIP
    """
    from ..simulate_study import SimulationSpec
    from ..simulate_trials import simulate_trials

    spec = SimulationSpec(**{k: tuple(v) if k == "valences" else v for k, v in spec_dict.items()})
    studies = [simulate_trials(spec, seed=s, group_effect=group_effect) for s in seeds]
    out = group_effect_batch(studies, formula, intercepts_only=intercepts_only, first_study=seeds[0])
    out["study"] = [seeds[int(i) - seeds[0]] for i in out["study"]]
    out["true_effect"] = group_effect
    return out


def summarise_batch(out: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 95% CI and rejection rate at alpha 0.05 per model and true effect, with MC error.

    Examples
    --------
    Four fits of a true effect of 0.5: three CIs cover it, two are significant.

    >>> out = pd.DataFrame({"model": "default", "true_effect": 0.5, "p_val": [0.01, 0.2, 0.03, 0.6],
    ...                     "ci_low": [0.1, -0.2, 0.6, -0.4], "ci_high": [0.9, 1.1, 1.2, 0.7],
    ...                     "singular": [False, False, True, False]})
    >>> summarise_batch(out).round(3).T
                           0
    model            default
    true_effect          0.5
    n_studies              4
    coverage            0.75
    coverage_mc_se     0.217
    rejection_rate       0.5
    rejection_mc_se     0.25
    singular_share      0.25
    """
    rows = []
    for (model, truth), g in out.groupby(["model", "true_effect"], sort=False):
        n = len(g)
        cover = float(((g["ci_low"] <= truth) & (truth <= g["ci_high"])).mean())
        reject = float((g["p_val"] < 0.05).mean())
        rows.append(
            {
                "model": model,
                "true_effect": truth,
                "n_studies": n,
                "coverage": cover,
                "coverage_mc_se": float(np.sqrt(cover * (1 - cover) / n)),
                "rejection_rate": reject,
                "rejection_mc_se": float(np.sqrt(reject * (1 - reject) / n)),
                "singular_share": float(g["singular"].mean()),
            }
        )
    return pd.DataFrame(rows)
