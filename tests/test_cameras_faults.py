"""Camera faults: kill -9 of a capture process or of the runner, memory over time, and
the capture process's stop signal arriving while its handler still runs.

"No frame older than a second is lost": after each
kill the recorded .mjpg is read back with cv2.VideoCapture, as the analysis does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import cv2
import numpy as np
import psutil
import pytest

from experiments.cameras import CameraSet, CameraSpec
from experiments.cameras.capture_process import stop_on_sigterm
from experiments.cameras.mjpeg_store import camera_paths, read_frame, read_frame_rows

SINGLE = "single/single_face.mp4"  # 72 frames, 30 fps, 640x360
WOLF = "single/WolfgangLanger_Pexels.mp4"  # 472 frames, 23.976 fps, 640x360


def count_decodable(video) -> int:
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


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


PARENT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from experiments.cameras import CameraSet, CameraSpec
    specs = [CameraSpec("a", file={a!r}, loop=True, seats=("A",)),
             CameraSpec("b", file={b!r}, loop=True, seats=("B",))]
    cams = CameraSet(specs, Path({out!r}), {clock_zero!r}).start()
    print(json.dumps(cams.pids()), flush=True)
    time.sleep(120)
""")


def test_kill9_of_the_runner_keeps_every_frame_and_stops_the_captures(shared_data, tmp_path, root):
    clock_zero = time.perf_counter()
    code = PARENT.format(
        root=str(root),
        a=str(shared_data / SINGLE),
        b=str(shared_data / WOLF),
        out=str(tmp_path),
        clock_zero=clock_zero,
    )
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(runner.stdout.readline())
        time.sleep(3.0)
        runner.kill()  # SIGKILL: no finally, no atexit in the runner
        t_kill = time.perf_counter() - clock_zero
        runner.wait(5)
    finally:
        runner.kill()
    # the capture processes notice (PR_SET_PDEATHSIG) and close their files
    gone, alive = psutil.wait_procs(
        [psutil.Process(p) for p in pids.values() if psutil.pid_exists(p)], timeout=8
    )
    assert not alive
    for name, fps in (("a", 30.0), ("b", 23.976)):
        video, table = camera_paths(tmp_path, name)
        rows = read_frame_rows(table)
        # every frame is readable; the last is within a second of the kill on either side
        # (the capture process writes on until it notices its parent is gone)
        assert count_decodable(video) == len(rows)
        assert abs(t_kill - rows[-1].t) < 1.0, (t_kill, rows[-1].t)
        assert np.all(np.diff([r.t for r in rows]) < 3 / fps)  # no hole
        assert [r.frame for r in rows] == list(range(len(rows)))


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
