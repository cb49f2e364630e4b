"""Many studies' group effects in one R call (power and calibration runs).

A call of R costs more than a small fit (a fork of the R server and files
written and read; a whole ``Rscript`` start with ``COAFFECT_R_SERVER=0``), so
:func:`group_effect_batch` sends many simulated studies to one R call
(:func:`~analysis.stats.mixed_lme4.run_rscript`). Each study gets exactly the model :func:`analysis.stats.fit_mixed`
would fit (the same design matrix from
:func:`~analysis.stats.model_data.model_data`, the same identified random
terms and the same singular-fit rule), and, when asked, simpler random parts
on the same data for comparison (e.g. the intercepts-only model).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from ..docstrings import fill_doc
from .fit import DROP_ORDER
from .inference import GROUP_TERM
from .mixed_lme4 import R_FACTORS, R_TERMS, r_frame, run_rscript
from .model_data import model_data
from .result import SINGULAR_SD_RATIO

#: The intercepts-only structure (what this toolkit fitted before issue 11).
INTERCEPTS_ONLY = ["participant_id", "stimulus_id", "session_id"]

#: Columns of :func:`group_effect_batch`'s table.
BATCH_COLUMNS = (
    "study",
    "model",
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "p_val",
    "singular",
    "converged",
    "random",
)

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
  for (f in intersect(names(d), unlist(spec$grouping))) d[[f]] <- factor(d[[f]])
  for (m in names(st$models)) {
    rand <- unlist(st$models[[m]])
    repeat {
      form <- as.formula(paste(st$fixed, "+", paste(rterm[rand], collapse = " + ")))
      fit <- quiet(lme4::lmer(form, data = d, REML = TRUE))  # lmerTest's extras only for the last
      sing <- isSingular(fit)
      if (!sing || length(rand) <= 1) break
      vc <- as.data.frame(VarCorr(fit))
      zero <- spec$singular_sd_ratio^2 * sigma(fit)^2  # terms at zero tie (fit.singular_term)
      vc <- vc[vc$grp != "Residual", ]
      v <- setNames(vc$vcov, vc$grp)
      small <- names(v)[v <= max(min(v) + 1e-12 * (1 + abs(min(v))), zero)]
      drop <- ties[ties %in% small][1]
      if (is.na(drop)) drop <- names(which.min(v))
      rand <- setdiff(rand, drop)
    }
    conv <- fit@optinfo$conv$lme4$messages
    fit <- quiet(lmerTest::as_lmerModLmerTest(fit))
    co <- quiet(summary(fit, ddf = spec$ddf)$coefficients)
    k <- st$group_col
    est <- co[k, 1]; se <- co[k, 2]; df <- co[k, 3]; q <- qt(0.975, df)
    rows[[length(rows) + 1]] <- data.frame(study = st$study, model = m, estimate = est, se = se,
      df = df, ci_low = est - q * se, ci_high = est + q * se, p_val = co[k, 5], singular = sing,
      converged = length(conv) == 0, random = paste(rand, collapse = "+"))
  }
}
write.csv(do.call(rbind, rows), args[3], row.names = FALSE)
"""


@fill_doc
def group_effect_batch(
    studies: list[pd.DataFrame],
    formula: str = "AU12 ~ condition * valence",
    compare: dict[str, list[str]] | None = None,
    ddf: str = "Satterthwaite",
    first_study: int = 0,
    timeout: float = 3600,
) -> pd.DataFrame:
    """Fit the default model (and optionally the intercepts-only one) to many trial tables in one R call.

    Parameters
    ----------
    studies : list of pandas.DataFrame
        Trial tables (e.g. from :func:`analysis.simulate.trials.simulate_trials`).
    formula : str
        Fixed part; its ``condition[group-alone]`` coefficient is reported.
    compare : dict, optional
        Further models on the same data: name -> the random terms (keys of
        :data:`~analysis.stats.model_data.RANDOM_TERMS`) they may keep, e.g.
        ``{"intercepts_only": INTERCEPTS_ONLY}``; each keeps those the design identifies.
    %(ddf)s
    first_study : int
        Number of the first study (for the ``study`` column).
    timeout : float
        Seconds for the whole batch.

    Returns
    -------
    pandas.DataFrame
        study, model (``default`` or a name of ``compare``), estimate, se, df,
        ci_low, ci_high, p_val, singular, converged (no lme4 convergence message),
        random (the terms kept).

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> from analysis.simulate.trials import simulate_trials
    >>> spec = SimulationSpec(n_alone=6, n_group_sessions=3, n_clips=8, valences=("positive", "negative"))
    >>> out = group_effect_batch([simulate_trials(spec, seed=s) for s in (1, 2)])  # doctest: +SKIP
    >>> out[["study", "model"]].values.tolist()                                     # doctest: +SKIP
    [[0, 'default'], [1, 'default']]
    """
    frames, specs = [], []
    for i, trials in enumerate(studies, start=first_study):
        md = model_data(trials, formula)
        if GROUP_TERM not in md.X.columns:
            raise AnalysisError(f"batch: formula '{formula}' has no {GROUP_TERM} coefficient")
        f, names = r_frame(md)
        f.insert(0, "study", i)
        frames.append(f)
        models = {"default": list(md.random)}
        for name, keep in (compare or {}).items():
            models[name] = [r for r in md.random if r in keep]
        specs.append(
            {
                "study": i,
                "fixed": "y ~ 0 + " + " + ".join(names),
                "models": models,
                "group_col": list(md.X.columns).index(GROUP_TERM) + 1,
            }
        )
    text = run_rscript(
        _R_BATCH,
        {
            "data.csv": pd.concat(frames, ignore_index=True).to_csv(index=False),
            "spec.json": json.dumps(
                {
                    "studies": specs,
                    "ddf": ddf,
                    "drop_order": DROP_ORDER,
                    "singular_sd_ratio": SINGULAR_SD_RATIO,
                    "r_terms": R_TERMS,
                    "grouping": R_FACTORS,
                }
            ),
        },
        "out.csv",
        timeout,
        "batch",
    )
    out = pd.read_csv(io.StringIO(text))
    out["singular"] = out["singular"].astype(bool)
    out["converged"] = out["converged"].astype(bool)
    return out[list(BATCH_COLUMNS)]


def summarise_batch(out: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 95% CI and rejection rate at alpha 0.05 per model and true effect, with MC error.

    Examples
    --------
    Four fits of a true effect of 0.5: three CIs cover it, two are significant.

    >>> out = pd.DataFrame({"model": "default", "true_effect": 0.5, "p_val": [0.01, 0.2, 0.03, 0.6],
    ...                     "ci_low": [0.1, -0.2, 0.6, -0.4], "ci_high": [0.9, 1.1, 1.2, 0.7],
    ...                     "singular": [False, False, True, False], "converged": [True, True, True, False]})
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
    converged_share     0.75
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
                "converged_share": float(g["converged"].mean()) if "converged" in g else np.nan,
            }
        )
    return pd.DataFrame(rows)


def nominal_bounds(n: int, sds: float = 3.0, level: float = 0.95) -> tuple[float, float]:
    """The lowest coverage and highest false-positive rate ``n`` studies accept as nominal.

    ``level`` and ``1 - level`` give or take ``sds`` Monte Carlo SEs of a calibrated
    model's rates (Morris, White & Crowther 2019), so a check fails on a miscalibration
    of that size, not on simulation noise.

    Examples
    --------
    >>> [round(b, 4) for b in nominal_bounds(200)]
    [0.9038, 0.0962]
    """
    se = float(np.sqrt(level * (1 - level) / n))
    return level - sds * se, (1 - level) + sds * se
