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
    # measured on OpenFace's own landmarks: AU45 0.89, AU01 0.45 (the only units
    # OpenFace moves there besides AU02/AU04/AU05/AU26, see docs/faces-table.md)
    assert t.loc["AU45", "pearson_r"] > 0.8 and t.loc["AU01", "pearson_r"] > 0.3
    # units OpenFace does not move there: no number, a note
    assert np.isnan(t.loc["AU12", "pearson_r"]) and "does not move" in t.loc["AU12", "note"]
    pose = v.pose.set_index("angle")["pearson_r"]
    assert pose["yaw"] > 0.95 and pose["pitch"] > 0.9 and pose["roll"] > 0.6


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
