"""Cameras from the command line: ``coaffect rig-check`` and ``coaffect run --simulate``."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import yaml

from experiments.cameras import open_cameras
from experiments.cameras.mjpeg_store import camera_paths, read_frame_rows
from experiments.errors import HardwareError
from experiments.protocol import load_protocol

GIF3 = "group/face-demographics-walking-and-pause.gif"  # 41 frames, 3 people, 480x270
SINGLE = "single/single_face.mp4"                       # 72 frames, 30 fps, 640x360


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
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_open_cameras_from_a_protocol_with_overrides_and_missing(root, tmp_path, shared_data):
    proto = small_protocol(root, tmp_path, [
        {"name": "wide", "file": "feeds/none.avi", "seats": ["A", "B", "C"], "required": True},
        {"name": "cam9", "device": "/dev/video9", "seats": ["A"], "required": True}])
    lp = load_protocol(proto)
    with pytest.raises(HardwareError) as info:
        open_cameras(lp, tmp_path / "s1", time.perf_counter())
    assert info.value.lines == [
        f"camera 'wide' (file {tmp_path / 'feeds' / 'none.avi'}): no such video file: "
        f"{tmp_path / 'feeds' / 'none.avi'}",
        "camera 'cam9' (device /dev/video9): no such device /dev/video9"]
    with pytest.raises(HardwareError, match="camera override 'wdie': no camera of that name in "
                                            "small.yaml; did you mean 'wide'"):
        open_cameras(lp, tmp_path / "s2", time.perf_counter(), overrides={"wdie": "x.mp4"})
    cams = open_cameras(lp, tmp_path / "s3", time.perf_counter(),
                        overrides={"wide": str(shared_data / GIF3)}, allow_missing=True)
    summary = cams.stop()
    assert summary["wide"]["status"] in ("ok", "ended") and summary["wide"]["frames_written"] >= 1
    assert summary["cam9"]["status"] == "missing"


def test_rig_check_lists_cameras_measures_fps_and_saves_previews(root, tmp_path, shared_data,
                                                                 display):
    proto = small_protocol(root, tmp_path, [
        {"name": "wide", "file": str(shared_data / GIF3), "loop": True, "seats": ["A", "B", "C"]},
        {"name": "seat", "file": str(shared_data / SINGLE), "loop": True, "seats": ["A"]},
        {"name": "spare", "device": "/dev/video9", "seats": ["B"], "required": False}])
    out = tmp_path / "rc"
    res = coaffect("rig-check", str(proto), "--seconds", "2", "--output", str(out))
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
    # Xvfb has no vsync: some positive rate, or a stated reason, never a crash
    disp = report["display"]
    assert (disp["refresh_hz"] or 0) > 0 or disp["error"]
    assert "display:" in res.stdout
    # a required camera that cannot be opened: one line, a hint, exit 2
    bad = small_protocol(root, tmp_path, [
        {"name": "cam9", "device": "/dev/video9", "seats": ["A"], "required": True}])
    res = coaffect("rig-check", str(bad), "--seconds", "0.5", "--output", str(out),
                   "--no-display")
    assert res.returncode == 2
    assert "camera 'cam9' (device /dev/video9): no such device /dev/video9" in res.stderr
    assert "Traceback" not in res.stderr


def test_simulated_group_session_records_cameras(root, tmp_path, shared_data, display):
    proto = small_protocol(root, tmp_path, [
        {"name": "wide", "file": "feeds/missing.avi", "loop": True, "seats": ["A", "B", "C"]},
        {"name": "solo", "file": str(shared_data / SINGLE), "loop": False, "seats": ["A"]}])
    res = coaffect("run", str(proto), "--condition", "group", "--participants", "P01,P02,P03",
                   "--simulate", "--session-id", "S1", "--output", str(tmp_path / "data"),
                   "--camera-file", f"wide={shared_data / GIF3}")
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
    assert len(solo["gaps"]) == 1 and solo["gaps"][0][0] == pytest.approx(solo["last_t"] + 1 / 30,
                                                                           abs=0.002)
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
