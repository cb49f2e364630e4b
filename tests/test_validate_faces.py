"""validate-faces: agreement with OpenFace 2.x outputs (formulas on its landmarks; a video end to end)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.interop.agreement import formulas_on_openface_landmarks, validate_faces
from analysis.simulate.faces import SYNTHETIC_UNITS, write_synthetic_video
from coaffect.cli import main


def test_formulas_on_openface_landmarks(shared_data):
    v = formulas_on_openface_landmarks(shared_data / "interop" / "OpenFace_Test.csv")
    t = v.table.set_index("au")
    # measured on OpenFace's own landmarks: AU45 0.92, AU01 0.37 (the only units
    # OpenFace moves there besides AU02/AU04/AU05/AU26, see docs/faces-table.md)
    assert t.loc["AU45", "pearson_r"] > 0.8 and t.loc["AU01", "pearson_r"] > 0.3
    # units OpenFace does not move there: no number, a note
    assert np.isnan(t.loc["AU12", "pearson_r"]) and "does not move" in t.loc["AU12", "note"]
    pose = v.pose.set_index("angle")["pearson_r"]
    # pitch varies by only 0.67 deg SD in this clip; the pose fit uses the 11 rigid
    # points (frontal.RIGID: no outline, which slides round the head when it
    # turns) and follows OpenFace's pitch at r = 0.63 (0.96 with the outline);
    # OpenFace's own 3-D rigid points, projected, give only 0.55: the rest of
    # OpenFace's pitch comes from its non-rigid shape fit of all 68 points
    assert pose["yaw"] > 0.95 and pose["pitch"] > 0.5 and pose["roll"] > 0.6


@pytest.fixture(scope="module")
def synthetic_openface(tmp_path_factory):
    """A synthetic video and an OpenFace-format CSV holding its ground truth (0-5)."""
    d = tmp_path_factory.mktemp("val")
    truth = write_synthetic_video(d / "face.avi", n_frames=90, fps=15)
    csv = pd.DataFrame(
        {
            "frame": truth["frame"] + 1,
            "face_id": 0,
            "timestamp": truth["t"],
            "confidence": 0.98,
            "success": 1,
            **{f"{au}_r": 5 * truth[au] for au in SYNTHETIC_UNITS},
        }
    )
    csv.to_csv(d / "face_openface.csv", index=False)
    return d


def test_validate_faces_against_ground_truth_in_openface_format(synthetic_openface):
    d = synthetic_openface
    v = validate_faces(d / "face.avi", d / "face_openface.csv", out_dir=d / "out")
    t = v.table.set_index("au")
    assert set(t.index) == set(SYNTHETIC_UNITS)
    assert (
        t.loc["AU12", "pearson_r"] > 0.6
        and t.loc["AU01", "pearson_r"] > 0.5
        and t.loc["AU04", "pearson_r"] > 0.4
    )
    assert t.loc["AU12", "icc"] > 0.3  # both z-scored against the same frames
    assert (d / "out" / "validation.tsv").exists() and (d / "out" / "validation.png").stat().st_size > 10_000


def test_validate_faces_verb(synthetic_openface, capsys):
    d = synthetic_openface
    assert (
        main(
            [
                "validate-faces",
                str(d / "face.avi"),
                "--openface",
                str(d / "face_openface.csv"),
                "--out",
                str(d / "cli"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "AU12: r =" in out and (d / "cli" / "validation.png").exists()
    assert main(["validate-faces", "--openface", str(d / "missing.csv"), "--landmarks-only"]) == 2


def test_session_scored_both_ways_side_by_side(synthetic_openface, tmp_path, capsys):
    """coaffect score, then import-faces of an OpenFace CSV of the same camera: r and ICC per unit."""
    import cv2
    from test_score import make_session

    from analysis.scoring.score import score_dataset

    d = synthetic_openface
    photo = cv2.VideoCapture(str(d / "face.avi")).read()[1]
    sdir = make_session(tmp_path / "data", "S01", d / "face.avi", [("P01", "A")], ["A"], {"P01": photo})
    score_dataset(tmp_path / "data", workers=1, progress=False)
    assert main(["validate-faces", "--session", str(sdir)]) == 2  # nothing imported yet: one line
    assert "no coaffect rows to compare with" in capsys.readouterr().err
    csv = d / "face_openface.csv"
    assert (
        main(
            ["import-faces", str(sdir), str(csv), "--tool", "openface", "--camera", "wide"]
            + ["--participant", "P01"]
        )
        == 0
    )
    deriv = tmp_path / "data" / "derivatives" / "coaffect" / "ses-S01"
    assert len(pd.read_parquet(deriv / "faces-coaffect.parquet")) == 90  # coaffect's own rows kept
    capsys.readouterr()
    assert main(["validate-faces", "--session", str(sdir)]) == 0
    out = capsys.readouterr().out
    t = pd.read_csv(deriv / "validation_sources.tsv", sep="\t").set_index("au")
    assert set(t["participant_id"]) == {"P01"} and set(t["source"]) == {"openface"}
    # the same ground truth as the video check above: coaffect's units follow it
    assert (
        t.loc["AU12", "pearson_r"] > 0.6 and t.loc["AU01", "pearson_r"] > 0.5 and t.loc["AU12", "icc"] > 0.3
    )
    assert "P01 openface AU12: r =" in out


def _edited_copy(d, name: str, rows: slice = slice(None), frame_shift: int = 0, ts_shift: float = 0.0):
    """A copy of the synthetic OpenFace CSV with rows cut, frames renumbered or timestamps moved."""
    df = pd.read_csv(d / "face_openface.csv").iloc[rows].copy()
    df["frame"] = df["frame"] + frame_shift
    df["timestamp"] = df["timestamp"] + ts_shift
    df.to_csv(d / name, index=False)
    return d / name


def test_validate_faces_refuses_another_videos_output(synthetic_openface, capsys):
    """Issue 25 item 5: an 88-frame CSV against a 288-frame video printed r values and exit 0."""
    d = synthetic_openface
    short = _edited_copy(d, "short.csv", rows=slice(0, 40))  # 40 of the video's 90 frames
    assert main(["validate-faces", str(d / "face.avi"), "--openface", str(short)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"{short}: covers 40 frames (2.67 s) but the video has 90 frames (6.00 s at 15 fps); "
        "more than 1 frame apart: the output of another video, or a cut one"
    ], err


def test_validate_faces_reads_frame_numbers_by_their_base_and_says_so(synthetic_openface, capsys):
    """Issue 25 item 5: an off-by-one copy changed the figures without a word."""
    d = synthetic_openface
    ref = validate_faces(d / "face.avi", d / "face_openface.csv").table.set_index("au")
    # the same output numbered from 0 (timestamps kept): read as 0-based, same figures
    zero = _edited_copy(d, "zero_based.csv", frame_shift=-1)
    v = validate_faces(d / "face.avi", zero)
    assert v.alignment.one_based is False
    assert v.table.set_index("au")["pearson_r"].to_dict() == pytest.approx(ref["pearson_r"].to_dict())
    # renumbered by one against its own timestamps: refused, naming the first row that disagrees
    off = _edited_copy(d, "off_by_one.csv", ts_shift=1 / 15)
    assert main(["validate-faces", str(d / "face.avi"), "--openface", str(off)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"{off}:2: frame 1 has timestamp 0.067 s, but frame 1 (read as 1-based) is at 0.000 s in a 15 fps "
        "video: frame numbers and timestamps disagree (an edited or off-by-one copy?)"
    ), err
    out_dir = d / "cli2"
    assert main(["validate-faces", str(d / "face.avi"), "--openface", str(zero), "--out", str(out_dir)]) == 0
    assert "90 rows of frames 0..89 read as 0-based (frame 0 = video frame 0)" in capsys.readouterr().out
