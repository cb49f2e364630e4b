"""A stop signal before the session begins: what started is ended and the new folder goes.

The signal is sent from inside the runner (at the named step), so the moment is
exact rather than raced: while the folder is being made (``session.json``
written, ``protocol.yaml`` not yet), while the cameras open (their processes
started, no frame yet), and as LSL and sound start. A CI run once caught the first of these from outside
(``tests/test_runner_crash.py``): the folder stayed behind with ``session.json``
alone.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from test_runner_kit import make_study

GIF = "single/head-pose-face-detection-male.gif"  # one face, replayed in a loop at 12.5 fps


def _stop_here(fn):
    def wrapper(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # raised as SessionStopped at the next line run
        return fn(*args, **kwargs)

    return wrapper


def _capture_processes():
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                out.append(child)
        except psutil.Error:  # ended meanwhile
            pass
    return out


@pytest.mark.parametrize("moment", ["making the folder", "cameras opening", "lab starting"])
def test_a_stop_before_the_session_begins_ends_what_started_and_leaves_no_folder(
    moment, shared_data, tmp_path, monkeypatch
):
    from experiments.cameras import CameraSet
    from experiments.runner import lab, session
    from experiments.runner.stops import SessionStopped

    proto = make_study(tmp_path, seats=2, camera=shared_data / GIF)
    if moment == "making the folder":  # after session.json, before protocol.yaml
        monkeypatch.setattr(session.shutil, "copyfile", _stop_here(session.shutil.copyfile))
    elif moment == "cameras opening":  # as the runner first looks for the first frame
        monkeypatch.setattr(CameraSet, "_drain", _stop_here(CameraSet._drain))
    else:
        monkeypatch.setattr(lab.LabHardware, "start", _stop_here(lab.LabHardware.start))
    data = tmp_path / "data"
    with pytest.raises(SessionStopped):
        session.run_session(
            proto, "alone", ["P01"], output=data, session_id="S1", simulate="inprocess", progress=False
        )
    monkeypatch.undo()
    assert not (data / "ses-S1").exists(), sorted(p.name for p in (data / "ses-S1").iterdir())
    assert not data.exists(), [str(p) for p in data.rglob("*")]  # this run made the dataset folder too
    assert _capture_processes() == [], [c.cmdline() for c in _capture_processes()]
