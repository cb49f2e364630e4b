"""Everything the report shows, computed once: :func:`analyse_study` returns a :class:`StudyAnalysis`.

Nothing here writes a file; :func:`analysis.report.build_report` writes the
tables, figures and the page from the object, so a script can look at (or
change) any table before the report is written, and build the report without
computing anything again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from ..docstrings import fill_doc
from ..measures.coherence import CoherenceResult, coherence_table
from ..measures.synchrony import (
    SynchronyTest,
    synchrony_bin,
    synchrony_summary,
    synchrony_table,
    synchrony_test,
)
from ..measures.timecourse import HEAD_POSITION, timecourses
from ..measures.trials import excluded_flags, trial_table
from ..stats.face_loss import BOUND_COLUMNS, FaceLoss, face_loss_test, lee_bounds
from ..stats.fit import DEFAULT_BOOT, fit_mixed
from ..stats.model_data import is_face_column
from ..stats.run import StatsResult, run_stats, stats_for_study
from ..study.load import Study, as_study
from .flow import exclusion_flow
from .pose_size import doubtful_identity_warnings, sensitivity_table
from .quality import quality_table

#: Facial measure whose group synchrony the report tests.
SYNCHRONY_MEASURE = "AU12"

#: The model of face-button coherence the report fits (valence in it: coherence differs by clip type).
COHERENCE_FORMULA = "z_above_chance ~ condition * button + valence"

#: Self-report columns whose means by valence and condition the report shows.
SELF_REPORT_MEANS = ("t_happy", "t_sad", "t_both", "p_both", "min_index", "n_switches")


@dataclass
class Synchrony:
    """Group synchrony of :data:`SYNCHRONY_MEASURE`: zero-lag pairs and the windowed lagged test.

    Attributes
    ----------
    pairs : pandas.DataFrame
        :func:`~analysis.measures.synchrony.synchrony_table` (real and pseudo pairs).
    per_session : pandas.DataFrame
    summary : dict
        The real-vs-pseudo comparison of :func:`~analysis.measures.synchrony.synchrony_summary`.
    tests : list of SynchronyTest
        Windowed lagged cross-correlation of the measure and of head position (the
        shared-camera control), against pseudo-groups.
    """

    pairs: pd.DataFrame
    per_session: pd.DataFrame
    summary: dict
    tests: list[SynchronyTest]

    def wlcc_table(self) -> pd.DataFrame:
        """The windowed lagged tests as one table (``synchrony_wlcc.tsv``), the reported test first."""
        label = {
            SYNCHRONY_MEASURE: " (the reported test)",
            f"{SYNCHRONY_MEASURE} | {HEAD_POSITION[0]}": " (adjusted for each member's head movement)",
            HEAD_POSITION[0]: " (head position: shared-camera control)",
        }
        return pd.DataFrame(
            [
                {
                    "series": t.measure + label.get(t.measure, ""),
                    "observed": t.observed,
                    "pseudo_group_mean": t.null_mean,
                    "pseudo_group_sd": t.null_sd,
                    "p_perm": t.p_val,
                    "min_p": t.min_p,
                    "n_groups": t.n_groups,
                    "n_perm": t.n_perm,
                    "n_distinct_pseudo_groups": t.n_distinct,
                    "note": t.note,
                }
                for t in self.tests
            ]
        )


@dataclass
class StudyAnalysis:
    """A study analysed from trials to models: what the report shows.

    Attributes
    ----------
    study : Study
    trials : pandas.DataFrame
        The trial table (:func:`~analysis.measures.trials.trial_table`).
    quality : pandas.DataFrame
        Data quality per participant (:func:`~analysis.report.quality.quality_table`).
    flow : pandas.DataFrame
        Participants, trials and frames by condition, with every exclusion
        (:func:`~analysis.report.flow.exclusion_flow`).
    self_report_means : pandas.DataFrame
        Mean self-report per valence x condition over trials not excluded.
    timecourses : pandas.DataFrame
        Per participant x clip x second (:func:`~analysis.measures.timecourse.timecourses`).
    face_measures : list of str
        Facial measures with a time course (empty without faces).
    coherence : CoherenceResult or None
        Face-button coherence (None without faces).
    synchrony : Synchrony or None
        Group synchrony (None with fewer than two scored group sessions).
    stats : StatsResult
        The protocol's models (or the formulas asked for) and mixed ANOVAs.
    extra_stats : dict of str to StatsResult
        Further models on derived tables (``coherence``: :data:`COHERENCE_FORMULA`).
    sensitivity : pandas.DataFrame or None
        The condition terms of the first model under the pose and size sensitivity
        analyses (:func:`pose_size_sensitivity`; None without faces or models).
    warnings : list of str
        What the report shows in red at the top: participants whose face frames
        are mostly of a doubtful identity
        (:func:`~analysis.report.pose_size.doubtful_identity_warnings`).
    engine : str
    formulas : list of str
    notes : list of str
        What the loader and the statistics noticed, in words.
    report_path : Path or None
        ``report.html``, once :func:`~analysis.report.build_report` wrote it.
    face_loss : FaceLoss or None
        Face loss by condition, its test, and bounds on each facial model's group effect
        when it differs (:mod:`analysis.stats.face_loss`); None without faces.
    """

    study: Study
    trials: pd.DataFrame
    quality: pd.DataFrame
    flow: pd.DataFrame
    self_report_means: pd.DataFrame
    timecourses: pd.DataFrame
    face_measures: list[str]
    coherence: CoherenceResult | None
    synchrony: Synchrony | None
    stats: StatsResult
    extra_stats: dict[str, StatsResult] = field(default_factory=dict)
    sensitivity: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    engine: str = "auto"
    formulas: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    report_path: Path | None = None
    face_loss: FaceLoss | None = None

    @property
    def models(self) -> list:
        """Every fitted model: the study's, then the extra ones."""
        return [*self.stats.models, *(m for s in self.extra_stats.values() for m in s.models)]


def _frame_rate(study: Study) -> float:
    """Median camera frame rate over the scored sessions."""
    gaps = [
        np.median(np.diff(np.unique(sd.faces["t"].to_numpy(float))))
        for sd in study.sessions
        if sd.faces is not None and len(sd.faces) > 1
    ]
    gap = float(np.median(gaps)) if gaps else 1.0
    return 1.0 / gap if gap > 0 else 1.0


def _synchrony(study: Study, trials: pd.DataFrame, tc: pd.DataFrame) -> Synchrony | None:
    syn = synchrony_table(tc)
    if not (len(syn) and (syn["pair"] == "real").any() and (syn["pair"] == "pseudo").any()):
        return None
    per, summary = synchrony_summary(syn)
    head = HEAD_POSITION[0]
    fine = timecourses(
        study, trials, measures=[head, SYNCHRONY_MEASURE], bin_width=synchrony_bin(_frame_rate(study))
    )
    tests = [
        synchrony_test(fine, SYNCHRONY_MEASURE),
        synchrony_test(fine, SYNCHRONY_MEASURE, control=head),
        synchrony_test(fine, head),
    ]
    return Synchrony(syn, per, summary, tests)


def pose_size_sensitivity(
    study: Study, trials: pd.DataFrame, formula: str, engine: str = "auto"
) -> pd.DataFrame:
    """One model under the pose and size sensitivity analyses (:func:`~analysis.report.pose_size.sensitivity_table`).

    The model as fitted on ``trials``; on the trial table rebuilt with
    pose-flagged frames left out of the facial measures; and with pose and face
    size as trial covariates.

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> s = load_study(sim)
    >>> t = pose_size_sensitivity(s, trial_table(s), "AU12 ~ condition", engine="statsmodels")
    >>> t["analysis"].unique().tolist()
    ['primary', 'pose-flagged frames excluded', 'pose and face size as trial covariates']
    """
    settings = study.settings
    flags = sorted({*(settings.exclude_quality or []), "pose"})
    study.settings = settings.model_copy(update={"exclude_quality": flags})
    try:
        pose_trials = trial_table(study)
    finally:
        study.settings = settings
    ref = study.reference_levels
    return sensitivity_table(
        trials, pose_trials, formula, lambda t, f: fit_mixed(t, f, engine=engine, reference=ref)
    )


@fill_doc
def analyse_study(
    study: Study | str | Path,
    engine: str = "auto",
    formulas: list[str] | None = None,
    progress: bool = False,
    n_boot: int = DEFAULT_BOOT,
    mixed_sources: bool = False,
    ddf: str = "Satterthwaite",
) -> StudyAnalysis:
    """Trial table, quality, flow, time courses, coherence, synchrony and models of a study.

    Parameters
    ----------
    %(study)s
    engine, formulas, progress, n_boot, mixed_sources, ddf
        As for :func:`~analysis.stats.run.stats_for_study` (the models; default the protocol's).
        ``ddf`` applies to the coherence model too.

    Returns
    -------
    StudyAnalysis
        Write it as a report with :func:`analysis.report.build_report`.

    Examples
    --------
    >>> a = analyse_study(sim, engine="statsmodels")
    >>> len(a.trials), [m.formula for m in a.stats.models][:1], a.coherence.lag_source
    (21, ['AU12 ~ condition * valence'], 'leave-one-session-out')
    """
    study = as_study(study)
    trials = trial_table(study, progress=progress)
    quality = quality_table(study, trials)
    warnings = doubtful_identity_warnings(quality, left_out="identity" in excluded_flags(study.settings))
    sr_means = (
        trials[~trials["excluded"]]
        .groupby(["valence", "condition"])[list(SELF_REPORT_MEANS)]
        .mean()
        .reset_index()
    )
    tc = timecourses(study, trials)
    face_measures = [
        m
        for m in ("AU12", "inner_brow_lip_down")
        if study.has_faces and m in tc.columns and tc[m].notna().any()
    ]
    stats = stats_for_study(
        study, formulas, engine=engine, ddf=ddf, trials=trials, n_boot=n_boot, mixed_sources=mixed_sources
    )
    formulas = list(formulas) if formulas else list(study.settings.models)
    coherence = synchrony = sensitivity = None
    extra = {}
    if study.has_faces and formulas:
        sensitivity = pose_size_sensitivity(study, trials, formulas[0], engine)
    if study.has_faces:
        coherence = coherence_table(study, trials)
        if coherence.table["r"].notna().any():
            coh = coherence.table.dropna(subset=["z_above_chance"])
            coh.attrs = dict(trials.attrs)  # the protocol's hash goes with the model
            extra["coherence"] = run_stats(
                coh, [COHERENCE_FORMULA], engine=engine, anova=False, ddf=ddf, n_boot=n_boot
            )
        synchrony = _synchrony(study, trials, tc)
    face_loss = _face_loss(trials, stats, engine) if study.has_faces else None
    models = [*stats.models, *(m for s in extra.values() for m in s.models)]
    return StudyAnalysis(
        study,
        trials,
        quality,
        exclusion_flow(trials, coherence.table if coherence is not None else None, models),
        sr_means,
        tc,
        face_measures,
        coherence,
        synchrony,
        stats,
        extra,
        sensitivity,
        warnings,
        engine,
        formulas,
        [*study.notes, *stats.notes],
        face_loss=face_loss,
    )


def _face_loss(trials: pd.DataFrame, stats: StatsResult, engine: str) -> FaceLoss:
    """Face loss by condition; when it differs, Lee bounds for every facial model fitted."""
    loss = face_loss_test(trials, engine)
    if loss.differs:
        rows = []
        for res in stats.models:
            if is_face_column(res.formula.split("~", 1)[0].strip()) and "condition" in res.formula:
                try:
                    rows.append(lee_bounds(trials, res.formula, engine, len(res.face_sources) > 1))
                except AnalysisError as exc:
                    loss.note += f"; no bounds for {res.formula}: {exc.message}"
        loss.bounds = pd.DataFrame(rows, columns=list(BOUND_COLUMNS))
    return loss
