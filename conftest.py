"""Doctest set-up for every module's Examples section (``--doctest-modules``).

Examples run from the project root, so they can name committed files
(``protocols/bittersweet-demo.yaml``, ``stimuli/manifest.yaml``), and get in
their namespace ``tmp``, a fresh temporary folder, and ``sim``, the folder of a
small simulated study (3 alone participants, 2 groups of 2, 3 clips; made
once per test session by :func:`analysis.simulate.study.simulate_study`).
"""

from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def _doctest_study(tmp_path_factory):
    from analysis.simulate.study import SimulationSpec, simulate_study

    path = tmp_path_factory.mktemp("doctest") / "sim"
    spec = SimulationSpec(
        n_alone=3, n_group_sessions=2, group_size=2, n_clips=3, clip_duration=10.0, fps=5.0, seed=3
    )
    simulate_study(path, spec)
    return path


@pytest.fixture(autouse=True)
def _doctest_environment(request, doctest_namespace, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(ROOT)
        doctest_namespace["tmp"] = tmp_path
        if any("sim" in ex.source for ex in request.node.dtest.examples):
            doctest_namespace["sim"] = request.getfixturevalue("_doctest_study")
    yield
