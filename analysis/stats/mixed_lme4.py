"""The same mixed models through R's lme4 + lmerTest (``--engine lme4``).

The data and the fixed-effect design matrix are built in Python (exactly the
columns statsmodels uses), written to a temporary CSV and fitted by
``Rscript`` with ``lmer(y ~ 0 + X1 + ... + (1 | participant_id) +
(1 | stimulus_id) + (0 + in_group | session_id), REML = TRUE)``; lmerTest
gives Satterthwaite df and t tests. Term names therefore match statsmodels'.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from .model_data import ModelData
from .result import FIXED_COLUMNS, MixedModelResult

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
d <- read.csv(args[1], stringsAsFactors = FALSE)
spec <- fromJSON(args[2])
for (f in c("participant_id", "stimulus_id", "session_id")) d[[f]] <- factor(d[[f]])
form <- as.formula(spec$formula)
msgs <- character(0)
t0 <- proc.time()[["elapsed"]]
fit <- withCallingHandlers(
  if (spec$mixed) lmer(form, data = d, REML = TRUE) else lm(form, data = d),
  warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
  message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
secs <- proc.time()[["elapsed"]] - t0
if (spec$mixed) {
  co <- summary(fit, ddf = "Satterthwaite")$coefficients
  vc <- as.data.frame(VarCorr(fit))
  conv <- fit@optinfo$conv$lme4$messages
  msgs <- c(msgs, conv, if (isSingular(fit)) "boundary (singular) fit" else character(0))
  rand <- list(component = vc$grp, variance = vc$vcov)
  converged <- length(conv) == 0
} else {
  co <- summary(fit)$coefficients
  co <- cbind(co[, 1:2, drop = FALSE], df = fit$df.residual, co[, 3:4, drop = FALSE])
  rand <- list(component = "Residual", variance = summary(fit)$sigma^2)
  converged <- TRUE
}
out <- list(term = rownames(co), estimate = unname(co[, 1]), se = unname(co[, 2]),
            df = unname(co[, 3]), stat = unname(co[, 4]), p_val = unname(co[, 5]),
            random = rand, converged = converged, warnings = unique(msgs), seconds = secs,
            loglik = as.numeric(logLik(fit)))
writeLines(toJSON(out, digits = NA, auto_unbox = FALSE), args[3])
"""


def rscript() -> str | None:
    """Path of ``Rscript`` if R is installed."""
    return shutil.which("Rscript")


def fit_lme4(md: ModelData, timeout: float = 600) -> MixedModelResult:
    """Fit a :class:`~analysis.stats.model_data.ModelData` with lme4 + lmerTest via Rscript.

    Parameters
    ----------
    md : ModelData
        From :func:`analysis.stats.model_data.model_data`.
    timeout : float
        Seconds before giving up on R.

    Returns
    -------
    MixedModelResult
        Same table shape as :func:`~analysis.stats.mixed_statsmodels.fit_statsmodels`;
        df are Satterthwaite's and CIs use the t distribution with them.

    Raises
    ------
    AnalysisError
        When R, lme4, lmerTest or jsonlite is missing, or R fails.

    Examples
    --------
    >>> res = fit_lme4(model_data(trials, "AU12 ~ condition + valence"))  # doctest: +SKIP
    >>> res.fixed.loc[1, ["term", "df"]].tolist()                         # doctest: +SKIP
    ['condition[T.group]', 37.2]
    """
    from scipy import stats as sps

    exe = rscript()
    if exe is None:
        raise AnalysisError(
            "engine lme4: Rscript not found",
            hint="install R with lme4 and lmerTest (Debian: r-cran-lme4 "
            "r-cran-lmertest) or use --engine statsmodels",
        )
    names = {f"X{i + 1}": term for i, term in enumerate(md.X.columns)}
    frame = pd.DataFrame({"y": md.data[md.dv].astype(float).to_numpy()})
    for key, term in names.items():
        frame[key] = md.X[term].to_numpy()
    for c in ("participant_id", "stimulus_id", "session_id", "in_group"):
        frame[c] = md.data[c].to_numpy()
    fixed = "y ~ 0 + " + " + ".join(names)
    formula = f"{fixed} + {md.random_formula()}" if md.random else fixed
    with tempfile.TemporaryDirectory(prefix="coaffect-lme4-") as tmp:
        tmp = Path(tmp)
        frame.to_csv(tmp / "data.csv", index=False)
        (tmp / "fit.R").write_text(_R_SCRIPT)
        spec = json.dumps({"formula": formula, "mixed": bool(md.random)})
        try:
            proc = subprocess.run(
                [exe, "--vanilla", str(tmp / "fit.R"), str(tmp / "data.csv"), spec, str(tmp / "out.json")],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise AnalysisError(f"engine lme4: R did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0 or not (tmp / "out.json").exists():
            err = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            hint = (
                "install the R packages: apt-get install r-cran-lme4 r-cran-lmertest"
                if "there is no package" in proc.stderr
                else "run with --engine statsmodels"
            )
            raise AnalysisError(f"engine lme4: R failed: {err}", hint=hint)
        out = json.loads((tmp / "out.json").read_text())
    est = np.asarray(out["estimate"], float)
    se = np.asarray(out["se"], float)
    df = np.asarray(out["df"], float)
    q = sps.t.ppf(0.975, df)
    table = pd.DataFrame(
        {
            "term": [names[t] for t in out["term"]],
            "estimate": est,
            "se": se,
            "df": df,
            "stat": np.asarray(out["stat"], float),
            "p_val": np.asarray(out["p_val"], float),
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        },
        columns=list(FIXED_COLUMNS),
    )
    comp = ["residual" if c == "Residual" else c for c in out["random"]["component"]]
    rand = pd.DataFrame({"component": comp, "variance": np.asarray(out["random"]["variance"], float)})
    order = {c: i for i, c in enumerate([*md.random, "residual"])}
    rand = rand.sort_values("component", key=lambda s: s.map(order)).reset_index(drop=True)
    rand["sd"] = np.sqrt(rand["variance"].clip(lower=0))
    full = f"{md.formula} + {md.random_formula()}" if md.random else md.formula
    converged = bool(out["converged"][0]) if isinstance(out["converged"], list) else bool(out["converged"])
    secs = out["seconds"][0] if isinstance(out["seconds"], list) else out["seconds"]
    loglik = out["loglik"][0] if isinstance(out["loglik"], list) else out["loglik"]
    return MixedModelResult(
        "lme4",
        md.formula,
        full,
        table,
        rand,
        md.n_levels(),
        converged,
        list(out["warnings"]),
        "t (Satterthwaite)",
        float(secs),
        list(md.notes),
        float(loglik),
    )
