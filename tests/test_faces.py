"""Face detection and tracking on real media (../shared/data)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from analysis.faces.detect import detect_faces, detection_scale, iou, to_grey
from analysis.faces.observe import observe_video
from analysis.scoring.video import score_image, score_video


def _xml_boxes(path):
    root = ET.parse(path).getroot()
    for image in root.iter("image"):
        yield (
            image.get("file"),
            [tuple(int(b.get(k)) for k in ("left", "top", "width", "height")) for b in image.iter("box")],
        )


def test_dlib_ground_truth_boxes_are_found(shared_data):
    folder = shared_data / "stills" / "dlib_faces"
    n_truth = n_hit = n_extra = 0
    for xml in ("testing.xml", "training.xml"):
        for name, truth in _xml_boxes(folder / xml):
            grey = to_grey(cv2.imread(str(folder / name)))
            boxes, _ = detect_faces(grey, detection_scale(40))  # smallest truth box is 37 px
            hits = [max([iou(t, b) for b in boxes] or [0.0]) >= 0.5 for t in truth]
            n_truth += len(truth)
            n_hit += sum(hits)
            n_extra += max(0, len(boxes) - sum(hits))
    # 25 boxes in testing.xml + 18 in training.xml (dlib examples/faces)
    assert (n_truth, n_hit, n_extra) == (43, 43, 0)


@pytest.mark.parametrize(
    "name, count",
    [
        ("detection4.jpg", 3),
        ("detection5.jpg", 3),
        ("detection6.jpg", 2),
        ("identification1.jpg", 4),
        # 5 people; the young man in sunglasses is not found by HOG (a documented limitation)
        ("multi_face.jpg", 4),
    ],
)
def test_still_face_counts(shared_data, name, count):
    faces = score_image(shared_data / "stills" / name)
    assert len(faces) == count
    assert faces["face_x"].is_monotonic_increasing  # left to right
    assert np.allclose(faces.filter(like="emo_").sum(axis=1), 1.0, atol=1e-4)


def test_image_without_face_gives_empty_table(shared_data):
    faces = score_image(shared_data / "edge" / "free-mountain-vector-01.jpg")
    assert len(faces) == 0
    assert {"face_x", "AU12", "emo_happy"} <= set(faces.columns)


def test_tracking_bridges_tilted_heads(shared_data):
    # HOG finds the tilted woman only in frame 0; tracking plus roll-corrected
    # re-detection must keep both faces in all 56 frames.
    obs = observe_video(shared_data / "group" / "head-pose-face-detection-female-and-male.gif", encode=False)
    per_frame = obs.faces.groupby("frame")["track_id"].nunique()
    assert len(per_frame) == 56 and (per_frame == 2).all()
    assert sorted(obs.tracks["track_id"]) == [1, 2]
    assert obs.info["detections_run"] == 5  # every 1 s at 12.5 fps = every 12th (13th) frame


def test_tiny_faces_are_reported_not_invented(shared_data):
    # classroom.gif: faces about 15 px, below the 60 px default: no face, no crash,
    # and the summary says what size the detector could see.
    faces, summary = score_video(shared_data / "group" / "classroom.gif")
    assert len(faces) == 45 and not faces["face_found"].any()
    assert summary["faces_found_fraction"] == 0.0
    assert summary["min_face_px_detectable"] == 60.0
    assert summary["smallest_face_px_found"] is None
