"""Camera recording with file-backed cameras replaying the real clips in ../shared/data.

Frame counts and frame times of the source clips were measured on this machine
by reading each file to its end with OpenCV 5.0 ``VideoCapture`` (see
``source_pts`` below, which re-measures them in the test itself).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from coaffect.formats.errors import HardwareError
from experiments.cameras import CameraSet, CameraSpec
from experiments.cameras.mjpeg_store import camera_paths, read_frame, read_frame_rows

GIF3 = "group/face-demographics-walking-and-pause.gif"  # 41 frames, 12.5 fps, 3 people
SINGLE = "single/single_face.mp4"  # 72 frames, 30 fps
AGAIN = "single/again.mkv"  # 77 frames decoded (header says 78)


def source_pts(path: Path) -> list[float]:
    """Presentation time (s) of every frame OpenCV decodes from ``path``."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while cap.read()[0]:
        out.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    return out


def decoded_frames(video: Path) -> list[np.ndarray]:
    """Frames cv2.VideoCapture reads from a recorded .mjpg, in order."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            return frames
        frames.append(img)


def wait_until(cond, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


@pytest.mark.serial  # frame times against the file's own (95th percentile): run alone (make test)
def test_file_cameras_record_every_frame_at_the_files_own_rate(shared_data, tmp_path):
    files = {"group": shared_data / GIF3, "seat": shared_data / SINGLE, "again": shared_data / AGAIN}
    specs = [
        CameraSpec("group", file=str(files["group"]), seats=("A", "B", "C")),
        CameraSpec("seat", file=str(files["seat"]), seats=("A",)),
        CameraSpec("again", file=str(files["again"]), seats=("B",)),
    ]
    cams = CameraSet(specs, tmp_path, time.perf_counter()).start()
    try:
        # the longest clip (the GIF) lasts 3.4 s; then all three have ended
        assert wait_until(
            lambda: (cams.poll() or True) and all(c.status == "ended" for c in cams.cameras.values()),
            timeout=15,
        )
    finally:
        summary = cams.stop()
    gaps = cams.poll()
    expected_counts = {"group": 41, "seat": 72, "again": 77}  # OpenCV 5.0 decodes, this machine
    for name, path in files.items():
        pts = source_pts(path)
        assert len(pts) == expected_counts[name]
        s = summary[name]
        assert s["frames_written"] == s["frames_delivered"] == len(pts)
        assert s["frames_dropped"] == 0 and s["status"] == "ended"
        video, table = camera_paths(tmp_path, name)
        rows = read_frame_rows(table)
        assert [r.frame for r in rows] == list(range(len(pts)))
        assert [r.source_frame for r in rows] == list(range(len(pts)))
        t = np.array([r.t for r in rows])
        assert np.all(np.diff(t) > 0)
        # spacing follows the file's own frame times (uneven in GIFs)
        err = np.diff(t) - np.diff(pts)
        assert np.median(np.abs(err)) < 0.003, (name, np.median(np.abs(err)))
        # 95% of intervals within 60 ms: one late wake-up on a loaded machine is not a bug
        assert np.percentile(np.abs(err), 95) < 0.060, (name, np.abs(err).max())
        drift = np.abs((t - t[0]) - (np.array(pts) - pts[0]))
        assert np.percentile(drift, 95) < 0.060 and drift[-1] < 0.060  # no drift by the end
        # the recording decodes with OpenCV and shows the source's frames
        rec = decoded_frames(video)
        assert len(rec) == len(pts)
        src = cv2.VideoCapture(str(path))
        for k in (0, len(pts) // 2, len(pts) - 1):
            src.set(cv2.CAP_PROP_POS_FRAMES, k)
            ok, img = src.read()
            assert ok
            diff = np.abs(rec[k].astype(int) - img.astype(int)).mean()
            assert diff < 4, (name, k, diff)  # JPEG quality 90
            # the same JPEG bytes; libjpeg and FFmpeg's decoder differ by rounding only
            assert np.abs(read_frame(video, rows[k]).astype(int) - rec[k]).mean() < 1
        # the end of the file is a gap from when the next frame was due to the stop
        gap = [g for g in gaps if f"camera {name}:" in g["detail"]]
        assert len(gap) == 1 and gap[0]["trial_type"] == "camera_gap"
        assert "file ended" in gap[0]["detail"]
        assert abs(gap[0]["onset"] - (t[-1] + 1 / s["fps_nominal"])) < 0.002
        assert s["gaps"] == [[gap[0]["onset"], pytest.approx(gap[0]["onset"] + gap[0]["duration"], abs=2e-6)]]
    assert summary["seat"]["fps_measured"] == pytest.approx(30, abs=0.5)
    assert summary["group"]["fps_measured"] == pytest.approx(12.5, abs=0.5)


@pytest.mark.serial  # frame times within a frame interval: run alone (make test)
def test_first_frame_is_on_the_session_clock(shared_data, tmp_path):
    clock_zero = time.perf_counter() - 100.0  # the session started 100 s ago
    spec = CameraSpec("seat", file=str(shared_data / SINGLE), loop=True, seats=("A",))
    before = time.perf_counter() - clock_zero
    cams = CameraSet([spec], tmp_path, clock_zero).start()
    after = time.perf_counter() - clock_zero
    try:
        time.sleep(0.5)
        mid = time.perf_counter() - clock_zero
        time.sleep(0.5)
    finally:
        summary = cams.stop()
    rows = read_frame_rows(camera_paths(tmp_path, "seat")[1])
    # start() returns once the first frame is written: it was captured in between
    assert before < rows[0].t < after
    assert cams.cameras["seat"].first_t == pytest.approx(rows[0].t, abs=1e-6)  # TSV keeps µs
    # frame k was captured 1/30 s * k after frame 0; the frame at 'mid' is within a frame of it
    k = int(np.searchsorted([r.t for r in rows], mid))
    assert abs(rows[k].t - mid) < 1 / 30 + 0.01
    assert abs((rows[k].t - rows[0].t) - k / 30) < 0.03
    assert summary["seat"]["first_t"] == rows[0].t


def test_required_camera_missing_stops_before_start(shared_data, tmp_path):
    specs = [
        CameraSpec("seat", file=str(shared_data / SINGLE), loop=True, seats=("A",)),
        CameraSpec("wide", device="/dev/video9", seats=("A",), required=True),
        CameraSpec("spare", file=str(tmp_path / "nope.mp4"), seats=("A",), required=False),
    ]
    with pytest.raises(HardwareError) as info:
        CameraSet(specs, tmp_path / "s1", time.perf_counter()).start()
    err = info.value
    assert err.lines == ["camera 'wide' (device /dev/video9): no such device /dev/video9"]
    assert "rig-check" in err.hint
    # allowed to run without it: the others record, the missing ones say so
    cams = CameraSet(specs, tmp_path / "s2", time.perf_counter(), allow_missing=True).start()
    summary = cams.stop()
    assert summary["seat"]["status"] == "ok" and summary["seat"]["frames_written"] > 0
    assert summary["wide"]["status"] == "missing"
    assert summary["spare"]["status"] == "missing"
    assert summary["spare"]["error"] == f"no such video file: {tmp_path / 'nope.mp4'}"
    assert summary["wide"]["frames_written"] == 0


def test_enrollment_writes_one_snapshot_per_participant(shared_data, tmp_path):
    specs = [
        CameraSpec("wide", file=str(shared_data / GIF3), loop=True, seats=("A", "B", "C")),
        CameraSpec("d", file=str(shared_data / SINGLE), loop=True, seats=("D",)),
    ]
    cams = CameraSet(specs, tmp_path, time.perf_counter()).start()
    try:
        out = cams.enroll({"A": "P01", "B": "P02", "C": "P03", "D": "P04"}, tmp_path / "enroll")
    finally:
        cams.stop()
    assert sorted(out) == ["P01", "P02", "P03", "P04"]
    for pid, path in out.items():
        assert path == tmp_path / "enroll" / f"{pid}.png"
        img = cv2.imread(str(path))
        # the GIF is 480x270: three strips of 160 px; the dedicated camera gives 640x360
        assert img.shape == ((270, 160, 3) if pid != "P04" else (360, 640, 3))
        assert img.std() > 10  # a picture, not a blank frame


def test_mjpeg_store_repairs_a_cut_recording(tmp_path):
    from experiments.cameras.mjpeg_store import MjpegRecorder

    rng = np.random.default_rng(0)
    rec = MjpegRecorder(tmp_path, "c")
    for i in range(5):
        rec.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), t=0.1 * i, source_frame=i)
    rec.close()
    video, table = camera_paths(tmp_path, "c")
    # a crash: the row of frame 5 is flushed but only half of its JPEG reached the disk
    rows = read_frame_rows(table)
    with open(table, "a") as fh:
        fh.write(f"5\t0.5\t{video.stat().st_size}\t9000\t5\n6\t0.6\t")
    with open(video, "ab") as fh:
        fh.write(b"\xff\xd8" + b"x" * 100)
    rec = MjpegRecorder(tmp_path, "c")
    assert rec.frames == 5
    rec.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), t=0.7, source_frame=None)
    rec.close()
    rows2 = read_frame_rows(table)
    assert [r.frame for r in rows2] == [0, 1, 2, 3, 4, 5]
    assert rows2[:5] == rows and rows2[5].t == 0.7 and rows2[5].source_frame is None
    assert rows2[5].byte_offset == rows[4].byte_offset + rows[4].byte_length
    assert len(decoded_frames(video)) == 6
    assert table.read_text().splitlines()[0] == "frame\tt\tbyte_offset\tbyte_length\tsource_frame"
