"""Action-unit-like facial movements measured from 68 landmarks.

Landmarks are first put in a face frame: origin between the eye centres,
rotated so the eyes are level (head roll removed), horizontal distances in
units of the inter-ocular distance and vertical ones in units of the nose
length (27 -> 33). Both references are rigid parts of the face, so face size
and, to first order, foreshortening by yaw (horizontal) and pitch (vertical)
cancel. Each raw measure grows when the movement is stronger; the values are
only meaningful against the same person's baseline (:mod:`.baseline`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def face_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks in the face frame (roll removed, eyes at x = -0.5 and +0.5).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) or (68, 2) pixel coordinates.

    Returns
    -------
    numpy.ndarray
        Same shape; x in inter-ocular distances, y in nose lengths (y down).

    Examples
    --------
    >>> pts = np.zeros((68, 2)); pts[36:42] = [10, 0]; pts[42:48] = [30, 0]
    >>> pts[27] = [20, 0]; pts[33] = [20, 15]
    >>> face_frame(pts)[[36, 42, 33]].round(2).tolist()
    [[-0.5, 0.0], [0.5, 0.0], [0.0, 1.0]]
    """
    pts = np.asarray(landmarks, dtype=float)
    single = pts.ndim == 2
    if single:
        pts = pts[None]
    left, right = pts[:, 36:42].mean(axis=1), pts[:, 42:48].mean(axis=1)
    mid = (left + right) / 2
    d = right - left
    iod = np.hypot(d[:, 0], d[:, 1])
    cos, sin = d[:, 0] / iod, d[:, 1] / iod
    rel = pts - mid[:, None, :]
    x = (rel[..., 0] * cos[:, None] + rel[..., 1] * sin[:, None]) / iod[:, None]
    y = -rel[..., 0] * sin[:, None] + rel[..., 1] * cos[:, None]
    nose = y[:, 33] - y[:, 27]
    y = y / np.where(np.abs(nose) > 1e-9, nose, np.nan)[:, None]
    out = np.stack([x, y], axis=-1)
    return out[0] if single else out


def landmark_action_units(landmarks: np.ndarray) -> pd.DataFrame:
    """Raw action-unit-like measures for each set of 68 landmarks.

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) landmarks in pixels (rows of NaN give NaN measures).

    Returns
    -------
    pandas.DataFrame
        n rows; columns AU01 ... AU45 of :data:`coaffect.formats.faces_schema.AU_DEFINITIONS` (face-frame
        units; larger = stronger movement; AU43 equals AU45 here and is
        smoothed over time by the scorer).

    Examples
    --------
    >>> from analysis.faces.detect import detect_faces, fit_landmarks, to_grey
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> au = landmark_action_units(fit_landmarks(g, detect_faces(g)[0][0])[None])
    >>> list(au.columns[:3]), bool(au["AU20"].iloc[0] > 0.5)
    (['AU01', 'AU02', 'AU04'], True)
    """
    a = face_frame(np.asarray(landmarks, dtype=float).reshape(-1, 68, 2))
    x, y = a[..., 0], a[..., 1]
    brow_h = -(y[:, 17:27].mean(axis=1))
    inner = -((y[:, 21] + y[:, 22]) / 2 - (y[:, 39] + y[:, 42]) / 2)
    outer = -((y[:, 17] + y[:, 18] + y[:, 25] + y[:, 26]) / 4 - (y[:, 36] + y[:, 45]) / 2)
    gap = x[:, 22] - x[:, 21]
    eye_w = ((x[:, 39] - x[:, 36]) + (x[:, 45] - x[:, 42])) / 2
    corner_r, corner_l = (y[:, 36] + y[:, 39]) / 2, (y[:, 42] + y[:, 45]) / 2
    upper = ((corner_r - (y[:, 37] + y[:, 38]) / 2) + (corner_l - (y[:, 43] + y[:, 44]) / 2)) / 2 / eye_w
    lower = (((y[:, 40] + y[:, 41]) / 2 - corner_r) + ((y[:, 46] + y[:, 47]) / 2 - corner_l)) / 2 / eye_w
    lid_to_corner = ((y[:, 48] - (y[:, 40] + y[:, 41]) / 2) + (y[:, 54] - (y[:, 46] + y[:, 47]) / 2)) / 2
    lip_centre = (y[:, 51] + y[:, 57]) / 2
    elevation = lip_centre - (y[:, 48] + y[:, 54]) / 2
    width = x[:, 54] - x[:, 48]
    lips_gap = ((y[:, 66] - y[:, 62]) + (y[:, 65] - y[:, 63]) + (y[:, 67] - y[:, 61])) / 3
    openness = upper + lower
    return pd.DataFrame(
        {
            "AU01": inner,
            "AU02": outer,
            "AU04": -(brow_h + gap),
            "AU05": upper,
            "AU06": -lid_to_corner,
            "AU07": -lower,
            "AU10": -(y[:, 51] - y[:, 33]),
            "AU12": elevation + 0.5 * width,
            "AU15": -elevation,
            "AU20": width,
            "AU25": lips_gap,
            "AU26": y[:, 8] - y[:, 33],
            "AU43": -openness,
            "AU45": -openness,
        }
    )
