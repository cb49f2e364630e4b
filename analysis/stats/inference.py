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
    >>> sorted(contrasts(md))  # doctest: +SKIP
    ['emm:condition', 'emm:condition:valence', 'emm:valence', 'omnibus:condition', ...]
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


def effect_sizes(md: ModelData, res: MixedModelResult, tost_bound: float | None = None) -> pd.DataFrame:
    """R2 (marginal, conditional), ICC per random term, standardised group effect, TOST.

    Parameters
    ----------
    md, res : the model's data and its fit.
    tost_bound : float, optional
        Equivalence bound for the group effect in standardised units (d); adds the
        two one-sided tests (Lakens 2017) on the group coefficient.

    Returns
    -------
    pandas.DataFrame
        measure, value, note.

    Examples
    --------
    >>> effect_sizes(md, res).set_index("measure").loc["R2_marginal", "value"]  # doctest: +SKIP
    0.12
    """
    beta = res.fixed["estimate"].to_numpy()
    var_f = float(np.var(md.X.to_numpy() @ beta))
    comp = res.random.set_index("component")["variance"]
    share = float(md.data["in_group"].mean())
    weight = {c: share for c in GROUP_ONLY}
    var_re = {c: float(v) * weight.get(c, 1.0) for c, v in comp.items() if c != "residual"}
    resid = float(comp.get("residual", np.nan))
    total_re = sum(var_re.values())
    total = var_f + total_re + resid
    rows = [
        {
            "measure": "R2_marginal",
            "value": var_f / total,
            "note": "fixed effects (Nakagawa & Schielzeth 2013)",
        },
        {
            "measure": "R2_conditional",
            "value": (var_f + total_re) / total,
            "note": "fixed and random effects",
        },
    ]
    for c, v in var_re.items():
        rows.append(
            {
                "measure": f"ICC_{c}",
                "value": v / (total_re + resid),
                "note": "share of the non-fixed variance"
                + (" (group trials' share)" if c in GROUP_ONLY else ""),
            }
        )
    fx = res.fixed.set_index("term")
    if GROUP_TERM in fx.index:
        # every variance component a new participant x new clip observation draws from
        denom = float(np.sqrt(comp.drop("residual", errors="ignore").clip(lower=0).sum() + resid))
        est, se = float(fx.loc[GROUP_TERM, "estimate"]), float(fx.loc[GROUP_TERM, "se"])
        rows.append(
            {
                "measure": "d_group",
                "value": est / denom,
                "note": "group minus alone / sqrt(sum of all variance components) (Westfall, Kenny & Judd 2014)",
            }
        )
        if tost_bound is not None:
            df = float(fx.loc[GROUP_TERM, "df"])
            bound = tost_bound * denom
            dist = sps.t(df) if np.isfinite(df) else sps.norm()
            p_low = dist.sf((est + bound) / se)
            p_high = dist.cdf((est - bound) / se)
            rows.append(
                {
                    "measure": "TOST_p",
                    "value": float(max(p_low, p_high)),
                    "note": f"equivalence of the group effect within +/-{tost_bound:g} d (Lakens 2017)",
                }
            )
    return pd.DataFrame(rows, columns=["measure", "value", "note"])
