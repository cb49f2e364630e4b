"""Shared fixtures: paths, the shared real-media folder, the virtual display."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COAFFECT_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def root() -> Path:
    """The project root."""
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real face media. Skipped where absent, but required under CI."""
    if not (SHARED_DATA / "README.md").exists():
        if IN_CI:
            pytest.fail(f"shared media missing at {SHARED_DATA} (always present in CI)")
        pytest.skip(f"shared media not found at {SHARED_DATA}; set COAFFECT_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def display() -> str:
    """An X display: a private Xvfb per pytest process with --own-xvfb (make test), or xvfb-run."""
    disp = os.environ.get("DISPLAY")
    if not disp:
        if IN_CI:
            pytest.fail("no DISPLAY: run the tests with 'make test' (--own-xvfb) or under xvfb-run")
        pytest.skip("no DISPLAY; run with --own-xvfb (make test) or under xvfb-run")
    return disp


def require_tool(name: str) -> str:
    """Path of a system tool; skip (fail in CI) where it is not installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; scripts/setup.sh installs it")
        pytest.skip(f"{name} not installed")
    return path


def require_module(name: str):
    """Import a module the set-up installs; skip where absent, fail under CI=true."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} cannot be imported ({exc}); requirements/*.txt installs it")
        pytest.skip(f"{name} not importable: {exc}")


def require_root(reason: str) -> None:
    """Skip a test that needs root (mount a tmpfs) where not root; fail under CI=true (root there)."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail(f"{reason}: CI runs as root")
        pytest.skip(f"{reason}: needs root")


#: xdist group of the tests that share :func:`scored_wolfgang` (scored once per worker).
WOLFGANG_GROUP = "scored-wolfgang"


@pytest.fixture(scope="session")
def scored_wolfgang(shared_data):
    """``score_video`` of ``single/WolfgangLanger_Pexels.mp4``, every 4th frame: ``(faces, summary)``.

    Scored once per test process for every test that needs it (mark those
    ``pytest.mark.xdist_group(WOLFGANG_GROUP)`` so one worker runs them all).
    Treat the tables as read-only.
    """
    from analysis.faces.settings import PipelineSettings
    from analysis.scoring.score import ScoreSettings
    from analysis.scoring.video import score_video

    settings = ScoreSettings(PipelineSettings(step=4))  # every 4th frame keeps the tests short
    return score_video(SHARED_DATA / "single" / "WolfgangLanger_Pexels.mp4", settings)


#: xdist group of the tests that share :func:`small_report` (built once per worker).
REPORT_GROUP = "small-report"


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """``report.html`` of the small simulated study (``sim_helpers.SMALL``), built once.

    One alone participant (session ``a01``) was filmed on no seat: the session is
    scored but its faces table has no face, and its score summary carries a seat
    warning, so the page shows both the analysed study and these two messages.
    Mark the tests that use it ``pytest.mark.xdist_group(REPORT_GROUP)``; do not
    change the built files.
    """
    import json

    import pandas as pd

    from analysis.report import build_report
    from coaffect.formats import faces_schema as fs
    from tests.sim_helpers import SMALL, copy_dataset, sim_dataset

    ds = copy_dataset(
        sim_dataset(tmp_path_factory, "small", **SMALL), tmp_path_factory.mktemp("report") / "ds"
    )
    faces_path = ds / "derivatives/coaffect/ses-a01/faces.parquet"
    faces = pd.read_parquet(faces_path)
    faces["face_found"] = False
    for c in faces.columns:
        if c.startswith(("AU", "emo_")) or c in (*fs.COMPOSITES, "face_w"):
            faces[c] = float("nan")
    faces.to_parquet(faces_path)
    summary_path = faces_path.with_name("score_summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["seat_warnings"] = [
        "cam-wide: a face was seen in 50 of 50 frames (100%) outside every assigned seat"
    ]
    summary_path.write_text(json.dumps(summary))
    return build_report(ds, n_boot=25).report_path  # a short bootstrap: the CI path, cheaply
