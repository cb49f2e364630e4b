"""Cameras from the command line: ``coaffect rig-check`` and ``coaffect run --simulate``."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import yaml

from coaffect.formats.errors import HardwareError
from coaffect.formats.protocol import load_protocol
from conftest import require_tool
from experiments.cameras import open_cameras
from experiments.cameras.mjpeg_store import camera_paths, read_frame_rows

GIF3 = "group/face-demographics-walking-and-pause.gif"  # 41 frames, 3 people, 480x270
SINGLE = "single/single_face.mp4"  # 72 frames, 30 fps, 640x360


def small_protocol(root, tmp_path, cameras, clips=("demo-positive",)):
    """The demo protocol cut to one short trial, with the given cameras."""
    data = yaml.safe_load((root / "protocols" / "bittersweet-demo.yaml").read_text())
    data["stimuli"] = {"manifest": str(root / "stimuli" / "manifest.yaml"), "clips": list(clips)}
    data["baseline"] = {"duration": 1.5, "kind": "fixation"}
    data["analysis"]["baseline_window"] = [0.5, 1.5]
    data["iti"] = 0.2
    data["ratings"]["items"] = data["ratings"]["items"][:1]
    data["cameras"] = cameras
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def coaffect(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "coaffect.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_open_cameras_from_a_protocol_with_overrides_and_missing(root, tmp_path, shared_data):
    proto = small_protocol(
        root,
        tmp_path,
        [
            {"name": "wide", "file": "feeds/none.avi", "seats": ["A", "B", "C"], "required": True},
            {"name": "cam9", "device": "/dev/video9", "seats": ["A"], "required": True},
        ],
    )
    lp = load_protocol(proto)
    with pytest.raises(HardwareError) as info:
        open_cameras(lp, tmp_path / "s1", time.perf_counter())
    assert info.value.lines == [
        f"camera 'wide' (file {tmp_path / 'feeds' / 'none.avi'}): no such video file: "
        f"{tmp_path / 'feeds' / 'none.avi'}",
        "camera 'cam9' (device /dev/video9): no such device /dev/video9",
    ]
    with pytest.raises(
        HardwareError,
        match="camera override 'wdie': no camera of that name in small.yaml; did you mean 'wide'",
    ):
        open_cameras(lp, tmp_path / "s2", time.perf_counter(), overrides={"wdie": "x.mp4"})
    cams = open_cameras(
        lp,
        tmp_path / "s3",
        time.perf_counter(),
        overrides={"wide": str(shared_data / GIF3)},
        allow_missing=True,
    )
    summary = cams.stop()
    assert summary["wide"]["status"] in ("ok", "ended") and summary["wide"]["frames_written"] >= 1
    assert summary["cam9"]["status"] == "missing"


def test_rig_check_lists_cameras_measures_fps_and_saves_previews(root, tmp_path, shared_data, display):
    proto = small_protocol(
        root,
        tmp_path,
        [
            {"name": "wide", "file": str(shared_data / GIF3), "loop": True, "seats": ["A", "B", "C"]},
            {"name": "seat", "file": str(shared_data / SINGLE), "loop": True, "seats": ["A"]},
            {"name": "spare", "device": "/dev/video9", "seats": ["B"], "required": False},
        ],
    )
    out = tmp_path / "rc"
    res = coaffect("rig-check", str(proto), "--seconds", "2", "--output", str(out), "--no-buttons")
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "rig-check.json").read_text())
    cams = {c["camera"]: c for c in report["cameras"]}
    # the GIF's own frame delays give 12.5 fps, the mp4 30 fps (see tests/test_cameras.py)
    assert cams["wide"]["fps_measured"] == pytest.approx(12.5, abs=1.0)
    assert cams["seat"]["fps_measured"] == pytest.approx(30.0, abs=2.0)
    assert (cams["wide"]["width"], cams["wide"]["height"]) == (480, 270)
    assert cv2.imread(str(out / "rig-check-seat.png")).shape == (360, 640, 3)
    assert cv2.imread(str(out / "rig-check-wide.png")).shape == (270, 480, 3)
    assert not cams["spare"]["opened"] and cams["spare"]["error"] == "no such device /dev/video9"
    assert "camera spare: CANNOT OPEN device /dev/video9" in res.stdout
    # the window opens under Xvfb; having no vsync it gives a positive rate or says it has none
    disp = report["display"]
    assert (
        (disp["refresh_hz"] > 0 and disp["error"] is None)
        if disp["refresh_hz"] is not None
        else (disp["error"] == "no stable refresh rate (no vsync, e.g. a virtual display)")
    ), disp
    assert "display:" in res.stdout
    assert report["button_check"] is None and "buttons: not checked (--no-buttons)" in res.stdout
    # a required camera that cannot be opened: one line, a hint, exit 2
    bad = small_protocol(
        root, tmp_path, [{"name": "cam9", "device": "/dev/video9", "seats": ["A"], "required": True}]
    )
    res = coaffect(
        "rig-check", str(bad), "--seconds", "0.5", "--output", str(out), "--no-display", "--no-buttons"
    )
    assert res.returncode == 2
    assert "camera 'cam9' (device /dev/video9): no such device /dev/video9" in res.stderr
    assert "Traceback" not in res.stderr


def test_simulated_group_session_records_cameras(root, tmp_path, shared_data, display):
    proto = small_protocol(
        root,
        tmp_path,
        [
            {"name": "wide", "file": "feeds/missing.avi", "loop": True, "seats": ["A", "B", "C"]},
            {"name": "solo", "file": str(shared_data / SINGLE), "loop": False, "seats": ["A"]},
        ],
    )
    res = coaffect(
        "run",
        str(proto),
        "--condition",
        "group",
        "--participants",
        "P01,P02,P03",
        "--simulate",
        "--session-id",
        "S1",
        "--output",
        str(tmp_path / "data"),
        "--camera-file",
        f"wide={shared_data / GIF3}",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    ses = tmp_path / "data" / "ses-S1"
    meta = json.loads((ses / "session.json").read_text())
    cams = meta["cameras"]
    assert set(cams) == {"wide", "solo"}
    wide, solo = cams["wide"], cams["solo"]
    # the GIF loops for the whole session; the 72-frame mp4 ends after 2.4 s: one gap
    assert wide["status"] == "ok" and wide["gaps"] == [] and wide["frames_dropped"] == 0
    assert wide["fps_measured"] == pytest.approx(12.5, abs=0.5)
    assert solo["status"] == "ended" and solo["frames_written"] == 72
    assert len(solo["gaps"]) == 1 and solo["gaps"][0][0] == pytest.approx(solo["last_t"] + 1 / 30, abs=0.002)
    for name, s in cams.items():
        video, table = camera_paths(ses, name)
        rows = read_frame_rows(table)
        assert s["frames_written"] == len(rows) == s["frames_delivered"]
        assert s["file"] == video.name and video.exists()
        assert np.all(np.diff([r.t for r in rows]) > 0)
    # the cameras ran through the whole session, from before its first event
    events = (ses / "events.tsv").read_text().splitlines()
    header = events[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in events[1:]]
    onsets = [float(r["onset"]) for r in rows]
    assert wide["first_t"] < min(onsets)
    assert wide["last_t"] > max(float(r["onset"]) for r in rows if r["trial_type"] == "clip")
    # enrollment (after the button check): seat A's own camera has ended by then, so every
    # seat gets its strip of the live wide camera (480 px / 3 seats = 160 px)
    shapes = {p.stem: cv2.imread(str(p)).shape for p in (ses / "enroll").glob("*.png")}
    assert shapes == {"P01": (270, 160, 3), "P02": (270, 160, 3), "P03": (270, 160, 3)}


# ---------------------------------------------------------------- rig-check: the button check
#: Seats of protocols/bittersweet-demo.yaml (its lines 53-55): seat -> (happy key, sad key).
DEMO_KEYS = {"A": ("a", "z"), "B": ("g", "b"), "C": ("k", "m")}
#: Hold time injected per (seat, button), all different so a mix-up would show.
HOLDS = {
    ("A", "happy"): 0.25,
    ("A", "sad"): 0.40,
    ("B", "happy"): 0.55,
    ("B", "sad"): 0.30,
    ("C", "happy"): 0.45,
    ("C", "sad"): 0.35,
}
#: Two frames at 60 Hz: the tolerance of a key time (ptb timestamp vs the xdotool write).
TWO_FRAMES = 2 / 60
PROMPT = re.compile(r"button check: seat (\w+) .*press and hold the (HAPPY|SAD) button")


def _rig_check_with_keys(args, skip=(), escape_at=None, timeout=60, rollover_skip=(), env=None):
    """Run rig-check and act as the participants: real X key events with xdotool.

    At each prompt rig-check prints on stderr, hold that button for its
    ``HOLDS`` time (unless its (seat, button) is in ``skip``); at ``escape_at``
    press escape then ``s`` (skip the check). Then press space until rig-check
    exits (the "passed" screen waits for it). Returns (result, injected holds).
    """
    xdo = subprocess.Popen([require_tool("xdotool"), "-"], stdin=subprocess.PIPE, text=True, bufsize=1)
    # warm-up: xdotool's first key command is slow (about 30 ms seen here); key-ups of keys
    # that are not down change nothing, and rig-check's keyboard is not open yet
    xdo.stdin.write("keyup a z g b k m space Escape s\n")
    xdo.stdin.flush()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coaffect.cli", "rig-check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: queue.Queue = queue.Queue()
    err: list[str] = []

    def pump():
        for line in proc.stderr:
            err.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def send(cmd):
        xdo.stdin.write(cmd + "\n")
        xdo.stdin.flush()
        return time.perf_counter()

    injected = {}
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=0.3)
            except queue.Empty:
                if proc.poll() is None:
                    send("key space")
                continue
            if line is None:
                break
            if "rollover check: everyone press and hold BOTH" in line:
                keys = " ".join(k for pair in DEMO_KEYS.values() for k in pair if k not in rollover_skip)
                time.sleep(0.1)
                send(f"keydown {keys}")  # one xdotool line: every key within a millisecond
                time.sleep(0.3)
                send(f"keyup {keys}")
                continue
            m = PROMPT.search(line)
            if not m:
                continue
            seat, button = m.group(1), m.group(2).lower()
            if (seat, button) == escape_at:
                time.sleep(0.2)
                send("key Escape")
                time.sleep(0.3)
                send("key s")
                continue
            if (seat, button) in skip:
                continue
            key = DEMO_KEYS[seat][button == "sad"]
            time.sleep(0.1)
            t_down = send(f"keydown {key}")
            time.sleep(HOLDS[seat, button])
            t_up = send(f"keyup {key}")
            injected[seat, button] = t_up - t_down
        out = proc.communicate(timeout=max(1.0, end - time.monotonic()))[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        xdo.stdin.close()
        xdo.wait(timeout=5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(err)), injected


@pytest.mark.serial  # hold times within two 60 Hz frames: run alone (make test)
def test_rig_check_button_check_with_real_x_key_events(root, tmp_path, display):
    """Every seat's two buttons, held for known times, are seen down and up."""
    out = tmp_path / "rc"
    # the demo's camera feed is made by `coaffect demo`; replay a committed clip instead
    feed = root / "stimuli" / "demo" / "demo-positive.mp4"
    res, injected = _rig_check_with_keys(
        [
            str(root / "protocols" / "bittersweet-demo.yaml"),
            "--seconds",
            "0.5",
            "--output",
            str(out),
            "--camera-file",
            f"wide={feed}",
        ]
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert set(injected) == set(HOLDS)
    check = json.loads((out / "rig-check.json").read_text())["button_check"]
    assert check["status"] == "passed" and check["missing"] == [] and check["simulate"] is None
    rows = {(b["seat"], b["button"]): b for b in check["buttons"]}
    assert list(rows) == [(s, b) for s in "ABC" for b in ("happy", "sad")]  # protocol order
    for (seat, button), b in rows.items():
        assert b["seen_down"] and b["seen_up"] and b["prompted"]
        assert b["key"] == DEMO_KEYS[seat][button == "sad"]
        # against the hold measured around the injection (the planned HOLDS are only what the
        # test slept, which stretches on a loaded machine: seen 0.34 s for a planned 0.3 s)
        assert b["hold_s"] == pytest.approx(injected[seat, button], abs=TWO_FRAMES)
    # the printed report says the same, one line per seat and button
    assert "buttons: PASSED, 6 of 6 seen down and up" in res.stdout
    line = next(x for x in res.stdout.splitlines() if "seat B (middle)" in x and " happy " in x)
    assert line.endswith(f"held {rows['B', 'happy']['hold_s']:.3f} s") and "key 'g'" in line
    # rollover: all six buttons pressed at once, none lost (Xvfb's XTEST keyboard)
    assert check["rollover"]["status"] == "passed" and check["rollover"]["lost"] == []
    assert check["rollover"]["seen"] == 6
    assert "rollover: PASSED, 6 of 6 presses seen" in res.stdout
    # the check's window measured the refresh rate (no second window)
    assert "display:" in res.stdout
    # no session folder anywhere: only the report and the camera preview were written
    assert sorted(p.name for p in out.iterdir()) == ["rig-check-wide.png", "rig-check.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rc"]


def test_rig_check_button_never_pressed_exits_1_naming_seat_and_button(root, tmp_path, display):
    """Seat B's sad button never goes down: after a 1 s timeout the check moves on, exit 1."""
    proto = root / "protocols" / "bittersweet-demo.yaml"
    out = tmp_path / "rc"
    res, injected = _rig_check_with_keys(
        [str(proto), "--no-display", "--button-timeout", "1", "--output", str(out), "--seconds", "0.5"],
        skip={("B", "sad")},
    )
    assert res.returncode == 1, res.stderr[-2000:]
    # demo protocol line 54: "  - {id: B, label: middle, buttons: {happy: g, sad: b}}"
    assert (
        f"{proto}:54:53: seats[1].buttons.sad: seat B (middle) sad button (key 'b') never pressed within 1 s"
    ) in res.stderr
    assert "hint: check the button's cable" in res.stderr and "key named in the protocol" in res.stderr
    assert "Traceback" not in res.stderr
    check = json.loads((out / "rig-check.json").read_text())["button_check"]
    assert check["status"] == "failed" and check["missing"] == [["B", "sad"]]
    # seat C still had its turn after B's timeout
    assert [b["seen_up"] for b in check["buttons"]] == [True, True, True, False, True, True]
    assert "seat B (middle)   sad   key 'b': NEVER PRESSED" in res.stdout
    assert json.loads((out / "rig-check.json").read_text())["display"] is None


def test_rig_check_skipped_by_the_experimenter_exits_1(root, tmp_path, display):
    """Escape, then S (skip the button check) at seat B's happy prompt: exit 1."""
    proto = root / "protocols" / "bittersweet-demo.yaml"
    out = tmp_path / "rc"
    res, _ = _rig_check_with_keys(
        [str(proto), "--no-display", "--output", str(out), "--seconds", "0.5"], escape_at=("B", "happy")
    )
    assert res.returncode == 1, res.stderr[-2000:]
    check = json.loads((out / "rig-check.json").read_text())["button_check"]
    assert check["status"] == "skipped"
    assert check["missing"] == [["B", "happy"], ["B", "sad"], ["C", "happy"], ["C", "sad"]]
    assert (
        f"{proto}:54:45: seats[1].buttons.happy: seat B (middle) happy button (key 'g') "
        f"never pressed before the experimenter skipped the check"
    ) in res.stderr
    assert "seat C (right) sad button (key 'm') not checked (the experimenter skipped" in res.stderr


def test_check_buttons_rehearsal_inprocess(root, display):
    """--simulate inprocess: simulated participants hold each button 0.3 s (simulated.py)."""
    from experiments.cameras.rig_buttons import check_buttons

    prompts = []
    res = check_buttons(
        load_protocol(root / "protocols" / "bittersweet-demo.yaml"),
        simulate="inprocess",
        timeout=5,
        refresh=False,
        on_prompt=lambda seat, button: prompts.append((seat, button)),
    )
    assert res["status"] == "passed" and res["display"] is None
    # each button in turn, then the rollover prompt (every seat, both buttons)
    assert prompts == [(s, b) for s in "ABC" for b in ("happy", "sad")] + [("*", "both")]
    assert res["rollover"]["status"] == "passed" and res["rollover"]["seen"] == 6
    assert res["rollover"]["spread_ms"] == 0.0  # simulated: all six at the same instant
    # in-process events arrive at exactly their planned times: holds are exactly 0.3 s
    assert [b["hold_s"] for b in res["buttons"]] == [0.3] * 6
    planned = {}
    for a in res["injected"]:  # the button check's own actions come first
        planned.setdefault((a["seat"], a["button"], a["action"]), a["t_planned"])
    for b in res["buttons"]:
        assert b["down_t"] == pytest.approx(planned[b["seat"], b["button"], "down"], abs=1e-6)


def test_rig_check_rollover_reports_a_lost_press_and_measures_the_tone(root, tmp_path, display):
    """All buttons at once but seat C's sad key never arrives: rig-check names it, exit 1.

    The run has a private PulseAudio null sink, so the test tone is played and
    its output latency measured in the sink's monitor.
    """
    from experiments.audio.sink import PulseDaemon

    out = tmp_path / "rc"
    proto = root / "protocols" / "bittersweet-demo.yaml"
    with PulseDaemon("coaffect_rig") as pa:
        res, _ = _rig_check_with_keys(
            [
                str(proto),
                "--no-display",
                "--output",
                str(out),
                "--seconds",
                "0.5",
                "--button-timeout",
                "4",
                "--camera-file",
                f"wide={root / 'stimuli' / 'demo' / 'demo-positive.mp4'}",
            ],  # fmt: skip
            rollover_skip=("m",),
            env=pa.env,
            timeout=90,
        )
    assert res.returncode == 1, res.stderr[-2000:]
    report = json.loads((out / "rig-check.json").read_text())
    roll = report["button_check"]["rollover"]
    assert roll["status"] == "failed" and roll["lost"] == [["C", "sad"]] and roll["seen"] == 5
    assert "rollover: lost seat C sad when all 6 buttons were pressed at once" in res.stderr
    snd = report["sound"]
    assert snd["played"] and snd["sink"] == "coaffect_rig", snd
    assert snd["match"] > 0.5 and 0 < snd["latency_ms_median"] < 500
    assert f"output latency {snd['latency_ms_median']} ms" in res.stdout
