"""Scoring one video in parallel chunks gives exactly the one-process result."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from analysis.faces.chunks import plan_chunks
from analysis.faces.observe import observe_video
from analysis.faces.settings import PipelineSettings


def test_plan_chunks_balances_work_and_aligns_to_detections():
    # 240 frames, detection every 24: chunk 2 re-reads 48 frames (two detections) before its seam
    # at 144, so both processes read 144 frames; 96 is a detection frame of the one-process run.
    assert plan_chunks(0, 240, 2, 24) == [(0, 0, 144), (96, 144, 240)]
    # too short to be worth splitting (fewer than two overlaps per job)
    assert plan_chunks(0, 150, 2, 24) == [(0, 0, 150)]
    # a long video gets more chunks than jobs (finer progress); seams strictly increase
    plan = plan_chunks(0, 30_000, 2, 25)
    assert len(plan) == 8
    assert [p[1] for p in plan] == sorted({p[1] for p in plan})
    assert all((a - 0) % 25 == 0 and s - a == (50 if k else 0) for k, (a, s, _) in enumerate(plan))
    assert plan[-1][2] == 30_000


class _Count:
    n = 0

    def update(self, k):
        self.n += k


def test_two_processes_give_the_one_process_table(shared_data):
    # WolfgangLanger_Pexels.mp4: H.264, 24 fps, one face. 200 frames -> chunks [0,120) and [72,200)
    # (seam 120): the second chunk seeks into the H.264 stream and re-tracks from frame 72.
    clip = shared_data / "single" / "WolfgangLanger_Pexels.mp4"
    one = observe_video(clip, stop=200, encode=False)
    bar = _Count()
    two = observe_video(clip, stop=200, encode=False, jobs=2, progress=bar)
    assert two.info["chunks"] == 2 and bar.n == 200
    assert len(one.frames) == len(two.frames) == 200
    assert len(one.faces) > 190  # the face is tracked almost throughout
    pd.testing.assert_frame_equal(one.faces, two.faces)  # same rows, ids, boxes, FER to the bit
    np.testing.assert_array_equal(one.landmarks, two.landmarks)
    pd.testing.assert_frame_equal(one.tracks, two.tracks)


def test_session_camera_file_in_two_processes_equals_one(tmp_path, shared_data):
    # The runner's MJPEG camera file of 96 frames (24 fps) showing two faces: WolfgangLanger_Pexels.mp4
    # and its mirror image side by side. Detection every 0.5 s (12 frames) -> chunks [0, 60) and
    # [36, 96), the second entered by its byte offset. Identity encodings (2 per track) are
    # computed in the two processes too.
    from test_score import make_session

    from analysis.faces.settings import TrackerSettings

    cap = cv2.VideoCapture(str(shared_data / "single" / "WolfgangLanger_Pexels.mp4"))
    video = tmp_path / "wide.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 24.0, (1280, 360))
    for _ in range(96):
        img = cap.read()[1]
        writer.write(np.hstack([img, img[:, ::-1]]))
    writer.release()
    sdir = make_session(tmp_path / "data", "S01", video, [("P01", "A"), ("P02", "B")], ["A", "B"], {})
    table = pd.read_csv(sdir / "cam-wide_frames.tsv", sep="\t")
    settings = PipelineSettings(tracker=TrackerSettings(detect_every_s=0.5, min_face_px=120))  # faces ~150 px
    one = observe_video(sdir / "cam-wide.mjpg", settings, frame_table=table)
    two = observe_video(sdir / "cam-wide.mjpg", settings, frame_table=table, jobs=2)
    assert two.info["chunks"] == 2
    assert len(one.frames) == 96 and len(one.faces) > 180 and one.faces["track_id"].nunique() == 2
    pd.testing.assert_frame_equal(one.faces, two.faces)
    np.testing.assert_array_equal(one.landmarks, two.landmarks)
    cols = ["track_id", "first_frame", "last_frame", "x_center", "n_encodings"]
    pd.testing.assert_frame_equal(one.tracks[cols], two.tracks[cols])
    assert one.tracks["n_encodings"].tolist() == [2, 2]
    np.testing.assert_allclose(np.stack(one.tracks["encoding"]), np.stack(two.tracks["encoding"]), atol=1e-6)
