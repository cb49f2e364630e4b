"""Simulation-based power, the batched lme4 fits and a small calibration run."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.simulate.power import power_table
from analysis.simulate.study import SimulationSpec
from analysis.simulate.trials import simulate_trials
from analysis.stats import fit_mixed
from coaffect.cli import main
from coaffect.formats.errors import AnalysisError
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
TWO = dict(valences=("positive", "negative"), n_clips=8)


def test_simulated_trials_carry_every_variance_component():
    # only the clip-by-condition SD is present
    zero = {f"sd_{c}": 0.0 for c in ("participant", "stimulus", "session", "participant_valence")}
    sizes = {"n_alone": 40, "n_group_sessions": 20, "n_clips": 16, "valences": TWO["valences"]}
    spec = SimulationSpec(sd_stimulus_condition=0.8, **zero, **sizes)
    t = simulate_trials(spec, seed=4, group_effect=0.0)
    # only the clip-by-condition SD is present: each clip's group-minus-alone difference varies
    # with SD 0.8 * sqrt(2) around zero
    cell = t.groupby(["stimulus_id", "condition"])["AU12"].mean().unstack()
    diff = cell["group"] - cell["alone"]
    assert 0.7 < diff.std() < 1.7
    assert set(t.columns) >= {"n_switches", "t_both", "any_simultaneous"}
    assert (t["t_both"] == 0).mean() == pytest.approx(spec.p_zero_both, abs=0.05)
    assert t["n_switches"].dtype.kind == "i"


def test_spec_checks_its_arguments():
    with pytest.raises(AnalysisError, match="sd_stimulus_condition: a number >= 0"):
        SimulationSpec(sd_stimulus_condition=-1)
    with pytest.raises(AnalysisError, match="n_alone: a whole number"):
        SimulationSpec(n_alone=2.5)
    with pytest.raises(AnalysisError, match="no smile/sad effect given for joy"):
        SimulationSpec(valences=("joy",))


def test_power_verdict_names_the_smallest_design_or_the_lever():
    from analysis.simulate.power import clips_for_ceiling, power_ceiling, power_verdict, wilson

    spec = SimulationSpec(group_size=3, sd_stimulus_condition=0.4)
    rows = [(g, 24, 6, 24 + 3 * g, 0.25, 100, p) for g, p in ((4, 0.12), (8, 0.35), (12, 0.36))]
    cols = ["n_group_sessions", "n_alone", "n_clips", "n_participants", "effect_raw", "n_sims", "power"]
    t = pd.DataFrame(rows, columns=cols)
    t["ci_low"], t["ci_high"] = zip(*(wilson(round(p * 100), 100) for p in t["power"]))
    text = power_verdict(t, spec)
    # 6 clips with a clip-by-condition SD of 0.4: the ceiling is far below 0.80, clips are the lever
    assert power_ceiling(spec, 0.25, 6) < 0.3 and clips_for_ceiling(spec, 0.25, 0.8) == 41
    assert (
        text.startswith("No design in the grid reaches power 0.80")
        and "more clips raise that ceiling" in text
    )
    assert "from about 41 clips" in text
    # one design reaches it: the smallest by participants is named
    t.loc[1:, "power"] = 0.85
    assert "Smallest design with power >= 0.80: 8 group sessions of 3, 24 alone, 6 clips" in power_verdict(
        t, spec
    )
    # Wilson intervals are not zero-wide at 0 or 1
    assert wilson(0, 8)[1] > 0.2 and wilson(8, 8)[0] < 0.8


def test_power_rises_with_the_effect_and_has_mc_error():
    spec = SimulationSpec(
        group_size=3, sd_stimulus_condition=0.1, **{k: v for k, v in TWO.items() if k != "n_clips"}
    )
    big = power_table(spec, [6], [12], [8], n_sims=8, effect=2.0, engine="statsmodels")
    assert big.loc[0, "power"] == 1.0 and big.loc[0, "mc_se"] == 0.0 and big.loc[0, "ci_low"] < 0.8
    # d = 2 on d_group's scale is 2 x the standardising SD in residual units
    from analysis.simulate.power import standardising_sd

    design = replace(spec, n_group_sessions=6, n_alone=12, n_clips=8)
    assert big.loc[0, "effect_raw"] == pytest.approx(2.0 * standardising_sd(design))
    zero = power_table(spec, [6], [12], [8], n_sims=8, effect=0.0, engine="statsmodels")
    assert zero.loc[0, "power"] <= 0.5
    p = zero.loc[0, "power"]
    assert zero.loc[0, "mc_se"] == pytest.approx(np.sqrt(p * (1 - p) / 8))
    with pytest.raises(AnalysisError, match="at least 2 group sessions"):
        power_table(spec, [1], [12], [8], n_sims=2)


def test_batched_lme4_fits_equal_single_fits():
    require_tool("Rscript")
    from analysis.stats.batch import INTERCEPTS_ONLY, group_effect_batch

    spec = SimulationSpec(n_alone=10, n_group_sessions=5, sd_stimulus_condition=0.3, **TWO)
    studies = [simulate_trials(spec, seed=s) for s in (1, 2, 3)]
    out = group_effect_batch(studies, compare={"intercepts_only": INTERCEPTS_ONLY})
    assert len(out) == 6
    for i, t in enumerate(studies):
        one = fit_mixed(t, "AU12 ~ condition * valence", engine="lme4")
        row = out[(out["study"] == i) & (out["model"] == "default")].iloc[0]
        g = one.fixed.set_index("term").loc["condition[group-alone]"]
        # the same model to the optimiser's tolerance, not to the last digit: R's own fit of this very
        # CSV is not bit-reproducible; study 0 (a flat likelihood) lands on one of two optima across
        # runs (10 fits: 5 x SE 0.267065, 5 x 0.267107, 1.6e-4 apart; estimates 3.4e-6 apart).
        # Another model moves more: intercepts-only here moves the estimate by 1e-2 SE and the SE by 30%
        assert abs(row["estimate"] - g["estimate"]) <= 1e-3 * g["se"]
        assert row["se"] == pytest.approx(g["se"], rel=1e-3)
        assert row["df"] == pytest.approx(g["df"], rel=1e-2)


def test_power_cli(tmp_path, capsys):
    require_tool("Rscript")
    out = tmp_path / "pw"
    assert (
        main(
            [
                "power",
                "--group-sessions",
                "3",
                "--alone",
                "6",
                "--clips",
                "8",
                "--sims",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "power.tsv").exists() and (out / "power.png").stat().st_size > 5000
    text = capsys.readouterr().out
    # it says what it assumed and what the grid means for the study
    assert "Outcome: AU12" in text and "model: AU12 ~ condition * valence" in text
    assert "Effect: d = 0.2" in text and "clip x condition 0.15" in text and "Face loss:" in text
    assert "Wilson 95% interval" in text
    assert "Smallest design with power >= 0.80" in text or "No design in the grid reaches power 0.80" in text
    assert text.splitlines()[-2] in (out / "power.txt").read_text()


#: A small world drawn from the default model (one valence, so ``AU12 ~ condition``): 8 alone
#: participants, 4 groups of 3, 6 clips, a clip-by-condition and a session-by-clip SD of 0.5.
SMALL_WORLD = dict(n_alone=8, n_group_sessions=4, group_size=3, n_clips=6, valences=("positive",))
SMALL_WORLD.update(sd_session=0.3, sd_stimulus=0.3, sd_stimulus_condition=0.5, sd_session_stimulus=0.5)


def test_default_model_is_calibrated_and_the_check_can_fail():
    """100 studies at a true group effect of 0.3 (coverage) and 100 at 0 (false positives): the
    default model is within 3 Monte Carlo SEs of 0.95 and 0.05; the intercepts-only model on the
    same null studies is not, so this check fails on a miscalibration of that size.
    About 200 lme4 fits of small studies in 2 Rscript calls: ~40 s (calibration needs many studies)."""
    require_tool("Rscript")
    from dataclasses import asdict

    from analysis.simulate.power import fit_batch_task
    from analysis.stats.batch import INTERCEPTS_ONLY, nominal_bounds

    spec = asdict(SimulationSpec(**SMALL_WORLD, sd_participant_valence=0.0))
    effect = fit_batch_task(spec, list(range(1, 101)), 0.3, "AU12 ~ condition")
    null = fit_batch_task(spec, list(range(1001, 1101)), 0.0, "AU12 ~ condition", {"io": INTERCEPTS_ONLY})
    low, high = nominal_bounds(100)
    coverage = ((effect["ci_low"] <= 0.3) & (0.3 <= effect["ci_high"])).mean()
    default = null[null["model"] == "default"]
    assert coverage >= low and (default["p_val"] < 0.05).mean() <= high, (coverage, low, high)
    assert effect["converged"].mean() > 0.9
    assert (null.loc[null["model"] == "io", "p_val"] < 0.05).mean() > high


def test_calibration_bench_reports_each_world():
    """The bench runs (3 studies per effect in one world: a smoke run), ends with one JSON line."""
    require_tool("Rscript")
    cmd = [sys.executable, str(ROOT / "bench" / "inference_calibration.py"), "--studies", "3"]
    cmd += ["--chunk", "3", "--workers", "1", "--scenarios", "contagion"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["bench"] == "inference_calibration" and last["studies_per_effect"] == 3
    world = last["scenarios"]["contagion"]
    assert {"coverage", "coverage_mc_se", "fpr", "fpr_mc_se", "calibrated", "required"} <= set(world)
    assert "without_session_stimulus_fpr" in world and "intercepts_only_fpr" in world
    assert proc.returncode == (0 if last["pass"] else 1)


def test_windowed_synchrony_against_permuted_pseudo_groups(tmp_path):
    """Group members share a smile time course in the simulation (session_signal_sd), but not
    their head sway: the WLCC test, on 0.4 s bins (2 frames at 5 fps), finds the first and not
    the second, also with head movement regressed out; it says the smallest p it can reach."""
    from analysis.measures.synchrony import synchrony_bin, synchrony_test
    from analysis.measures.timecourse import HEAD_POSITION, timecourses
    from analysis.measures.trials import trial_table
    from analysis.simulate.study import simulate_study
    from analysis.study.load import load_study

    sizes = dict(n_alone=1, n_group_sessions=6, group_size=3, n_clips=3, clip_duration=30, fps=5, seed=3)
    ds = simulate_study(tmp_path / "syn", SimulationSpec(**sizes))
    study = load_study(ds)
    tc = timecourses(
        study, trial_table(study), measures=["AU12", HEAD_POSITION[0]], bin_width=synchrony_bin(5)
    )
    assert np.diff(np.sort(tc["second"].unique()))[:3] == pytest.approx([0.4] * 3)
    face = synchrony_test(tc, "AU12", n_perm=200)
    head = synchrony_test(tc, HEAD_POSITION[0], n_perm=200)
    adjusted = synchrony_test(tc, "AU12", n_perm=200, control=HEAD_POSITION[0])
    assert face.n_groups == 6 and len(face.per_session) == 6 and face.n_perm == 200 and face.n_failed == 0
    assert face.observed > face.null_mean + 2 * face.null_sd and face.p_val < 0.05
    assert face.n_distinct == 200 and face.min_p == pytest.approx(1 / 201)
    assert adjusted.measure == "AU12 | face_x" and adjusted.p_val < 0.05
    # independent head sway: the control is at chance (a 1% criterion, so the test fails on a real
    # leak of shared signal into the null, not on the 5% of seeds a true null rejects)
    assert head.p_val > 0.01 and head.observed - head.null_mean < face.observed - face.null_mean
    # two groups of 3: no dealing keeps real members apart, and the test says so instead of a p
    two = tc[tc["session_id"].isin(["g01", "g02"])]
    none = synchrony_test(two, "AU12", n_perm=20)
    assert np.isnan(none.p_val) and none.n_failed == 20 and "cannot keep the members" in none.note
    # without shared session signal, the AU12 synchrony is at chance too
    ds0 = simulate_study(tmp_path / "syn0", SimulationSpec(**sizes, session_signal_sd=0.0))
    study0 = load_study(ds0)
    tc0 = timecourses(study0, trial_table(study0), measures=["AU12"], bin_width=synchrony_bin(5))
    assert synchrony_test(tc0, "AU12", n_perm=200).p_val > 0.01
