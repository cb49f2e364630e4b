"""Scoring sessions, datasets, plain videos; resumability; the CLI; edge media."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from analysis.faces.detect import detect_faces, to_grey
from analysis.faces.settings import PipelineSettings
from analysis.scoring.score import ScoreSettings, score_dataset, score_session
from analysis.scoring.video import score_video
from analysis.simulate.faces import base_face, write_group_video
from coaffect.cli import main
from coaffect.formats.faces_schema import ALL_COLUMNS, column_docs
from coaffect.formats.session_writer import SessionWriter
from experiments.cameras.mjpeg_store import MjpegRecorder

ROOT = Path(__file__).resolve().parents[1]
T0 = 10.0  # session-clock time of the first camera frame


def make_session(
    dataset: Path,
    sid: str,
    video: Path,
    people: list[tuple[str, str]],
    camera_seats: list[str],
    enroll: dict,
    baseline_window=(0.0, 1.4),
) -> Path:
    """A session folder as the runner writes it, around a real video file."""
    writer = SessionWriter.create(
        dataset,
        sid,
        {
            "condition": "group" if len(people) > 1 else "alone",
            "participants": [{"participant_id": p, "seat": s} for p, s in people],
            "protocol": {"id": "bittersweet-demo", "sha256": "test"},
            "versions": {},
        },
    )
    writer.append("events.tsv", {"onset": T0, "duration": 5.0, "trial_type": "baseline"})
    writer.finish("complete")
    sdir = writer.dir
    text = (ROOT / "protocols" / "bittersweet-demo.yaml").read_text()
    text = text.replace("    seats: [A, B, C]", f"    seats: [{', '.join(camera_seats)}]")
    text = text.replace(
        "baseline_window: [1.0, 5.0]", f"baseline_window: [{baseline_window[0]}, {baseline_window[1]}]"
    )
    (sdir / "protocol.yaml").write_text(text)
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    recorder = MjpegRecorder(sdir, "wide")  # the runner's own camera file writer
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        recorder.write(img, t=T0 + n / fps, source_frame=n)
        n += 1
    recorder.close()
    (sdir / "enroll").mkdir()
    for pid, img in enroll.items():
        cv2.imwrite(str(sdir / "enroll" / f"{pid}.png"), img)
    return sdir


@pytest.fixture(scope="module")
def group_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("feed") / "wide.avi"
    truth = write_group_video(path, n_faces=3, fps=15, duration_s=6)
    return path, truth


def test_group_session_end_to_end(tmp_path, group_video):
    video, truth = group_video
    photo = base_face()[0]
    people = [("P01", "A"), ("P02", "B"), ("P03", "C")]
    make_session(tmp_path / "data", "S01", video, people, ["A", "B", "C"], {p: photo for p, _ in people})
    table = score_dataset(tmp_path / "data")
    assert table[["session", "status", "faces_found_fraction"]].values.tolist() == [
        ["ses-S01", "scored", 1.0]
    ]
    out = tmp_path / "data" / "derivatives" / "coaffect" / "ses-S01"
    faces = pd.read_parquet(out / "faces.parquet")
    assert list(faces.columns) == list(ALL_COLUMNS)
    assert len(faces) == 90 * 3 and faces["face_found"].all()
    p01 = faces[faces["participant_id"] == "P01"].sort_values("frame")
    np.testing.assert_allclose(p01["t"], T0 + np.arange(90) / 15, atol=1e-5)
    # all three enrolled with the same photo: the seat plan decides, left to right
    for k, pid in enumerate(["P01", "P02", "P03"]):
        measured = faces[faces["participant_id"] == pid].sort_values("frame")["AU12"]
        rhos = [spearmanr(truth[truth["face"] == j + 1]["AU12"], measured).statistic for j in range(3)]
        assert int(np.argmax(rhos)) == k and rhos[k] > 0.5
    assert faces["identity_confidence"].between(0, 1).all()
    summary = json.loads((out / "score_summary.json").read_text())
    assert summary["baseline_source"] == {"wide": "baseline"}
    assert summary["min_face_px_detectable"] == 60.0 and 80 < summary["smallest_face_px_found"] < 110
    sidecar = json.loads((out / "faces.json").read_text())
    assert set(sidecar["columns"]) == set(ALL_COLUMNS) == set(column_docs())
    meta = pq.read_schema(out / "faces.parquet").metadata
    assert meta[b"coaffect_settings_hash"].decode() == summary["settings_hash"]
    # baseline window [0, 1.4] s after the baseline onset: 21 frames, median z exactly 0
    base = p01[(p01["t"] >= T0) & (p01["t"] <= T0 + 1.4)]
    assert len(base) == 22 and base["AU12"].median() == pytest.approx(0.0, abs=1e-9)


def _crop(img, box, pad=0.6):
    x, y, w, h = box.astype(int)
    p = int(pad * w)
    return img[max(0, y - p) : y + h + p, max(0, x - p) : x + w + p].copy()


@pytest.fixture(scope="module")
def head_pose(shared_data):
    video = shared_data / "group" / "head-pose-face-detection-female-and-male.gif"
    cap = cv2.VideoCapture(str(video))
    img = cap.read()[1]
    boxes, _ = detect_faces(to_grey(img), 80 / 60)
    boxes = boxes[np.argsort(boxes[:, 0])]
    return video, _crop(img, boxes[0]), _crop(img, boxes[1])


def test_enrollment_identity_and_unknown(tmp_path, head_pose, shared_data):
    video, woman, man = head_pose
    stranger = cv2.imread(str(shared_data / "stills" / "Family1-Dad1.jpg"))
    # P02 enrolled with someone else's photo: the man must stay 'unknown', never P02
    sdir = make_session(
        tmp_path / "data",
        "S02",
        video,
        [("P01", "A"), ("P02", "B")],
        ["A", "B"],
        {"P01": woman, "P02": stranger},
    )
    faces, summary = score_session(sdir)
    assert len(faces) == 56 * 2
    assert summary["faces_found_fraction_by_participant"] == {"P01": 1.0, "P02": 0.0}
    assert summary["unknown_face_frames"] == 56
    assert faces.loc[faces["participant_id"] == "P02", "AU12"].isna().all()
    # seats swapped in the plan but enrollment right: the encodings win
    sdir = make_session(
        tmp_path / "data", "S03", video, [("P01", "B"), ("P02", "A")], ["A", "B"], {"P01": woman, "P02": man}
    )
    faces, summary = score_session(sdir)
    assert summary["faces_found_fraction_by_participant"] == {"P01": 1.0, "P02": 1.0}
    x = faces.pivot(index="frame", columns="participant_id", values="face_x")
    assert (x["P01"] < x["P02"]).all()  # the woman (P01) is on the left in every frame


def test_dataset_is_resumable_and_parallel(tmp_path, group_video):
    video, _ = group_video
    photo = base_face()[0]
    people = [("P01", "A"), ("P02", "B"), ("P03", "C")]
    for sid in ("S01", "S02"):
        make_session(tmp_path / "data", sid, video, people, ["A", "B", "C"], {p: photo for p, _ in people})
    fast = ScoreSettings(PipelineSettings(step=3, fer=False, encodings_per_track=1))
    first = score_dataset(tmp_path / "data", jobs=2, settings=fast)
    assert first["status"].tolist() == ["scored", "scored"]
    assert score_dataset(tmp_path / "data", jobs=2, settings=fast)["status"].tolist() == [
        "skipped",
        "skipped",
    ]
    # an interrupted session (no summary yet) is redone; the finished one is kept
    (tmp_path / "data" / "derivatives" / "coaffect" / "ses-S02" / "score_summary.json").unlink()
    assert score_dataset(tmp_path / "data", settings=fast)["status"].tolist() == ["skipped", "scored"]
    # other settings: scored again; one session folder alone works too
    other = ScoreSettings(PipelineSettings(step=5, fer=False, encodings_per_track=1))
    assert score_dataset(tmp_path / "data" / "ses-S01", settings=other)["status"].tolist() == ["scored"]
    faces = pd.read_parquet(tmp_path / "data" / "derivatives" / "coaffect" / "ses-S01" / "faces.parquet")
    assert len(faces) == 270 and faces["face_found"].sum() == 3 * 18  # every 5th of 90 frames
    assert not list((tmp_path / "data" / "derivatives").rglob("*.tmp"))


@pytest.mark.parametrize(
    "name, n, found_in, missing_in",
    [
        ("no_face.mp4", 95, [], range(95)),
        ("face_noface.mov", 169, range(0, 60), range(100, 169)),
        ("noface_face.mov", 169, range(110, 160), range(0, 100)),
    ],
)
def test_edge_videos_give_nan_rows(shared_data, name, n, found_in, missing_in):
    faces, _ = score_video(shared_data / "edge" / name)
    assert len(faces) == n and faces["frame"].tolist() == list(range(n))
    f = faces.set_index("frame")
    assert f.loc[list(found_in), "face_found"].all()
    assert not f.loc[list(missing_in), "face_found"].any()
    assert f.loc[list(missing_in), ["AU12", "smile", "emo_happy", "face_x"]].isna().all().all()


def test_cli_video_and_errors(tmp_path, shared_data, capsys):
    rc = main(
        [
            "score",
            "--video",
            str(shared_data / "single" / "single_face.mp4"),
            "--out",
            str(tmp_path / "out"),
            "--step",
            "4",
        ]
    )
    assert rc == 0
    faces = pd.read_parquet(tmp_path / "out" / "faces.parquet")
    assert len(faces) == 72 and faces["face_found"].sum() == 18  # every 4th of 72 frames
    assert "faces found in 100% of frames" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{tmp_path / 'nope'}: no such folder"]
    assert main(["score"]) == 2
    assert "hint:" in capsys.readouterr().err
    assert main(["score", str(tmp_path)]) == 2
    assert "no ses-* folders" in capsys.readouterr().err


def test_the_cli_scoring_defaults_are_the_settings_defaults():
    """``coaffect score``'s --step and --min-face-px default to the scoring settings' own fields."""
    import argparse

    from analysis.scoring.score import ScoreSettings
    from coaffect.cli import score

    parser = argparse.ArgumentParser()
    score.add_arguments(parser)
    args = parser.parse_args([])
    assert ScoreSettings.of(step=args.step, min_face_px=args.min_face_px) == ScoreSettings()
    assert (args.step, args.min_face_px) == (1, 60.0)  # the documented defaults (docs/score.md)
