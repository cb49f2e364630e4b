"""Face detection (dlib HOG on a resized frame) and 68-point landmark fitting.

Boxes are ``(x, y, w, h)`` in pixels of the full-resolution frame. The HOG
detector's window is about 80 px, so at detection scale ``s`` the smallest
face it finds is about ``80 / s`` px wide; :func:`detection_scale` picks ``s``
from the smallest face a study needs.
"""

from __future__ import annotations

import cv2
import numpy as np

from .models import hog_detector, shape_predictor

#: Width in pixels of dlib's HOG detection window (faces smaller than this at
#: the detection scale are not found).
HOG_WINDOW_PX = 80


def detection_scale(min_face_px: float) -> float:
    """Resize factor that brings a face of ``min_face_px`` to the HOG window size.

    Examples
    --------
    >>> detection_scale(160)
    0.5
    """
    if min_face_px <= 0:
        raise ValueError("min_face_px must be positive")
    return HOG_WINDOW_PX / float(min_face_px)


def to_grey(frame: np.ndarray) -> np.ndarray:
    """8-bit grey image from a BGR, BGRA or grey frame.

    Examples
    --------
    >>> to_grey(np.zeros((4, 4, 3), np.uint8)).shape
    (4, 4)
    """
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(frame, code)


def detect_faces(
    grey: np.ndarray, scale: float = 1.0, threshold: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Detect frontal faces with dlib's HOG detector on a resized copy of ``grey``.

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame (H, W).
    scale : float
        Resize factor before detection (< 1 is faster and finds only larger faces).
    threshold : float
        Detector score threshold (dlib's ``adjust_threshold``; 0 is dlib's default).

    Returns
    -------
    boxes : numpy.ndarray
        (n, 4) float array of ``x, y, w, h`` in full-frame pixels.
    scores : numpy.ndarray
        (n,) HOG SVM scores (about 0 at the threshold, 2-3 for clear frontal faces).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> boxes, scores = detect_faces(to_grey(astronaut()[:, :, ::-1]))
    >>> len(boxes)
    1
    """
    small = (
        grey
        if scale == 1.0
        else cv2.resize(
            grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
    )
    rects, scores, _ = hog_detector().run(small, 0, threshold)
    boxes = (
        np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects], dtype=float).reshape(-1, 4)
        / scale
    )
    return boxes, np.asarray(scores, dtype=float)


def fit_landmarks(grey: np.ndarray, box) -> np.ndarray:
    """Fit dlib's 68 landmarks inside a face box.

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    box : sequence of 4 floats
        ``x, y, w, h`` of the face (a detector box or :func:`box_from_landmarks`).

    Returns
    -------
    numpy.ndarray
        (68, 2) float array of ``x, y`` pixel coordinates (iBUG 300-W order).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> boxes, _ = detect_faces(g)
    >>> fit_landmarks(g, boxes[0]).shape
    (68, 2)
    """
    import dlib

    x, y, w, h = (float(v) for v in box)
    rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
    shape = shape_predictor()(grey, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


def box_from_landmarks(points: np.ndarray) -> np.ndarray:
    """Detector-like square box around 68 landmarks (used to track between detections).

    dlib's detector box is about 8% larger than the landmarks' extent and sits
    about 5% higher (measured on the shared clips), so the landmark model sees
    the same framing whether it is given a detection or a tracked box.

    Examples
    --------
    >>> pts = np.array([[0, 0], [100, 100]], float)
    >>> box_from_landmarks(pts).round(1).tolist()
    [-4.0, -9.4, 108.0, 108.0]
    """
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    side = 1.08 * float(max(hi - lo))
    cx, cy = (lo + hi) / 2.0
    cy -= 0.05 * side
    return np.array([cx - side / 2, cy - side / 2, side, side])


def iou(a, b) -> float:
    """Intersection over union of two ``x, y, w, h`` boxes.

    Examples
    --------
    >>> iou([0, 0, 10, 10], [5, 0, 10, 10])
    0.3333333333333333
    """
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0
