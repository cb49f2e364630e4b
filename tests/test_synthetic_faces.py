"""Synthetic faces: a real photo animated with known action units; the scorer must recover them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from analysis.scoring.video import score_video
from analysis.simulate.faces import SYNTHETIC_UNITS, au_schedule, write_group_video, write_synthetic_video

# Thresholds for Spearman's rho between injected and measured intensity over 90
# frames. rho > 0.35 is already p < 0.001 at n = 90, so these floors mean
# "clearly tracks", not chance. Measured here on the pose-normalised units with
# the pose averaged over 0.3 s (issue 20): AU12 0.77, AU01 0.54, AU02 0.55,
# AU15 0.51, AU04 0.40, AU26 0.49, AU45 0.29. With the per-frame pose AU01 and
# AU02 read 0.63 and 0.59: dlib moves the nose ridge by about a pixel when the
# brows rise, and a per-frame pose fit turned that into extra brow height in the
# same frame. The eye units are the weakest (blinks last 2-3 frames, and the lid
# landmarks jitter by about a pixel on an 88 px face), so AU45 gets the lowest floor.
# Each floor sits 0.03-0.1 under its measured rho, and never below 0.25 (p < .01 at n = 90).
RHO_FLOOR = {"AU12": 0.7, "AU01": 0.5, "AU02": 0.5, "AU15": 0.45, "AU04": 0.35, "AU26": 0.4, "AU45": 0.25}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    path = tmp_path_factory.mktemp("syn") / "face.avi"
    truth = write_synthetic_video(path, n_frames=90, fps=15)
    faces, summary = score_video(path)
    return path, truth, faces, summary


def test_schedule_starts_neutral_and_covers_every_unit():
    s = au_schedule(150, 15)
    assert (s.loc[s["t"] < 1.5, list(SYNTHETIC_UNITS)] == 0).all().all()
    assert (s[list(SYNTHETIC_UNITS)].max() >= 0.8).all()


def test_video_and_truth_written(single):
    path, truth, faces, summary = single
    assert path.exists() and (path.parent / "face_truth.tsv").exists()
    back = pd.read_csv(path.parent / "face_truth.tsv", sep="\t")
    pd.testing.assert_frame_equal(back, truth, check_dtype=False)
    assert len(faces) == 90 and summary["faces_found_fraction"] == 1.0


@pytest.mark.parametrize("unit", sorted(RHO_FLOOR))
def test_measured_units_track_injected(single, unit):
    _, truth, faces, _ = single
    rho = spearmanr(truth[unit], faces[unit]).statistic
    assert rho > RHO_FLOOR[unit], f"{unit}: rho {rho:.2f}"


def test_group_video_faces_follow_their_own_schedule(tmp_path):
    truth = write_group_video(tmp_path / "wide.avi", n_faces=3, fps=15, duration_s=6)
    faces, summary = score_video(tmp_path / "wide.avi")
    assert summary["faces_found_fraction_by_participant"] == {"face01": 1.0, "face02": 1.0, "face03": 1.0}
    rho = np.zeros((3, 3))
    for i in range(3):
        measured = faces[faces["participant_id"] == f"face{i + 1:02d}"]["AU12"].to_numpy()
        for j in range(3):
            rho[i, j] = spearmanr(truth[truth["face"] == j + 1]["AU12"], measured).statistic
    # each face's smile follows its own schedule best (schedules are shifted by 1.7 s)
    assert (rho.argmax(axis=1) == [0, 1, 2]).all() and rho.diagonal().min() > 0.5
