"""The mixed models through R's lme4 + lmerTest (the default engine when R is installed).

The data and the fixed-effect design matrix are built in Python (exactly the
columns statsmodels uses), written to a temporary CSV and fitted by R
(:func:`run_rscript`) with ``lmer(y ~ 0 + X1 + ... + <random part>, REML = TRUE)``, the
random part being the terms of :data:`R_TERMS` the design identifies (up to
``(1 | participant_id) + (1 | stimulus_id) + (0 + in_group | session_id) +
(1 | stimulus_condition) + (1 | participant_valence) + (0 + in_group |
session_stimulus)``, composite factors built in Python); lmerTest gives
Satterthwaite (or Kenward-Roger) df and t tests. Term names therefore match
statsmodels'. Yes/no and count outcomes go to ``glmer`` (counts with an
exposure offset and an observation-level random effect; likelihood-ratio tests
of terms); a parametric bootstrap (``bootMer``) can back the effect sizes' CIs.
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

from ..docstrings import fill_doc
from . import r_server
from .model_data import ModelData
from .result import FIXED_COLUMNS, MixedModelResult

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
d <- read.csv(args[1], stringsAsFactors = FALSE)
spec <- fromJSON(readLines(args[2], warn = FALSE), simplifyVector = TRUE, simplifyMatrix = TRUE)
for (f in intersect(names(d), spec$grouping)) d[[f]] <- factor(d[[f]])
form <- as.formula(spec$formula)
ddf <- spec$ddf
if (ddf == "Kenward-Roger" && !requireNamespace("pbkrtest", quietly = TRUE)) ddf <- "Satterthwaite"
msgs <- character(0)
catch <- function(expr) withCallingHandlers(expr,
  warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
  message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
t0 <- proc.time()[["elapsed"]]
fam <- spec$family
glmm <- fam != "gaussian"
fit <- catch(if (spec$mixed) {
  if (glmm) glmer(form, data = d, family = fam, control = glmerControl(optimizer = "bobyqa"))
  else lmer(form, data = d, REML = TRUE)
} else {
  if (glmm) glm(form, data = d, family = fam) else lm(form, data = d)
})
secs <- proc.time()[["elapsed"]] - t0
tests <- list()
if (spec$mixed) {
  co <- if (glmm) summary(fit)$coefficients else catch(summary(fit, ddf = ddf)$coefficients)
  if (glmm) co <- cbind(co[, 1:2, drop = FALSE], df = Inf, co[, 3:4, drop = FALSE])
  vc <- as.data.frame(VarCorr(fit))
  conv <- fit@optinfo$conv$lme4$messages
  singular <- isSingular(fit)
  msgs <- c(msgs, conv, if (singular) "boundary (singular) fit" else character(0))
  rand <- list(component = vc$grp, variance = vc$vcov)
  converged <- length(conv) == 0
  if (glmm) for (nm in names(spec$contrasts)) {
    # likelihood-ratio test of a term: the model without its columns against the full one
    L <- spec$contrasts[[nm]]$L
    if (is.null(dim(L))) L <- matrix(L, nrow = 1)
    if (!isTRUE(spec$contrasts[[nm]]$joint)) next
    keep <- spec$fixed_cols[colSums(abs(L)) == 0]
    rhs <- paste(c("0", keep, spec$extra_terms), collapse = " + ")
    red <- catch(glmer(as.formula(paste("y ~", rhs)), data = d, family = fam,
                       control = glmerControl(optimizer = "bobyqa")))
    a <- catch(anova(red, fit))
    chi <- a$Chisq[2]; q <- a$Df[2]
    tests[[nm]] <- list(F = chi / q, df1 = q, df2 = Inf, p = a[["Pr(>Chisq)"]][2])
  }
  for (nm in if (glmm) character(0) else names(spec$contrasts)) {
    L <- spec$contrasts[[nm]]$L
    if (is.null(dim(L))) L <- matrix(L, nrow = 1)
    joint <- isTRUE(spec$contrasts[[nm]]$joint)
    r <- catch(contest(fit, L, joint = joint, ddf = ddf))
    if (joint) {
      tests[[nm]] <- list(F = r[["F value"]], df1 = r[["NumDF"]], df2 = r[["DenDF"]], p = r[["Pr(>F)"]])
    } else {
      tests[[nm]] <- list(estimate = r[["Estimate"]], se = r[["Std. Error"]], df = r[["df"]],
                          stat = r[["t value"]], p = r[["Pr(>|t|)"]])
    }
  }
  boot <- NULL
  if (!glmm && spec$boot > 0) {
    # parametric bootstrap (lme4 bootMer): fixed effects and variances of data simulated from the fit
    set.seed(spec$seed)
    draw <- function(m) {
      vc <- as.data.frame(VarCorr(m))
      c(fixef(m), setNames(vc$vcov, vc$grp))
    }
    plain <- as(fit, "lmerMod")  # refits without lmerTest's df machinery
    b <- catch(bootMer(plain, draw, nsim = spec$boot, use.u = FALSE, type = "parametric"))
    boot <- list(names = names(b$t0), draws = unname(b$t))
  }
} else {
  co <- summary(fit)$coefficients
  co <- cbind(co[, 1:2, drop = FALSE], df = fit$df.residual, co[, 3:4, drop = FALSE])
  rand <- list(component = "Residual", variance = if (glmm) NA else summary(fit)$sigma^2)
  converged <- TRUE
  singular <- FALSE
  boot <- NULL
}
out <- list(term = rownames(co), estimate = unname(co[, 1]), se = unname(co[, 2]),
            df = unname(co[, 3]), stat = unname(co[, 4]), p_val = unname(co[, 5]),
            random = rand, converged = converged, warnings = unique(msgs), seconds = secs,
            loglik = as.numeric(logLik(fit)), singular = singular, tests = tests,
            ddf = if (glmm) "Wald z" else ddf, vcov = unname(as.matrix(vcov(fit))), boot = boot,
            versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                            lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            pbkrtest = if (requireNamespace("pbkrtest", quietly = TRUE))
                              as.character(packageVersion("pbkrtest")) else "absent"))
writeLines(toJSON(out, digits = NA, auto_unbox = FALSE), args[3])
"""

#: The random terms as written in R (composite factors are columns of the data file).
R_TERMS = {
    "participant_id": "(1 | participant_id)",
    "stimulus_id": "(1 | stimulus_id)",
    "session_id": "(0 + in_group | session_id)",
    "stimulus_condition": "(1 | stimulus_condition)",
    "participant_valence": "(1 | participant_valence)",
    "session_stimulus": "(0 + in_group | session_stimulus)",
    "observation": "(1 | observation)",
}


def rscript() -> str | None:
    """Path of ``Rscript`` if R is installed."""
    return shutil.which("Rscript")


def run_rscript(script: str, inputs: dict[str, str], out_name: str, timeout: float, what: str) -> str:
    """Run an R script on files in a temporary folder and return what it wrote: the one way coaffect runs R.

    The script gets the paths of ``inputs`` (in their order) and then of ``out_name``
    as ``commandArgs(trailingOnly = TRUE)``. It runs in a forked child of this
    process's R server (:mod:`analysis.stats.r_server`: lme4 and lmerTest already
    loaded, nothing kept from one script to the next), or in a one-shot
    ``Rscript --vanilla`` when ``COAFFECT_R_SERVER=0`` or no server can run it.

    Parameters
    ----------
    script : str
        The R code.
    inputs : dict
        File name -> text, written before R starts.
    out_name : str
        The file the script writes.
    timeout : float
        Seconds before giving up.
    what : str
        Who asks, for messages (``engine lme4``, ``batch``).

    Returns
    -------
    str
        The text of ``out_name``.

    Raises
    ------
    AnalysisError
        No Rscript, a timeout, or R failed (its last lines; a hint when a package is missing).

    Examples
    --------
    >>> text = run_rscript('a <- commandArgs(TRUE); writeLines(toupper(readLines(a[1])), a[2])',
    ...                    {"in.txt": "lme4"}, "out.txt", 60, "example")
    >>> text.strip()
    'LME4'
    """
    exe = rscript()
    if exe is None:
        raise AnalysisError(
            f"{what}: Rscript not found",
            hint="install R with lme4 and lmerTest (Debian: r-cran-lme4 r-cran-lmertest) "
            "or use `engine` statsmodels",
        )
    with tempfile.TemporaryDirectory(prefix="coaffect-r-") as name:
        tmp = Path(name)
        (tmp / "script.R").write_text(script)
        for file, text in inputs.items():
            (tmp / file).write_text(text)
        argv = [str(tmp / f) for f in [*inputs, out_name]]
        try:
            status = r_server.run(exe, tmp, tmp / "script.R", argv, timeout) if r_server.enabled() else None
            if status is not None and status >= 0:
                code = status
                stderr = (tmp / "stderr.txt").read_text() if (tmp / "stderr.txt").exists() else ""
            else:  # no server, or its child died: the one-shot Rscript gives R's own answer
                (tmp / out_name).unlink(missing_ok=True)
                proc = subprocess.run(
                    [exe, "--vanilla", str(tmp / "script.R"), *argv],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
                code, stderr = proc.returncode, proc.stderr
        except (subprocess.TimeoutExpired, TimeoutError):
            raise AnalysisError(f"{what}: R did not finish within {timeout:.0f} s") from None
        out = tmp / out_name
        if code != 0 or not out.exists():
            err = " | ".join(stderr.strip().splitlines()[-3:]) or "(no message)"
            hint = (
                "install the R packages: apt-get install r-cran-lme4 r-cran-lmertest"
                if "there is no package" in stderr
                else "use `engine` statsmodels"
            )
            raise AnalysisError(f"{what}: R failed: {err}", hint=hint)
        return out.read_text()


def _one(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


#: Grouping columns R's formula may name (each present only where the design has it).
_R_GROUPING = (
    "participant_id",
    "stimulus_id",
    "session_id",
    "in_group",
    "stimulus_condition",
    "participant_valence",
    "session_stimulus",
    "observation",
)

#: The grouping factors among them (R turns these columns into factors).
R_FACTORS = [c for c in _R_GROUPING if c != "in_group"]


def r_frame(md) -> tuple[pd.DataFrame, dict]:
    """The table R fits: ``y``, the fixed-effect columns as ``X1..Xk``, and the grouping columns.

    Returns the frame and the map ``X<i>`` -> coefficient name (R sees plain names).
    """
    names = {f"X{i + 1}": term for i, term in enumerate(md.X.columns)}
    frame = pd.DataFrame({"y": md.data[md.dv].astype(float).to_numpy()})
    for key, term in names.items():
        frame[key] = md.X[term].to_numpy()
    for c in _R_GROUPING:
        if c in md.data.columns:
            frame[c] = md.data[c].to_numpy()
    if getattr(md, "offset", None) is not None:
        frame["log_exposure"] = np.log(md.data[md.offset].astype(float).to_numpy())
    return frame, names


@fill_doc
def fit_lme4(
    md: ModelData,
    timeout: float = 600,
    contrasts: dict | None = None,
    ddf: str = "Satterthwaite",
    family: str = "gaussian",
    n_boot: int = 0,
    seed: int = 1,
) -> MixedModelResult:
    """Fit a :class:`~analysis.stats.model_data.ModelData` with lme4 + lmerTest in R (:func:`run_rscript`).

    Parameters
    ----------
    md : ModelData
        From :func:`analysis.stats.model_data.model_data`.
    timeout : float
        Seconds before giving up on R.
    contrasts : dict, optional
        name -> {"L": rows over the fixed effects, "joint": bool}: tested in R by
        ``lmerTest::contest`` with the same df method (joint F, or one t per row);
        the results are in ``result.tests``.
    %(ddf)s
    family : {"gaussian", "binomial", "poisson"}
        ``glmer`` (Laplace, Wald z tests, logit/log link) for the non-Gaussian ones.
    n_boot, seed : int
        Parametric bootstrap draws (lme4 ``bootMer``) of the fixed effects and
        variances of a Gaussian model, in ``result.boot`` (a DataFrame; 0: none).

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
    Not run as a doctest: it runs R (seconds; tests/test_stats_lme4.py checks it against lme4).

    >>> res = fit_lme4(model_data(trials, "AU12 ~ condition + valence"))  # doctest: +SKIP
    >>> res.fixed.loc[1, ["term", "df"]].tolist()                         # doctest: +SKIP
    ['condition[group-alone]', 37.2]
    """
    from scipy import stats as sps

    frame, names = r_frame(md)
    extra = [R_TERMS[r] for r in md.random]
    if md.offset is not None:
        extra.insert(0, "offset(log_exposure)")
    formula = "y ~ " + " + ".join(["0", *names, *extra])
    spec = {
        "formula": formula,
        "mixed": bool(md.random),
        "ddf": ddf,
        "family": family,
        "fixed_cols": list(names),
        "boot": int(n_boot),
        "seed": int(seed),
        "extra_terms": extra,
        "grouping": R_FACTORS,
        "contrasts": {
            k: {"L": np.asarray(v["L"], float).tolist(), "joint": bool(v["joint"])}
            for k, v in (contrasts or {}).items()
        },
    }
    text = run_rscript(
        _R_SCRIPT,
        {"data.csv": frame.to_csv(index=False), "spec.json": json.dumps(spec)},
        "out.json",
        timeout,
        "engine lme4",
    )
    out = json.loads(text)
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
    rand = pd.DataFrame(
        {
            "component": comp,
            "variance": np.asarray([np.nan if v is None else v for v in out["random"]["variance"]], float),
        }
    )
    rand = rand[~((rand["component"] == "residual") & rand["variance"].isna())]
    order = {c: i for i, c in enumerate([*md.random, "residual"])}
    rand = rand.sort_values("component", key=lambda s: s.map(order)).reset_index(drop=True)
    rand["sd"] = np.sqrt(rand["variance"].clip(lower=0))
    full = f"{md.formula} + {md.random_formula()}" if md.random else md.formula
    if md.offset is not None:
        full = full.replace(" + ", f" + offset(log({md.offset})) + ", 1) if md.random else full
    converged = bool(_one(out["converged"]))
    secs = _one(out["seconds"])
    loglik = _one(out["loglik"])
    used_ddf = _one(out.get("ddf", ddf))
    tests = {
        k: {kk: np.asarray(vv, float) for kk, vv in v.items()} for k, v in (out.get("tests") or {}).items()
    }
    res = MixedModelResult(
        "lme4",
        md.formula,
        full,
        table,
        rand,
        md.n_levels(),
        converged,
        list(out["warnings"]),
        f"t ({used_ddf})" if family == "gaussian" else f"z (Wald, glmer {family})",
        float(secs),
        list(md.notes),
        float(loglik),
    )
    res.singular = bool(_one(out.get("singular", False)))
    if out.get("vcov") is not None:
        res.vcov = np.asarray(out["vcov"], float).reshape(len(est), len(est))
    res.family = family
    res.tests = tests
    boot = out.get("boot")
    if boot and boot.get("draws"):
        cols = [names.get(c, "residual" if c == "Residual" else c) for c in boot["names"]]
        # a bootstrap refit that failed comes back as NA (or empty): that draw is left out whole
        draws = pd.DataFrame(boot["draws"], columns=cols).apply(pd.to_numeric, errors="coerce")
        res.boot = draws.dropna().reset_index(drop=True)
    res.versions = {k: _one(v) for k, v in (out.get("versions") or {}).items()}
    return res
