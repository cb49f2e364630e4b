"""The analyst's front door: ``import analysis``, its guide, and the checks at the door.

``docs/python-api.md`` runs here as one doctest (its outputs are checked), and its R
block runs in R on the files the Python blocks wrote. The other tests pin what the
issue asked of the public API: wrong types raise a TypeError naming the parameter,
a non-estimable term is named, NaN outcomes are counted apart from exclusions, the
files carry what a refit in R needs, and results carry no dependency's deprecation.
"""

from __future__ import annotations

import doctest
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis as ca
from coaffect.formats.errors import AnalysisError
from tests.conftest import ROOT, require_tool
from tests.sim_helpers import SMALL, sim_dataset

GUIDE = ROOT / "docs" / "python-api.md"


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)


def test_every_python_block_of_the_guide_is_an_example():
    """A block without ``>>>`` would not run as a test: none may slip in."""
    blocks = _blocks(GUIDE.read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 10
    assert all(">>> " in b for b in blocks), [b for b in blocks if ">>> " not in b]


def test_the_guide_runs_from_loading_to_report(tmp_path, monkeypatch):
    """Every block of docs/python-api.md, outputs checked; the report reuses the analysis."""
    rscript = require_tool("Rscript")
    monkeypatch.chdir(tmp_path)
    import analysis.report.analyse as analyse

    built = []
    real = analyse.trial_table
    monkeypatch.setattr(
        analyse,
        "trial_table",
        lambda study, *a, **k: (
            built.append(tuple(study.settings.exclude_quality or ())) or real(study, *a, **k)
        ),
    )
    text = GUIDE.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, "python-api.md", str(GUIDE), 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
    assert result.attempted > 40
    # analyse_study built the trial table once, and once more with pose-flagged frames left out
    # (the sensitivity analysis); build_report did not build it again
    assert built == [(), ("pose",)]
    for code in _blocks(text, "r"):
        (tmp_path / "refit.R").write_text(code)
        proc = subprocess.run([rscript, "--vanilla", "refit.R"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "condition1" in proc.stdout  # R printed the refit's fixed effects


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    return ca.trial_table(ca.load_study(sim_dataset(tmp_path_factory, "small", **SMALL)))


def test_wrong_types_raise_type_errors_naming_the_parameter(trials, tmp_path_factory):
    study = ca.load_study(sim_dataset(tmp_path_factory, "small", **SMALL))
    sd = study.sessions[0]
    with pytest.raises(TypeError, match=r"^participants: expected a list of participant ids, got a pandas"):
        ca.self_report_measures(sd.intervals, sd.clips, sd.participants)
    with pytest.raises(TypeError, match=r"^study: expected a Study"):
        ca.trial_table(trials)
    with pytest.raises(TypeError, match=r"^formulas: expected a list of formulas, got a str"):
        ca.run_stats(trials, "t_both ~ condition")
    with pytest.raises(TypeError, match=r"^trials: expected a trial table"):
        ca.fit_mixed(study, "t_both ~ condition")
    with pytest.raises(TypeError, match=r"^dataset_dir: expected a dataset folder"):
        ca.load_study(trials)


def test_not_estimable_names_the_term(trials):
    with pytest.raises(AnalysisError, match=r"not estimable: stimulus_id is nested in valence"):
        ca.fit_mixed(trials, "t_both ~ condition + valence + stimulus_id", engine="statsmodels")
    no_cell = trials[~((trials["condition"] == "group") & (trials["valence"] == "negative"))]
    with pytest.raises(AnalysisError, match=r"condition:valence has no usable trials for group:negative$"):
        ca.fit_mixed(no_cell, "t_both ~ condition * valence", engine="statsmodels")


def test_missing_outcomes_are_counted_apart_from_exclusions(trials):
    t = trials.copy()
    t.loc[t.index[:2], "excluded"] = True
    usable = t.index[~t["excluded"]]
    t.loc[usable[:3], "t_both"] = np.nan
    res = ca.fit_mixed(t, "t_both ~ condition + valence", engine="statsmodels")
    assert res.left_out == {"excluded": 2, "face_excluded": 0, "missing": {"t_both": 3}, "missing_rows": 3}
    assert res.notes[0] == (
        "5 of 21 trials left out: 2 excluded (exclusion_reason), 3 with a missing value (t_both: 3)"
    )
    assert res.n["observations"] == 16


def test_files_carry_what_a_refit_in_r_needs(trials, tmp_path):
    rscript = require_tool("Rscript")
    out = ca.run_stats(trials, ["t_both ~ condition * valence"]).write(tmp_path / "stats")
    info = json.loads((out / "model-1_t_both_condition_valence_info.json").read_text())
    assert info["coding"] == "deviation"
    assert info["reference_levels"] == {"condition": "alone", "valence": "bittersweet"}
    assert info["contrasts"]["condition"] == {
        "levels": ["alone", "group"],
        "columns": {"condition[group-alone]": [-0.5, 0.5]},
    }
    assert len(info["contrasts"]["valence"]["columns"]) == 2
    assert len(info["protocol_sha256"]) == 64  # from the trial table, though run_stats saw no study
    path = ca.write_trials(trials, tmp_path)
    back = ca.read_trials(path)
    assert back.attrs == trials.attrs and back["excluded"].dtype == bool
    r = (
        f'd <- read.delim("{path}", na.strings = "n/a"); '
        "cat(is.logical(d$excluded), is.logical(d$face_excluded), sum(!d$excluded), sum(d$in_group))"
    )
    proc = subprocess.run([rscript, "--vanilla", "-e", r], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    usable, in_group = int((~trials["excluded"]).sum()), int(trials["in_group"].sum())
    assert proc.stdout.split() == ["TRUE", "TRUE", str(usable), str(in_group)]
    assert in_group == 12  # SMALL: 2 groups of 2 people x 3 clips


def test_results_carry_no_dependency_deprecation(trials):
    aov = ca.mixed_anova_table(trials, "t_both")
    assert aov.dv == "t_both" and not any("Deprecat" in w or "Pandas4" in w for w in aov.info["warnings"])
    anova, pairwise, info = aov  # still unpacks as before
    assert isinstance(anova, pd.DataFrame) and info is aov.info


def test_cli_shows_library_fields_as_flags(tmp_path, capsys):
    from coaffect.cli import main

    (tmp_path / "data").mkdir()
    assert main(["score", str(tmp_path / "data"), "--step", "0"]) == 2
    assert capsys.readouterr().err.strip() == "--step: must be at least 1 (got 0)"
    assert main(["score", str(tmp_path / "data"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "coaffect score: --jobs is deprecated, use --workers (same meaning)" in err
    assert main(["simulate-study", str(tmp_path / "sim"), "--clips", "0"]) == 2
    assert capsys.readouterr().err.strip() == "--clips: at least 1 clip (got 0)"


def test_front_door_lists_what_it_exports():
    assert set(ca.__all__) <= set(dir(ca))
    assert {"load_study", "trial_table", "fit_mixed", "fit_hurdle", "build_report", "score"} <= set(
        ca.__all__
    )
    with pytest.raises(AttributeError, match="did you mean 'fit_mixed'"):
        ca.fit_mixd  # noqa: B018
    assert Path(ca.__file__).parent.name == "analysis"
