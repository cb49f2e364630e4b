"""Test-run set-up: a private X display per pytest process, and every module's doctests.

``--own-xvfb`` (``make test`` passes it) starts a private ``Xvfb`` for each
process that runs tests: each pytest-xdist worker, or pytest itself without
xdist. PsychoPy windows, xdotool's key events (they go to the focused window)
and the screenshots of one worker then never meet another's.

Doctests (``--doctest-modules``):

Examples run from the project root, so they can name committed files
(``protocols/bittersweet-demo.yaml``, ``stimuli/manifest.yaml``), and get in
their namespace ``tmp``, a fresh temporary folder, and ``sim``, the folder of a
small simulated study (3 alone participants, 2 groups of 2, 3 clips; made
once per test session by :func:`analysis.simulate_study.simulate_study`).
"""

import os
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ROOT = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption(
        "--own-xvfb",
        action="store_true",
        help="start a private Xvfb (DISPLAY) for each process that runs tests (each xdist worker)",
    )


def pytest_configure(config):
    runs_tests = hasattr(config, "workerinput") or config.getoption("dist", "no") == "no"
    if config.getoption("own_xvfb") and runs_tests:
        from tests.xvfb import start_xvfb

        config._coaffect_xvfb, os.environ["DISPLAY"] = start_xvfb()
        os.environ.pop("XAUTHORITY", None)  # the private server has no access control to pass


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep ``--dist loadgroup`` grouping by ``xdist_group`` on pytest 9.2.

    pytest-xdist 3.8.0 marks a grouped test by appending ``@group`` to its
    ``_nodeid``, which pytest 9.2 no longer reads (its node ids are structured):
    the tests were silently spread over the workers, each scoring or building
    the shared fixture again (pytest-xdist issue 1386). This puts the suffix
    where pytest 9.2 keeps the id; it does nothing where xdist's own suffix
    took effect.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid.rpartition("::")[2]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(groups))}")


def pytest_unconfigure(config):
    server = getattr(config, "_coaffect_xvfb", None)
    if server is not None:
        from tests.xvfb import stop_xvfb

        stop_xvfb(server)


@pytest.fixture(scope="session")
def _doctest_study(tmp_path_factory):
    from analysis.simulate_study import SimulationSpec, simulate_study

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
