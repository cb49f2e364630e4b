"""Linear mixed models with statsmodels MixedLM (the labelled fallback engine, used without R).

Crossed random effects follow the statsmodels recipe: the whole data set is
one group and each random term is a variance component (participants,
stimuli, group sessions, clip x condition, participant x valence, group
session x clip). Alone participants have no session column, so the session
and session x clip components only touch group sessions, as lme4's
``(0 + in_group | session_id)`` and ``(0 + in_group | session_id:stimulus_id)``.
Fitted by REML; tests are Wald z tests (too narrow with few clips or group
sessions: the default engine is lme4 with Satterthwaite df).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from .model_data import GROUP_ONLY, ModelData
from .result import FIXED_COLUMNS, SINGULAR_SD_RATIO, MixedModelResult


def _one_blas_thread():
    """Run BLAS single-threaded: the matrices are small, and OpenBLAS threads on a
    busy 2-core machine made each fit 7x slower (19 s instead of 2.7 s, measured)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/pingouin
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _indicators(values: pd.Series, weight: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
    levels = sorted(values.unique())
    codes = pd.Categorical(values, categories=levels).codes
    Z = np.zeros((len(values), len(levels)))
    Z[np.arange(len(values)), codes] = 1.0 if weight is None else weight
    keep = np.abs(Z).sum(axis=0) > 0
    return [str(lv) for lv, k in zip(levels, keep) if k], Z[:, keep]


#: statsmodels warnings that only say we stopped its optimiser at iteration 0 on purpose.
_STOPPED_ON_PURPOSE = ("optimization failed", "failed to converge", "different optimizer")


#: statsmodels minor versions whose private MixedLM attributes (_cov_sing, _freepat) we set.
_TESTED_STATSMODELS = ("0.14", "0.15")


def _private_api_ok() -> bool:
    """True when the installed statsmodels is one whose MixedLM internals we rely on."""
    import statsmodels

    return statsmodels.__version__.startswith(_TESTED_STATSMODELS)


def _best_fit(model, k_vc: int):
    """REML fit whose variance search respects the zero boundary, as lme4's does.

    statsmodels profiles the fixed effects and the residual variance out and
    optimises the square roots ``theta`` of the variance ratios without
    bounds. From its default start its L-BFGS can stop at a poor local optimum
    when the true optimum is on the boundary (seen here: variances
    0.24/0.73/0.03 with REML log-likelihood -581.6, where near-zero variances
    give -575.4 and lme4 returns zeros). So we first maximise statsmodels' own
    profiled REML criterion over ``theta >= 0`` with bounded L-BFGS-B from
    several starts (like lme4's bounded optimiser), then let statsmodels fit
    from that optimum to produce its results object, and keep whichever has
    the higher criterion.
    """
    from scipy.optimize import minimize
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    def params(vcomp):
        return MixedLMParams.from_components(
            fe_params=None, cov_re=np.zeros((0, 0)), vcomp=np.asarray(vcomp, float)
        )

    fits = []
    if k_vc and not _private_api_ok():
        import statsmodels

        fits_note = (
            f"statsmodels {statsmodels.__version__} is not a version the bounded REML search was "
            f"tested with ({', '.join(_TESTED_STATSMODELS)}.x): used statsmodels' own optimiser, "
            "which can stop at a local optimum when a variance is near zero; use --engine lme4"
        )
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            f = model.fit(reml=True, method=["lbfgs"])
        return f, [fits_note, *(str(w.message).splitlines()[0] for w in wlist)]
    if k_vc:

        def neg_reml(theta):
            try:
                value = -model.loglike(params(theta**2), profile_fe=True)
            except (np.linalg.LinAlgError, ValueError):
                return 1e300
            return value if np.isfinite(value) else 1e300

        # attributes that MixedLM.fit() would set before evaluating the criterion
        model.reml, model.fe_pen, model.cov_pen = True, None, None
        model._cov_sing, model._freepat = 0, None
        best = min(
            (
                minimize(neg_reml, np.full(k_vc, start), method="L-BFGS-B", bounds=[(1e-6, None)] * k_vc)
                for start in (1.0, 0.3, 0.05)
            ),
            key=lambda res: res.fun,  # the first of equal optima, as before
        )
        start = params(best.x**2)
        for kwargs in ({"maxiter": 0}, {}):  # results object at the bounded optimum; then free
            with warnings.catch_warnings(record=True) as wlist:
                warnings.simplefilter("always")
                try:
                    f = model.fit(reml=True, method=["lbfgs"], start_params=start, **kwargs)
                except (np.linalg.LinAlgError, ValueError):
                    continue
            msgs = [str(w.message).splitlines()[0] for w in wlist]
            if "maxiter" in kwargs:  # stopped on purpose: convergence is the bounded search's
                f.converged = bool(best.success)
                msgs = [m for m in msgs if not any(k in m for k in _STOPPED_ON_PURPOSE)]
            fits.append((f, msgs))
    if not fits:
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            f = model.fit(reml=True, method=["lbfgs"])
        fits.append((f, [str(w.message).splitlines()[0] for w in wlist]))
    return max(fits, key=lambda fm: fm[0].llf if np.isfinite(fm[0].llf) else -np.inf)


def mixedlm_model(md: ModelData):
    """The statsmodels ``MixedLM`` of a model: one group, one variance component per factor.

    Returns
    -------
    (statsmodels MixedLM, list of str)
        The unfitted model and the names of its variance components.

    Examples
    --------
    >>> from analysis.stats.model_data import model_data
    >>> model, names = mixedlm_model(model_data(trials, "AU12 ~ condition"))
    >>> names
    ['participant_id', 'stimulus_id', 'session_id', 'session_stimulus']
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

    d = md.data
    names, colnames, mats = [], [], []
    for comp in md.random:
        weight = d["in_group"].to_numpy() if comp in GROUP_ONLY else None
        cols, Z = _indicators(d[comp], weight)
        names.append(comp)
        colnames.append([cols])
        mats.append([Z])
    groups = np.zeros(len(d))
    y = d[md.dv].astype(float).to_numpy()
    if names:
        return MixedLM(y, md.X, groups, exog_vc=VCSpec(names, colnames, mats)), names
    # one observation per participant and stimulus: an ordinary regression
    return MixedLM(y, md.X, groups, exog_re=np.zeros((len(d), 0))), names


def fit_statsmodels(md: ModelData) -> MixedModelResult:
    """Fit a :class:`~analysis.stats.model_data.ModelData` with statsmodels MixedLM (REML).

    Parameters
    ----------
    md : ModelData
        From :func:`analysis.stats.model_data.model_data`.

    Returns
    -------
    MixedModelResult
        ``fixed`` with Wald z tests (df = inf) and 95% normal CIs; ``random``
        with the REML variance of each component and the residual.

    Examples
    --------
    >>> from analysis.stats.model_data import model_data
    >>> res = fit_statsmodels(model_data(trials, "AU12 ~ condition + valence"))
    >>> res.fixed[["term", "estimate", "p_val"]].round(3)
                                term  estimate  p_val
    0                      Intercept     0.822  0.009
    1         condition[group-alone]     0.361  0.566
    2  valence[negative-bittersweet]     0.391  0.665
    3  valence[positive-bittersweet]     1.187  0.269
    """
    X = md.X
    t0 = time.perf_counter()
    with _one_blas_thread():
        model, names = mixedlm_model(md)
        fit, msgs = _best_fit(model, len(names))
    seconds = time.perf_counter() - t0
    caught = sorted(set(msgs))
    fe = fit.fe_params
    se = fit.bse_fe
    z = fe / se
    p = 2 * sps.norm.sf(np.abs(z))
    q = sps.norm.ppf(0.975)
    fixed = pd.DataFrame(
        {
            "term": list(X.columns),
            "estimate": fe.to_numpy(),
            "se": se.to_numpy(),
            "df": np.inf,
            "stat": z.to_numpy(),
            "p_val": p,
            "ci_low": (fe - q * se).to_numpy(),
            "ci_high": (fe + q * se).to_numpy(),
        },
        columns=list(FIXED_COLUMNS),
    )
    vc = np.atleast_1d(np.asarray(fit.vcomp, dtype=float)) if names else np.array([])
    rand = pd.DataFrame({"component": names + ["residual"], "variance": list(vc) + [float(fit.scale)]})
    rand["sd"] = np.sqrt(rand["variance"].clip(lower=0))
    full = f"{md.formula} + {md.random_formula()}" if md.random else md.formula
    k = X.shape[1]
    vcov = np.asarray(fit.cov_params())[:k, :k]
    res = MixedModelResult(
        "statsmodels",
        md.formula,
        full,
        fixed,
        rand,
        md.n_levels(),
        bool(fit.converged),
        caught,
        "z (Wald)",
        seconds,
        list(md.notes),
        float(fit.llf),
    )
    res.vcov = vcov
    resid_sd = np.sqrt(max(float(fit.scale), 1e-300))
    res.singular = bool(len(vc) and (np.sqrt(np.clip(vc, 0, None)) / resid_sd < SINGULAR_SD_RATIO).any())
    import statsmodels

    res.versions = {"statsmodels": statsmodels.__version__}
    return res
