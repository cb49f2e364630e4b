"""Lazy, per-process loaders of the dlib models shipped in ``face_recognition_models``.

Loading happens on first use, so importing :mod:`analysis.faces` stays cheap and
each joblib worker process loads its own copy once. Nothing is downloaded: the
model files come with the installed wheels.
"""

from __future__ import annotations

from functools import cache

from coaffect.formats.errors import AnalysisError


def _models_module():
    try:
        import face_recognition_models  # noqa: F401  (ships the .dat files)
    except ImportError as exc:  # pragma: no cover - environment problem
        raise AnalysisError(
            "face_recognition_models is not installed",
            hint="run scripts/setup.sh (installs dlib-bin and face-recognition)",
        ) from exc
    return face_recognition_models


@cache
def hog_detector():
    """dlib's frontal-face HOG detector (about 80 px minimum face at scale 1).

    Examples
    --------
    >>> det = hog_detector()
    >>> callable(det)
    True
    """
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def shape_predictor():
    """dlib's 68-point landmark model (iBUG 300-W layout).

    Examples
    --------
    >>> callable(shape_predictor())
    True
    """
    import dlib

    return dlib.shape_predictor(_models_module().pose_predictor_model_location())


@cache
def face_encoder():
    """dlib's ResNet face-recognition model (128-d encodings, same as face_recognition).

    Examples
    --------
    >>> hasattr(face_encoder(), "compute_face_descriptor")
    True
    """
    import dlib

    return dlib.face_recognition_model_v1(_models_module().face_recognition_model_location())
