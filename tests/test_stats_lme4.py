"""statsmodels MixedLM and R lme4 + lmerTest fit the same model to the same trials and agree."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from analysis.measures.trials import trial_table
from analysis.stats import fit_mixed
from analysis.study.load import load_study
from tests.conftest import require_tool
from tests.sim_helpers import sim_dataset

# 12 alone + 8 groups of 3, 6 clips; larger session and stimulus SDs so that no variance
# component sits on the boundary (where "relative" agreement of a zero is meaningless)
CROSSED = dict(n_alone=12, n_group_sessions=8, group_size=3, n_clips=6, clip_duration=8.0, fps=4.0, seed=3)
CROSSED.update(sd_session=0.5, sd_stimulus=0.5, sd_participant_valence=0.0)


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    return trial_table(load_study(sim_dataset(tmp_path_factory, "crossed", **CROSSED)))


def test_statsmodels_matches_lme4_fixed_effects_and_variances(trials):
    require_tool("Rscript")
    formula = "AU12 ~ condition * valence"
    sm = fit_mixed(trials, formula, engine="statsmodels")
    r = fit_mixed(trials, formula, engine="lme4")
    assert (
        sm.full_formula
        == r.full_formula
        == (
            "AU12 ~ condition * valence + (1 | participant_id) + (1 | stimulus_id) "
            "+ (0 + in_group | session_id)"
        )
    )
    assert list(sm.fixed["term"]) == list(r.fixed["term"])
    assert sm.fixed.shape == r.fixed.shape == (6, 8)
    np.testing.assert_allclose(sm.fixed["estimate"], r.fixed["estimate"], rtol=1e-3)
    assert (
        list(sm.random["component"])
        == list(r.random["component"])
        == ["participant_id", "stimulus_id", "session_id", "residual"]
    )
    # 2 clips per valence level: the clip-by-condition term is dropped, with the reason; the
    # simulated data have no participant-by-valence variance: both engines find the fit
    # singular and drop that term by the same rule
    assert sm.simplification == r.simplification
    assert r.simplification[0].startswith("(1 | stimulus_id:condition) dropped: 2 clip(s) per valence level")
    assert r.simplification[1].startswith("(1 | participant_id:valence) dropped: singular fit")
    assert (r.random["variance"] > 0.001).all()  # no boundary fit here
    np.testing.assert_allclose(sm.random["variance"], r.random["variance"], rtol=1e-3)
    # same REML criterion at the optimum (both use the same constant)
    assert sm.loglik == pytest.approx(r.loglik, rel=1e-6)
    # standard errors: statsmodels' REML Hessian vs lme4's; close but not required to 1e-3
    np.testing.assert_allclose(sm.fixed["se"], r.fixed["se"], rtol=2e-2)
    assert (
        sm.n
        == r.n
        == {
            "participants": 36,
            "sessions": 20,
            "group_sessions": 8,
            "stimuli": 6,
            "observations": sm.n["observations"],
        }
    )
    # tests differ by design: Wald z (df = inf) vs Satterthwaite t with finite df
    assert np.isinf(sm.fixed["df"]).all()
    assert (r.fixed["df"] > 1).all() and (r.fixed["df"] < sm.n["observations"]).all()
    assert r.test == "t (Satterthwaite)" and sm.test == "z (Wald)"
    assert r.converged and sm.converged


FULL = dict(n_alone=12, n_group_sessions=6, n_clips=12, sd_session=0.4, sd_stimulus=0.5)
FULL.update(sd_stimulus_condition=0.3, sd_participant_valence=0.4, sd_session_stimulus=0.5)  # every term


def test_engines_agree_on_the_full_random_structure_and_its_tables():
    require_tool("Rscript")
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials

    t = simulate_trials(SimulationSpec(**FULL), seed=2)
    sm = fit_mixed(t, "AU12 ~ condition * valence", engine="statsmodels")
    r = fit_mixed(t, "AU12 ~ condition * valence", engine="lme4")
    assert r.full_formula == sm.full_formula and r.full_formula.endswith(
        "(1 | stimulus_id:condition) + (1 | participant_id:valence) + (0 + in_group | session_id:stimulus_id)"
    )
    assert not r.singular and not sm.singular and r.simplification == []
    np.testing.assert_allclose(sm.fixed["estimate"], r.fixed["estimate"], rtol=1e-3)
    assert len(r.random) == 7
    np.testing.assert_allclose(sm.random["variance"], r.random["variance"], rtol=1e-3)
    # omnibus tests: same F (Wald), Satterthwaite df2 only in lme4
    assert list(r.omnibus["term"]) == ["condition", "valence", "condition:valence"]
    np.testing.assert_allclose(sm.omnibus["F"], r.omnibus["F"], rtol=1e-3)
    assert np.isinf(sm.omnibus["df2"]).all() and (r.omnibus["df2"] < 40).all()
    # a 1-df omnibus F is the square of the coefficient's t, with the same df
    g = r.fixed.set_index("term").loc["condition[group-alone]"]
    cond = r.omnibus.set_index("term").loc["condition"]
    assert cond["F"] == pytest.approx(g["stat"] ** 2, rel=1e-6)
    assert cond["df2"] == pytest.approx(g["df"], rel=1e-6)
    # EMMs: the condition difference of the marginal means is the deviation-coded coefficient
    em = r.emms.set_index(["factor", "level"])["estimate"]
    assert em[("condition", "group")] - em[("condition", "alone")] == pytest.approx(g["estimate"], rel=1e-9)
    np.testing.assert_allclose(sm.emms["estimate"], r.emms["estimate"], rtol=1e-3)
    es = r.effect_sizes.set_index("measure")["value"]
    assert 0 < es["R2_marginal"] < es["R2_conditional"] < 1
    # one scale: the session terms weighted by the share of group trials, in ICCs and d alike
    v = r.random.set_index("component")["variance"]
    share = float((t.loc[t["AU12"].notna(), "condition"] == "group").mean())  # trials the model used
    total = v.sum() - (1 - share) * (v["session_id"] + v["session_stimulus"])
    assert es["d_group"] == pytest.approx(g["estimate"] / np.sqrt(total), rel=1e-9)
    assert es["ICC_session_id"] == pytest.approx(share * v["session_id"] / total, rel=1e-9)
    # without a bootstrap, d's CI is the coefficient's CI on the same scale
    ci = r.effect_sizes.set_index("measure").loc["d_group", ["ci_low", "ci_high"]]
    assert ci["ci_low"] == pytest.approx(g["ci_low"] / np.sqrt(total)) and "conditional" in str(
        r.effect_sizes.set_index("measure").loc["d_group", "note"]
    )


def test_effect_size_cis_from_a_parametric_bootstrap():
    """bootMer draws of the whole model: d_group's CI covers the estimate and is wider than the CI
    that treats the variances as known; R2 and ICCs get CIs too."""
    require_tool("Rscript")
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials

    spec = SimulationSpec(
        n_alone=8, n_group_sessions=4, n_clips=4, valences=("positive",), sd_stimulus_condition=0.0
    )
    t = simulate_trials(spec, seed=3)
    plain = fit_mixed(t, "AU12 ~ condition", engine="lme4")
    boot = fit_mixed(t, "AU12 ~ condition", engine="lme4", n_boot=60)
    assert boot.boot is not None and len(boot.boot) == 60
    assert {"condition[group-alone]", "residual"} <= set(boot.boot.columns)
    es = boot.effect_sizes.set_index("measure")
    p = plain.effect_sizes.set_index("measure")
    assert es.loc["d_group", "value"] == pytest.approx(p.loc["d_group", "value"])
    assert es.loc["d_group", "ci_low"] < es.loc["d_group", "value"] < es.loc["d_group", "ci_high"]
    assert "parametric bootstrap, 60 draws" in es.loc["d_group", "note"]
    assert es["ci_low"].notna().all() and (es["ci_high"] >= es["ci_low"]).all()


def test_emms_match_r_emmeans():
    require_tool("Rscript")
    import json
    import subprocess

    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials

    t = simulate_trials(SimulationSpec(**FULL), seed=2)
    r = fit_mixed(t, "AU12 ~ condition * valence", engine="lme4")
    path = Path(tempfile.mkdtemp()) / "t.csv"
    t.to_csv(path, index=False)
    code = (
        "suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)});"
        f"d <- read.csv('{path}'); d$sc <- interaction(d$stimulus_id, d$condition);"
        "d$pv <- interaction(d$participant_id, d$valence); d$g <- as.numeric(d$condition == 'group');"
        "d$ss <- interaction(d$session_id, d$stimulus_id);"
        "m <- lmer(AU12 ~ condition * valence + (1|participant_id) + (1|stimulus_id) + (0 + g|session_id)"
        " + (1|sc) + (1|pv) + (0 + g|ss), data = d, REML = TRUE);"
        "e <- as.data.frame(emmeans(m, ~ condition, lmer.df = 'satterthwaite'));"
        "cat(toJSON(list(est = e$emmean, se = e$SE, df = e$df)))"
    )
    out = json.loads(
        subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout
    )
    mine = r.emms[r.emms["factor"] == "condition"]
    np.testing.assert_allclose(mine["estimate"], out["est"], rtol=1e-4)
    np.testing.assert_allclose(mine["se"], out["se"], rtol=1e-3)
    np.testing.assert_allclose(mine["df"], out["df"], rtol=1e-2)


def test_lme4_engine_without_r_is_a_clear_error(trials, monkeypatch):
    from analysis.stats import mixed_lme4
    from coaffect.formats.errors import AnalysisError

    monkeypatch.setattr(mixed_lme4, "rscript", lambda: None)
    with pytest.raises(AnalysisError, match="Rscript not found") as exc:
        fit_mixed(trials, "AU12 ~ condition", engine="lme4")
    assert "r-cran-lme4" in exc.value.hint


def test_outcome_families_glmm_and_hurdle():
    require_tool("Rscript")
    from analysis.simulate.study import SimulationSpec
    from analysis.simulate.trials import simulate_trials
    from analysis.stats.run import fit_hurdle

    spec = SimulationSpec(n_alone=12, n_group_sessions=6, n_clips=8, valences=("positive", "negative"))
    t = simulate_trials(spec, seed=2)
    counts = fit_mixed(t, "n_switches ~ condition + valence")
    assert counts.family == "poisson" and counts.test == "z (Wald, glmer poisson); p: likelihood ratio"
    assert np.isinf(counts.fixed["df"]).all() and counts.effect_sizes is None
    # exposure offset: the log-rate intercept is per second, near log(switch_rate / clip_duration)
    assert "offset(log(clip_duration))" in counts.full_formula
    assert counts.fixed.loc[0, "estimate"] == pytest.approx(
        np.log(spec.switch_rate / spec.clip_duration), abs=0.3
    )
    # no overdispersion in the simulation: the observation-level term is estimated at zero and dropped
    assert any(s.startswith("(1 | observation) dropped") for s in counts.simplification)
    # a one-column term's p is the likelihood ratio test of the term (its omnibus row)
    om = counts.omnibus.set_index("term")["p_val"]
    assert counts.fixed.set_index("term").loc["condition[group-alone]", "p_val"] == om["condition"]
    # overdispersed counts (an extra log-normal factor per trial): the observation term stays
    over = t.assign(
        n_switches=np.random.default_rng(1).poisson(
            5 * np.exp(np.random.default_rng(2).normal(0, 0.8, len(t)))
        )
    )
    od = fit_mixed(over, "n_switches ~ condition", random=["participant_id"])  # and the observation term
    assert od.random.set_index("component").loc["observation", "variance"] > 0.3
    h = fit_hurdle(t, "t_both ~ condition + valence", threshold=0.5)
    assert h.any.family == "binomial" and h.amount.family == "gaussian" and h.threshold == 0.5
    # "any" is t_both >= 0.5 s, the threshold of any_simultaneous; the amount part uses those trials
    assert h.amount.n["observations"] == int((t["t_both"] >= 0.5).sum()) < int((t["t_both"] > 0).sum())
    # without R: the count model is fitted as Gaussian and says so
    sm = fit_mixed(t, "n_switches ~ condition", engine="statsmodels")
    assert sm.family == "gaussian" and "needs the lme4 engine" in sm.notes[-1]
