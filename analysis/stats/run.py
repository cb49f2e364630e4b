"""Fit the models of a study and write their tables."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import derivatives_dir, write_tsv

from .anova import mixed_anova_table
from .inference import contrast_results, contrasts, effect_sizes
from .model_data import model_data
from .result import MixedModelResult

ENGINES = ("auto", "lme4", "statsmodels")

#: Order in which random terms go when a fit is singular and variances tie (most complex first).
_DROP_ORDER = ["participant_valence", "stimulus_condition", "session_id", "stimulus_id", "participant_id"]


def default_engine() -> str:
    """``lme4`` when ``Rscript`` is installed, else the labelled fallback ``statsmodels``."""
    from .mixed_lme4 import rscript

    return "lme4" if rscript() else "statsmodels"


FAMILIES = ("auto", "gaussian", "binomial", "poisson")


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


def _fit_once(md, engine: str, specs: dict, ddf: str, family: str = "gaussian") -> MixedModelResult:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if engine == "lme4":
            from .mixed_lme4 import fit_lme4

            res = fit_lme4(md, contrasts=specs, ddf=ddf, family=family)
        else:
            from .mixed_statsmodels import fit_statsmodels

            res = fit_statsmodels(md)
    # library RuntimeWarnings belong to the model, not to the console
    for w in caught:
        msg = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if msg not in res.warnings:
            res.warnings.append(msg)
    return res


def _verdict(md, res: MixedModelResult) -> str:
    """Plain words when the design cannot support the tests shown (and blank those p-values)."""
    n = md.n_levels()
    by_cond = md.data.groupby("condition")["participant_id"].nunique()
    problems = []
    involves_condition = res.fixed["term"].str.contains("condition")
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
        return ""
    res.fixed.loc[involves_condition, ["p_val"]] = np.nan
    if res.omnibus is not None and len(res.omnibus):
        res.omnibus.loc[res.omnibus["term"].str.contains("condition"), "p_val"] = np.nan
    return "NOT INTERPRETABLE: " + "; ".join(problems) + " (p-values of condition terms left blank)"


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
    trials : pandas.DataFrame
        Trial table (:func:`analysis.trials.trial_table`).
    formula : str
        Fixed part, ``"outcome ~ predictors"``; patsy/R syntax.
    engine : {"auto", "lme4", "statsmodels"}
        ``auto`` (default): lme4 + lmerTest (REML, Satterthwaite t) through
        Rscript when R is installed, else statsmodels MixedLM (REML, Wald z),
        the labelled fallback.
    coding : {"deviation", "treatment"}
        Factor coding; deviation (default) makes ``condition[group-alone]``
        the group effect averaged over valences.
    reference : dict, optional
        Reference levels (default condition ``alone``, valence ``neutral`` or
        the alphabetically first).
    ddf : {"Satterthwaite", "Kenward-Roger"}
        lme4 engine's denominator df.
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

    Returns
    -------
    MixedModelResult
        Tidy ``fixed``, ``random``, ``omnibus``, ``emms``, ``effect_sizes``;
        ``simplification`` and ``verdict`` in words.

    Raises
    ------
    AnalysisError
        Unknown engine or column, too little data, R missing for lme4.

    Examples
    --------
    >>> from analysis.simulate_study import SimulationSpec
    >>> from analysis.simulate_trials import simulate_trials
    >>> trials = simulate_trials(SimulationSpec(n_alone=12, n_group_sessions=4, n_clips=8), seed=1)
    >>> res = fit_mixed(trials, "AU12 ~ condition + valence", engine="statsmodels")
    >>> res.fixed["term"].tolist()[:2]
    ['Intercept', 'condition[group-alone]']
    >>> res.omnibus["term"].tolist()
    ['condition', 'valence']
    """
    if engine not in ENGINES:
        raise AnalysisError(f"engine: unknown engine '{engine}' (allowed: {', '.join(ENGINES)})")
    if engine == "auto":
        engine = default_engine()
    if family not in FAMILIES:
        raise AnalysisError(f"family: unknown family '{family}' (allowed: {', '.join(FAMILIES)})")
    md = model_data(trials, formula, coding=coding, reference=reference, random=random)
    fam_note = None
    if family == "auto":
        family = family_for(trials, md.dv)
    if family != "gaussian" and engine != "lme4":
        fam_note = (
            f"{md.dv} is a {'yes/no' if family == 'binomial' else 'count'} outcome: a {family} GLMM needs "
            "the lme4 engine (R); fitted as Gaussian (a linear probability/count model) instead"
        )
        family = "gaussian"
    specs = contrasts(md)
    steps = list(md.dropped_random)
    res = _fit_once(md, engine, specs, ddf, family)
    while res.singular and len(md.random) > 1:  # the last term stays: without it lme4 needs lm()
        comp = res.random.set_index("component")["variance"].drop("residual", errors="ignore")
        smallest = comp.min()
        ties = [
            c for c in _DROP_ORDER if c in comp.index and comp[c] <= smallest + 1e-12 * (1 + abs(smallest))
        ]
        drop = ties[0] if ties else comp.idxmin()
        size = "estimated at zero" if comp[drop] < 1e-6 else f"{comp[drop]:.3g}"
        md = md.without(drop, f"singular fit, variance {size} (simplification rule)")
        steps.append(md.dropped_random[-1])
        res = _fit_once(md, engine, specs, ddf, family)
    res.simplification = steps
    if fam_note:
        res.notes.append(fam_note)
    contrast_results(md, res, specs)
    if family == "gaussian":
        res.effect_sizes = effect_sizes(md, res, tost_bound)
    else:
        res.notes.append(
            f"{family} GLMM: coefficients, EMMs and tests on the {'logit' if family == 'binomial' else 'log'} "
            "scale (Wald z); R2 and standardised effects are not computed for it"
        )
    res.verdict = _verdict(md, res)
    return res


@dataclass
class HurdleResult:
    """The two parts of a hurdle model of a zero-heavy duration.

    Attributes
    ----------
    any : MixedModelResult
        Binomial GLMM of ``outcome > 0`` (whether it happened at all).
    amount : MixedModelResult
        Gaussian LMM of ``log(outcome)`` in the trials where it happened (how much).
    """

    any: MixedModelResult
    amount: MixedModelResult


def fit_hurdle(trials: pd.DataFrame, formula: str, engine: str = "auto", **kwargs) -> HurdleResult:
    """Hurdle model of a zero-heavy duration such as ``t_both``: any vs amount (Mullahy 1986).

    Many trials have no simultaneous holding at all (a zero), and the others
    a right-skewed duration; one Gaussian model mixes the two questions. The
    hurdle splits them: a binomial GLMM of whether the duration is above zero
    and a Gaussian LMM of its log where it is.

    Parameters
    ----------
    trials : pandas.DataFrame
    formula : str
        ``"t_both ~ condition * valence"``.
    engine : {"auto", "lme4", "statsmodels"}
    **kwargs
        Passed to :func:`fit_mixed`.

    Returns
    -------
    HurdleResult

    Examples
    --------
    >>> from analysis.study_data import load_study
    >>> from analysis.trials import trial_table
    >>> trials = trial_table(load_study(sim))
    >>> h = fit_hurdle(trials, "t_both ~ condition + valence")
    >>> h.any.family, h.amount.formula
    ('binomial', 'log_t_both ~ condition + valence')
    """
    lhs, rhs = (x.strip() for x in formula.split("~", 1))
    if lhs not in trials.columns:
        raise AnalysisError(f"hurdle: unknown column '{lhs}'")
    t = trials.copy()
    t[f"any_{lhs}"] = t[lhs] > 0
    t[f"log_{lhs}"] = np.log(t[lhs].where(t[lhs] > 0))
    first = fit_mixed(t, f"any_{lhs} ~ {rhs}", engine=engine, family="binomial", **kwargs)
    second = fit_mixed(
        t.dropna(subset=[f"log_{lhs}"]), f"log_{lhs} ~ {rhs}", engine=engine, family="gaussian", **kwargs
    )
    return HurdleResult(first, second)


@dataclass
class StatsOutput:
    """All statistics of one dataset.

    Attributes
    ----------
    models : list of MixedModelResult
    anovas : list of (str, pandas.DataFrame, pandas.DataFrame, dict)
        (outcome, ANOVA table, pairwise table, info) per outcome.
    skipped : list of str
        Models or analyses that could not be run, with the reason.
    notes : list of str
        What the data could not support, in words (unscored sessions, one condition only).
    out_dir : Path or None
        Where the tables were written.
    """

    models: list[MixedModelResult] = field(default_factory=list)
    anovas: list[tuple] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def _python_versions() -> dict:
    """Versions of the Python packages the statistics rest on (for ``_info.json``)."""
    from importlib import metadata

    out = {}
    for name in ("coaffect", "numpy", "scipy", "pandas", "patsy", "statsmodels", "pingouin"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60]


def run_stats(
    trials: pd.DataFrame,
    formulas: list[str],
    engine: str = "auto",
    out_dir: str | Path | None = None,
    anova: bool = True,
    strict: bool = False,
    extra_info: dict | None = None,
    reference: dict | None = None,
    ddf: str = "Satterthwaite",
) -> StatsOutput:
    """Fit every formula (and a mixed ANOVA per outcome) and write the tables.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table.
    formulas : list of str
        Fixed parts, e.g. the protocol's ``analysis.models``.
    engine : {"auto", "lme4", "statsmodels"}
    out_dir : str or Path, optional
        Folder for ``model-<n>_fixed.tsv``, ``_random.tsv``, ``_info.json``,
        ``anova-<dv>.tsv`` and ``pairwise-<dv>.tsv``.
    anova : bool
        Also run the pingouin mixed ANOVA for each outcome with a ``valence``.
    strict : bool
        Raise on the first model that cannot be fitted instead of skipping it
        (a model needing facial measures is skipped when no faces were scored).
    extra_info : dict, optional
        Added to every ``_info.json`` (e.g. the protocol's sha256).
    reference : dict, optional
        Reference levels of the factors.
    ddf : {"Satterthwaite", "Kenward-Roger"}
        Denominator df of the lme4 engine.

    Returns
    -------
    StatsOutput

    Examples
    --------
    >>> from analysis.study_data import load_study
    >>> from analysis.trials import trial_table
    >>> trials = trial_table(load_study(sim))
    >>> out = run_stats(trials, ["AU12 ~ condition * valence"], out_dir=tmp)
    >>> out.models[0].fixed.columns.tolist()
    ['term', 'estimate', 'se', 'df', 'stat', 'p_val', 'ci_low', 'ci_high']
    """
    out = StatsOutput()
    if out_dir is not None:
        out.out_dir = Path(out_dir)
        out.out_dir.mkdir(parents=True, exist_ok=True)
    for i, formula in enumerate(formulas, start=1):
        try:
            res = fit_mixed(trials, formula, engine, reference=reference, ddf=ddf)
        except AnalysisError as exc:
            if strict:
                raise
            out.skipped.append(exc.message)
            continue
        out.models.append(res)
        if out.out_dir is not None:
            stem = out.out_dir / f"model-{i}_{_slug(formula)}"
            write_tsv(res.fixed, f"{stem}_fixed.tsv")
            write_tsv(res.random, f"{stem}_random.tsv")
            for name in ("omnibus", "emms", "effect_sizes"):
                table = getattr(res, name)
                if table is not None:
                    write_tsv(table, f"{stem}_{name}.tsv")
            info = {**res.info(), **(extra_info or {}), "python_versions": _python_versions()}
            Path(f"{stem}_info.json").write_text(json.dumps(info, indent=2, default=str))
    if anova and "valence" in trials.columns:
        dvs = []
        for f in formulas:
            dv = f.split("~", 1)[0].strip()
            if dv not in dvs and dv in trials.columns:
                dvs.append(dv)
        for dv in dvs:
            try:
                aov, post, info = mixed_anova_table(trials, dv)
            except (AnalysisError, ValueError, KeyError, ArithmeticError) as exc:
                msg = getattr(exc, "message", str(exc))
                out.skipped.append(msg if msg.startswith("anova") else f"anova {dv}: {msg}")
                continue
            out.anovas.append((dv, aov, post, info))
            if out.out_dir is not None:
                write_tsv(aov, out.out_dir / f"anova-{_slug(dv)}.tsv")
                write_tsv(post, out.out_dir / f"pairwise-{_slug(dv)}.tsv")
    return out


def stats_for_dataset(
    dataset_dir: str | Path,
    formulas: list[str] | None = None,
    engine: str = "auto",
    out_dir: str | Path | None = None,
    progress: bool = False,
    ddf: str = "Satterthwaite",
) -> StatsOutput:
    """Trial table of a dataset, then :func:`run_stats` on it (what ``coaffect stats`` runs).

    Parameters
    ----------
    dataset_dir : str or Path
        Dataset folder.
    formulas : list of str, optional
        Default: the frozen protocol's ``analysis.models``.
    engine : {"auto", "lme4", "statsmodels"}
    out_dir : str or Path, optional
        Default ``<dataset>/derivatives/coaffect/stats``.
    progress : bool
        Progress bar while building the trial table.
    ddf : {"Satterthwaite", "Kenward-Roger"}
        Denominator df of the lme4 engine.

    Returns
    -------
    StatsOutput

    Examples
    --------
    >>> out = stats_for_dataset(sim, ["t_both ~ condition * valence"], out_dir=tmp)
    >>> out.models[0].n
    {'participants': 7, 'sessions': 5, 'group_sessions': 2, 'stimuli': 3, 'observations': 21}
    """
    from ..study_data import load_study
    from ..trials import trial_table, write_trials

    if engine not in ENGINES:
        raise AnalysisError(f"engine: unknown engine '{engine}' (allowed: {', '.join(ENGINES)})")
    study = load_study(dataset_dir)
    trials = trial_table(study, progress=progress)
    write_trials(trials, dataset_dir)
    formulas = list(formulas) if formulas else list(study.settings.models)
    out_dir = Path(out_dir) if out_dir else derivatives_dir(dataset_dir, None, "stats")
    extra = {"protocol_sha256": protocol_sha256(study), "reference_levels": reference_levels(study)}
    out = run_stats(
        trials,
        formulas,
        engine=engine,
        out_dir=out_dir,
        extra_info=extra,
        reference=reference_levels(study),
        ddf=ddf,
    )
    out.notes = study_notes(study, trials)
    return out


def reference_levels(study) -> dict | None:
    """The protocol's ``analysis.reference_levels`` (None: the defaults).

    Examples
    --------
    >>> from analysis.study_data import load_study
    >>> reference_levels(load_study(sim))
    {'condition': 'alone'}
    """
    return getattr(study.settings, "reference_levels", None) or None


def protocol_sha256(study) -> str | None:
    """sha256 of the first session's frozen protocol.yaml (recorded in every ``_info.json``).

    Examples
    --------
    >>> from analysis.study_data import load_study
    >>> len(protocol_sha256(load_study(sim)))
    64
    """
    import hashlib

    for s in study.sessions:
        p = Path(s.session.path) / "protocol.yaml"
        if p.exists():
            return hashlib.sha256(p.read_bytes()).hexdigest()
    return None


def study_notes(study, trials: pd.DataFrame) -> list[str]:
    """What the dataset cannot support, in words: unscored sessions, a missing condition.

    Examples
    --------
    >>> study_notes(study, trials)
    []

    The same study with session ``a01`` not scored, and its alone trials only:

    >>> from dataclasses import replace
    >>> part = replace(study, sessions=[replace(s, faces=None) if s.session_id == "a01" else s
    ...                                 for s in study.sessions])
    >>> for note in study_notes(part, trials[trials.condition == "alone"]):
    ...     print(note)
    1 of 5 sessions were not scored (ses-a01): their trials have no facial measures; run 'coaffect score DATASET' to include them
    every session is 'alone': there is no other condition to compare, so models with condition cannot be fitted (use a formula without condition, e.g. 't_both ~ valence')
    """
    notes = []
    unscored = [s.session_id for s in study.sessions if s.faces is None]
    if unscored and len(unscored) < len(study.sessions):
        notes.append(
            f"{len(unscored)} of {len(study.sessions)} sessions were not scored "
            f"({', '.join('ses-' + u for u in unscored)}): their trials have no facial measures; "
            "run 'coaffect score DATASET' to include them"
        )
    elif unscored:
        notes.append(
            "no session was scored: facial-measure models are skipped (run 'coaffect score DATASET')"
        )
    conditions = sorted(set(trials["condition"].astype(str))) if "condition" in trials.columns else []
    if len(conditions) == 1:
        notes.append(
            f"every session is '{conditions[0]}': there is no other condition to compare, so models "
            "with condition cannot be fitted (use a formula without condition, e.g. 't_both ~ valence')"
        )
    return notes
