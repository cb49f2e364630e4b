"""Faults during a real ``coaffect run``: the output disk fills up, the camera's file vanishes,
the display closes.

The disk is a small tmpfs mounted by the test (it needs root, as in CI; elsewhere
it is skipped, never under CI=true) and filled up mid-session by a filler file,
so the session's own camera then takes the last bytes: the session must stop as
``aborted`` with reason ``disk full``, everything on the disk must stay readable,
and ``--resume`` must continue it once space is free again.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time

import pytest
from test_runner_crash import (
    GIF,
    LOSS_BOUND_S,
    _all_gone,
    _capture_pids,
    _frames_readable,
    _in_trial,
    _meta,
    _running,
    _wait,
)
from test_runner_kit import coaffect, make_study
from xvfb import start_xvfb, stop_xvfb

from coaffect.formats.session_reader import read_session
from conftest import require_root
from experiments.cameras import CameraSet, CameraSpec
from experiments.runner.stops import RESERVE_NAME

# loss bounds measured against the fault time: run alone, after the parallel pass (make test)
pytestmark = pytest.mark.serial

#: The camera fills the last 256 KiB within about a second (12.5 frames/s); the runner
#: stops at most 0.25 s after the camera reports it (docs/run-a-session.md).
STOP_BOUND_S = 3.0


@pytest.fixture
def tmpfs(tmp_path):
    """A 520 MB tmpfs (the runner refuses to start with less than 500 MB free); unmounted after."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=520m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        require_root("mounting a tmpfs")
        pytest.fail(f"mount -t tmpfs failed although running as root: {r.stderr.decode()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(mnt, leave: int) -> None:
    """Take all the free space of ``mnt`` but ``leave`` bytes (real blocks, not a sparse file)."""
    free = shutil.disk_usage(mnt).free
    fd = os.open(mnt / "filler", os.O_CREAT | os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, free - leave)
    finally:
        os.close(fd)


def test_disk_full_mid_session_aborts_cleanly_keeps_everything_and_resumes(
    tmp_path, tmpfs, display, shared_data
):
    proto = make_study(
        tmp_path, seats=2, seconds=3.0, clips=("clip-pos", "clip-neg", "clip-bit"), camera=shared_data / GIF
    )
    data = tmpfs / "data"
    sdir = data / "ses-S1"
    cmd = [proto, "--condition", "alone", "--participants", "P01", "--simulate", "--skip-button-check"]
    with _running([*cmd, "--output", data, "--session-id", "S1"], tmp_path / "run1.log") as proc:
        _wait(lambda: _in_trial(sdir, 1), 60, "clip 1")
        assert (sdir / RESERVE_NAME).exists()  # space held back for the end
        pids = _capture_pids(proc)
        _fill(tmpfs, leave=256 * 1024)  # the camera's next ~second of frames will not fit
        t_full = time.perf_counter() - _meta(sdir)["clock_zero_perf"]
        code = proc.wait(120)
    out = (tmp_path / "run1.log").read_text()
    _all_gone(pids)
    assert code == 1, out
    assert "Traceback" not in out
    assert "coaffect: session stopped: disk full; everything recorded is kept" in out
    assert f"continue it with: coaffect run {proto} --resume {sdir} --simulate inprocess" in out

    s = read_session(sdir)  # every table reads
    assert s.status == "aborted" and s.meta["abort_reason"] == "disk full"
    assert s.events.iloc[-1].trial_type == "abort" and s.events.iloc[-1].detail == "disk full"
    assert not (sdir / RESERVE_NAME).exists()
    cam = s.meta["cameras"]["wide"]
    # the first write to meet the full disk is the camera's (it reports it and the runner
    # stops on that report) or, in some runs, one of the runner's rows (the camera then stops)
    assert (cam["status"], cam["error"]) in {("failed", "disk full"), ("ok", None)}, cam
    frames = _frames_readable(sdir, "wide")  # every frame on disk decodes
    assert len(frames) >= cam["frames_written"] - 1
    # it stopped soon after the disk filled, and kept what was recorded up to then
    stop_t = s.events.iloc[-1].onset
    assert t_full < stop_t < t_full + STOP_BOUND_S, (t_full, stop_t)
    assert frames[-1].t > t_full - LOSS_BOUND_S
    assert s.flips["t"].max() > t_full - LOSS_BOUND_S
    print(
        f"\ndisk full at {t_full:.2f} s: stopped at {stop_t:.2f} s; last frame {frames[-1].t:.2f} s, "
        f"last flip {s.flips['t'].max():.2f} s"
    )

    (tmpfs / "filler").unlink()  # space again: the session continues
    r = coaffect("run", proto, "--resume", sdir, "--simulate", "--skip-button-check", timeout=180)
    assert r.returncode == 0, r.stderr
    s = read_session(sdir)
    assert s.status == "complete"
    assert sorted(s.events[s.events.trial_type == "iti"]["trial"].tolist()) == [1, 2, 3]


def test_a_camera_on_a_full_disk_tells_the_runner_at_once_and_ends_cleanly(tmpfs, shared_data):
    """Only the camera writes here: the runner learns of the full disk from the camera's report.

    Five rounds, as the capture process's end raced with its own grab thread (a
    video released under a running read: heap corruption or a hang, in about
    half the rounds).
    """
    spec = CameraSpec("wide", file=str(shared_data / GIF), loop=True, seats=("A",))
    for k in range(5):
        cams = CameraSet([spec], tmpfs / f"ses-S{k}", time.perf_counter()).start()
        raised, process = None, cams.cameras["wide"].process
        try:
            cams.check_disk()  # space left: nothing to report
            _fill(tmpfs, leave=64 * 1024)  # a few frames' worth: the camera takes it at once
            t_full = time.monotonic()
            while raised is None and time.monotonic() - t_full < 10:
                try:
                    cams.check_disk()
                except OSError as exc:
                    raised, after = exc, time.monotonic() - t_full
                time.sleep(0.01)
            process.join(5.0)  # it stops by itself after a full disk
            exitcode = process.exitcode
        finally:
            summary = cams.stop()
            (tmpfs / "filler").unlink()
        assert raised is not None, "the camera's full disk never reached the runner"
        assert raised.errno == errno.ENOSPC and "camera wide" in str(raised)
        # a few frames (0.08 s apart at 12.5 frames/s) take the rest; the runner looks every 0.25 s
        assert after < 1.0, after
        assert exitcode == 0, f"round {k + 1}: capture process exit code {exitcode} (None: hung)"
        assert summary["wide"]["status"] == "failed" and summary["wide"]["error"] == "disk full"
        # every frame decodes but the one whose write met the full disk (its row went first)
        kept = _frames_readable(tmpfs / f"ses-S{k}", "wide")
        assert summary["wide"]["frames_written"] - len(kept) in (0, 1)
        print(f"\nround {k + 1}: disk full reported to the runner {after:.3f} s after the fill")


def test_camera_file_vanishing_mid_session_is_a_gap_and_the_session_completes(tmp_path, display, shared_data):
    """The replayed file is emptied and deleted mid-session (as a device unplugged)."""
    src = tmp_path / "cam.gif"
    shutil.copyfile(shared_data / GIF, src)
    proto = make_study(tmp_path, seats=2, seconds=2.0, clips=("clip-pos", "clip-neg", "clip-bit"), camera=src)
    data = tmp_path / "data"
    sdir = data / "ses-S1"
    cmd = [proto, "--condition", "alone", "--participants", "P01", "--simulate", "--skip-button-check"]
    with _running([*cmd, "--output", data, "--session-id", "S1"], tmp_path / "run1.log") as proc:
        clock_zero = _wait(lambda: _meta(sdir), 60, "session.json")["clock_zero_perf"]
        _wait(lambda: _in_trial(sdir, 1), 60, "clip 1")
        os.truncate(src, 0)
        src.unlink()
        t_gone = time.perf_counter() - clock_zero
        code = proc.wait(120)
    out = (tmp_path / "run1.log").read_text()
    assert code == 0, out
    s = read_session(sdir)
    assert s.status == "complete"
    cam = s.meta["cameras"]["wide"]
    assert cam["status"] == "gaps" and len(cam["gaps"]) == 1
    gap_start, gap_end = cam["gaps"][0]
    frames = _frames_readable(sdir, "wide")
    # the gap starts when the next frame was due after the last one read, and lasts to the end
    assert frames[-1].t < gap_start <= frames[-1].t + 1 / 12.5 + 0.01
    assert gap_start < t_gone + 5.0  # the replay had buffered at most one loop of the clip
    end = s.events[s.events.trial_type == "end"].iloc[0]
    assert gap_end >= end.onset
    ev = s.events[s.events.trial_type == "camera_gap"]
    assert len(ev) == 1 and "camera wide: no frames" in ev.iloc[0].detail


@pytest.fixture
def own_display():
    """A private Xvfb the test may kill (never the one the other tests use)."""
    xvfb, disp = start_xvfb()
    try:
        yield xvfb, disp
    finally:
        stop_xvfb(xvfb)


def test_display_closing_mid_session_keeps_the_rows_and_resumes(tmp_path, display, shared_data, own_display):
    xvfb, disp = own_display
    proto = make_study(
        tmp_path, seats=2, clips=("clip-pos", "clip-neg", "clip-bit"), camera=shared_data / GIF
    )
    data = tmp_path / "data"
    sdir = data / "ses-S1"
    cmd = [proto, "--condition", "alone", "--participants", "P01", "--simulate", "--skip-button-check"]
    env = {**os.environ, "DISPLAY": disp}
    with _running([*cmd, "--output", data, "--session-id", "S1"], tmp_path / "run1.log", env) as proc:
        clock_zero = _wait(lambda: _meta(sdir), 60, "session.json")["clock_zero_perf"]
        _wait(lambda: _in_trial(sdir, 2), 60, "clip 2")
        pids = _capture_pids(proc)
        t_close = time.perf_counter() - clock_zero
        xvfb.send_signal(signal.SIGTERM)  # the display goes away under the window
        code = proc.wait(60)
    out = (tmp_path / "run1.log").read_text()
    _all_gone(pids)
    assert code == 1, out  # Xlib ends the process after its I/O error handler
    assert "coaffect: session stopped: display closed; everything recorded is kept" in out
    assert f"continue it with: coaffect run {proto} --resume {sdir} --simulate inprocess" in out
    s = read_session(sdir)
    assert s.status == "aborted" and s.meta["abort_reason"] == "display closed"
    assert s.events.iloc[-1].trial_type == "abort" and s.events.iloc[-1].detail == "display closed"
    assert s.meta["cameras"]["wide"]["status"] == "ok"  # stopped by the handler
    assert t_close - s.flips["t"].max() < LOSS_BOUND_S
    frames = _frames_readable(sdir, "wide")
    assert t_close - frames[-1].t < LOSS_BOUND_S
    print(f"\ndisplay closed: exit {code}, status {s.status}; output: {out.strip().splitlines()[-3:]}")
    r = coaffect("run", proto, "--resume", sdir, "--simulate", "--skip-button-check", timeout=180)
    assert r.returncode == 0, r.stderr
    assert read_session(sdir).status == "complete"
