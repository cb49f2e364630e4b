"""Omnibus tests, estimated marginal means and effect sizes of a fitted mixed model.

Both engines get the same contrast matrices over the fixed effects: with lme4
they are tested in R by ``lmerTest::contest`` (Satterthwaite or Kenward-Roger
df, the same method as the coefficient table); with statsmodels by Wald tests
(F with infinite denominator df, labelled as such).

* Omnibus (Type III) test of a term: all its coefficients zero at once. With
  deviation coding every other term is averaged over this term's levels, so
  the test is the Type III test whatever the level names (Fox & Weisberg 2019).
* Estimated marginal means (Searle, Speed & Milliken 1980; what R's emmeans
  computes): the model's prediction for each level averaged with equal weight
  over the levels of the other factors, numeric covariates at their mean.
* Effect sizes: marginal and conditional R2 (Nakagawa & Schielzeth 2013;
  Johnson 2014 for the session slope), ICC of each random term, and the
  standardised group effect for crossed designs (Westfall, Kenny & Judd 2014:
  the difference divided by the square root of the sum of all variance
  components).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps

from .model_data import GROUP_ONLY, ModelData
from .result import MixedModelResult

#: The coefficient read as "the group effect" (deviation coding: group minus alone).
GROUP_TERM = "condition[group-alone]"

#: Effect sizes that are inferences on the group effect (withheld with it).
GROUP_MEASURES = ("d_group", "TOST_p")


def contrasts(md: ModelData) -> dict:
    """Contrast matrices of a model: one joint test per fixed term, one row per EMM.

    Returns
    -------
    dict
        ``omnibus:<term>`` -> {"L", "joint": True}; ``emm:<factor>`` ->
        {"L", "joint": False, "levels"} (also ``emm:condition:valence`` cells).

    Examples
    --------
    >>> from analysis.stats.model_data import model_data
    >>> md = model_data(trials, "AU12 ~ condition * valence")
    >>> sorted(contrasts(md))
    ['emm:condition', 'emm:condition:valence', 'emm:valence', 'omnibus:condition', 'omnibus:condition:valence', 'omnibus:valence']
    """
    cols = list(md.X.columns)
    out = {}
    for term, tcols in md.terms.items():
        if term == "Intercept" or not tcols:
            continue
        L = np.zeros((len(tcols), len(cols)))
        for i, c in enumerate(tcols):
            L[i, cols.index(c)] = 1.0
        out[f"omnibus:{term}"] = {"L": L, "joint": True}
    if not md.factors or md.design_info is None:
        return out
    import patsy

    names = list(md.factors)
    grid = pd.DataFrame(list(itertools.product(*md.factors.values())), columns=names)
    for c in md.data.columns:
        if c not in grid.columns and pd.api.types.is_numeric_dtype(md.data[c]):
            grid[c] = float(md.data[c].mean())
    try:
        (G,) = patsy.build_design_matrices([md.design_info], grid)
    except patsy.PatsyError:  # a covariate the grid cannot supply: no EMMs
        return out
    G = np.asarray(G)
    sets = [[n] for n in names]
    if len(names) > 1:
        sets.append(names)
    for group in sets:
        rows, labels = [], []
        keys = grid[group].astype(str).agg(":".join, axis=1)
        for key in dict.fromkeys(keys):
            rows.append(G[(keys == key).to_numpy()].mean(axis=0))
            labels.append((key,))
        out["emm:" + ":".join(group)] = {
            "L": np.vstack(rows),
            "joint": False,
            "levels": [":".join(map(str, k)) for k in labels],
        }
    return out


def _wald(res: MixedModelResult, L: np.ndarray, joint: bool) -> dict:
    b = res.fixed["estimate"].to_numpy()
    V = np.asarray(res.vcov)
    est = L @ b
    cov = L @ V @ L.T
    if joint:
        q = L.shape[0]
        F = float(est @ np.linalg.solve(cov, est) / q)
        return {
            "F": np.array([F]),
            "df1": np.array([q]),
            "df2": np.array([np.inf]),
            "p": np.array([sps.chi2.sf(F * q, q)]),
        }
    se = np.sqrt(np.diag(cov))
    z = est / se
    return {
        "estimate": est,
        "se": se,
        "df": np.full(len(est), np.inf),
        "stat": z,
        "p": 2 * sps.norm.sf(np.abs(z)),
    }


def contrast_results(md: ModelData, res: MixedModelResult, specs: dict) -> None:
    """Fill ``res.omnibus`` and ``res.emms`` from R's tests or, for statsmodels, Wald tests."""
    tests = dict(res.tests)
    for name, spec in specs.items():
        if name not in tests and res.vcov is not None:
            tests[name] = _wald(res, np.asarray(spec["L"]), spec["joint"])
    om, em = [], []
    for name, spec in specs.items():
        t = tests.get(name)
        if t is None:
            continue
        if spec["joint"]:
            om.append(
                {
                    "term": name.split(":", 1)[1],
                    "F": float(t["F"][0]),
                    "df1": float(t["df1"][0]),
                    "df2": float(t["df2"][0]),
                    "p_val": float(t["p"][0]),
                }
            )
        else:
            q = sps.t.ppf(0.975, t["df"])
            for i, level in enumerate(spec["levels"]):
                em.append(
                    {
                        "factor": name.split(":", 1)[1],
                        "level": level,
                        "estimate": float(t["estimate"][i]),
                        "se": float(t["se"][i]),
                        "df": float(t["df"][i]),
                        "ci_low": float(t["estimate"][i] - q[i] * t["se"][i]),
                        "ci_high": float(t["estimate"][i] + q[i] * t["se"][i]),
                    }
                )
    res.omnibus = pd.DataFrame(om, columns=["term", "F", "df1", "df2", "p_val"])
    res.emms = pd.DataFrame(em, columns=["factor", "level", "estimate", "se", "df", "ci_low", "ci_high"])


def _standardised(md: ModelData, beta: np.ndarray, comp: dict) -> tuple[dict, float]:
    """R2, ICCs and d_group from fixed effects and variance components, all on one scale.

    The scale is the variance an observation draws from: every random term, the
    terms only group sessions have weighted by the share of group trials (Johnson
    2014), and the residual; R2, the ICCs and ``d_group`` divide by the same total.
    """
    var_f = float(np.var(md.X.to_numpy() @ beta))
    share = float(md.data["in_group"].mean())
    var_re = {
        c: max(float(v), 0.0) * (share if c in GROUP_ONLY else 1.0)
        for c, v in comp.items()
        if c != "residual"
    }
    resid = float(comp.get("residual", np.nan))
    total_re = sum(var_re.values())
    out = {
        "R2_marginal": var_f / (var_f + total_re + resid),
        "R2_conditional": (var_f + total_re) / (var_f + total_re + resid),
    }
    out.update({f"ICC_{c}": v / (total_re + resid) for c, v in var_re.items()})
    cols = list(md.X.columns)
    sd = float(np.sqrt(total_re + resid))
    if GROUP_TERM in cols:
        out["d_group"] = float(beta[cols.index(GROUP_TERM)]) / sd
    return out, sd


#: What each effect size is, for the table's ``note``.
EFFECT_NOTES = {
    "R2_marginal": "fixed effects (Nakagawa & Schielzeth 2013)",
    "R2_conditional": "fixed and random effects",
    "d_group": "group minus alone / sqrt(sum of variance components, group-only terms weighted by the "
    "share of group trials) (Westfall, Kenny & Judd 2014)",
}


def effect_sizes(md: ModelData, res: MixedModelResult, tost_bound: float | None = None) -> pd.DataFrame:
    """R2 (marginal, conditional), ICC per random term, standardised group effect with CIs, TOST.

    All on one scale (:func:`_standardised`). CIs: percentiles of the parametric
    bootstrap in ``res.boot`` (lme4 ``bootMer``: the whole model refitted to data
    simulated from it, so the uncertainty of the variances is in them); without it
    (statsmodels), ``d_group``'s CI is the group effect's CI divided by the
    estimated SD (conditional on the variances, so somewhat too narrow) and the
    others have none; ``note`` says which.

    Parameters
    ----------
    md, res : the model's data and its fit.
    tost_bound : float, optional
        Equivalence bound for the group effect in standardised units (d); adds the
        two one-sided tests (Lakens 2017) on the group coefficient.

    Returns
    -------
    pandas.DataFrame
        measure, value, ci_low, ci_high, note.

    Examples
    --------
    >>> from analysis.stats.mixed_statsmodels import fit_statsmodels
    >>> from analysis.stats.model_data import model_data
    >>> md = model_data(trials, "AU12 ~ condition + valence")
    >>> effect_sizes(md, fit_statsmodels(md)).set_index("measure")["value"].round(3)
    measure
    R2_marginal             0.142
    R2_conditional          0.142
    ICC_participant_id      0.000
    ICC_session_id          0.000
    ICC_session_stimulus    0.000
    d_group                 0.266
    Name: value, dtype: float64
    """
    beta = res.fixed["estimate"].to_numpy()
    comp = res.random.set_index("component")["variance"].to_dict()
    point, sd = _standardised(md, beta, comp)
    boot = res.boot if res.boot is not None and len(res.boot) else None
    draws = []
    if boot is not None:
        fixed_cols = list(md.X.columns)
        for row in boot.itertuples(index=False):
            d = dict(zip(boot.columns, row))
            draws.append(
                _standardised(md, np.array([d[c] for c in fixed_cols]), {c: d[c] for c in comp if c in d})[0]
            )
    rows = []
    for measure, value in point.items():
        low = high = np.nan
        how = ""
        if draws:
            vals = np.array([d.get(measure, np.nan) for d in draws], float)
            vals = vals[np.isfinite(vals)]
            if len(vals) >= 20:
                low, high = np.percentile(vals, [2.5, 97.5])
                how = f"; 95% CI: parametric bootstrap, {len(vals)} draws"
        elif measure == "d_group":
            g = res.fixed.set_index("term").loc[GROUP_TERM]
            low, high = float(g["ci_low"]) / sd, float(g["ci_high"]) / sd
            how = "; 95% CI: the group effect's CI over the estimated SD (conditional on the variances)"
        note = EFFECT_NOTES.get(
            measure,
            "share of the non-fixed variance"
            + (" (weighted by the share of group trials)" if measure[4:] in GROUP_ONLY else ""),
        )
        rows.append({"measure": measure, "value": value, "ci_low": low, "ci_high": high, "note": note + how})
    if tost_bound is not None and "d_group" in point:
        fx = res.fixed.set_index("term")
        est, se = float(fx.loc[GROUP_TERM, "estimate"]), float(fx.loc[GROUP_TERM, "se"])
        df = float(fx.loc[GROUP_TERM, "df"])
        bound = tost_bound * sd
        dist = sps.t(df) if np.isfinite(df) else sps.norm()
        p_low = dist.sf((est + bound) / se)
        p_high = dist.cdf((est - bound) / se)
        rows.append(
            {
                "measure": "TOST_p",
                "value": float(max(p_low, p_high)),
                "ci_low": np.nan,
                "ci_high": np.nan,
                "note": f"equivalence of the group effect within +/-{tost_bound:g} d (Lakens 2017)",
            }
        )
    return pd.DataFrame(rows, columns=["measure", "value", "ci_low", "ci_high", "note"])
