"""Fit the models of a study (:func:`run_stats`, :func:`stats_for_study`) into a :class:`StatsResult`.

Computing and writing are apart: the functions here fit and return; the
result's :meth:`StatsResult.write` writes the tables (what ``coaffect stats``
does after computing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from coaffect.formats.checks import check_option, check_type
from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import derivatives_dir

from ..docstrings import fill_doc
from .anova import MixedAnova, mixed_anova_table, slug
from .fit import DEFAULT_BOOT, ENGINES, HurdleResult, fit_hurdle, fit_mixed, withheld
from .model_data import face_source_counts, is_face_column
from .result import MixedModelResult

__all__ = [
    "StatsResult",
    "run_stats",
    "stats_for_study",
    "stats_for_dataset",
    "fit_mixed",
    "fit_hurdle",
    "HurdleResult",
]


def python_versions() -> dict:
    """Versions of the Python packages the statistics rest on (for ``_info.json``).

    Examples
    --------
    >>> sorted(python_versions())[:3]
    ['coaffect', 'numpy', 'pandas']
    """
    from importlib import metadata

    out = {}
    for name in ("coaffect", "numpy", "scipy", "pandas", "patsy", "statsmodels", "pingouin"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@dataclass
class StatsResult:
    """All statistics of one trial table: models, mixed ANOVAs, what could not be run.

    Attributes
    ----------
    models : list of MixedModelResult
        In the order of the formulas (those that could be fitted).
    anovas : list of MixedAnova
        One per outcome with a ``valence`` to be within.
    skipped : list of str
        Models or analyses that could not be run, with the reason.
    notes : list of str
        What the data could not support, in words (unscored sessions, one condition only).
    info : dict
        Added to every model's ``_info.json``: the protocol sha256 of the trial table and the
        Python package versions (each model's own ``info()`` has its reference levels and coding).
    stems : list of str
        File stem of each model (``model-<n>_<formula>``; ``n`` counts every formula given).
    trials : pandas.DataFrame or None
        The trial table, when the statistics were run on a dataset (written with them).
    dataset : Path or None
        That dataset's folder.
    """

    models: list[MixedModelResult] = field(default_factory=list)
    anovas: list[MixedAnova] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    stems: list[str] = field(default_factory=list)
    trials: pd.DataFrame | None = None
    dataset: Path | None = None

    def write(self, out_dir: str | Path | None = None) -> Path:
        """Write every table: per model ``<stem>_fixed.tsv``, ``_random.tsv``, ``_omnibus.tsv``,
        ``_emms.tsv``, ``_effect_sizes.tsv``, ``_info.json``; per outcome ``anova-<dv>.tsv`` and
        ``pairwise-<dv>.tsv``; and, for a dataset, its trial tables (``derivatives/coaffect/trials.tsv``).

        Parameters
        ----------
        out_dir : str or Path, optional
            Default ``<dataset>/derivatives/coaffect/stats`` (needs :attr:`dataset`).

        Returns
        -------
        Path
            The folder written.
        """
        if out_dir is None:
            if self.dataset is None:
                raise AnalysisError("out_dir: needed for statistics that were not run on a dataset")
            out_dir = derivatives_dir(self.dataset, None, "stats")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if self.trials is not None and self.dataset is not None:
            from ..measures.trial_file import write_trials

            write_trials(self.trials, self.dataset)
        for stem, res in zip(self.stems, self.models):
            res.write(out / stem, self.info)
        for aov in self.anovas:
            aov.write(out)
        return out

    def extend(self, other: StatsResult, label: str) -> None:
        """Add another result's models (and its skipped models, labelled) to this one."""
        self.models += other.models
        self.skipped += [f"{label}: {s}" for s in other.skipped]


def _trial_info(trials: pd.DataFrame) -> dict:
    """Where a trial table came from (set by ``trial_table``, kept by ``read_trials``)."""
    return {"protocol_sha256": trials.attrs.get("protocol_sha256")}


def _formulas(formulas: Any) -> list[str]:
    if isinstance(formulas, str):
        raise TypeError(
            f"formulas: expected a list of formulas, got a str; write [{formulas!r}] for one model"
        )
    check_type("formulas", formulas, (list, tuple), "a list of formulas such as ['AU12 ~ condition']")
    for f in formulas:
        check_type("formulas", f, str, "a list of formulas (str)")
    return list(formulas)


@fill_doc
def run_stats(
    trials: pd.DataFrame,
    formulas: list[str],
    engine: str = "auto",
    anova: bool = True,
    strict: bool = False,
    reference: dict | None = None,
    ddf: str = "Satterthwaite",
    n_boot: int = 0,
    mixed_sources: bool = False,
) -> StatsResult:
    """Fit every formula (and a mixed ANOVA per outcome); nothing is written.

    Parameters
    ----------
    %(trials)s
    formulas : list of str
        Fixed parts, e.g. the protocol's ``analysis.models``.
    %(engine)s
    anova : bool
        Also run the pingouin mixed ANOVA for each outcome with a ``valence``.
    strict : bool
        Raise on the first model that cannot be fitted instead of skipping it
        (a model needing facial measures is skipped when no faces were scored).
    %(reference)s
    %(ddf)s
    %(n_boot)s
    %(mixed_sources)s

    Returns
    -------
    StatsResult
        Write it with :meth:`StatsResult.write`.

    Raises
    ------
    TypeError
        ``trials`` is not a DataFrame, or ``formulas`` is one string instead of a list.

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> from analysis.measures.trials import trial_table
    >>> trials = trial_table(load_study(sim))
    >>> out = run_stats(trials, ["AU12 ~ condition * valence"])
    >>> out.models[0].fixed.columns.tolist()
    ['term', 'estimate', 'se', 'df', 'stat', 'p_val', 'ci_low', 'ci_high']
    >>> [p.name for p in out.write(tmp).glob("*_info.json")]
    ['model-1_AU12_condition_valence_info.json']
    """
    check_type("trials", trials, pd.DataFrame, "a trial table (pandas DataFrame)")
    formulas = _formulas(formulas)
    check_option("engine", engine, ENGINES, error=AnalysisError)
    if reference is None:
        reference = trials.attrs.get("reference_levels")
    out = StatsResult(info={**_trial_info(trials), "python_versions": python_versions()})
    for i, formula in enumerate(formulas, start=1):
        try:
            res = fit_mixed(
                trials,
                formula,
                engine,
                reference=reference,
                ddf=ddf,
                n_boot=n_boot,
                mixed_sources=mixed_sources,
            )
        except AnalysisError as exc:
            if strict:
                raise
            out.skipped.append(exc.message)
            continue
        out.models.append(res)
        out.stems.append(f"model-{i}_{slug(formula)}")
    if anova and "valence" in trials.columns:
        dvs = []
        for f in formulas:
            dv = f.split("~", 1)[0].strip()
            if dv not in dvs and dv in trials.columns:
                dvs.append(dv)
        for dv in dvs:
            sources = face_source_counts(trials[trials[dv].notna()]) if is_face_column(dv) else {}
            if len(sources) > 1 and not mixed_sources:
                out.skipped.append(f"anova {dv}: faces scored by {', '.join(sources)}, whose units differ")
                continue
            try:
                aov = mixed_anova_table(trials, dv)
            except (AnalysisError, ValueError, KeyError, ArithmeticError) as exc:
                msg = getattr(exc, "message", str(exc))
                out.skipped.append(msg if msg.startswith("anova") else f"anova {dv}: {msg}")
                continue
            verdicts = [m.verdict for m in out.models if m.verdict and m.formula.split("~")[0].strip() == dv]
            if verdicts:  # the same design: condition's tests are withheld here too
                aov.info["verdict"] = verdicts[0]
                aov.anova = withheld(aov.anova, "source", ("condition", "Interaction"))
                aov.pairwise = withheld(aov.pairwise, "contrast", ("condition",))
            out.anovas.append(aov)
    return out


@fill_doc
def stats_for_study(
    study,
    formulas: list[str] | None = None,
    engine: str = "auto",
    ddf: str = "Satterthwaite",
    trials: pd.DataFrame | None = None,
    progress: bool = False,
    n_boot: int = DEFAULT_BOOT,
    mixed_sources: bool = False,
) -> StatsResult:
    """The trial table of a study, then :func:`run_stats` on it with the protocol's models.

    What ``coaffect stats`` runs (then it writes the result).

    Parameters
    ----------
    %(study)s
    %(formulas)s
    %(engine)s
    %(ddf)s
    trials : pandas.DataFrame, optional
        The study's trial table, when already built (not built again).
    %(progress)s
    %(n_boot)s
    %(mixed_sources)s

    Returns
    -------
    StatsResult
        With :attr:`~StatsResult.trials` and :attr:`~StatsResult.dataset` set, so that
        :meth:`~StatsResult.write` also writes ``trials.tsv``; and the study's notes.

    Examples
    --------
    A dataset folder (or a study loaded with :func:`~analysis.study.load.load_study`):

    >>> out = stats_for_study(sim, ["t_both ~ condition * valence"])
    >>> out.models[0].n
    {'participants': 7, 'sessions': 5, 'group_sessions': 2, 'stimuli': 3, 'observations': 21}
    >>> out.models[0].reference, len(out.info["protocol_sha256"])
    ({'condition': 'alone', 'valence': 'bittersweet'}, 64)
    """
    from ..measures.trials import trial_table
    from ..study.load import as_study

    study = as_study(study)
    check_option("engine", engine, ENGINES, error=AnalysisError)
    if trials is None:
        trials = trial_table(study, progress=progress)
    formulas = _formulas(formulas) if formulas else list(study.settings.models)
    out = run_stats(trials, formulas, engine=engine, ddf=ddf, n_boot=n_boot, mixed_sources=mixed_sources)
    out.notes = study_notes(study, trials)
    out.trials, out.dataset = trials, study.path
    return out


#: The former name of :func:`stats_for_study`, which takes a dataset folder as well as a
#: :class:`~analysis.study.load.Study` (kept so that existing scripts run unchanged).
stats_for_dataset = stats_for_study


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
