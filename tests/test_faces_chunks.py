"""Scoring one video in parallel chunks gives exactly the one-process result."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.faces.chunks import plan_chunks
from analysis.faces.pipeline import observe_video


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


def test_session_scored_in_two_processes_equals_one(tmp_path):
    # A 3-face group camera, 8 s at 15 fps = 120 frames in the runner's MJPEG file: chunks
    # [0, 75) and [45, 120) (entered by byte offset), identity from the seat plan + enrollment.
    from test_score import make_session

    from analysis.score import score_session
    from analysis.synthetic_faces import base_face, write_group_video

    video = tmp_path / "wide.avi"
    write_group_video(video, n_faces=3, fps=15, duration_s=8)
    people = [("P01", "A"), ("P02", "B"), ("P03", "C")]
    photo = base_face()[0]
    sdir = make_session(tmp_path / "data", "S01", video, people, ["A", "B", "C"], {p: photo for p, _ in people})
    one, s1 = score_session(sdir)
    two, s2 = score_session(sdir, jobs=2)
    assert s2["cameras"]["wide"]["chunks"] == 2
    assert len(one) == 120 * 3 and one["face_found"].all()
    pd.testing.assert_frame_equal(one, two)
