"""Same face, same number: units that do not move with head pose, face size, the other faces or noise."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from analysis.expression.frontal import TEMPLATE_3D, openface_3d_landmarks, template_from_openface
from analysis.expression.geometry import landmark_action_units
from analysis.expression.invariance import PER_FRAME_UNITS, pose_sensitivity, project, unit_ranges
from analysis.expression.measures import expression_measures
from analysis.expression.peak import robust_peak
from analysis.faces.orientation import rotate_image
from analysis.faces.settings import PipelineSettings, TrackerSettings
from analysis.measures.video_trial import baseline_split, video_trial_means
from analysis.scoring.score import ScoreSettings
from analysis.scoring.video import score_video
from analysis.simulate.faces import base_face
from coaffect.formats.protocol_model import ANALYSIS_FACE_PX

#: Issue 20's bound: at most this fraction of a unit's 5-95% range per 10 deg.
PER_10DEG = 0.05


@pytest.fixture(scope="module")
def openface_3d(shared_data):
    return openface_3d_landmarks(shared_data / "interop" / "OpenFace_Test.csv")


def test_stored_template_is_the_openface_face(shared_data):
    rebuilt = template_from_openface(shared_data / "interop" / "OpenFace_Test.csv")
    assert np.abs(rebuilt - TEMPLATE_3D).max() < 0.06  # stored rounded to 0.1 mm


def test_rotated_copies_of_a_real_3d_face_give_the_same_units(openface_3d):
    table = pose_sensitivity(openface_3d)  # yaw +-30, pitch +-20, roll +-30, 10 deg steps
    assert table[["yaw", "pitch", "roll"]].to_numpy().max() <= PER_10DEG, table.round(3)
    # directly: turned 30 deg and nodded 20 deg, every unit stays within 0.15 of its range
    front = landmark_action_units(project(openface_3d))[list(PER_FRAME_UNITS)]
    turned = landmark_action_units(project(openface_3d, yaw=30, pitch=20))[list(PER_FRAME_UNITS)]
    change = ((turned - front).abs().mean() / unit_ranges()).max()
    assert change < 3 * PER_10DEG, change
    # the same check on the image-plane geometry alone (no pose normalisation) fails:
    # measured 0.15-0.3 of the range per 10 deg for AU01, AU12, AU26 before issue 20


def test_a_flatter_or_deeper_face_is_measured_with_its_own_depth(openface_3d):
    # faces 0.8x and 1.2x as deep as the template: with the template's depth AU01 and
    # AU26 move by 0.052-0.068 of their range per 10 deg of pitch (measured on all 100
    # frames); with each face's depth found from its turned copies (frontal.fit_depth,
    # as scoring does per participant) by at most 0.027
    faces = openface_3d[::10]
    for f in (0.8, 1.2):
        table = pose_sensitivity(faces * [1.0, 1.0, f], own_depth=True)
        assert table[["yaw", "pitch", "roll"]].to_numpy().max() <= PER_10DEG, (f, table.round(3))


def _copy_scaled(src, factor, out, frames=None):
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer, n = None, 0
    while frames is None or n < frames:
        ok, img = cap.read()
        if not ok:
            break
        img = cv2.resize(
            img, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        )
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, img.shape[1::-1])
        writer.write(img)
        n += 1
    cap.release()
    writer.release()
    return out


@pytest.fixture(scope="module")
def single_face_sizes(shared_data, tmp_path_factory):
    """single_face.mp4 with the face 240 and 60 px wide, scored (faces table rows with a face).

    Keyed by (face width, common analysis resolution): the default (60 px,
    :data:`~coaffect.formats.protocol_model.ANALYSIS_FACE_PX`) and None (landmarks
    fitted at the filmed size); ``"summary"`` holds each run's score_summary.
    """
    src = shared_data / "single" / "single_face.mp4"
    d = tmp_path_factory.mktemp("sizes")
    # the copies' scale from a fit as filmed, so both settings score the same copies
    native, _ = score_video(src, ScoreSettings(PipelineSettings(fer=False, analysis_face_px=None)))
    width = float(native.loc[native["face_found"], "face_w"].median())
    out = {"summary": {}}
    for size in (240, 60):
        video = _copy_scaled(src, size / width, d / f"face{size}.avi")
        for px in (ANALYSIS_FACE_PX, None):
            tracker = TrackerSettings(min_face_px=0.8 * size)
            settings = ScoreSettings(PipelineSettings(fer=False, tracker=tracker, analysis_face_px=px))
            faces, summary = score_video(video, settings)
            out[size, px] = faces[faces["face_found"]].set_index("frame")
            out["summary"][size, px] = summary
    return out


def _size_shift(big: pd.DataFrame, small: pd.DataFrame, units: list[str]) -> pd.Series:
    """|trial-table mean at 60 px - at 240 px| in baseline SDs, as bench/invariance.py measures it.

    Measured as coaffect reports a session: the first 30% of the clip is the
    baseline window, the rest one trial; the trial table's mean (trial mean
    minus the baseline mean) at 60 px against 240 px, in baseline SDs (the
    240 px copy's, floored at 0.25 z as in bench/invariance.py).
    """
    both = big.index.intersection(small.index)
    assert len(both) > 0.9 * len(big)
    assert small["face_w"].median() < 70 < 200 < big["face_w"].median()
    big, small = big.loc[both].reset_index(), small.loc[both].reset_index()
    trial_big = video_trial_means(big, units, 0.3).iloc[0][units].astype(float)
    trial_small = video_trial_means(small, units, 0.3).iloc[0][units].astype(float)
    base_sd = big.loc[big["t"] < baseline_split(big["t"], 0.3), units].std().clip(lower=0.25)
    return ((trial_small - trial_big) / base_sd).abs()


def test_the_same_clip_at_60_and_240_px_gives_the_same_mouth_units(single_face_sizes):
    big, small = single_face_sizes[240, ANALYSIS_FACE_PX], single_face_sizes[60, ANALYSIS_FACE_PX]
    units = ["AU12", "AU15", "AU20"]
    shift = _size_shift(big, small, units)
    # the mouth units meet issue 20's bound on this clip (measured 0.03, 0.02, 0.08 SD with
    # the common 60 px analysis resolution; 0.10, 0.17, 0.19 fitted as filmed; sampling SE
    # 0.03-0.12 on these 72 frames, bench/invariance.py). The trial moves these units by 1.9-2.3 z from the
    # baseline, so a unit that grew or shrank with the face fails: with the landmark
    # offsets left in pixels (frontal_landmarks without the fitted scale) the shifts are
    # 1.9-2.2 SD.
    assert shift.max() <= 0.2, shift.round(3).to_dict()
    effect = video_trial_means(big.reset_index(), units, 0.3).iloc[0][units].astype(float).abs()
    assert effect.min() > 0.3, effect.round(2).to_dict()


def test_a_common_analysis_resolution_gives_small_and_large_faces_the_same_numbers(single_face_sizes):
    units = list(PER_FRAME_UNITS)
    on = _size_shift(single_face_sizes[240, ANALYSIS_FACE_PX], single_face_sizes[60, ANALYSIS_FACE_PX], units)
    off = _size_shift(single_face_sizes[240, None], single_face_sizes[60, None], units)
    shifts = pd.DataFrame({"with": on, "without": off}).round(3).to_dict()
    # Measured (SD, 60 px copy against 240 px): with the common 60 px resolution the mean
    # over the 13 units is 0.16 (AU45 0.43, AU06 0.36, AU02 0.28 the largest); fitted as
    # filmed 0.49 (AU45 1.42, AU07 1.11, AU06 0.88, AU04 0.68, AU01 0.63). On this
    # 72-frame clip a single unit's shift has a sampling SE of 0.03-0.4 SD
    # (bench/invariance.py) and moves with the copy's exact scale, so the test holds the
    # mean over the units, which the option must at least halve, and the mouth and jaw
    # units (0.01-0.08), which must meet issue 20's bound.
    assert on.mean() <= 0.5 * off.mean(), shifts
    assert off.mean() > 0.4, shifts  # the same clips fitted as filmed: the problem is there
    assert on[["AU10", "AU12", "AU15", "AU20", "AU25", "AU26"]].max() <= 0.2, shifts
    # and score_summary.json says which resolution the landmarks were fitted at
    summaries = single_face_sizes["summary"]
    assert summaries[60, ANALYSIS_FACE_PX]["analysis_face_px"] == ANALYSIS_FACE_PX == 60
    assert summaries[240, None]["analysis_face_px"] is None


@pytest.fixture(scope="module")
def alone_and_mosaic(shared_data, tmp_path_factory):
    """The man of single_face.mp4 alone, and in the middle of a 3-face mosaic with two others."""
    d = tmp_path_factory.mktemp("mosaic")
    n = 45
    readers = [
        cv2.VideoCapture(str(shared_data / "single" / name))
        for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "again.mkv")
    ]
    size = (640, 360)
    alone = cv2.VideoWriter(str(d / "alone.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    mosaic = cv2.VideoWriter(
        str(d / "mosaic.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (3 * size[0], size[1])
    )
    for _ in range(n):
        tiles = []
        for cap in readers:
            ok, img = cap.read()
            assert ok
            tiles.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
        alone.write(tiles[1])
        mosaic.write(np.hstack(tiles))
    alone.release()
    mosaic.release()
    for cap in readers:
        cap.release()
    settings = ScoreSettings(PipelineSettings(fer=False))
    a, _ = score_video(d / "alone.avi", settings)
    m, _ = score_video(d / "mosaic.avi", settings)
    return a, m


def test_the_same_person_alone_and_in_a_mosaic_gets_the_same_numbers(alone_and_mosaic):
    alone, mosaic = alone_and_mosaic
    assert sorted(mosaic["participant_id"].unique()) == ["face01", "face02", "face03"]
    me = mosaic[mosaic["participant_id"] == "face02"].set_index("frame")  # the middle tile
    solo = alone[alone["participant_id"] == "face01"].set_index("frame")
    both = me.index[me["face_found"]].intersection(solo.index[solo["face_found"]])
    assert len(both) > 40
    units = [au for au in PER_FRAME_UNITS if au != "AU45"]
    # same scale and centre: z = (raw - own baseline median) / the unit's fixed scale
    for au in units:
        k_me = (me.loc[both, au] / (me.loc[both, f"{au}_raw"] - me.loc[both, f"{au}_raw"].median())).median()
        k_solo = (
            solo.loc[both, au] / (solo.loc[both, f"{au}_raw"] - solo.loc[both, f"{au}_raw"].median())
        ).median()
        assert k_me == pytest.approx(k_solo, rel=1e-6), au
    # and the same per-person numbers (the same pixels; only the detector's box may differ)
    diff = (me.loc[both, units] - solo.loc[both, units]).abs().mean()
    assert diff.max() < 0.1, diff.round(3).to_dict()


def _noise_only(scale: float, missing: float, seed: int, n: int = 900, n_base: int = 300) -> pd.DataFrame:
    """A still face (no expression) with landmark jitter: the measures the scorer gives."""
    rng = np.random.default_rng(seed)
    _, pts = base_face()
    lms = pts[None] + rng.normal(0.0, 2.4 * scale, (n, 68, 2))
    lms[rng.random(n) < missing] = np.nan
    grid = pd.DataFrame({"participant_id": ["P"] * n})
    base = np.r_[np.ones(n_base, bool), np.zeros(n - n_base, bool)]
    return expression_measures(grid, lms, base, fps=15.0).iloc[n_base:]


@pytest.mark.parametrize("seed", [1, 2])
def test_noise_alone_leaves_peak_and_au15_where_they_were(seed):
    # tolerance: the four peaks within 0.1 z of each other and of 0 within 0.15 z (the noise
    # estimate's own sampling error overshoots by up to about 0.1 at 1.5x noise); the old peak
    # (plain 90th percentile of the 1 s average) rose with the noise (see the closing note).
    # Measured: AU12 0.02-0.12, AU15 -0.00-0.05. AU01's peak is left out: its baseline
    # median over these 300 frames is off by up to 0.3 z by chance (per-frame SD 2 z here)
    runs = {(s, m): _noise_only(s, m, seed) for s in (1.0, 1.5) for m in (0.03, 0.15)}
    for au in ("AU12", "AU15"):
        peaks = {k: robust_peak(v[au].to_numpy(), 15) for k, v in runs.items()}
        assert max(peaks.values()) - min(peaks.values()) < 0.1, (au, peaks)
        assert all(abs(p) < 0.15 for p in peaks.values()), (au, peaks)


def test_noise_alone_leaves_the_unit_means_where_they_were():
    # The means of the signed units stay at 0 within their sampling error and a stated
    # tolerance, at 1x and 1.5x noise. Before the pose was averaged over 0.3 s (frontal.smooth_pose), the
    # per-frame pose fit's noise (5-10 deg SD at this jitter) magnified frontal
    # distances by 1/cos of its error, which skewed AU15, AU26 and AU01; with the
    # participant's baseline median as the centre, their means moved with the noise
    # (measured then: AU15 -0.04 -> -0.13, AU26 +0.15 -> +0.35 z from 1x to 1.5x).
    runs = {(s, m): _noise_only(s, m, 3, n=6000, n_base=2000) for s in (1.0, 1.5) for m in (0.03, 0.15)}
    for au in ("AU01", "AU12", "AU15", "AU26"):
        means = {k: float(np.nanmean(v[au])) for k, v in runs.items()}
        # sampling error of (trial mean - baseline median): var = pi/2 s^2/n_base + s^2/n_trial
        se = max(float(np.nanstd(v[au])) * np.sqrt(np.pi / 2 / 2000 + 1 / 4000) for v in runs.values())
        # tolerance: 0.05 z of systematic shift (what the 0.3 s pose average leaves at this
        # extreme jitter: AU26 +0.03 at 1x, +0.05 at 1.5x over 20,000 frames) plus 3 SEs
        assert all(abs(m) < 0.05 + 3 * se for m in means.values()), (au, se, means)
        assert max(means.values()) - min(means.values()) < 0.05 + 3 * se, (au, se, means)


def test_a_sideways_camera_is_reported_and_rotate_applies(shared_data, tmp_path):
    src = shared_data / "single" / "single_face.mp4"
    cap = cv2.VideoCapture(str(src))
    writer = None
    for _ in range(40):
        ok, img = cap.read()
        img = rotate_image(img, 270)  # a phone on its side
        if writer is None:
            writer = cv2.VideoWriter(
                str(tmp_path / "side.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, img.shape[1::-1]
            )
        writer.write(img)
    writer.release()
    cap.release()
    faces, summary = score_video(tmp_path / "side.avi", ScoreSettings(PipelineSettings(fer=False)))
    assert summary["faces_found_fraction"] == 0.0
    (warning,) = summary["orientation_warnings"]
    assert "rotate: 90" in warning and "sideways" in warning
    faces, summary = score_video(tmp_path / "side.avi", ScoreSettings(PipelineSettings(fer=False, rotate=90)))
    assert summary["faces_found_fraction"] > 0.9 and "orientation_warnings" not in summary


def test_the_protocol_sets_the_common_analysis_resolution_of_a_session(shared_data, tmp_path):
    from test_score import make_session

    from analysis.scoring.archive import plan_session
    from analysis.scoring.score import score_session

    video = shared_data / "single" / "single_face.mp4"  # a 180 px face
    photo = cv2.VideoCapture(str(video)).read()[1]
    scored, sdirs = {}, {}
    for name, line in (("default", ""), ("off", "  face_resolution_px: null\n")):
        sdir = sdirs[name] = make_session(tmp_path / name, "S1", video, [("P01", "A")], ["A"], {"P01": photo})
        text = (sdir / "protocol.yaml").read_text()
        assert "\nanalysis:\n" in text
        (sdir / "protocol.yaml").write_text(text.replace("\nanalysis:\n", "\nanalysis:\n" + line))
        # the executor's chunks get the protocol's value too (analysis.scoring.archive)
        [job] = plan_session(sdir, PipelineSettings())
        assert job.analysis_face_px == (None if name == "off" else ANALYSIS_FACE_PX)
        scored[name] = score_session(sdir, ScoreSettings(PipelineSettings(fer=False)))
    assert scored["default"].summary["analysis_face_px"] == ANALYSIS_FACE_PX
    assert scored["default"].summary["cameras"]["wide"]["analysis_face_px"] == ANALYSIS_FACE_PX
    assert scored["off"].summary["analysis_face_px"] is None
    # the same frames, landmarks fitted through different pixels: the lid unit moves
    # (measured: 0.42 mm on average, against its SD of 0.60 mm over the clip)
    a, b = (scored[k].faces.loc[scored[k].faces["face_found"], "AU07_raw"].to_numpy() for k in scored)
    assert len(a) == len(b) > 60 and np.abs(a - b).mean() > 0.1, np.abs(a - b).mean()
    # a session scored at one resolution is not up to date once its protocol names another
    from analysis.scoring.files import is_scored, write_scores

    settings = ScoreSettings(PipelineSettings(fer=False))
    out = tmp_path / "derivatives"
    write_scores(out, *scored["default"])
    assert is_scored(out, settings, sdirs["default"])
    assert not is_scored(out, settings, sdirs["off"])
