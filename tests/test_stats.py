"""Tidy mixed-model and mixed-ANOVA tables, user errors, and the stats CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.measures.trials import trial_table
from analysis.stats import FIXED_COLUMNS, fit_mixed, mixed_anova_table, run_stats
from analysis.study.load import load_study
from coaffect.cli import main
from coaffect.formats.errors import AnalysisError
from tests.conftest import require_tool
from tests.sim_helpers import SMALL, sim_dataset


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sim_dataset(tmp_path_factory, "small", **SMALL)


@pytest.fixture(scope="module")
def trials(small):
    return trial_table(load_study(small))


def test_fixed_table_is_tidy_with_levels_and_convergence(trials):
    res = fit_mixed(trials, "t_both ~ condition + valence", engine="statsmodels")
    assert list(res.fixed.columns) == list(FIXED_COLUMNS)
    assert list(res.fixed["term"]) == [
        "Intercept",
        "condition[group-alone]",
        "valence[negative-bittersweet]",
        "valence[positive-bittersweet]",
    ]
    z = res.fixed["estimate"] / res.fixed["se"]
    np.testing.assert_allclose(res.fixed["stat"], z)
    np.testing.assert_allclose(
        res.fixed["ci_high"] - res.fixed["estimate"], 1.959964 * res.fixed["se"], rtol=1e-5
    )
    assert list(res.random.columns) == ["component", "variance", "sd"]
    assert res.random["component"].iloc[-1] == "residual"
    # SMALL: 3 alone + 2 groups of 2 = 7 participants, 5 sessions, 3 clips, 21 trials
    assert res.n == {"participants": 7, "sessions": 5, "group_sessions": 2, "stimuli": 3, "observations": 21}
    assert res.converged is True  # 21 well-spread simulated trials: the fit must converge
    assert "(0 + in_group | session_id)" in res.full_formula


def test_session_component_only_with_two_group_sessions(trials):
    alone = trials[trials["condition"] == "alone"]
    res = fit_mixed(alone, "t_happy ~ 1", engine="statsmodels")
    assert list(res.random["component"]) == ["participant_id", "stimulus_id", "residual"]
    # with valence as a fixed effect and one clip per valence, the clip intercept is its
    # valence's mean: the term is dropped and the reason given in words
    res = fit_mixed(alone, "t_happy ~ valence", engine="statsmodels")
    assert list(res.random["component"]) == ["participant_id", "residual"]
    assert any("(1 | stimulus_id) dropped: 1 clip per valence level" in s for s in res.simplification)
    assert any("(1 | participant_id:valence) dropped" in s for s in res.simplification)


def test_one_group_session_is_not_an_authoritative_p(trials):
    one = trials[
        (trials["condition"] == "alone")
        | (trials["session_id"] == trials.loc[trials["condition"] == "group", "session_id"].iloc[0])
    ]
    res = fit_mixed(one, "t_both ~ condition + valence", engine="statsmodels")
    assert res.verdict.startswith("NOT INTERPRETABLE: only 1 group session")
    fx = res.fixed.set_index("term")
    assert np.isnan(fx.loc["condition[group-alone]", "p_val"])
    assert np.isfinite(fx.loc["valence[negative-bittersweet]", "p_val"])
    assert any("(0 + in_group | session_id) dropped: one group session" in s for s in res.simplification)


@pytest.mark.parametrize(
    "engine, participant_valence, session_stimulus",
    # the estimates of two zero variances on one simulated study (CI failure, test_stats_lme4):
    # statsmodels put them at 1.1e-9 and 3.4e-10, lme4 at 0 and 0
    [("statsmodels", 1.081153e-09, 3.415744e-10), ("lme4", 0.0, 0.0), ("reversed", 3.4e-10, 1.1e-9)],
)
def test_terms_at_zero_tie_whatever_their_rounding(engine, participant_valence, session_stimulus):
    from analysis.stats.fit import singular_term

    random = pd.DataFrame(
        {
            "component": "participant_id stimulus_id session_id participant_valence session_stimulus residual".split(),
            "variance": [0.3116, 0.6393, 0.1591, participant_valence, session_stimulus, 1.1451],
        }
    )
    assert singular_term(random) == ("participant_valence", True)  # DROP_ORDER: most complex first
    # a term not at zero (SD 1e-3 of the residual SD) is not a tie: the smallest variance goes
    random.loc[random["component"] == "participant_valence", "variance"] = 1.1451e-6
    assert singular_term(random) == ("session_stimulus", True)


def test_user_mistakes_raise_one_line_errors(trials):
    with pytest.raises(AnalysisError, match="unknown column 'AU13'; did you mean 'AU43'"):
        fit_mixed(trials, "AU13 ~ condition")
    with pytest.raises(AnalysisError, match="needs 'outcome ~ predictors'"):
        fit_mixed(trials, "AU12 condition")
    with pytest.raises(AnalysisError, match="unknown engine 'lme5'"):
        fit_mixed(trials, "AU12 ~ condition", engine="lme5")
    const = trials.assign(flat=1.0)
    with pytest.raises(AnalysisError, match="outcome 'flat' is constant"):
        fit_mixed(const, "flat ~ condition")


def test_mixed_anova_on_participant_means_drops_incomplete(trials):
    aov, post, info = mixed_anova_table(trials, "t_both")
    assert list(aov["source"]) == ["condition", "valence", "Interaction"]
    assert {"F", "p_unc", "np2", "DF1", "DF2"} <= set(aov.columns)
    # group members are averaged per session: 3 alone participants + 2 group sessions
    assert info["n_participants"] == 7 and info["n_units"] == 5 and info["n_dropped_incomplete"] == 0
    assert info["unit"].startswith("group sessions as one unit")
    unclustered = mixed_anova_table(trials, "t_both", cluster=False)
    assert unclustered.info["n_units"] == 7 and unclustered.anova.loc[0, "DF2"] == 5
    assert {"contrast", "a", "b", "p_corr"} <= set(post.columns)
    # remove one participant's negative clip: that participant has an empty cell
    pid = trials["participant_id"].iloc[0]
    cut = trials[~((trials["participant_id"] == pid) & (trials["valence"] == "negative"))]
    _, _, info = mixed_anova_table(cut, "t_both")
    assert info["n_participants"] == 6 and info["n_units"] == 4 and info["n_dropped_incomplete"] == 1
    assert np.isfinite(aov["F"]).all()
    # bittersweet clips have the most simultaneous holding (SimulationSpec fractions 0.45/0.45)
    means = trials.groupby("valence")["t_both"].mean()
    assert means.idxmax() == "bittersweet"


def test_run_stats_writes_tables_and_skips_unfittable(trials, tmp_path):
    out = run_stats(trials, ["t_both ~ condition * valence", "nope ~ condition"])
    assert not list(tmp_path.iterdir())  # computing writes nothing
    assert out.write(tmp_path) == tmp_path
    assert len(out.models) == 1 and len(out.skipped) == 1 and "nope" in out.skipped[0]
    fixed = pd.read_csv(tmp_path / "model-1_t_both_condition_valence_fixed.tsv", sep="\t")
    assert list(fixed.columns) == list(FIXED_COLUMNS)
    assert (tmp_path / "anova-t_both.tsv").exists() and (tmp_path / "pairwise-t_both.tsv").exists()
    import json

    info = json.loads((tmp_path / "model-1_t_both_condition_valence_info.json").read_text())
    assert info["python_versions"]["statsmodels"] and info["versions"]
    assert info["simplification_rule"].startswith("Start from the maximal structure")
    for name in ("omnibus", "emms", "effect_sizes"):
        assert (tmp_path / f"model-1_t_both_condition_valence_{name}.tsv").exists()


def test_stats_cli(small, capsys):
    assert main(["stats", str(small), "--formula", "t_both ~ condition + valence"]) == 0
    text = capsys.readouterr().out
    assert "condition[group-alone]" in text and "N: participants 7" in text
    assert main(["stats", str(small / "missing")]) == 2
    assert "no such dataset folder" in capsys.readouterr().err


def test_stats_cli_kenward_roger(small, capsys):
    require_tool("Rscript")  # R's pbkrtest computes the df: skipped without R, fails under CI=true
    formula = "t_both ~ condition + valence"
    assert main(["stats", str(small), "--formula", formula, "--ddf", "Kenward-Roger"]) == 0
    assert "t (Kenward-Roger)" in capsys.readouterr().out


def test_stats_cli_says_what_the_data_cannot_support(tmp_path, capsys):
    from analysis.simulate.study import SimulationSpec, simulate_study

    # the newcomer's case: 3 participants, 1 group session -> no authoritative p for condition
    tiny = simulate_study(
        tmp_path / "tiny",
        SimulationSpec(n_alone=1, n_group_sessions=1, group_size=2, n_clips=3, clip_duration=6.0),
    )
    assert (
        main(["stats", str(tiny), "--formula", "t_both ~ condition + valence", "--engine", "statsmodels"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "NOT INTERPRETABLE: only 1 group session" in out
        and "only 1 participant(s) in condition 'alone'" in out
    )
    row = next(line for line in out.splitlines() if line.strip().startswith("condition[group-alone]"))
    assert "NaN" in row  # p-value left blank, not 5.8e-15
    assert (
        "RuntimeWarning" not in out.split("warnings (")[0]
    )  # library warnings are in the model, not above it
    # alone-only dataset: a clear message, no "tables:" line with nothing fitted
    alone = simulate_study(
        tmp_path / "alone", SimulationSpec(n_alone=3, n_group_sessions=0, n_clips=3, clip_duration=6.0)
    )
    for f in list((alone / "derivatives" / "coaffect").glob("ses-a01/faces.parquet")):
        f.unlink()
    assert main(["stats", str(alone), "--formula", "t_both ~ condition + valence"]) == 2
    out = capsys.readouterr().out
    assert "every session is 'alone': there is no other condition to compare" in out
    assert "1 of 3 sessions were not scored (ses-a01)" in out
    assert "no model was fitted" in out and "tables:" not in out


def test_library_runtime_warnings_are_collected_into_the_model(trials, monkeypatch, recwarn):
    import warnings

    from analysis.stats import mixed_statsmodels

    original = mixed_statsmodels.fit_statsmodels

    def noisy(md):
        warnings.warn("invalid value encountered in sqrt", RuntimeWarning, stacklevel=2)
        return original(md)

    monkeypatch.setattr(mixed_statsmodels, "fit_statsmodels", noisy)
    res = fit_mixed(trials, "t_both ~ condition", engine="statsmodels")
    assert "RuntimeWarning: invalid value encountered in sqrt" in res.warnings
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_untested_statsmodels_version_is_said_not_hidden(trials, monkeypatch):
    from analysis.stats import mixed_statsmodels

    monkeypatch.setattr(mixed_statsmodels, "_TESTED_STATSMODELS", ("9.9",))
    res = fit_mixed(trials, "t_both ~ condition", engine="statsmodels")
    assert any("is not a version the bounded REML search was tested with (9.9.x)" in w for w in res.warnings)


def test_tost_for_a_null_group_effect(trials):
    res = fit_mixed(trials, "t_both ~ condition + valence", engine="statsmodels", tost_bound=0.5)
    es = res.effect_sizes.set_index("measure")["value"]
    fx = res.fixed.set_index("term").loc["condition[group-alone]"]
    # TOST p is the larger of the two one-sided p values against +/- 0.5 d
    from scipy import stats as sps

    # the bound is in d_group's units: the same SD (group-only variances weighted by group share)
    denom = fx["estimate"] / es["d_group"]
    v = res.random.set_index("component")["variance"]
    share = float((trials["condition"] == "group").mean())
    group_only = sum(v.get(c, 0.0) for c in ("session_id", "session_stimulus"))
    assert denom == pytest.approx(np.sqrt(v.sum() - (1 - share) * group_only))
    lo = sps.norm.sf((fx["estimate"] + 0.5 * denom) / fx["se"])
    hi = sps.norm.cdf((fx["estimate"] - 0.5 * denom) / fx["se"])
    assert es["TOST_p"] == pytest.approx(max(lo, hi))


def test_session_by_clip_term_where_groups_share_a_clip():
    """A group's shared response to a clip is its own variance component, identified only when a
    session x clip cell has two or more members."""
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials

    zero = {f"sd_{c}": 0.0 for c in ("participant", "stimulus", "session", "stimulus_condition")}
    spec = SimulationSpec(n_alone=10, n_group_sessions=10, n_clips=6, valences=("positive",), **zero)
    spec.sd_participant_valence, spec.sd_session_stimulus = 0.0, 1.0
    t = simulate_trials(spec, seed=2, group_effect=0.0)
    res = fit_mixed(
        t, "AU12 ~ condition", engine="statsmodels", random=["participant_id", "session_stimulus"]
    )
    var = res.random.set_index("component")["variance"]
    assert "(0 + in_group | session_id:stimulus_id)" in res.full_formula
    assert 0.5 < var["session_stimulus"] < 2.0 and var["residual"] == pytest.approx(1.0, abs=0.3)
    # one member per group session and clip: the term is that member's residual, and dropped with why
    single = t.drop_duplicates(["session_id", "stimulus_id"])
    solo = fit_mixed(single, "AU12 ~ condition", engine="statsmodels")
    assert "session_stimulus" not in set(solo.random["component"])
    assert any(
        s.startswith("(0 + in_group | session_id:stimulus_id) dropped: fewer than two")
        for s in solo.simplification
    )


def test_simulators_draw_unequal_residuals_and_face_loss_tied_to_expression():
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials

    base = dict(n_alone=60, n_group_sessions=20, n_clips=8, valences=("positive",), p_dropout_group=0.3)
    wide = simulate_trials(SimulationSpec(**base, sd_residual_group=2.0), seed=5)
    spread = wide.groupby("condition")["AU12"].std()
    assert spread["group"] > 1.5 * spread["alone"]
    mar = simulate_trials(SimulationSpec(**base), seed=5)
    mnar = simulate_trials(SimulationSpec(**base, face_loss_expression=2.0), seed=5)
    # the same trials, lost at random or while smiling most: the kept group trials smile less
    assert mar["face_excluded"].groupby(mar["condition"]).mean()["group"] == pytest.approx(0.3, abs=0.06)
    kept = lambda t: t.loc[(t["condition"] == "group") & ~t["face_excluded"], "AU12"].mean()  # noqa: E731
    assert kept(mnar) < kept(mar) - 0.2


def test_face_loss_by_condition_and_bounds_on_the_group_effect():
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials
    from analysis.stats.face_loss import face_loss_test, lee_bounds

    spec = SimulationSpec(
        n_alone=12, n_group_sessions=6, n_clips=4, valences=("positive",), p_dropout_group=0.35
    )
    spec.face_loss_expression = 1.5
    t = simulate_trials(spec, seed=3, group_effect=0.3)
    loss = face_loss_test(t, engine="statsmodels")
    assert loss.differs and loss.p_val < 0.01 and "linear probability model" in loss.note
    assert list(loss.table["condition"]) == ["alone", "group"] and loss.table["share_lost"].iloc[1] > 0.2
    b = lee_bounds(t, "AU12 ~ condition", engine="statsmodels")
    assert b["trimmed_condition"] == "alone" and 0.2 < b["trimmed_share"] < 0.5
    assert b["lower"] < b["estimate"] < b["upper"] and b["lower"] < 0.3 < b["upper"]
    # no face lost anywhere: nothing to test, said in words
    none = face_loss_test(t.assign(face_excluded=False), engine="statsmodels")
    assert not none.differs and "nothing to test" in none.note


def test_docs_say_what_the_code_does(root):
    """The mismatches issue 23 listed stay fixed."""
    from analysis.expression.frontal import RIGID
    from analysis.stats import mixed_statsmodels
    from analysis.stats.model_data import RANDOM_TERMS
    from coaffect.formats.faces_schema import column_docs

    assert f"to {len(RIGID)} rigid landmarks" in column_docs()["yaw"]["Description"]
    assert "default engine" not in mixed_statsmodels.__doc__.splitlines()[0]
    text = (root / "docs" / "analyse.md").read_text(encoding="utf-8")
    block = text.split("#### Random part", 1)[1].split("```", 2)[1]
    assert all(RANDOM_TERMS[t] in block for t in RANDOM_TERMS if t != "observation")
    for phrase in (
        "restricted form of the random slope `(1 + condition | stimulus_id)`",
        "at least 2 clips seen in both conditions",
        "counts *sequential* mixed feelings",
        "noise alone reaches in a window of that many usable frames",
        "uses every baseline event of the session",
    ):
        assert phrase in text, phrase
