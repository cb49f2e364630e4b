"""Simulated datasets shared by the analysis tests (each made once per pytest session)."""

from __future__ import annotations

import shutil
from pathlib import Path

from analysis.simulate.study import SimulationSpec, simulate_study

#: Small study used by the trial, report and CLI tests: 3 alone + 2 groups of 2, 3 clips.
SMALL = dict(n_alone=3, n_group_sessions=2, group_size=2, n_clips=3, clip_duration=10.0, fps=5.0, seed=3)


def sim_dataset(tmp_path_factory, name: str, **spec) -> Path:
    """Path of a simulated dataset, created on first use in this pytest session."""
    path = tmp_path_factory.getbasetemp() / f"sim-{name}"
    if not (path / "participants.tsv").exists():
        if path.exists():
            shutil.rmtree(path)
        simulate_study(path, SimulationSpec(**spec))
    return path


def copy_dataset(src: Path, dst: Path) -> Path:
    """A private copy to modify (abort rows, deleted faces...)."""
    shutil.copytree(src, dst)
    return dst
