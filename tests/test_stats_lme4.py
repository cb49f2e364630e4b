"""statsmodels MixedLM and R lme4 + lmerTest fit the same model to the same trials and agree."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats import fit_mixed
from analysis.study_data import load_study
from analysis.trials import trial_table
from tests.conftest import require_tool
from tests.sim_helpers import sim_dataset

# 12 alone + 8 groups of 3, 6 clips; larger session and stimulus SDs so that no variance
# component sits on the boundary (where "relative" agreement of a zero is meaningless)
CROSSED = dict(
    n_alone=12,
    n_group_sessions=8,
    group_size=3,
    n_clips=6,
    clip_duration=8.0,
    fps=4.0,
    sd_session=0.5,
    sd_stimulus=0.5,
    seed=3,
)


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
    assert (r.random["variance"] > 0.01).all()  # no boundary fit here
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


def test_lme4_engine_without_r_is_a_clear_error(trials, monkeypatch):
    from analysis.stats import mixed_lme4
    from coaffect.formats.errors import AnalysisError

    monkeypatch.setattr(mixed_lme4, "rscript", lambda: None)
    with pytest.raises(AnalysisError, match="Rscript not found") as exc:
        fit_mixed(trials, "AU12 ~ condition", engine="lme4")
    assert "r-cran-lme4" in exc.value.hint
