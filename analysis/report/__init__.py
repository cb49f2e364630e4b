"""The study report: trials -> statistics -> HTML with PNG figures (``coaffect report``).

:func:`analyse_study` computes everything the report shows into a
:class:`StudyAnalysis` (no files); :func:`build_report` writes the tables,
figures and ``report.html`` from it and returns it. It works with or without
face scoring: without ``faces.parquet`` the facial parts of the page say so
and the button/rating analyses still run.
"""

from __future__ import annotations

import html as _html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from coaffect.formats.tables import derivatives_dir, write_tsv

from ..measures.synchrony import WLCC_MAX_LAG_S, WLCC_WINDOW_S
from ..stats.run import StatsResult
from ..study.load import Study
from . import figures as fig
from . import html as H
from .analyse import SYNCHRONY_MEASURE, StudyAnalysis, analyse_study, pose_size_sensitivity
from .flow import exclusion_flow, flow_wide
from .pose_size import doubtful_identity_warnings, pose_size_section, sensitivity_table, warning_banner
from .quality import quality_table
from .summary import answer_html, answer_table

__all__ = [
    "build_report",
    "analyse_study",
    "StudyAnalysis",
    "pose_size_sensitivity",
    "quality_table",
    "exclusion_flow",
    "doubtful_identity_warnings",
    "sensitivity_table",
]


def study_title(study) -> str | None:
    """The study title from the first frozen ``protocol.yaml`` that has one, else None.

    Examples
    --------
    >>> study_title(study)
    'Simulated group-vs-alone study'
    """
    from coaffect.formats.errors import CoaffectError
    from coaffect.formats.protocol import load_protocol

    for sd in study.sessions:
        path = sd.session.path / "protocol.yaml"
        if path.exists():
            try:
                return load_protocol(path, check_manifest=False).protocol.title
            except CoaffectError:
                continue
    return None


def _empty_bar_reasons(quality: pd.DataFrame, trials: pd.DataFrame) -> dict:
    """(session_id, participant_id) -> the commonest face exclusion reason of an empty face bar."""
    out = {}
    for r in quality.itertuples(index=False):
        if r.face_fraction > 0.02:
            continue
        t = trials[(trials["session_id"] == r.session_id) & (trials["participant_id"] == r.participant_id)]
        why = t["face_exclusion_reason"].dropna().astype(str)
        why = why[why != ""]
        if len(why):
            out[(r.session_id, r.participant_id)] = why.value_counts().index[0]
    return out


def _sources_html(sources: dict) -> str:
    """Which tool scored the faces of a facial model's trials, in words (empty for other outcomes)."""
    if not sources:
        return ""
    what = ", ".join(f"{s} ({n} trials)" for s, n in sources.items())
    mixed = " <b>Different tools in one model: their units differ.</b>" if len(sources) > 1 else ""
    return f"<p class='source'>Facial measures scored by: {_html.escape(what)}.{mixed}</p>"


def _model_section(results: list[StatsResult]) -> str:
    parts = []
    for i, res in enumerate(m for out in results for m in out.models):
        warn = "; warnings: " + "; ".join(w.rstrip(". ") for w in res.warnings) if res.warnings else ""
        engine = res.engine if res.engine == "lme4" else f"{res.engine} (fallback: R not available)"
        parts.append(
            f"<h3 id='model-{i}'><code>{_html.escape(res.full_formula)}</code></h3>"
            + (f'<p class="verdict"><b>{_html.escape(res.verdict)}</b></p>' if res.verdict else "")
            + f"<p>Engine {engine}, REML, tests: {res.test}; converged: "
            f"{'yes' if res.converged else 'NO'}{_html.escape(warn)}.</p>"
            + _sources_html(res.face_sources)
            + "".join(f"<p>Random part: {_html.escape(s)}</p>" for s in res.simplification)
            + "<p>Fixed effects (deviation coding: each coefficient is a level minus the reference, "
            "other effects averaged over levels):</p>"
            + H.table(res.fixed)
            + (
                "<p>Omnibus tests (Type III):</p>" + H.table(res.omnibus)
                if res.omnibus is not None and len(res.omnibus)
                else ""
            )
            + (
                "<p>Estimated marginal means (equal weights over the other factors):</p>" + H.table(res.emms)
                if res.emms is not None and len(res.emms)
                else ""
            )
            + (
                "<p>Effect sizes:</p>" + H.table(res.effect_sizes, 4)
                if res.effect_sizes is not None and len(res.effect_sizes)
                else ""
            )
            + "<p>Random-effect variances:</p>"
            + H.table(res.random, 4)
            + "<p>N per level:</p>"
            + H.table(res.n_table())
        )
    for dv, aov, post, info in ((a.dv, a.anova, a.pairwise, a.info) for out in results for a in out.anovas):
        parts.append(
            f"<h3>Mixed ANOVA on means: {_html.escape(dv)}</h3>"
            f"<p>{info['between']} between, {info['within']} within "
            f"(pingouin mixed_anova); units: {info.get('unit', 'participants')}; "
            f"{info.get('n_units', info['n_participants'])} units from {info['n_participants']} participants, "
            f"{info['n_dropped_incomplete']} left out for missing cells.</p>"
            + H.table(aov)
            + "<p>Pairwise tests (Holm):</p>"
            + H.table(post.drop(columns=[c for c in ("bf10",) if c in post.columns]))
        )
    for s in (s for out in results for s in out.skipped):
        parts.append(H.missing(f"Not fitted: {s}"))
    return "".join(parts) or H.missing("No models were fitted.")


def _face_loss_html(loss, out_dir: Path) -> str:
    """Face loss by condition, its test and, when it differs, the bounds (files: face_loss*.tsv)."""
    if loss is None:
        return ""
    write_tsv(loss.table, out_dir / "face_loss.tsv")
    text = f"Face loss by condition (trials without usable facial measures): {loss.note}; " + (
        f"p = {loss.p_val:.3g}." if loss.p_val == loss.p_val else "no p."
    )
    body = "<h3>Face loss by condition</h3>" + H.para(text) + H.table(loss.table)
    if loss.differs and len(loss.bounds):
        write_tsv(loss.bounds, out_dir / "face_loss_bounds.tsv")
        body += H.para(
            "Face loss differs between conditions, and faces may be lost selectively (while turning or "
            "laughing). Sensitivity (Lee 2009 bounds): the condition that kept more trials is trimmed by "
            "the excess share from the top, then from the bottom of its outcome (within valence) and the "
            "model refitted; any selection of the lost trials gives a group effect between lower and upper."
        ) + H.table(loss.bounds)
    elif loss.differs:
        body += H.missing("Face loss differs between conditions, but no facial model was fitted to bound.")
    return body


def _planted_section(a: StudyAnalysis, out_dir: Path) -> str:
    """For a filmed simulated study (``derivatives/planted/truth.json``): the planted values beside
    the estimates (``planted.tsv``); empty for any other dataset. Only this reads the truth."""
    import json

    from ..simulate.planted import planted_comparison
    from ..simulate.truth import planted_dir

    path = planted_dir(a.study.path) / "truth.json"
    if not path.exists():
        return ""
    table = planted_comparison(a, json.loads(path.read_text(encoding="utf-8")))
    write_tsv(table, out_dir / "planted.tsv")
    return H.para(
        "This dataset was simulated with known effects and filmed (coaffect simulate-study --video); "
        "the faces were measured by the pipeline, which never reads the planted values. A planted facial "
        "effect is shown in the measure's units: times the measured change per planted unit (the gain, "
        "a within-participant slope over trials). The framing bias rows ask whether the same planted "
        "change gives the same measured change in groups (wide shot, turning heads) as alone; planted 0. "
        "Recovered: the planted value lies inside the 95% CI, or the effect was found where planted and "
        f"not where not. Truth: {path}."
    ) + H.table(table, 3)


def build_report(
    analysis: StudyAnalysis | Study | str | Path, out_dir: str | Path | None = None, **options: Any
) -> StudyAnalysis:
    """Write ``report.html`` with its PNG figures and tables; returns the analysis it shows.

    Parameters
    ----------
    analysis : StudyAnalysis, Study, str or Path
        An analysis from :func:`analyse_study` (nothing is computed again), or a
        study or dataset folder to analyse first.
    out_dir : str or Path, optional
        Default ``<dataset>/derivatives/coaffect/report``.
    **options
        Keywords of :func:`analyse_study` (``engine``, ``formulas``, ``ddf``,
        ``n_boot``, ...), when the study is analysed here.

    Returns
    -------
    StudyAnalysis
        With :attr:`~StudyAnalysis.report_path` set to the HTML file.

    Examples
    --------
    >>> a = build_report(analyse_study(sim, engine="statsmodels"), tmp / "report")
    >>> a.report_path.name, sorted(p.name for p in (tmp / "report").glob("*.tsv"))[:3]
    ('report.html', ['answer.tsv', 'coherence.tsv', 'exclusion_flow.tsv'])
    """
    a = analysis if isinstance(analysis, StudyAnalysis) else analyse_study(analysis, **options)
    study, trials, quality = a.study, a.trials, a.quality
    dataset_dir = study.path
    out_dir = Path(out_dir) if out_dir else derivatives_dir(dataset_dir, None, "report")
    out_dir.mkdir(parents=True, exist_ok=True)
    stats_dir = a.stats.write(out_dir / "stats")  # and the dataset's trials.tsv
    for name, extra in a.extra_stats.items():
        extra.write(stats_dir / name)
    trials_path = derivatives_dir(dataset_dir) / "trials.tsv"
    write_tsv(trials, out_dir / "trials.tsv")
    loss = a.face_loss
    answer = answer_table(a.models, loss.bounds if loss is not None else None)
    write_tsv(answer, out_dir / "answer.tsv")
    sections = [("Answer: group minus alone, per outcome", answer_html(answer, a.models))]
    planted = _planted_section(a, out_dir)
    if planted:
        sections.append(("Planted values beside the estimates (a simulated study)", planted))

    write_tsv(quality, out_dir / "quality.tsv")
    # the face_quality flag shares get their own table, so each fits a 1280 px screen
    flag_cols = [c for c in quality.columns if c.startswith("flag_")]
    body = H.table(quality.drop(columns=flag_cols), max_rows=200)
    if flag_cols:
        body += H.para(
            "Share of each participant's face frames with each face_quality flag "
            "(pose, occlusion, identity, motion blur; see docs/faces-table.md):"
        ) + H.table(quality[["session_id", "participant_id", *flag_cols]], max_rows=200)
    if study.has_faces:
        fig.quality_figure(quality, out_dir / "quality.png", _empty_bar_reasons(quality, trials))
        body = H.figure("quality.png", "face found per participant") + body
        for sd in study.sessions:
            for warning in sd.score_warnings:  # faces filmed but on no participant's seat
                body = H.missing(f"ses-{sd.session_id}: {warning}") + body
    else:
        body = (
            H.missing(
                "No faces.parquet for any session: face scoring has not run "
                "('coaffect score'), so faces found and identity confidence are missing."
            )
            + body
        )
    n_alone = sum(s.condition == "alone" for s in study.sessions)
    n_group = sum(s.condition == "group" for s in study.sessions)
    intro = H.para(
        f"{len(study.sessions)} sessions ({n_alone} alone, {n_group} group), "
        f"{trials['participant_id'].nunique()} participants, "
        f"{trials['stimulus_id'].nunique()} clips, {len(trials)} participant x clip "
        f"trials ({int(trials['excluded'].sum())} excluded, "
        f"{int(trials['face_excluded'].sum())} without usable facial measures). "
        f"Trial table: {trials_path}."
    )
    sections.append(("Data quality per session", intro + body))
    write_tsv(a.flow, out_dir / "exclusion_flow.tsv")
    sections.append(
        (
            "Participant, trial and frame flow by condition",
            H.para(
                "From enrolment to analysis, with every exclusion and its reason, per condition "
                "(CONSORT-style; a difference between conditions here can bias the comparison)."
            )
            + H.table(flow_wide(a.flow), max_rows=200)
            + _face_loss_html(loss, out_dir),
        )
    )

    if a.sensitivity is not None:
        write_tsv(a.sensitivity, out_dir / "sensitivity_pose_size.tsv")
    sections.append(
        (
            "Head pose, face size and usable frames by condition",
            pose_size_section(trials, a.sensitivity, out_dir),
        )
    )

    fig.raster_figure(study, out_dir / "rasters.png")
    fig.self_report_figure(trials, out_dir / "self_report.png")
    sections.append(
        (
            "Self-report: button holds per clip",
            H.figure("rasters.png", "button rasters")
            + H.figure("self_report.png", "self-report by valence and condition")
            + H.para("Error bars: 95% confidence intervals over participants, cut at 0 s.")
            + H.table(a.self_report_means),
        )
    )

    write_tsv(a.timecourses, out_dir / "timecourses.tsv")
    fig.timecourse_figure(a.timecourses, [*a.face_measures, "happy", "sad"], out_dir / "timecourses.png")
    body = H.figure("timecourses.png", "time courses by condition")
    if not a.face_measures:
        body = H.missing("No facial measures: only button time courses are shown.") + body
    sections.append(("Time courses by condition (mean and 95% CI over participants)", body))

    if a.coherence is not None:
        cres = a.coherence
        coh, curve = cres.table, cres.lag_curve
        write_tsv(coh, out_dir / "coherence.tsv")
        if coh["r"].notna().any():
            fig.coherence_figure(coh, curve, cres.lags, out_dir / "coherence.png")
            means = (
                coh.groupby(["button", "measure", "condition"])[["r", "z", "z_surrogate", "z_above_chance"]]
                .mean()
                .join(coh.groupby(["button", "measure", "condition"])["r"].count().rename("n_trials"))
                .reset_index()
            )
            body = (
                H.para(
                    "Lag (face after button): "
                    + ", ".join(f"{b} {v:g} s" for b, v in cres.lags.items())
                    + f" ({cres.lag_source}); chance level (the buttons of every participant of another "
                    f"session who saw the clip, alike in both conditions): mean z {cres.chance_z:.3f}; "
                    f"{cres.n_no_value} trial x button rows have no value (button never or always held, "
                    "or too few frames) and are left out of the coherence model."
                )
                + H.figure("coherence.png", "coherence")
                + H.table(means)
            )
        else:
            body = H.missing("No trial had button changes and a visible face: coherence undefined.")
        syn = a.synchrony
        if syn is not None:
            write_tsv(syn.pairs, out_dir / "synchrony.tsv")
            fig.synchrony_figure(syn.pairs, syn.per_session, out_dir / "synchrony.png")
            wl = syn.wlcc_table()
            write_tsv(wl, out_dir / "synchrony_wlcc.tsv")
            body += (
                f"<h3>Group synchrony ({SYNCHRONY_MEASURE})</h3>"
                + H.para(
                    "The test: windowed lagged cross-correlation (Boker et al. 2002) on differenced "
                    f"series in bins of whole frames (about 0.25 s): mean over {WLCC_WINDOW_S:g} s windows "
                    f"of the largest r over lags of -{WLCC_MAX_LAG_S:g}..+{WLCC_MAX_LAG_S:g} s, averaged "
                    "over member pairs; null: group membership permuted into pseudo-groups of the same "
                    "sizes that keep real group members apart. min_p is the smallest p these data can "
                    "give (1 / (1 + distinct pseudo-groupings)). The adjusted row removes each member's "
                    "own head movement first; the head-position row shows how much synchrony shared "
                    "movement in front of one camera gives."
                )
                + H.table(wl, 4)
                + H.para(
                    "Description, not the reported test: zero-lag correlations of real pairs (same "
                    "session) and pseudo-pairs (group members of different sessions) per clip, and "
                    "their difference per session."
                )
                + H.figure("synchrony.png", "synchrony")
                + H.table(pd.DataFrame([syn.summary]))
                + H.table(syn.per_session)
            )
        else:
            body += H.missing("Synchrony needs at least two scored group sessions.")
    else:
        body = H.missing("Coherence and synchrony need facial measures: no faces.parquet found.")
    sections.append(("Face-button coherence and group synchrony", body))

    sections.append(
        (
            "Statistics",
            H.para(
                "Linear mixed models with crossed random effects: participants, clips and group "
                "sessions (alone participants have no session to share), plus clip-by-condition and "
                "participant-by-valence terms where the design identifies them; fitted by REML; "
                "95% confidence intervals. See docs/analyse.md for each choice and its reference."
            )
            + _model_section([a.stats, *a.extra_stats.values()]),
        )
    )
    summary = {
        "dataset": str(dataset_dir),
        "engine": a.engine,
        "formulas": a.formulas,
        "models": [r.info() for r in a.models],
        "skipped": a.stats.skipped + [f"{k}: {s}" for k, v in a.extra_stats.items() for s in v.skipped],
        "has_faces": study.has_faces,
        "answer": answer.to_dict(orient="records"),
        "face_loss": None
        if loss is None
        else {
            "p_val": loss.p_val,
            "differs": loss.differs,
            "note": loss.note,
            "bounds": loss.bounds.to_dict(orient="records"),
        },
    }
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    title = study_title(study)
    page = H.page(
        title or f"coaffect report: {dataset_dir.name}",
        sections,
        a.notes,
        dataset_dir,
        warning_banner(a.warnings),
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    a.report_path = path
    return a
