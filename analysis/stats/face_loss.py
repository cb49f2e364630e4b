"""Is face loss the same in both conditions, and what if it is not (a bound on the group effect)?

Faces are lost while people turn to each other or laugh, so a group can lose
more trials than alone viewers, and not at random: if the lost trials are the
most expressive ones, the group's mean expression is biased down.
:func:`face_loss_test` compares the share of trials without usable facial
measures between conditions with a binomial GLMM (participants and group
sessions as random effects, so group members are not counted as independent;
a likelihood-ratio p). When the shares differ, :func:`lee_bounds` gives the
range of group effects that any selection of the lost trials could produce
(Lee 2009): the condition that kept more trials is trimmed by the excess
share, once from the top and once from the bottom of its outcome within each
valence, and the model is refitted; the true effect lies between the two
estimates if face loss only ever removes trials (monotone selection), whatever
the lost trials' values were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from .inference import GROUP_TERM

#: Columns of :attr:`FaceLoss.table`.
FACE_LOSS_COLUMNS = ("condition", "trials", "face_lost", "share_lost", "mean_face_fraction")

#: Columns of :func:`lee_bounds` rows.
BOUND_COLUMNS = (
    "formula",
    "estimate",
    "lower",
    "upper",
    "trimmed_condition",
    "trimmed_share",
    "kept_alone",
    "kept_group",
)


@dataclass
class FaceLoss:
    """Face loss by condition and, when it differs, the bounds on each facial model's group effect.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`FACE_LOSS_COLUMNS`, one row per condition (trials not excluded).
    p_val : float
        Likelihood-ratio p of condition in ``face_lost ~ condition`` (NaN when not testable).
    estimate : float
        The condition coefficient (log odds with lme4; a difference in shares with the
        statsmodels fallback, a linear probability model).
    differs : bool
        ``p_val < 0.05``: the bounds are computed.
    bounds : pandas.DataFrame
        :data:`BOUND_COLUMNS`, one row per facial model (empty when not computed).
    note : str
        What was tested and how, or why not, in words.
    """

    table: pd.DataFrame
    p_val: float = np.nan
    estimate: float = np.nan
    differs: bool = False
    bounds: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(BOUND_COLUMNS)))
    note: str = ""


def face_loss_test(trials: pd.DataFrame, engine: str = "auto") -> FaceLoss:
    """Share of trials without usable facial measures by condition, and a test of the difference.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table with ``face_excluded``; excluded trials are left out.
    engine : {"auto", "lme4", "statsmodels"}
        As for :func:`analysis.stats.fit.fit_mixed` (lme4: binomial GLMM; statsmodels:
        a linear probability model, labelled).

    Returns
    -------
    FaceLoss
        Without ``bounds`` (see :func:`lee_bounds`).

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> from analysis.simulate.trials import simulate_trials
    >>> t = simulate_trials(SimulationSpec(n_alone=20, n_group_sessions=8, p_dropout_group=0.4), seed=2)
    >>> loss = face_loss_test(t, engine="statsmodels")
    >>> loss.table["condition"].tolist(), bool(loss.differs)
    (['alone', 'group'], True)
    """
    from .fit import fit_mixed

    ok = ~trials["excluded"].astype(bool) if "excluded" in trials.columns else pd.Series(True, trials.index)
    d = trials.loc[ok].copy()
    d["face_lost"] = d["face_excluded"].astype(bool)
    g = d.groupby("condition")
    table = pd.DataFrame(
        {
            "trials": g.size(),
            "face_lost": g["face_lost"].sum().astype(int),
            "share_lost": g["face_lost"].mean(),
            "mean_face_fraction": g["face_fraction"].mean() if "face_fraction" in d.columns else np.nan,
        }
    ).reset_index()[list(FACE_LOSS_COLUMNS)]
    if d["condition"].nunique() < 2:
        return FaceLoss(table, note="one condition only: nothing to compare")
    if d["face_lost"].nunique() < 2:
        return FaceLoss(table, note="no trial lost its face, or every trial did: nothing to test")
    try:
        res = fit_mixed(
            d[["participant_id", "session_id", "condition", "stimulus_id", "face_lost"]],
            "face_lost ~ condition",
            engine=engine,
        )
    except AnalysisError as exc:
        return FaceLoss(table, note=f"not tested: {exc.message}")
    row = res.fixed.set_index("term").loc[GROUP_TERM]
    how = (
        "binomial GLMM face_lost ~ condition with participants, clips and group sessions as random effects, "
        "likelihood-ratio p"
        if res.family == "binomial"
        else "linear probability model (statsmodels fallback, Wald z): a binomial GLMM needs R"
    )
    if res.verdict:
        how += f"; {res.verdict}"
    p = float(row["p_val"])
    return FaceLoss(table, p, float(row["estimate"]), bool(p < 0.05), note=how)


def lee_bounds(trials: pd.DataFrame, formula: str, engine: str = "auto", mixed_sources: bool = False) -> dict:
    """Bounds on the group effect of a facial model under any selective face loss (Lee 2009).

    The condition that kept the larger share of trials with a value is trimmed by
    ``(kept_high - kept_low) / kept_high`` of its observed trials, from the top of
    the outcome within each valence (one bound) and from the bottom (the other),
    and the model is refitted each time.

    Returns
    -------
    dict
        :data:`BOUND_COLUMNS`.

    Examples
    --------
    >>> b = lee_bounds(trials, "AU12 ~ condition", engine="statsmodels")
    >>> b["formula"], b["lower"] <= b["estimate"] <= b["upper"]
    ('AU12 ~ condition', True)
    """
    from .fit import fit_mixed

    dv = formula.split("~", 1)[0].strip()
    ok = trials.loc[~trials["excluded"].astype(bool)] if "excluded" in trials.columns else trials
    seen = ok[dv].notna() & ~ok["face_excluded"].astype(bool)
    kept = seen.groupby(ok["condition"]).mean()
    estimate = float(
        fit_mixed(trials, formula, engine=engine, mixed_sources=mixed_sources)
        .fixed.set_index("term")
        .loc[GROUP_TERM, "estimate"]
    )
    out = {
        "formula": formula,
        "estimate": estimate,
        "kept_alone": float(kept.get("alone", np.nan)),
        "kept_group": float(kept.get("group", np.nan)),
    }
    high = kept.idxmax()
    share = float((kept.max() - kept.min()) / kept.max()) if kept.max() > 0 else 0.0
    if share <= 0:
        return {**out, "lower": estimate, "upper": estimate, "trimmed_condition": "", "trimmed_share": 0.0}
    observed = ok[seen]
    by = ["valence"] if "valence" in observed.columns and "valence" in formula else []
    ests = []
    for top in (True, False):
        drop = []
        for _, part in (
            observed[observed["condition"] == high].groupby(by)
            if by
            else [(None, observed[observed["condition"] == high])]
        ):
            n = int(round(share * len(part)))
            if n:
                order = part[dv].sort_values(ascending=not top)
                drop += list(order.index[:n])
        fit = fit_mixed(trials.drop(index=drop), formula, engine=engine, mixed_sources=mixed_sources)
        ests.append(float(fit.fixed.set_index("term").loc[GROUP_TERM, "estimate"]))
    return {
        **out,
        "lower": min(ests),
        "upper": max(ests),
        "trimmed_condition": str(high),
        "trimmed_share": share,
    }
