"""Fit the models of a study and write their tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import derivatives_dir, write_tsv

from .anova import mixed_anova_table
from .model_data import model_data
from .result import MixedModelResult

ENGINES = ("statsmodels", "lme4")


def fit_mixed(trials: pd.DataFrame, formula: str, engine: str = "statsmodels") -> MixedModelResult:
    """Fit one linear mixed model with crossed random effects.

    Random part (always the same, where the data identify it): participant
    and stimulus random intercepts, and a group-session random intercept
    that only group sessions have: ``(1 | participant_id) + (1 | stimulus_id)
    + (0 + in_group | session_id)``.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table (:func:`analysis.trials.trial_table`).
    formula : str
        Fixed part, ``"outcome ~ predictors"``; patsy/R syntax, treatment coding.
    engine : {"statsmodels", "lme4"}
        statsmodels MixedLM (REML, Wald z) or R lme4 + lmerTest (REML,
        Satterthwaite t) through Rscript.

    Returns
    -------
    MixedModelResult
        Tidy ``fixed`` (term, estimate, se, df, stat, p_val, ci_low, ci_high),
        ``random`` (component, variance, sd), ``n``, ``converged``, ``warnings``.

    Raises
    ------
    AnalysisError
        Unknown engine or column, too little data, R missing for lme4.

    Examples
    --------
    >>> from analysis.simulate_study import SimulationSpec, simulate_study
    >>> from analysis.study_data import load_study
    >>> from analysis.trials import trial_table
    >>> ds = simulate_study(tmp / "sim", SimulationSpec(n_alone=12, n_group_sessions=4))  # doctest: +SKIP
    >>> res = fit_mixed(trial_table(load_study(ds)), "AU12 ~ condition + valence")       # doctest: +SKIP
    >>> res.fixed.set_index("term").loc["condition[T.group]", "estimate"]                # doctest: +SKIP
    0.27...
    """
    if engine not in ENGINES:
        raise AnalysisError(f"engine: unknown engine '{engine}' (allowed: {', '.join(ENGINES)})")
    md = model_data(trials, formula)
    if engine == "lme4":
        from .mixed_lme4 import fit_lme4

        return fit_lme4(md)
    from .mixed_statsmodels import fit_statsmodels

    return fit_statsmodels(md)


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
    out_dir : Path or None
        Where the tables were written.
    """

    models: list[MixedModelResult] = field(default_factory=list)
    anovas: list[tuple] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    out_dir: Path | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60]


def run_stats(
    trials: pd.DataFrame,
    formulas: list[str],
    engine: str = "statsmodels",
    out_dir: str | Path | None = None,
    anova: bool = True,
    strict: bool = False,
) -> StatsOutput:
    """Fit every formula (and a mixed ANOVA per outcome) and write the tables.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table.
    formulas : list of str
        Fixed parts, e.g. the protocol's ``analysis.models``.
    engine : {"statsmodels", "lme4"}
    out_dir : str or Path, optional
        Folder for ``model-<n>_fixed.tsv``, ``_random.tsv``, ``_info.json``,
        ``anova-<dv>.tsv`` and ``pairwise-<dv>.tsv``.
    anova : bool
        Also run the pingouin mixed ANOVA for each outcome with a ``valence``.
    strict : bool
        Raise on the first model that cannot be fitted instead of skipping it
        (a model needing facial measures is skipped when no faces were scored).

    Returns
    -------
    StatsOutput

    Examples
    --------
    >>> out = run_stats(trials, ["AU12 ~ condition * valence"], out_dir="stats")  # doctest: +SKIP
    >>> out.models[0].fixed.columns.tolist()                                       # doctest: +SKIP
    ['term', 'estimate', 'se', 'df', 'stat', 'p_val', 'ci_low', 'ci_high']
    """
    out = StatsOutput()
    if out_dir is not None:
        out.out_dir = Path(out_dir)
        out.out_dir.mkdir(parents=True, exist_ok=True)
    for i, formula in enumerate(formulas, start=1):
        try:
            res = fit_mixed(trials, formula, engine)
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
            Path(f"{stem}_info.json").write_text(json.dumps(res.info(), indent=2, default=str))
    if anova and "valence" in trials.columns:
        dvs = []
        for f in formulas:
            dv = f.split("~", 1)[0].strip()
            if dv not in dvs and dv in trials.columns:
                dvs.append(dv)
        for dv in dvs:
            try:
                aov, post, info = mixed_anova_table(trials, dv)
            except (AnalysisError, ValueError, KeyError) as exc:
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
    engine: str = "statsmodels",
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> StatsOutput:
    """Trial table of a dataset, then :func:`run_stats` on it (what ``coaffect stats`` runs).

    Parameters
    ----------
    dataset_dir : str or Path
        Dataset folder.
    formulas : list of str, optional
        Default: the frozen protocol's ``analysis.models``.
    engine : {"statsmodels", "lme4"}
    out_dir : str or Path, optional
        Default ``<dataset>/derivatives/coaffect/stats``.
    progress : bool
        Progress bar while building the trial table.

    Returns
    -------
    StatsOutput

    Examples
    --------
    >>> out = stats_for_dataset("sim", ["t_both ~ condition * valence"])  # doctest: +SKIP
    >>> out.models[0].n["participants"]                                  # doctest: +SKIP
    48
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
    return run_stats(trials, formulas, engine=engine, out_dir=out_dir)
