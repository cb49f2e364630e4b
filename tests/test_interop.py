"""Importers: OpenFace 2.x and py-feat CSVs into the faces-table schema."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.interop.readers import read_openface, read_pyfeat
from coaffect.formats.errors import AnalysisError
from coaffect.formats.faces_schema import ALL_COLUMNS


def test_openface_csv(shared_data):
    path = shared_data / "interop" / "OpenFace_Test.csv"
    faces = read_openface(path, session_id="S01", participant_id="P01")
    assert list(faces.columns) == list(ALL_COLUMNS)
    assert len(faces) == 100 and faces["frame"].tolist() == list(range(100))  # OpenFace counts from 1
    assert faces["face_found"].all() and (faces["participant_id"] == "P01").all()
    native = read_openface(path, scale="native")
    # first row of the file: AU01_r 0.6773, AU23_r (not in the schema) 0.4543, AU12_r 0
    assert native[["AU01", "AU12"]].iloc[0].tolist() == [0.6773, 0.0]
    assert native["t"].iloc[0] == 0.0 and native["detection_confidence"].iloc[0] == 0.883333
    # OpenFace has no AU43 and no emotion probabilities: NaN, not invented
    assert faces["AU43"].isna().all() and faces.filter(like="emo_").isna().all().all()
    # z-scores against the whole recording: median 0 for units that vary
    assert faces["AU01"].median() == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(faces["smile"]).all()


def test_pyfeat_csv(shared_data):
    faces = read_pyfeat(shared_data / "interop" / "pyfeat_single_face_jpg_detections.csv", scale="native")
    assert list(faces.columns) == list(ALL_COLUMNS) and len(faces) == 1
    row = faces.iloc[0]
    # values from the file (py-feat Detector on single_face.jpg)
    assert round(row["AU12"], 4) == 0.8621 and round(row["emo_happy"], 4) == 0.9973
    assert row["face_w"] == 214.0  # FaceRectWidth in the file
    assert round(row["smile"], 4) == round((0.84491813 + 0.8620931) / 2, 4)  # AU06 + AU12
    other = read_pyfeat(shared_data / "interop" / "Feat_Test.csv", scale="native")
    assert round(other["AU12"].iloc[0], 4) == 0.9644 and round(other["emo_happy"].iloc[0], 4) == 0.987


def test_wrong_files_are_user_errors(shared_data, tmp_path):
    with pytest.raises(AnalysisError, match="not an OpenFace"):
        read_openface(shared_data / "interop" / "Feat_Test.csv")
    with pytest.raises(AnalysisError, match="not a py-feat"):
        read_pyfeat(shared_data / "interop" / "OpenFace_Test.csv")
    with pytest.raises(AnalysisError, match="no such file"):
        read_openface(tmp_path / "missing.csv")
    with pytest.raises(AnalysisError, match="scale"):
        read_openface(shared_data / "interop" / "OpenFace_Test.csv", scale="0-5")
