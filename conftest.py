"""Test-run set-up: a private X display per pytest process, and every module's doctests.

``--own-xvfb`` (``make test`` passes it) starts a private ``Xvfb`` for each
process that runs tests: each pytest-xdist worker, or pytest itself without
xdist. PsychoPy windows, xdotool's key events (they go to the focused window)
and the screenshots of one worker then never meet another's.

Doctests (``--doctest-modules``):

Examples run from the project root, so they can name committed files
(``protocols/bittersweet-demo.yaml``, ``stimuli/manifest.yaml``), and get in
their namespace ``tmp``, a fresh temporary folder, and, made once per test
process where an example names them:

- ``sim``: the folder of a small simulated study (3 alone participants, 2 groups
  of 2, 3 clips; :func:`analysis.simulate.study.simulate_study`); ``study`` is it
  loaded (:func:`analysis.study.load.load_study`) and ``trials`` its trial table;
- ``clip``: a 3-frame video of one real face (``face.avi``, 15 fps, MJPG;
  :func:`analysis.simulate.faces.write_synthetic_video`);
- ``ses``: a session folder ``ses-01`` whose camera ``wide`` recorded those 3
  frames (``cam-wide.mjpg``, frame table at t = 0.5, 0.566667, 0.633333 s);
- ``shared``: ``../shared/data`` (skipped where absent, fails under ``CI=true``).

Treat them as read-only; write into ``tmp``.
"""

import os
import re
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
    for item in items:
        groups = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid.rpartition("::")[2]:
            from _pytest.nodeid import coerce_node_id  # pytest 9.2's structured ids

            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(groups))}")


def pytest_unconfigure(config):
    """Leave this process's own Xvfb to end with the process (``setpriv --pdeathsig``).

    PsychoPy and pyglet keep an X connection until the interpreter's exit handlers
    and module teardown close it, after this hook. A server stopped here made that
    last X call fatal: Xlib's IO-error handler ends the process with status 1, so
    a pass whose tests had all passed failed ("XIO: fatal IO error 25"). Without
    ``setpriv`` (no parent-death guard) the server is stopped here as before.
    """
    server = getattr(config, "_coaffect_xvfb", None)
    if server is not None:
        from tests.xvfb import ends_with_this_process, stop_xvfb

        if not ends_with_this_process():
            stop_xvfb(server)


@pytest.fixture(scope="session")
def _doctest_study(tmp_path_factory):
    from analysis.simulate.study import SimulationSpec, simulate_study

    path = tmp_path_factory.mktemp("doctest") / "sim"
    spec = SimulationSpec(
        n_alone=3, n_group_sessions=2, group_size=2, n_clips=3, clip_duration=10.0, fps=5.0, seed=3
    )
    simulate_study(path, spec)
    return path


@pytest.fixture(scope="session")
def _doctest_loaded_study(_doctest_study):
    from analysis.study.load import load_study

    return load_study(_doctest_study)


@pytest.fixture(scope="session")
def _doctest_trials(_doctest_loaded_study):
    from analysis.measures.trials import trial_table

    return trial_table(_doctest_loaded_study)


@pytest.fixture(scope="session")
def _doctest_clip(tmp_path_factory):
    from analysis.simulate.faces import write_synthetic_video

    path = tmp_path_factory.mktemp("doctest-clip") / "face.avi"
    write_synthetic_video(path, n_frames=3)  # the astronaut's face, 3 frames at 15 fps
    return path


@pytest.fixture(scope="session")
def _doctest_session(tmp_path_factory, _doctest_clip):
    import cv2

    from experiments.cameras.mjpeg_store import MjpegRecorder

    ses = tmp_path_factory.mktemp("doctest-ses") / "ses-01"
    ses.mkdir()
    rec = MjpegRecorder(ses, "wide")
    cap = cv2.VideoCapture(str(_doctest_clip))
    for k in range(3):
        rec.write(cap.read()[1], t=round(0.5 + k / 15, 6), source_frame=k)
    cap.release()
    rec.close()
    return ses


@pytest.fixture(scope="session")
def _doctest_shared():
    from tests.conftest import IN_CI, SHARED_DATA

    if not (SHARED_DATA / "README.md").exists():
        if IN_CI:
            pytest.fail(f"shared media missing at {SHARED_DATA} (always present in CI)")
        pytest.skip(f"shared media not found at {SHARED_DATA}; set COAFFECT_SHARED_DATA")
    return SHARED_DATA


#: Names a doctest may use, and the session fixture that makes each (only when an example
#: names it).
_DOCTEST_NAMES = {
    "sim": "_doctest_study",
    "study": "_doctest_loaded_study",
    "trials": "_doctest_trials",
    "clip": "_doctest_clip",
    "ses": "_doctest_session",
    "shared": "_doctest_shared",
}


@pytest.fixture(autouse=True)
def _doctest_environment(request, doctest_namespace, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(ROOT)
        doctest_namespace["tmp"] = tmp_path
        source = "\n".join(ex.source for ex in request.node.dtest.examples)
        for name, fixture in _DOCTEST_NAMES.items():
            if re.search(rf"\b{name}\b", source):
                doctest_namespace[name] = request.getfixturevalue(fixture)
    yield
