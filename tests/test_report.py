"""The HTML report: built end to end, with and without faces, and rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.report import build_report
from coaffect.cli import main
from tests.conftest import REPORT_GROUP, require_tool
from tests.sim_helpers import SMALL, copy_dataset, sim_dataset

FIGURES = (
    "quality.png",
    "rasters.png",
    "self_report.png",
    "timecourses.png",
    "coherence.png",
    "synchrony.png",
    "pose_size.png",
)


@pytest.fixture(scope="module")
def report(small_report):
    return small_report  # built once for this file and test_first_study_fixes.py (tests/conftest.py)


def _chromium(args, tmp_path, timeout=90):
    exe = require_tool("chromium")
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.xdist_group(REPORT_GROUP)
def test_report_files_and_figures(report):
    out = report.parent
    assert report.name == "report.html"
    for name in FIGURES:
        img = np.asarray(Image.open(out / name).convert("L"), dtype=float)
        assert img.shape[0] > 200 and img.shape[1] > 400, name
        assert img.std() > 5, f"{name} looks blank"
    info = json.loads((out / "report.json").read_text())
    assert info["has_faces"] and info["formulas"] == [
        "AU12 ~ condition * valence",
        "inner_brow_lip_down ~ condition * valence",
        "t_both ~ condition * valence",
    ]
    fitted = [m["formula"] for m in info["models"]]
    assert "AU12 ~ condition * valence" in fitted
    assert "z_above_chance ~ condition * button + valence" in fitted
    assert (out / "exclusion_flow.tsv").exists() and (out / "synchrony_wlcc.tsv").exists()
    assert (out / "stats" / "model-1_AU12_condition_valence_fixed.tsv").exists()
    assert (report.parents[1] / "trials.tsv").exists()  # derivatives/coaffect/trials.tsv
    # face_quality flags per participant (simulated faces carry none: shares of 0)
    quality = pd.read_csv(out / "quality.tsv", sep="\t")
    flags = ["flag_pose", "flag_occlusion", "flag_identity", "flag_motion_blur"]
    assert set(flags) <= set(quality.columns) and (quality[flags].fillna(0) == 0).all().all()
    assert "flag_<wbr>pose" in report.read_text(encoding="utf-8")  # headings may break after '_'


@pytest.mark.xdist_group(REPORT_GROUP)
def test_report_renders_in_headless_chromium(report, tmp_path):
    proc = _chromium(["--dump-dom", report.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # the answer comes first: one row per outcome with a group term, each linked to its model
    assert dom.index("Answer: group minus alone, per outcome") < dom.index("Data quality per session")
    answer = dom.split('id="answer"', 1)[1].split("</table>", 1)[0]
    info = json.loads((report.parent / "report.json").read_text())
    assert answer.count("<tr>") == 1 + len(info["answer"]) == 1 + 4  # 3 protocol models + coherence
    # the fixture's alone participant a01 has no face (filmed on no seat): facial outcomes have
    # 2 alone participants, too few, and say so in the same table; the self-report one is answered
    too_few = "Not interpretable: only 2 participant(s) in condition 'alone': too few for a test of condition"
    for row in info["answer"]:
        assert f'href="#model-{row["model"]}"' in answer and f'id="model-{row["model"]}"' in dom
        expected = (
            ("Group viewers showed", "No reliable difference") if row["outcome"] == "t_both" else too_few
        )
        assert row["reading"].startswith(expected), row
        assert row["reading"] in answer
    assert [row["outcome"] for row in info["answer"]].count("t_both") == 1
    assert "d [95% CI]" in answer and "[" in answer.split("t_both", 1)[1]
    for heading in (
        "Data quality per session",
        "Self-report: button holds per clip",
        "Time courses by condition",
        "Face-button coherence and group synchrony",
        "Statistics",
        "Head pose, face size and usable frames by condition",
        "Sensitivity of the primary model",
    ):
        assert heading in dom, heading
    assert "condition[group-alone]" in dom and "(0 + in_group | session_id)" in dom
    for table in (
        "Participant, trial and frame flow by condition",
        "analysed: facial measures",
        "Omnibus tests (Type III)",
        "Estimated marginal means",
        "Effect sizes",
        "R2_marginal",
        "d_group",
        "Random part: (1 | stimulus_id) dropped",
        "pose-flagged frames excluded",
        "pose and face size as trial covariates",
        "frames with a doubtful identity",
        "std_<wbr>diff",
        "in model: AU12 ~ condition * valence",
        "coherence: no value",
        "Face loss by condition",
        "(the reported test)",
    ):
        assert table in dom, table
    assert "they are not felt emotions" in dom
    srcs = re.findall(r'<img src="([^"]+)"', dom)
    assert sorted(srcs) == sorted(FIGURES)
    assert all((report.parent / s).exists() for s in srcs)
    shot = tmp_path / "shot.png"
    proc = _chromium([f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri()], tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    # the figures' coloured bars and lines are on screen, not just black text on white
    assert (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).mean() > 0.001


def test_report_without_faces_says_so(tmp_path_factory, tmp_path):
    ds = copy_dataset(sim_dataset(tmp_path_factory, "small", **SMALL), tmp_path / "ds")
    for f in (ds / "derivatives" / "coaffect").glob("ses-*/faces.parquet"):
        f.unlink()
    assert main(["report", str(ds), "--quiet"]) == 0
    html = (ds / "derivatives/coaffect/report/report.html").read_text()
    assert "No faces.parquet for any session" in html
    assert "Coherence and synchrony need facial measures" in html
    # the facial model is skipped with its reason, not crashed
    assert (
        "Not fitted: formula &#x27;AU12 ~ condition * valence&#x27;: facial measure &#x27;AU12&#x27; is not"
        in html
    )
    # one clip per valence level: the random terms it cannot identify are named with the reason
    assert "t_both ~ condition * valence + (0 + in_group | session_id)" in html
    assert "Random part: (1 | stimulus_id) dropped: 1 clip per valence level" in html
    assert "no session was scored" in html


def test_report_models_use_the_ddf_asked_for(tmp_path_factory, tmp_path):
    """``coaffect report --ddf Kenward-Roger`` reaches the report's models, as it does ``coaffect stats``'."""
    require_tool("Rscript")  # R's pbkrtest computes the df: skipped without R, fails under CI=true
    ds = copy_dataset(sim_dataset(tmp_path_factory, "small", **SMALL), tmp_path / "ds")
    for f in (ds / "derivatives" / "coaffect").glob("ses-*/faces.parquet"):
        f.unlink()  # the self-report model only: no faces to score or to model
    args = ["report", str(ds), "--quiet", "--formula", "t_both ~ condition + valence", "--boot", "0"]
    assert main([*args, "--engine", "lme4", "--ddf", "Kenward-Roger"]) == 0
    html = (ds / "derivatives/coaffect/report/report.html").read_text()
    assert "tests: t (Kenward-Roger)" in html and "Satterthwaite" not in html


def test_not_interpretable_withholds_every_condition_inference(tmp_path):
    """One group session: the answer says so, and no condition CI, EMM interval, d or p is shown
    anywhere (files, results, report), while the valence inferences stay."""
    from analysis.simulate.study import SimulationSpec, simulate_study

    spec = SimulationSpec(
        n_alone=4, n_group_sessions=1, group_size=3, n_clips=3, clip_duration=10.0, fps=5.0, seed=4
    )
    ds = simulate_study(tmp_path / "one", spec)
    a = build_report(
        ds, out_dir=tmp_path / "rep", engine="statsmodels", formulas=["AU12 ~ condition + valence"]
    )
    res = a.stats.models[0]
    assert res.verdict.startswith("NOT INTERPRETABLE: only 1 group session")
    fx = res.fixed.set_index("term")
    assert fx.loc["condition[group-alone]", ["p_val", "ci_low", "ci_high", "stat"]].isna().all()
    assert np.isfinite(fx.loc["condition[group-alone]", "estimate"])  # what these data show, untested
    assert fx.loc["valence[negative-bittersweet]", ["p_val", "ci_low"]].notna().all()
    emm = res.emms.set_index("factor")
    assert emm.loc["condition", ["ci_low", "ci_high"]].isna().all().all()
    assert emm.loc["valence", "ci_low"].notna().all()
    assert res.omnibus.set_index("term").loc["condition", ["F", "p_val"]].isna().all()
    d = res.effect_sizes.set_index("measure").loc["d_group"]
    assert (
        np.isnan(d["value"]) and np.isnan(d["ci_low"]) and d["note"].startswith("withheld: NOT INTERPRETABLE")
    )
    # the files say the same
    stem = tmp_path / "rep" / "stats" / "model-1_AU12_condition_valence"
    fixed = pd.read_csv(f"{stem}_fixed.tsv", sep="\t", na_values="n/a").set_index("term")
    assert fixed.loc["condition[group-alone]", ["p_val", "ci_low", "ci_high"]].isna().all()
    sizes = pd.read_csv(f"{stem}_effect_sizes.tsv", sep="\t", na_values="n/a").set_index("measure")
    assert np.isnan(sizes.loc["d_group", "value"])
    # and the report's answer
    answer = pd.read_csv(tmp_path / "rep" / "answer.tsv", sep="\t", na_values="n/a")
    row = answer[answer["outcome"] == "AU12"].iloc[0]
    assert row["reading"].startswith("Not interpretable: only 1 group session") and not row["interpretable"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<td>withheld</td>" in html and "Not interpretable: only 1 group session" in html
