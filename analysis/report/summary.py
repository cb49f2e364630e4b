"""The report's first section: the answer, group minus alone for each outcome, in plain words.

One row per fitted model with a group effect: the coefficient ``condition[group-alone]``
(deviation coding: averaged over the other factors' levels) with its 95% CI and p,
the standardised ``d_group`` with its CI for Gaussian models, and a sentence. When the
design cannot support a test of condition the row says "not interpretable" and why,
and shows no interval or p (as every table of that model does). Facial outcomes
name the bounds of :func:`analysis.stats.face_loss.lee_bounds` when face loss differed
between conditions.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..stats.inference import GROUP_TERM
from ..stats.model_data import is_face_column

#: Columns of :func:`answer_table`.
ANSWER_COLUMNS = (
    "model",
    "outcome",
    "scale",
    "estimate",
    "ci_low",
    "ci_high",
    "p_val",
    "d",
    "d_ci_low",
    "d_ci_high",
    "interpretable",
    "reading",
)

_SCALES = {"binomial": "log odds ratio", "poisson": "log rate ratio", "gaussian": "outcome units"}


def _num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "p < .001" if p < 0.001 else f"p = {p:.3f}".replace("0.", ".", 1)


def answer_table(models: list, bounds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Group minus alone per model, or "not interpretable" with the reason.

    Parameters
    ----------
    models : list of MixedModelResult
        In report order (their position is the anchor ``#model-<i>`` of their details).
    bounds : pandas.DataFrame, optional
        Lee bounds per facial formula (:data:`analysis.stats.face_loss.BOUND_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        :data:`ANSWER_COLUMNS`; ``model`` is the position in ``models``.

    Examples
    --------
    >>> from analysis.stats import fit_mixed
    >>> res = fit_mixed(trials, "AU12 ~ condition", engine="statsmodels")
    >>> answer_table([res])[["outcome", "scale", "interpretable"]].values.tolist()
    [['AU12', 'outcome units', True]]
    """
    rows = []
    for i, res in enumerate(models):
        fixed = res.fixed.set_index("term")
        if GROUP_TERM not in fixed.index:
            continue
        g = fixed.loc[GROUP_TERM]
        dv = res.formula.split("~", 1)[0].strip()
        scale = _SCALES.get(res.family, "")
        d = dlow = dhigh = np.nan
        if res.effect_sizes is not None and len(res.effect_sizes):
            es = res.effect_sizes.set_index("measure")
            if "d_group" in es.index:
                d, dlow, dhigh = (float(es.loc["d_group", c]) for c in ("value", "ci_low", "ci_high"))
        ok = not res.verdict
        if not ok:
            reading = "Not interpretable: " + res.verdict.removeprefix("NOT INTERPRETABLE: ")
        else:
            est, p = float(g["estimate"]), float(g["p_val"])
            more = "more" if est > 0 else "less"
            reading = (
                f"Group viewers showed {more} {dv} than alone viewers ({_p(p)}; 95% CI "
                f"{_num(g['ci_low'])} to {_num(g['ci_high'])} {scale}, averaged over the other factors)"
                if p < 0.05
                else f"No reliable difference between group and alone viewers in {dv} ({_p(p)}; the 95% CI, "
                f"{_num(g['ci_low'])} to {_num(g['ci_high'])} {scale}, includes zero)"
            )
            if is_face_column(dv) and bounds is not None and len(bounds):
                b = bounds[bounds["formula"] == res.formula]
                if len(b):
                    b = b.iloc[0]
                    worse = "groups" if b["kept_group"] < b["kept_alone"] else "alone viewers"
                    reading += (
                        f". Faces were lost more often in {worse} (trials kept: {b['kept_group']:.0%} in groups, "
                        f"{b['kept_alone']:.0%} alone); whichever trials were lost, the group effect lies between "
                        f"{_num(b['lower'])} and {_num(b['upper'])} (Lee bounds)"
                    )
            reading += "."
        rows.append(
            {
                "model": i,
                "outcome": dv,
                "scale": scale,
                "estimate": float(g["estimate"]),
                "ci_low": float(g["ci_low"]),
                "ci_high": float(g["ci_high"]),
                "p_val": float(g["p_val"]),
                "d": d,
                "d_ci_low": dlow,
                "d_ci_high": dhigh,
                "interpretable": ok,
                "reading": reading,
            }
        )
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))


def answer_html(table: pd.DataFrame, models: list) -> str:
    """The answer as the report's first section: a sentence and a row per outcome, linked to details."""
    if not len(table):
        return "<p class='missing'>No model with a group-vs-alone term was fitted.</p>"
    head = (
        "<p>For each outcome: the difference between group and alone viewers from its mixed model "
        "(group minus alone, averaged over the clip types), its 95% confidence interval and p, and the "
        "standardised difference d with its interval. Facial measures are facial movements, not felt "
        "emotions. Follow an outcome's link for its full model.</p>"
    )
    cells = []
    for r in table.itertuples(index=False):
        res = models[int(r.model)]
        link = f"<a href='#model-{int(r.model)}'>{html.escape(res.formula)}</a>"
        if r.interpretable:
            diff = f"{_num(r.estimate)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
            dd = f"{_num(r.d)} [{_num(r.d_ci_low)}, {_num(r.d_ci_high)}]" if np.isfinite(r.d) else "n/a"
            p = _p(r.p_val)
        else:
            diff, dd, p = "withheld", "withheld", "withheld"
        cells.append(
            f"<tr><td>{html.escape(r.outcome)}</td><td>{diff} <small>{html.escape(r.scale)}</small></td>"
            f"<td>{p}</td><td>{dd}</td><td class='reading'>{html.escape(r.reading)}</td><td>{link}</td></tr>"
        )
    return (
        head
        + "<div class='wide'><table id='answer'><thead><tr><th>outcome</th><th>group &minus; alone [95% CI]</th>"
        "<th>p</th><th>d [95% CI]</th><th>in words</th><th>details</th></tr></thead><tbody>"
        + "".join(cells)
        + "</tbody></table></div>"
    )
