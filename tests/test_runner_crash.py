"""Crashes and signals measured on the session clock: what is lost, and does --resume go on.

The real ``coaffect run`` process (``python -m coaffect.cli run``) records a
camera (a real video replayed by its capture process) while a real X keyboard
stream (xdotool, from this test) presses a participant's button every 0.2 s.
The kill moment is taken on the session clock (``session.json``'s
``clock_zero_perf`` and this process's ``perf_counter`` share CLOCK_MONOTONIC),
so the loss is measured, not assumed: every key sent more than 1 s before the
kill is in ``buttons.tsv``, the last camera frame is within 1 s of the kill.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from test_runner_kit import PY, ROOT, coaffect, make_study

from coaffect.formats.session_reader import read_session
from conftest import require_tool
from experiments.cameras.mjpeg_store import camera_paths, read_frame, read_frame_rows
from experiments.runner.clock import SessionClock
from experiments.runner.simulated import Action

# loss bounds measured against the kill time: run alone, after the parallel pass (make test)
pytestmark = pytest.mark.serial

GIF = "single/head-pose-face-detection-male.gif"  # one face, replayed in a loop at 12.5 fps
#: The promise (README, docs/runner.md): a crash loses at most about a second.
LOSS_BOUND_S = 1.0


def _start(args, log: Path, env: dict | None = None) -> subprocess.Popen:
    """``coaffect run ...`` in its own process group (as a terminal runs it)."""
    fh = open(log, "w")
    return subprocess.Popen(
        [PY, "-m", "coaffect.cli", "run", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def _running(args, log: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """:func:`_start`, and the process killed on the way out if the test left it running."""
    proc = _start(args, log, env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = cond()
        if out:
            return out
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _meta(sdir: Path) -> dict | None:
    try:
        return json.loads((sdir / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _in_trial(sdir: Path, trial: int) -> bool:
    p = sdir / "flips.tsv"
    return p.exists() and f"\t{trial}\tclip-" in p.read_text(encoding="utf-8")


class KeyStream:
    """Real X key events on a steady beat: participant key ``a`` and the experimenter's space."""

    def __init__(self, clock_zero: float, seconds: float = 90.0):
        from experiments.runner.xdotool_input import XdotoolInjector

        self.inj = XdotoolInjector(SessionClock(clock_zero))
        t0 = self.inj.clock.now() + 0.1
        actions = []
        for k in range(int(seconds / 0.2)):
            t = t0 + 0.2 * k
            actions += [Action(t, "down", "a"), Action(t + 0.08, "up", "a")]
            if k % 3 == 0:  # advances the consent and instruction screens
                actions += [Action(t + 0.1, "down", "space"), Action(t + 0.14, "up", "space")]
        self.inj.schedule(actions)

    def participant_keys(self) -> list:
        return [(a, before, after) for a, before, after in self.inj.sent if a.key == "a"]

    def close(self) -> None:
        self.inj.close()  # releases every key still held: X is left clean


def _capture_pids(proc) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _all_gone(pids, timeout=10.0) -> None:
    procs = [psutil.Process(p) for p in pids if psutil.pid_exists(p)]
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:  # never leave a process behind, even when the assertion fails
        p.kill()
    assert not alive, f"processes outlived the runner: {alive}"


def _frames_readable(sdir: Path, name: str) -> list:
    """Every frame row decodes from its bytes, except at most the very last (cut mid-frame)."""
    video, table = camera_paths(sdir, name)
    rows = read_frame_rows(table)
    bad = []
    for i, r in enumerate(rows):
        try:
            read_frame(video, r)
        except ValueError:
            bad.append(i)
    assert bad in ([], [len(rows) - 1]), bad
    return rows[: len(rows) - len(bad)]


@pytest.fixture
def study(tmp_path, display, shared_data):
    require_tool("xdotool")
    proto = make_study(
        tmp_path, seats=2, clips=("clip-pos", "clip-neg", "clip-bit"), camera=shared_data / GIF
    )
    return proto, tmp_path / "data"


def test_kill9_of_coaffect_run_with_camera_loses_under_a_second_and_resumes(study, tmp_path):
    """SIGKILL of the real ``coaffect run`` mid-clip, camera recording: measured loss < 1 s."""
    proto, data = study
    sdir = data / "ses-S1"
    args = [proto, "--condition", "alone", "--participants", "P01", "--skip-button-check"]
    proc = _start([*args, "--output", data, "--session-id", "S1"], tmp_path / "run1.log")
    keys = None
    try:
        meta = _wait(lambda: (_meta(sdir) or {}).get("display") and _meta(sdir), 60, "the window")
        clock_zero = meta["clock_zero_perf"]
        keys = KeyStream(clock_zero)
        _wait(lambda: _in_trial(sdir, 2), 60, "clip 2")
        time.sleep(0.4)
        pids = _capture_pids(proc)
        t_kill = time.perf_counter() - clock_zero
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sent = keys.participant_keys() if keys else []
        if keys:
            keys.close()
    assert pids, "the camera's capture process was not running"
    _all_gone(pids)  # PR_SET_PDEATHSIG: the capture process stopped with its runner

    crashed = read_session(sdir)  # every table reads right after the crash
    assert crashed.status == "running"
    # buttons: every key sent more than a second before the kill is recorded, in order
    early = [(a.key, a.action) for a, _, after in sent if after < t_kill - LOSS_BOUND_S]
    rec = crashed.buttons.sort_values("t")
    assert len(early) > 20
    assert list(zip(rec["key"], rec["action"]))[: len(early)] == early
    button_loss = t_kill - rec["t"].max()
    assert 0 <= button_loss < LOSS_BOUND_S, button_loss
    # camera: the last frame on disk is within a second of the kill, and every frame decodes
    frames = _frames_readable(sdir, "wide")
    camera_loss = t_kill - frames[-1].t  # < 0: the capture process wrote on until it noticed
    assert -LOSS_BOUND_S < camera_loss < LOSS_BOUND_S, camera_loss
    flip_loss = t_kill - crashed.flips["t"].max()
    assert 0 <= flip_loss < LOSS_BOUND_S, flip_loss
    print(
        f"\nkill -9 of coaffect run: lost buttons {button_loss:.3f} s, camera {camera_loss:.3f} s, "
        f"flips {flip_loss:.3f} s"
    )
    before = {n: (sdir / n).read_bytes() for n in ("events.tsv", "buttons.tsv", "flips.tsv")}

    # --resume continues (keys again for its instruction screen)
    proc = _start([proto, "--resume", sdir, "--skip-button-check"], tmp_path / "run2.log")
    try:
        keys = KeyStream(clock_zero)
        assert proc.wait(120) == 0, (tmp_path / "run2.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        keys.close()
    s = read_session(sdir)
    assert s.status == "complete"
    for name, old in before.items():
        assert (sdir / name).read_bytes().startswith(old[: old.rfind(b"\n") + 1])
    assert sorted(s.events[s.events.trial_type == "iti"]["trial"].tolist()) == [1, 2, 3]
    # the interruption is a recorded camera gap (issue 16), from the frame after the last one
    gaps = s.events[s.events.trial_type == "camera_gap"]
    resumed = gaps[gaps["detail"].str.contains("session interrupted until resumed")]
    assert len(resumed) == 1
    g = resumed.iloc[0]
    assert abs(g.onset - (frames[-1].t + 1 / 12.5)) < 0.002
    resume_at = s.events[s.events.trial_type == "resume"].iloc[0].onset
    rows = read_frame_rows(camera_paths(sdir, "wide")[1])
    assert [r.frame for r in rows] == list(range(len(rows)))
    first_new = rows[len(frames)]  # first frame of the resumed run ends the gap
    assert g.onset + g.duration == pytest.approx(first_new.t, abs=2e-6)
    assert t_kill < first_new.t < resume_at  # cameras start before the resumed flow
    assert [g.onset, first_new.t] in s.meta["cameras"]["wide"]["gaps"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_prints_resume_command_and_resume_keeps_clip_summaries(study, tmp_path, sig):
    """SIGTERM, or Ctrl-C to the terminal's process group: aborted with reason, no traceback.

    The printed resume command is run after SIGTERM only: the aborted session (status,
    reason, abort row, clip summaries, stopped cameras) is checked the same for both.
    """
    proto, data = study
    sdir = data / "ses-S1"
    cmd = [proto, "--condition", "alone", "--participants", "P01", "--simulate", "--skip-button-check"]
    with _running([*cmd, "--output", data, "--session-id", "S1"], tmp_path / "run1.log") as proc:
        clock_zero = _wait(lambda: _meta(sdir), 60, "session.json")["clock_zero_perf"]
        _wait(lambda: _in_trial(sdir, 2), 60, "clip 2")
        time.sleep(0.4)
        pids = _capture_pids(proc)
        t_kill = time.perf_counter() - clock_zero
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # what Ctrl-C does: the whole foreground group
        else:
            os.kill(proc.pid, sig)
        code = proc.wait(60)
    out = (tmp_path / "run1.log").read_text()
    _all_gone(pids)
    assert code == 128 + sig, out
    assert "Traceback" not in out
    reason = {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGINT: "interrupted (Ctrl-C, SIGINT)"}[sig]
    assert f"coaffect: session stopped: {reason}; everything recorded is kept" in out
    printed = [ln for ln in out.splitlines() if ln.startswith("continue it with: ")]
    assert len(printed) == 1
    resume_cmd = shlex.split(printed[0][len("continue it with: ") :])
    assert resume_cmd == ["coaffect", "run", str(proto), "--resume", str(sdir), "--simulate", "inprocess"]

    s = read_session(sdir)
    assert s.status == "aborted" and s.meta["abort_reason"] == reason and s.notes == []
    assert s.events.iloc[-1].trial_type == "abort" and s.events.iloc[-1].detail == reason
    assert s.events.iloc[-2].trial_type == "clip_interrupted" and s.events.iloc[-2].trial == 2
    assert 0 <= s.events.iloc[-1].onset - t_kill < 0.5  # stopped within a few frames
    print(f"\n{sig.name}: abort row {s.events.iloc[-1].onset - t_kill:.3f} s after the signal")
    # trial 1's summary, and clip 2's interrupted attempt (issue 25: its flips are in flips.tsv too)
    assert list(s.meta["clips"]) == ["1", "2"] and s.meta["clips"]["2"]["interrupted"] == reason
    clip1 = dict(s.meta["clips"]["1"])
    assert s.meta["cameras"]["wide"]["status"] == "ok"  # cameras stopped cleanly
    last_frame = s.meta["cameras"]["wide"]["last_t"]
    # recorded up to the stop (after the signal: cameras stop last, in the clean-up)
    assert t_kill - LOSS_BOUND_S < last_frame < s.events.iloc[-1].onset + LOSS_BOUND_S
    if sig == signal.SIGINT:
        return  # both stops leave the same aborted session: its resume is run once, after SIGTERM

    # the printed command, as typed (coaffect = python -m coaffect.cli), plus this test's flag
    r = coaffect(*resume_cmd[1:], "--skip-button-check")
    assert r.returncode == 0, r.stderr
    s = read_session(sdir)
    assert s.status == "complete"
    # issue 16: resume merges the per-trial clip summaries instead of replacing them
    assert sorted(s.meta["clips"]) == ["1", "2", "3"] and s.meta["clips"]["1"] == clip1
    # issue 16: the time between the interruption and the resume is a recorded camera gap
    gaps = s.meta["cameras"]["wide"]["gaps"]
    resume_at = s.events[s.events.trial_type == "resume"].iloc[0].onset
    assert any(last_frame < a <= last_frame + 0.1 and t_kill < b < resume_at for a, b in gaps), gaps
    ev = s.events[s.events.trial_type == "camera_gap"]
    assert ev["detail"].str.contains("session interrupted until resumed").sum() == 1


def test_sigterm_while_the_cameras_open_leaves_no_traceback_and_no_half_folder(study, tmp_path):
    """A stop before the session has begun: no traceback; the new folder is removed or readable."""
    proto, data = study
    sdir = data / "ses-S1"
    cmd = [proto, "--condition", "alone", "--participants", "P01", "--simulate", "--skip-button-check"]
    with _running([*cmd, "--output", data, "--session-id", "S1"], tmp_path / "run1.log") as proc:
        _wait(lambda: (sdir / "session.json").exists(), 60, "session.json")  # cameras open next
        pids = _capture_pids(proc)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(60)
    out = (tmp_path / "run1.log").read_text()
    _all_gone(pids)
    assert "Traceback" not in out
    if code == 130:  # stopped while the cameras opened: the folder made a moment ago is gone
        assert out.strip().splitlines()[-1] == "coaffect: interrupted" and not sdir.exists()
    else:  # the session had begun: a clean, resumable abort
        assert code == 143, out
        s = read_session(sdir)
        assert s.status == "aborted" and s.meta["abort_reason"] == "terminated (SIGTERM)"
