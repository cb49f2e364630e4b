"""Camera faults: kill -9 of a capture process, SIGKILL of the runner at 20 random
moments, memory over time, and a stop signal arriving while its handler still runs.

"No frame older than a second is lost": after each
kill the recorded .mjpg is read back with cv2.VideoCapture, as the analysis does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest

from experiments.cameras import CameraSet, CameraSpec
from experiments.cameras.capture_process import stop_on_sigterm
from experiments.cameras.mjpeg_store import camera_paths, read_frame, read_frame_rows, repair
from experiments.cameras.parent_watch import EXIT_PARENT_GONE

SINGLE = "single/single_face.mp4"  # 72 frames, 30 fps, 640x360
WOLF = "single/WolfgangLanger_Pexels.mp4"  # 472 frames, 23.976 fps, 640x360


def count_decodable(video) -> int:
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


@pytest.mark.serial  # loss under 1 s against the kill time: run alone (make test)
def test_kill9_of_a_capture_process_mid_frame_loses_under_1s_logs_a_gap_and_restarts(shared_data, tmp_path):
    """kill -9 of a capture process, its last frame cut in half: < 1 s lost, gap logged, restart."""
    spec = CameraSpec("seat", file=str(shared_data / SINGLE), loop=True, seats=("A",))
    cams = CameraSet([spec], tmp_path, time.perf_counter()).start()
    video, table = camera_paths(tmp_path, "seat")
    try:
        time.sleep(2.5)
        pid = cams.pids()["seat"]
        os.kill(pid, signal.SIGKILL)
        t_kill = cams.now()
        psutil.Process(pid).wait(5) if psutil.pid_exists(pid) else None  # reaps it, too
        rows = read_frame_rows(table)
        # a kill in the middle of a frame's write: its row is on disk, half its bytes are not
        last = rows[-1]
        os.truncate(video, last.byte_offset + last.byte_length // 2)
        with pytest.raises(ValueError, match="not .fully. on disk"):
            read_frame(video, last)
        # the runner's next polls restart the capture, which repairs the cut and appends
        events = []
        deadline = time.monotonic() + 15
        while not events and time.monotonic() < deadline:
            events = cams.poll()
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        summary = cams.stop()
    s = summary["seat"]
    assert s["restarts"] == 1 and s["status"] == "gaps"
    assert len(events) == 1 and events[0]["trial_type"] == "camera_gap"
    assert "capture process restarted" in events[0]["detail"]
    all_rows = read_frame_rows(table)
    kept = [r for r in all_rows if r.t < t_kill]
    assert kept == rows[:-1]  # exactly the cut frame is gone, every other row kept as written
    loss = t_kill - kept[-1].t
    assert 0 < loss < 1.0, loss  # the promise: nothing older than a second is lost
    gap_start, gap_end = s["gaps"][0]
    assert gap_start == pytest.approx(kept[-1].t + 1 / 30, abs=2e-6)  # when the next frame was due
    assert gap_end == all_rows[len(kept)].t  # first frame of the new process
    assert events[0]["onset"] == gap_start
    assert gap_end > t_kill  # frames were really missed
    assert [r.frame for r in all_rows] == list(range(len(all_rows)))
    assert np.all(np.diff([r.t for r in all_rows]) > 0)
    assert s["frames_written"] == len(all_rows) == count_decodable(video)
    print(f"\nkill -9 of a capture process mid-frame: last kept frame {loss:.3f} s before the kill")


#: Frames per pass of the two replayed files (a lost frame is a skipped source frame).
FILE_FRAMES = {SINGLE: 72, WOLF: 472}
#: The issue's bound: every capture process ends within 2 s of the runner's SIGKILL. The
#: parent-death signal ends it at once; the watchdog within 1 s (0.4 s for the writer to
#: close, as long for the process to end); the rest is room for a busy machine's scheduler.
EXIT_BOUND_S = 2.0
KILLS = 20


def _check_recording(video, table, loop_frames: int | None, t_kill: float | None) -> int:
    """Every frame whose bytes are on disk decodes; at most the one in flight is cut."""
    rows = read_frame_rows(table)
    size = video.stat().st_size if video.exists() else 0
    complete = [r for r in rows if r.byte_offset + r.byte_length <= size]
    assert rows[: len(complete)] == complete and len(rows) - len(complete) <= 1, (len(rows), len(complete))
    assert [r.frame for r in complete] == list(range(len(complete)))
    assert np.all(np.diff([r.t for r in complete]) > 0)
    for row in complete:
        read_frame(video, row)  # raises unless the JPEG decodes
    if loop_frames is not None and len(complete) > 1:  # one capture process: no frame lost
        step = np.diff([r.source_frame for r in complete]) % loop_frames
        assert np.all(step == 1), np.flatnonzero(step != 1)
    if t_kill is not None:  # the promise: nothing older than a second is lost
        assert t_kill - complete[-1].t < 1.0, (t_kill, complete[-1].t)
    repair(video, table)  # what a resumed session or the reader does with the cut frame
    assert count_decodable(video) == len(complete)
    return len(complete)


def test_sigkill_of_the_runner_at_20_random_moments_ends_every_capture_process_within_2s(
    shared_data, tmp_path, root
):
    """SIGKILL of a two-camera runner during start-up, recording and a restart (20 kills).

    Every capture process the runner left behind ends within 2 s (reaped by pid by
    the harness, a child subreaper; the resource tracker is not a capture process),
    and every frame written decodes. Even kills have the parent-death signal and
    the watchdog, odd kills the watchdog alone; the exit codes show which guard
    ended each process.
    """
    seed = int(os.environ.get("COAFFECT_KILL_SEED", time.time_ns() % 100_000))
    cfg = {
        "root": str(root),
        "videos": [str(shared_data / SINGLE), str(shared_data / WOLF)],
        "out": str(tmp_path),
        "seed": seed,
        "kills": KILLS,
    }
    harness = subprocess.run(
        [sys.executable, str(root / "tests" / "kill_runner_harness.py"), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert harness.returncode == 0, harness.stderr[-3000:]
    kills = [json.loads(line) for line in harness.stdout.splitlines()]
    assert len(kills) == KILLS
    why = f"(seed {seed}: rerun with COAFFECT_KILL_SEED={seed})"
    slow, seen_lines, captures = [], set(), 0
    for k in kills:
        seen_lines.add(k["last_line"])
        for p in k["processes"]:
            if p["kind"] == "capture":
                captures += 1
                if p["ended_after"] is None or p["ended_after"] > EXIT_BOUND_S:
                    slow.append((k["kill"], k["phase"], k["pdeathsig"], p))
    assert not slow, f"capture processes outlived their runner by > {EXIT_BOUND_S} s: {slow} {why}"
    # which guard ended them: where both cameras were recording (past their start-up check),
    # the parent-death signal (SIGKILL) if armed, else the watchdog (EXIT_PARENT_GONE)
    for k in kills:
        if k["last_line"] == "started":
            want = -signal.SIGKILL if k["pdeathsig"] else EXIT_PARENT_GONE
            got = [p["exit"] for p in k["processes"] if p["kind"] == "capture"]
            assert got == [want, want], (k, why)
    assert seen_lines == {"starting", "started", "crashing"}, (seen_lines, why)  # every phase was hit
    assert captures >= KILLS, why  # most kills leave two (or three, in a restart) behind
    frames = 0
    for k in kills:
        ses = Path(k["session_dir"])
        recording = k["last_line"] != "starting"
        for name, file in (("a", SINGLE), ("b", WOLF)):
            video, table = camera_paths(ses, name)
            if not table.exists():
                continue  # killed before this camera opened its files
            one_process = name == "b" or k["last_line"] == "started"
            frames += _check_recording(
                video,
                table,
                FILE_FRAMES[file] if one_process else None,
                k["t_kill"] if recording and one_process else None,
            )
    ended = sorted(p["ended_after"] for k in kills for p in k["processes"] if p["kind"] == "capture")
    print(
        f"\n{KILLS} kills (seed {seed}): {captures} capture processes ended "
        f"{ended[0]:.3f}-{ended[-1]:.3f} s after the kill (median {ended[len(ended) // 2]:.3f}); "
        f"{frames} frames all decodable"
    )


def test_memory_of_a_capture_process_stays_flat(shared_data, tmp_path):
    # loop a 3 s clip for 16 s (about 480 frames, 5 passes through the file)
    spec = CameraSpec("seat", file=str(shared_data / SINGLE), loop=True, seats=("A",))
    cams = CameraSet([spec], tmp_path, time.perf_counter()).start()
    samples = []
    try:
        proc = psutil.Process(cams.pids()["seat"])
        start = time.monotonic()
        while time.monotonic() - start < 16:
            samples.append((time.monotonic() - start, proc.memory_info().rss))
            time.sleep(0.25)
    finally:
        summary = cams.stop()
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples]) / 2**20
    early = np.median(rss[(t > 3) & (t < 7)])
    late = np.median(rss[t > 12])
    assert late - early < 2.0, (early, late)  # MiB; a frame buffer would grow ~0.7 MiB/frame
    assert rss.max() - early < 8.0
    assert summary["seat"]["frames_dropped"] == 0
    assert summary["seat"]["frames_written"] > 400


def test_the_stop_handler_survives_running_inside_itself():
    """Linux sends the parent-death SIGTERM once per exiting thread of a dying runner.

    So the capture process's handler can run again while it is still running.
    A signal is simulated at every line the handler (and what it calls) runs, by
    a trace function that calls the handler again there: a handler that takes a
    lock (as ``threading.Event.set`` does) waits for itself and never returns.
    """
    old = signal.getsignal(signal.SIGTERM)
    try:
        signalled = stop_on_sigterm()
        handler = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, old)
    nested = []

    def tracer(frame, event, arg):
        if event == "line" and len(nested) < 100:
            nested.append(frame.f_code.co_name)
            handler(signal.SIGTERM, None)  # "a second signal arrives here"
        return tracer

    def run():
        sys.settrace(tracer)
        try:
            handler(signal.SIGTERM, None)
        finally:
            sys.settrace(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5.0)
    assert not t.is_alive(), f"the SIGTERM handler waits for itself (nested in {sorted(set(nested))})"
    assert signalled()


def test_a_stop_signal_while_a_capture_process_is_launched_waits_for_its_job(
    shared_data, tmp_path, monkeypatch, capfd
):
    """SIGTERM right after the child is launched, before it has its job: no EOFError in the child.

    The signal is sent at the worst moment (after ``spawnv_passfds``, before the
    job is written). Without :func:`experiments.signal_hold.stop_signals_held`
    the runner stopped there and the child printed Python's ``EOFError: Ran out
    of input`` traceback (a CI run of tests/test_runner_crash.py did).
    """
    from multiprocessing import popen_spawn_posix

    from experiments.runner.stops import SessionStopped, SignalGuard

    launch = popen_spawn_posix.util.spawnv_passfds
    children = []

    def launch_then_stop(path, args, passfds):
        pid = launch(path, args, passfds)
        if any(
            b"spawn_main" in os.fsencode(a) for a in args
        ):  # the capture process, not the resource tracker
            children.append(pid)
            os.kill(os.getpid(), signal.SIGTERM)
        return pid

    monkeypatch.setattr(popen_spawn_posix.util, "spawnv_passfds", launch_then_stop)
    specs = [CameraSpec(n, file=str(shared_data / SINGLE), loop=True, seats=("A",)) for n in ("a", "b")]
    cams = CameraSet(specs, tmp_path, time.perf_counter())
    with SignalGuard(), pytest.raises(SessionStopped):
        cams.start()
    monkeypatch.undo()
    # the stop came right after camera a had its job: b never started, a was ended before leaving
    assert len(children) == 1 and cams.cameras["b"].process is None
    assert not cams.cameras["a"].process.is_alive()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "EOFError" not in err, err
    assert set(cams.stop()) == {"a", "b"}  # the runner's clean-up still gets a summary


_OPEN_AND_WAIT = """
import sys, time
from pathlib import Path
from experiments.cameras import CameraSet, CameraSpec
from experiments.runner.stops import SessionStopped, SignalGuard
spec = CameraSpec("a", file=sys.argv[1], loop=True, seats=("A",))
cams = CameraSet([spec], Path(sys.argv[2]), time.perf_counter())
try:
    with SignalGuard():
        cams.start()
        time.sleep(30)
except SessionStopped as stop:
    print("stopped:", stop.reason, flush=True)
cams.stop()
"""


def _importing_numpy(runner_pid: int) -> bool:
    """Whether a capture process of ``runner_pid`` exists and has mapped numpy's libraries."""
    for child in psutil.Process(runner_pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()) and any(
                "numpy" in m.path for m in child.memory_maps()
            ):
                return True
        except psutil.Error:  # gone, or not readable yet
            pass
    return False


def test_ctrl_c_to_the_terminal_while_a_capture_process_starts_prints_no_traceback(shared_data, tmp_path):
    """Ctrl+C reaches the whole process group, the capture process too, while it is still importing.

    It used to end there with a KeyboardInterrupt traceback on the console. The
    group is signalled once the capture process has mapped numpy, that is while
    it imports what it needs (pandas and OpenCV follow), before its own code runs.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _OPEN_AND_WAIT, str(shared_data / SINGLE), str(tmp_path / "ses")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal gives a command
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _importing_numpy(proc.pid):
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped: interrupted (Ctrl-C, SIGINT)" in out, (out, err)
    assert "Traceback" not in err, err
