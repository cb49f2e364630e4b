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


def fit_landmarks(grey: np.ndarray, box, analysis_px: float | None = None) -> np.ndarray:
    """Fit dlib's 68 landmarks inside a face box.

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    box : sequence of 4 floats
        ``x, y, w, h`` of the face (a detector box or :func:`box_from_landmarks`).
    analysis_px : float, optional
        The common analysis resolution (face-box width in px): the face is
        brought to this many pixels before the fit (:func:`fit_at_resolution`),
        so faces of every size give dlib the same pixels. None fits in the
        frame as it is.

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
    if analysis_px is not None:
        return fit_at_resolution(grey, box, analysis_px)
    import dlib

    x, y, w, h = (float(v) for v in box)
    rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
    shape = shape_predictor()(grey, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


#: Face-box width (px) at which dlib fits the landmarks of a face brought to the
#: common analysis resolution (:func:`fit_at_resolution`).
FIT_PX = 160

#: Margin kept around the face box on each side (fraction of its width) when it
#: is brought to the analysis resolution: dlib's features reach a little beyond the box.
ANALYSIS_MARGIN = 0.5


def fit_at_resolution(grey: np.ndarray, box, analysis_px: float, fit_px: int = FIT_PX) -> np.ndarray:
    """dlib's 68 landmarks fitted on the face as it looks at ``analysis_px`` pixels wide.

    A common analysis resolution: the face box, with a margin of
    :data:`ANALYSIS_MARGIN` of its width on every side, is area-averaged
    (``cv2.INTER_AREA``) down to ``analysis_px`` pixels per face width, then
    enlarged bilinearly to ``fit_px`` (the size dlib's 68-point model is
    trained at), where the landmarks are fitted and mapped back to frame
    pixels. A 240 px close-up and a 60 px wide-shot face then reach dlib
    through nearly the same pixels, so its fit (which changes with a face's
    sharpness, in a way that depends on the expression) is the same for both.
    A face already narrower than ``analysis_px`` is not resampled down (it has
    no more detail to lose) and is only enlarged to ``fit_px``; such faces are
    below the analysis resolution (:func:`below_analysis_resolution`).

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    box : sequence of 4 floats
        ``x, y, w, h`` of the face.
    analysis_px : float
        Face-box width (px) every face is brought down to.
    fit_px : int
        Face-box width (px) of the enlarged copy dlib fits on.

    Returns
    -------
    numpy.ndarray
        (68, 2) float landmarks in frame pixels (sub-pixel: dlib's whole
        pixels of the enlarged copy, mapped back).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> box = detect_faces(g)[0][0]
    >>> pts = fit_at_resolution(g, box, 80)
    >>> pts.shape, bool(np.abs(pts - fit_landmarks(g, box)).mean() < 3)
    ((68, 2), True)
    """
    import dlib

    # whole-pixel box, as dlib's own rectangle in fit_landmarks: the fit is then a function
    # of the pixels and an integer box, so a tracker started a little earlier (a chunk's
    # warm-up, analysis.faces.chunks) falls into the same landmarks as one run through
    x, y, w, h = (float(round(v)) for v in box)
    side = max(w, h, 1.0)
    cx, cy = x + w / 2, y + h / 2
    half = side * (0.5 + ANALYSIS_MARGIN)
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    x1, y1 = int(np.ceil(cx + half)), int(np.ceil(cy + half))
    rows, cols = grey.shape[:2]
    crop = grey[max(0, y0) : max(0, min(rows, y1)), max(0, x0) : max(0, min(cols, x1))]
    pad = (max(0, -y0), max(0, y1 - rows), max(0, -x0), max(0, x1 - cols))
    if any(pad) and crop.size:
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
    elif not crop.size:
        crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    src_h, src_w = crop.shape[:2]
    down = min(1.0, float(analysis_px) / side)
    if down < 1.0:
        crop = cv2.resize(
            crop,
            (max(1, round(src_w * down)), max(1, round(src_h * down))),
            interpolation=cv2.INTER_AREA,
        )
    up = fit_px / (side * crop.shape[1] / src_w)
    big = cv2.resize(
        crop,
        (max(1, round(crop.shape[1] * up)), max(1, round(crop.shape[0] * up))),
        interpolation=cv2.INTER_LINEAR,
    )
    # pixel centres: a source pixel u maps to (u + 0.5) * k - 0.5 in a resized copy
    kx, ky = big.shape[1] / src_w, big.shape[0] / src_h
    bx, by = (x - x0 + 0.5) * kx - 0.5, (y - y0 + 0.5) * ky - 0.5
    rect = dlib.rectangle(int(round(bx)), int(round(by)), int(round(bx + w * kx)), int(round(by + h * ky)))
    shape = shape_predictor()(big, rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=float)
    return np.column_stack([(pts[:, 0] + 0.5) / kx - 0.5 + x0, (pts[:, 1] + 0.5) / ky - 0.5 + y0])


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
