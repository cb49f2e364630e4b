"""Fit one mixed model (:func:`fit_mixed`) or a hurdle pair (:func:`fit_hurdle`); no files are written."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_option, check_type
from coaffect.formats.errors import AnalysisError

from ..docstrings import fill_doc
from .inference import GROUP_MEASURES, GROUP_TERM, contrast_results, contrasts, effect_sizes
from .model_data import ModelData, model_data
from .result import SINGULAR_SD_RATIO, MixedModelResult, warning_lines

ENGINES = ("auto", "lme4", "statsmodels")
FAMILIES = ("auto", "gaussian", "binomial", "poisson")

#: Parametric bootstrap draws behind the effect sizes' CIs (lme4); Monte Carlo error of a
#: percentile at 2.5% with 200 draws is about 1% of the interval's width in each tail's position.
DEFAULT_BOOT = 200

#: Order in which random terms go when a fit is singular and variances tie (most complex first).
DROP_ORDER = [
    "observation",
    "participant_valence",
    "session_stimulus",
    "stimulus_condition",
    "session_id",
    "stimulus_id",
    "participant_id",
]


def singular_term(random: pd.DataFrame) -> tuple[str, bool]:
    """The random term the simplification rule drops from a singular fit, and whether it is at zero.

    The term with the smallest variance goes; every term at zero (SD below
    :data:`~.result.SINGULAR_SD_RATIO` of the residual SD) ties with it, and ties go
    in :data:`DROP_ORDER`, so two engines (or two runs) whose estimates of a zero
    variance differ by rounding drop the same term.

    Parameters
    ----------
    random : pandas.DataFrame
        A fit's ``random`` table (``component``, ``variance``; ``residual`` optional).

    Returns
    -------
    tuple of (str, bool)

    Examples
    --------
    >>> import pandas as pd
    >>> random = pd.DataFrame({"component": ["participant_id", "session_stimulus",
    ...                                      "participant_valence", "residual"],
    ...                        "variance": [0.2, 0.0, 3e-10, 1.0]})
    >>> singular_term(random)
    ('participant_valence', True)
    """
    var = random.set_index("component")["variance"].astype(float)
    resid = float(var["residual"]) if "residual" in var.index else 1.0
    comp = var.drop("residual", errors="ignore")
    zero = (SINGULAR_SD_RATIO**2) * resid
    smallest = float(comp.min())
    bound = max(smallest + 1e-12 * (1 + abs(smallest)), zero)
    ties = [c for c in DROP_ORDER if c in comp.index and comp[c] <= bound]
    drop = ties[0] if ties else str(comp.idxmin())
    return drop, bool(comp[drop] < zero)


def default_engine() -> str:
    """``lme4`` when ``Rscript`` is installed, else the labelled fallback ``statsmodels``."""
    from .mixed_lme4 import rscript

    return "lme4" if rscript() else "statsmodels"


def family_for(trials: pd.DataFrame, dv: str) -> str:
    """The family ``auto`` picks: binomial for yes/no outcomes, Poisson for counts, else Gaussian.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"any_simultaneous": [True, False], "n_switches": [0, 3], "AU12": [0.1, 0.2]})
    >>> [family_for(t, c) for c in t.columns]
    ['binomial', 'poisson', 'gaussian']
    """
    col = trials[dv] if dv in trials.columns else None
    if col is None:
        return "gaussian"
    if col.dtype == bool or dv.startswith("any_"):
        return "binomial"
    if dv.startswith("n_") and pd.api.types.is_integer_dtype(col):
        return "poisson"
    return "gaussian"


def _fit_once(
    md: ModelData, engine: str, specs: dict, ddf: str, family: str = "gaussian", n_boot: int = 0
) -> MixedModelResult:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if engine == "lme4":
            from .mixed_lme4 import fit_lme4

            res = fit_lme4(md, contrasts=specs, ddf=ddf, family=family, n_boot=n_boot)
        else:
            from .mixed_statsmodels import fit_statsmodels

            res = fit_statsmodels(md)
    # library RuntimeWarnings belong to the model, not to the console
    res.warnings += [w for w in warning_lines(caught) if w not in res.warnings]
    return res


def for_counts(md: ModelData) -> ModelData:
    """A count model's data with its exposure offset and an observation-level random effect.

    Counts of switches grow with the clip's length, so ``log(clip_duration)`` is an
    offset (the model is of the rate per second); the observation-level random
    intercept ``(1 | observation)`` absorbs overdispersion, the extra-Poisson
    variance that makes Poisson tests too liberal (Harrison 2014). Without a
    ``clip_duration`` column there is no offset, and the notes say so.
    """
    data = md.data.assign(observation=[f"o{i}" for i in range(len(md.data))])
    notes = list(md.notes)
    offset = None
    if "clip_duration" in data.columns and (data["clip_duration"].astype(float) > 0).all():
        offset = "clip_duration"
    else:
        notes.append("count model without an exposure offset: no clip_duration column")
    return replace(md, data=data, random=[*md.random, "observation"], offset=offset, notes=notes)


def lrt_for_terms(md: ModelData, res: MixedModelResult) -> None:
    """Put each one-column term's likelihood-ratio p (its omnibus row) on its coefficient (GLMMs)."""
    if res.omnibus is None or not len(res.omnibus):
        return
    p = res.omnibus.set_index("term")["p_val"]
    fixed = res.fixed.copy()
    for term, cols in md.terms.items():
        if term in p.index and len(cols) == 1:
            fixed.loc[fixed["term"] == cols[0], "p_val"] = p[term]
    res.fixed = fixed
    res.test = f"{res.test}; p: likelihood ratio"


@dataclass(frozen=True)
class Verdict:
    """Whether the design supports the tests of condition, in words.

    Attributes
    ----------
    text : str
        ``""`` when it does; else ``NOT INTERPRETABLE: <why> (every inference on condition withheld)``.
    blank_terms : tuple of str
        The factor whose inference is withheld (``("condition",)`` or empty).
    """

    text: str = ""
    blank_terms: tuple[str, ...] = ()


def verdict(md: ModelData) -> Verdict:
    """Plain words when the design cannot support a test of condition (pure: changes nothing).

    Examples
    --------
    The small study without its first group session:

    >>> from analysis.stats.model_data import model_data
    >>> one_group = trials[trials["session_id"] != "g01"]
    >>> print(verdict(model_data(one_group, "AU12 ~ condition")).text)  # doctest: +ELLIPSIS
    NOT INTERPRETABLE: only 1 group session: the group effect is confounded with that session ...
    """
    n = md.n_levels()
    by_cond = md.data.groupby("condition")["participant_id"].nunique()
    problems = []
    if "condition" in md.formula and "group" in set(md.data["condition"]) and n["group_sessions"] < 2:
        problems.append(
            f"only {n['group_sessions']} group session: the group effect is confounded with "
            "that session and is not identified as an effect of viewing in a group"
        )
    if len(by_cond) and by_cond.min() < 3:
        problems.append(
            f"only {int(by_cond.min())} participant(s) in condition '{by_cond.idxmin()}': "
            "too few for a test of condition"
        )
    if not problems:
        return Verdict()
    return Verdict(
        "NOT INTERPRETABLE: " + "; ".join(problems) + " (every inference on condition withheld)",
        ("condition",),
    )


#: Columns that carry an inference (tests, intervals, standardised effects): withheld alike
#: for every row about a factor the design cannot support (:func:`withhold`).
INFERENCE_COLUMNS: tuple[str, ...] = ("stat", "p_val", "ci_low", "ci_high", "F", "df1", "df2", "value")
INFERENCE_COLUMNS += ("p_unc", "p_corr", "T", "np2", "hedges", "bf10")  # pingouin's names


def withheld(table: pd.DataFrame | None, key: str, terms: tuple[str, ...]) -> pd.DataFrame | None:
    """A copy of ``table`` whose inference columns are blank (NaN) in rows whose ``key`` names a term.

    Estimates and SEs stay (they describe these data); tests, CIs and standardised effects go.

    Examples
    --------
    >>> t = pd.DataFrame({"term": ["Intercept", "condition[group-alone]"], "estimate": [1.0, 0.5],
    ...                   "p_val": [0.01, 0.03], "ci_low": [0.2, 0.1], "ci_high": [1.8, 0.9]})
    >>> withheld(t, "term", ("condition",))[["estimate", "p_val", "ci_low"]].values.tolist()
    [[1.0, 0.01, 0.2], [0.5, nan, nan]]
    """
    if table is None or not len(table) or not terms or key not in table.columns:
        return table
    out = table.copy()
    hit = out[key].astype(str).str.contains("|".join(terms))
    cols = [c for c in INFERENCE_COLUMNS if c in out.columns]
    out.loc[hit, cols] = np.nan
    return out


def withhold(res: MixedModelResult, v: Verdict) -> MixedModelResult:
    """``res`` with the verdict, and every inference on its blank terms withheld alike.

    Coefficient tests and CIs, omnibus tests, the CIs of marginal means involving the
    factor, and the standardised group effect (with its CI and TOST) are blanked; each
    withheld effect size says why in its note.
    """
    if not v.blank_terms:
        return replace(res, verdict=v.text)
    sizes = res.effect_sizes
    if sizes is not None and len(sizes):
        sizes = sizes.copy()
        hit = sizes["measure"].isin(GROUP_MEASURES)
        sizes.loc[hit, [c for c in INFERENCE_COLUMNS if c in sizes.columns]] = np.nan
        sizes.loc[hit, "note"] = "withheld: " + v.text
    return replace(
        res,
        verdict=v.text,
        fixed=withheld(res.fixed, "term", v.blank_terms),
        omnibus=withheld(res.omnibus, "term", v.blank_terms),
        emms=withheld(res.emms, "factor", v.blank_terms),
        effect_sizes=sizes,
    )


@fill_doc
def fit_mixed(
    trials: pd.DataFrame,
    formula: str,
    engine: str = "auto",
    coding: str = "deviation",
    reference: dict | None = None,
    ddf: str = "Satterthwaite",
    tost_bound: float | None = None,
    random: list[str] | None = None,
    family: str = "auto",
    n_boot: int = 0,
    mixed_sources: bool = False,
) -> MixedModelResult:
    """Fit one linear mixed model with crossed random effects and its omnibus tests, EMMs and effect sizes.

    Random part: the maximal structure the design identifies (Barr et al.
    2013), ``(1 | participant_id) + (1 | stimulus_id) + (0 + in_group |
    session_id) + (1 | stimulus_id:condition) + (1 | participant_id:valence)``.
    Terms the design cannot identify are dropped before fitting with the
    reason in words (``simplification``); a singular fit is simplified by
    the pre-stated rule :data:`analysis.stats.result.SIMPLIFICATION_RULE`.

    Parameters
    ----------
    %(trials)s
    formula : str
        Fixed part, ``"outcome ~ predictors"``; patsy/R syntax.
    %(engine)s
    coding : {"deviation", "treatment"}
        Factor coding; deviation (default) makes ``condition[group-alone]``
        the group effect averaged over valences.
    %(reference)s
    %(ddf)s
    tost_bound : float, optional
        Equivalence bound (d units) for a TOST of the group effect.
    random : list of str, optional
        Restrict the random terms (e.g. ``["participant_id", "stimulus_id",
        "session_id"]`` for the intercepts-only model).
    family : {"auto", "gaussian", "binomial", "poisson"}
        ``auto``: binomial GLMM (logit) for yes/no outcomes such as
        ``any_simultaneous``, Poisson GLMM (log) for counts ``n_*`` such as
        ``n_switches``, Gaussian otherwise. GLMMs need the lme4 engine; without R
        they are fitted as Gaussian with a note. See :func:`fit_hurdle` for
        zero-heavy durations.
    %(n_boot)s
    mixed_sources : bool
        Allow facial trials scored by different tools in one model
        (:func:`~analysis.stats.model_data.model_data`).

    Returns
    -------
    MixedModelResult
        Tidy ``fixed``, ``random``, ``omnibus``, ``emms``, ``effect_sizes``;
        ``simplification`` and ``verdict`` in words; ``coding``, ``reference`` and
        ``contrast_matrices`` as a refit in R needs them.

    Raises
    ------
    AnalysisError
        Unknown engine or column, too little data, R missing for lme4.
    TypeError
        ``trials`` is not a DataFrame or ``formula`` not a string.

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> from analysis.simulate.trials import simulate_trials
    >>> trials = simulate_trials(SimulationSpec(n_alone=12, n_group_sessions=4, n_clips=8), seed=1)
    >>> res = fit_mixed(trials, "AU12 ~ condition + valence", engine="statsmodels")
    >>> res.fixed["term"].tolist()[:2]
    ['Intercept', 'condition[group-alone]']
    >>> res.omnibus["term"].tolist()
    ['condition', 'valence']
    """
    check_type("trials", trials, pd.DataFrame, "a trial table (pandas DataFrame)")
    check_type("formula", formula, str, "a formula such as 'AU12 ~ condition * valence'")
    check_option("engine", engine, ENGINES, error=AnalysisError)
    check_option("family", family, FAMILIES, error=AnalysisError)
    if engine == "auto":
        engine = default_engine()
    md = model_data(
        trials, formula, coding=coding, reference=reference, random=random, mixed_sources=mixed_sources
    )
    fam_note = None
    if family == "auto":
        family = family_for(trials, md.dv)
    if family != "gaussian" and engine != "lme4":
        fam_note = (
            f"{md.dv} is a {'yes/no' if family == 'binomial' else 'count'} outcome: a {family} GLMM needs "
            "the lme4 engine (R); fitted as Gaussian (a linear probability/count model) instead"
        )
        family = "gaussian"
    if family == "poisson":
        md = for_counts(md)
    specs = contrasts(md)
    steps = list(md.dropped_random)
    # a GLMM's likelihood-ratio tests refit the model once per term: for the final model only
    search = specs if family == "gaussian" else {}
    res = _fit_once(md, engine, search, ddf, family)
    while res.singular and len(md.random) > 1:  # the last term stays: without it lme4 needs lm()
        drop, at_zero = singular_term(res.random)
        variance = res.random.set_index("component")["variance"][drop]
        size = "estimated at zero" if at_zero else f"{variance:.3g}"
        md = md.without(drop, f"singular fit, variance {size} (simplification rule)")
        steps.append(md.dropped_random[-1])
        res = _fit_once(md, engine, search, ddf, family)
    if search is not specs and specs:
        res = _fit_once(md, engine, specs, ddf, family)
    if engine == "lme4" and family == "gaussian" and n_boot > 0 and GROUP_TERM in md.X.columns:
        res = _fit_once(md, engine, specs, ddf, family, n_boot)  # the final model, bootstrapped
    res.simplification = steps
    if fam_note:
        res.notes.append(fam_note)
    contrast_results(md, res, specs)
    if family == "gaussian":
        res.effect_sizes = effect_sizes(md, res, tost_bound)
    else:
        lrt_for_terms(md, res)
        res.notes.append(
            f"{family} GLMM: coefficients and EMMs on the {'logit' if family == 'binomial' else 'log'} scale "
            "with Wald z CIs; p of each term (and of a one-column term's coefficient): likelihood ratio "
            "against the model without it; R2 and standardised effects are not computed for it"
        )
    res.coding, res.reference, res.contrast_matrices = md.coding, dict(md.reference), md.contrast_matrices()
    by = md.data.groupby("condition")
    res.n_by_condition = {c: (int(g["participant_id"].nunique()), int(len(g))) for c, g in by}
    res.left_out = dict(md.left_out)
    res.face_sources = dict(md.face_sources)
    if len(md.face_sources) > 1:
        res.notes.append(
            "facial measures from different tools in one model (asked for): "
            + ", ".join(f"{s} {n} trials" for s, n in md.face_sources.items())
        )
    return withhold(res, verdict(md))


#: Seconds of simultaneous holding that count as "any" when the trial table does not say
#: (the protocol's default ``analysis.simultaneity_threshold``).
DEFAULT_SIMULTANEITY = 0.5


@dataclass
class HurdleResult:
    """The two parts of a hurdle model of a zero-heavy duration.

    Attributes
    ----------
    any : MixedModelResult
        Binomial GLMM of ``outcome >= threshold`` (whether it happened).
    amount : MixedModelResult
        Gaussian LMM of ``log(outcome)`` in the trials where it happened (how much).
    threshold : float
        The seconds that counted as "it happened".
    """

    any: MixedModelResult
    amount: MixedModelResult
    threshold: float = DEFAULT_SIMULTANEITY


@fill_doc
def fit_hurdle(
    trials: pd.DataFrame,
    formula: str,
    engine: str = "auto",
    threshold: float | None = None,
    **kwargs: Any,
) -> HurdleResult:
    """Hurdle model of a zero-heavy duration such as ``t_both``: any vs amount (Mullahy 1986).

    Many trials have no simultaneous holding at all (a zero), and the others
    a right-skewed duration; one Gaussian model mixes the two questions. The
    hurdle splits them: a binomial GLMM of whether the duration reached
    ``threshold`` and a Gaussian LMM of its log where it did.

    Parameters
    ----------
    %(trials)s
    formula : str
        ``"t_both ~ condition * valence"``.
    %(engine)s
    threshold : float, optional
        Seconds that count as "any": default the trial table's (the protocol's
        ``analysis.simultaneity_threshold``, which ``any_simultaneous`` uses too),
        else 0.5 s; so the hurdle's first part is ``any_simultaneous``.
    **kwargs
        Passed to :func:`fit_mixed`.

    Returns
    -------
    HurdleResult

    Examples
    --------
    The tiny example study has few trials with half a second of simultaneous
    holding (the protocol's threshold), so here any simultaneous holding counts:

    >>> import analysis as ca
    >>> h = fit_hurdle(ca.trial_table(ca.load_study(sim)), "t_both ~ condition + valence", threshold=0.0)
    >>> h.any.family, h.amount.formula
    ('binomial', 'log_t_both ~ condition + valence')
    """
    check_type("trials", trials, pd.DataFrame, "a trial table (pandas DataFrame)")
    check_type("formula", formula, str, "a formula such as 't_both ~ condition * valence'")
    lhs, rhs = (x.strip() for x in formula.split("~", 1))
    if lhs not in trials.columns:
        raise AnalysisError(f"hurdle: unknown column '{lhs}'")
    if threshold is None:
        threshold = trials.attrs.get("simultaneity_threshold") or DEFAULT_SIMULTANEITY
    t = trials.copy()
    reached = (t[lhs] >= threshold) & (t[lhs] > 0)
    t[f"any_{lhs}"] = reached
    t[f"log_{lhs}"] = np.log(t[lhs].where(reached))
    first = fit_mixed(t, f"any_{lhs} ~ {rhs}", engine=engine, family="binomial", **kwargs)
    second = fit_mixed(
        t.dropna(subset=[f"log_{lhs}"]), f"log_{lhs} ~ {rhs}", engine=engine, family="gaussian", **kwargs
    )
    return HurdleResult(first, second, float(threshold))
