"""Scoring on Dask: same table on 1 worker, a local cluster and separate scheduler/worker
processes; a worker killed mid-chunk; the scheduler lost and a rerun resuming; a worker
that cannot see the dataset. Real ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.faces.settings import PipelineSettings, TrackerSettings
from analysis.parallel.dask_cluster import SCHEDULER_ENV
from analysis.parallel.dask_processes import ProcessCluster
from analysis.parallel.in_process import ClusterLostError
from analysis.scoring.archive import plan_session
from analysis.scoring.score import ScoreSettings, score_dataset
from analysis.simulate.faces import base_face, write_group_video
from coaffect.cli import main
from coaffect.formats.errors import AnalysisError
from conftest import IN_CI, require_root, require_tool

#: Detection every 0.5 s (8 frames at 15 fps): 10 s sessions cut into 4 chunks of 3 s.
SETTINGS = ScoreSettings(PipelineSettings(tracker=TrackerSettings(detect_every_s=0.5)))
CHUNK_S = 3.0
SESSIONS = ("S01", "S02", "S03")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from test_score import make_session

    root = tmp_path_factory.mktemp("scale")
    video = root / "feed" / "wide.avi"
    write_group_video(video, n_faces=2, fps=15, duration_s=10)
    photo = base_face()[0]
    for sid in SESSIONS:
        make_session(
            root / "data", sid, video, [("P01", "A"), ("P02", "B")], ["A", "B"], {"P01": photo, "P02": photo}
        )
    return root / "data"


def _copy(template: Path, dst: Path) -> Path:
    shutil.copytree(template, dst)
    return dst


def _faces(data: Path) -> dict:
    out = data / "derivatives" / "coaffect"
    return {sid: pd.read_parquet(out / f"ses-{sid}" / "faces.parquet") for sid in SESSIONS}


def _score(data, progress=False, **kw):
    return score_dataset(data, settings=SETTINGS, chunk_s=CHUNK_S, progress=progress, **kw)


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory):
    """Faces tables scored in this process (1 worker)."""
    data = _copy(template, tmp_path_factory.mktemp("ref") / "data")
    assert _score(data, workers=1)["status"].tolist() == ["scored"] * 3
    return _faces(data)


def _assert_same(data: Path, reference: dict) -> None:
    got = _faces(data)
    for sid in SESSIONS:
        pd.testing.assert_frame_equal(got[sid], reference[sid])  # rows, track ids, values
        assert not got[sid].duplicated(["frame", "participant_id"]).any()
    assert not list((data / "derivatives").rglob("*.tmp"))


def test_same_table_in_process_local_cluster_and_remote(
    template, reference, tmp_path, capsys, caplog, monkeypatch
):
    plan = plan_session(template / "ses-S01", SETTINGS.pipeline, CHUNK_S)
    assert [len(c.plan.chunks) for c in plan] == [4]  # the chunks really meet at seams
    faces = reference["S01"]
    assert len(faces) == 150 * 2 and faces["face_found"].mean() > 0.95
    # a local cluster of 2 worker processes
    local = _copy(template, tmp_path / "local")
    caplog.set_level("INFO", logger="analysis")  # where the executor says where tasks run
    assert _score(local, workers=2, progress=True)["status"].tolist() == ["scored"] * 3
    err = capsys.readouterr().err
    assert "Dask dashboard: http://" in caplog.text
    # one bar over frames (chunks report as they go) and sessions; every frame counted once
    assert "450/450" in err and "sessions 3/3" in err and "451/450" not in err
    _assert_same(local, reference)
    # a scheduler and 2 workers started as separate processes, reached through COAFFECT_SCHEDULER
    remote = _copy(template, tmp_path / "remote")
    with ProcessCluster(n_workers=2) as cluster:
        monkeypatch.setenv(SCHEDULER_ENV, cluster.address)
        assert _score(remote, progress=True)["status"].tolist() == ["scored"] * 3
    err = capsys.readouterr().err
    assert "450/450" in err and "sessions 3/3" in err
    _assert_same(remote, reference)


def _run_in_thread(func):
    box = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _wait(cond, timeout=300.0, what=""):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_worker_killed_mid_chunk_loses_nothing(template, reference, tmp_path):
    from distributed import Client

    data = _copy(template, tmp_path / "data")
    with ProcessCluster(n_workers=2) as cluster:
        pids = cluster.worker_pids()
        with Client(cluster.address, set_as_default=False) as watcher:
            thread, box = _run_in_thread(lambda: _score(data, scheduler=cluster.address))
            busy = {}

            def chunk_running():
                for worker, keys in watcher.processing().items():
                    chunks = [k for k in keys if str(k).startswith("observe_chunk")]
                    if chunks and worker in pids:
                        busy.update(worker=worker, key=chunks[0])
                        return True
                return False

            _wait(chunk_running, what="a chunk task to start")
            time.sleep(0.5)  # well inside the chunk (a chunk takes seconds)
            still = watcher.processing().get(busy["worker"], ())
            os.kill(pids[busy["worker"]], signal.SIGKILL)
            assert busy["key"] in still, "the chunk finished before the kill; the test proved nothing"
            thread.join(600)
        assert "error" not in box, box.get("error")
        assert box["value"]["status"].tolist() == ["scored"] * 3
    _assert_same(data, reference)


def test_scheduler_lost_then_rerun_resumes(template, reference, tmp_path):
    data = _copy(template, tmp_path / "data")
    summaries = [data / "derivatives" / "coaffect" / f"ses-{s}" / "score_summary.json" for s in SESSIONS]
    with ProcessCluster(n_workers=1) as cluster:  # one worker: sessions finish one after the other
        thread, box = _run_in_thread(lambda: _score(data, scheduler=cluster.address))
        _wait(lambda: any(p.exists() for p in summaries), what="a first complete session")
        cluster.kill_scheduler()
        thread.join(120)
    assert not thread.is_alive(), "the command hung after the scheduler died"
    err = box.get("error")
    assert isinstance(err, ClusterLostError), repr(err)
    assert f"lost the Dask scheduler at {cluster.address} mid-run" in err.message
    assert "sessions were complete and are kept" in err.message
    complete = [p.exists() for p in summaries]
    assert complete[0] and not all(complete), complete  # one kept, work left to resume
    with ProcessCluster(n_workers=2) as cluster:
        status = _score(data, scheduler=cluster.address)["status"].tolist()
    assert status == ["skipped" if c else "scored" for c in complete]
    _assert_same(data, reference)


def test_worker_that_cannot_see_the_dataset(template, tmp_path, capsys):
    require_root("hiding a folder from one worker (a mount namespace)")
    require_tool("unshare")
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode:
        (pytest.fail if IN_CI else pytest.skip)("no mount namespaces here (CI has them)")
    hidden = tmp_path / "nfs"
    data = _copy(template, hidden / "data")
    # this worker's view: an empty file system mounted over the dataset's parent folder
    wrap = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs none "$0" && exec "$@"',
    ]
    with ProcessCluster(n_workers=1) as cluster:
        cluster.start_workers(1, wrap=[*wrap, str(hidden)])
        with pytest.raises(AnalysisError) as info:
            _score(data, scheduler=cluster.address)
        msg = info.value.message
        assert msg.startswith(f"{data}: worker tcp://127.0.0.1:") and msg.endswith(f"cannot see {data}")
        assert "\n" not in msg
        assert main(["score", str(data), "--scheduler", cluster.address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].endswith(f"cannot see {data}") and err[-1].startswith("hint:")
    assert not (data / "derivatives" / "coaffect" / "ses-S01" / "faces.parquet").exists()


#: Documented in docs/scale-out.md: finishing a session costs at most this much memory per frame x face.
FINISH_BYTES_PER_ROW = 12 * 1024

_PROBE = r"""
import sys, tempfile, tracemalloc
from pathlib import Path
import numpy as np
import pandas as pd
from analysis.faces.chunks import stitch_chunks
from analysis.faces.pipeline import RangeObservations, finish_observations
from analysis.faces.settings import PipelineSettings
from analysis.faces.table import faces_table, score_summary
from analysis.scoring.files import write_scores

n_frames, n_faces, n_chunks = int(sys.argv[1]), int(sys.argv[2]), 4
pids = [f"P{t:02d}" for t in range(1, n_faces + 1)]

def chunks(n):
    rng = np.random.default_rng(0)
    per, parts = n // n_chunks, []
    for c in range(n_chunks):
        idx = range(c * per, (c + 1) * per)
        rows = [(i, t + 1, 100.0 * t + 50 + rng.random(), 80.0, 90.0, 90.0, i % 30 == 0, 1.0, *rng.random(7))
                for i in idx for t in range(n_faces)]
        info = {"fps": 30.0, "width": 640, "height": 480, "n_frames_in_file": n, "step": 1,
                "detections_run": 1, "min_face_px": 60.0}
        parts.append(RangeObservations([(i, i / 30.0, True) for i in idx], rows, rng.random((len(rows), 68, 2)) * 100,
                                       set(range(1, n_faces + 1)), {}, {t: 80.0 for t in range(1, n_faces + 1)}, info))
    return parts, [c * per for c in range(n_chunks)]

def finish(parts, seams, out):  # what a session's finishing task does with its chunks
    obs = finish_observations(stitch_chunks(parts, seams), PipelineSettings(), encode=False)
    ident = pd.DataFrame({"track_id": range(1, n_faces + 1), "participant_id": pids, "identity_confidence": 1.0})
    faces, notes = faces_table(obs, ident, pids, "S1", "wide")
    write_scores(out, faces, score_summary(faces, {"wide": obs.info}, "0" * 16, {}, [], notes))
    return len(faces)

with tempfile.TemporaryDirectory() as tmp:
    finish(*chunks(400), Path(tmp) / "warm")  # code paths and lazy allocations once
    # tracemalloc sees numpy's and pandas' buffers too, and only this work's (not what imports
    # or the warm-up left in the peak resident size)
    tracemalloc.start()
    n = finish(*chunks(n_frames), Path(tmp) / "out")
    print(n, tracemalloc.get_traced_memory()[1])
"""


def test_finishing_memory_bound(tmp_path):
    """The documented bound: a session's finishing step uses <= 12 KB per frame x face (inputs included)."""
    import sys

    rows = 30_000 * 2
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, "30000", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        timeout=600,
        check=True,
    )
    n, grown = map(int, res.stdout.split())
    assert n == rows
    assert grown / rows <= FINISH_BYTES_PER_ROW, f"{grown / rows:.0f} bytes per row"
    assert grown / rows > 2000  # the probe really held the session (landmarks alone are 1.1 KB a row)


def test_cli_jobs_is_a_deprecated_name_for_workers(template, tmp_path, capsys):
    data = _copy(template, tmp_path / "data")
    assert main(["score", str(data / "ses-S01"), "--jobs", "1", "--step", "3"]) == 0
    cap = capsys.readouterr()
    assert "--jobs is deprecated, use --workers" in cap.err
    assert "workers: in this process (1 worker)" in cap.err
    assert cap.out.startswith("ses-S01: scored")
    assert main(["score", str(data), "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "--workers: must be at least 1 (got 0)"


class _NotAScheduler:
    """A TCP server on a free 127.0.0.1 port that is not Dask: silent, or greeting like a web server."""

    def __init__(self, greeting: bytes = b""):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.greeting = greeting
        self.conns: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.greeting:
                conn.sendall(self.greeting)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("greeting", [b"", b"HTTP/1.0 400 Bad Request\r\n\r\n"], ids=["silent", "web-server"])
def test_an_address_that_is_not_a_dask_scheduler_is_one_line_within_seconds(
    template, tmp_path, capsys, greeting
):
    """Issue 25 item 6: after 40 s a traceback ('Unable to allocate 3.07 EiB'); now one line, exit 2."""
    import time

    from analysis.parallel.dask_cluster import PROBE_TIMEOUT_S

    data = _copy(template, tmp_path / "data")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    server = _NotAScheduler(greeting)
    try:
        t0 = time.monotonic()
        assert main(["score", str(data), "--scheduler", server.address]) == 2
        took = time.monotonic() - t0
    finally:
        server.close()
    err = capsys.readouterr().err.strip().splitlines()
    said = "it sent b'HTTP/1.0 400 Bad Request'" if greeting else "it said nothing within 3 s"
    assert err[0] == f"{server.address}: something answers there, but it is not a Dask scheduler ({said})", (
        err
    )
    assert len(err) == 2 and err[1].startswith("hint: start one with `dask scheduler`")
    # the probe's own time-out bounds the wait (the Dask client took 40 s and a traceback)
    assert took < PROBE_TIMEOUT_S + 5, took
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing touched


def test_a_refused_scheduler_port_is_one_line(tmp_path, capsys):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    from analysis.parallel.executor import open_executor

    with pytest.raises(AnalysisError) as err:
        open_executor(scheduler=f"127.0.0.1:{port}", say=None)
    assert (
        err.value.message == f"tcp://127.0.0.1:{port}: no Dask scheduler answers there (connection refused)"
    )
