"""Action-unit-like facial movements and head pose measured from 68 landmarks.

Landmarks are first put in a face frame: origin between the eye-corner midpoints,
rotated so the eyes are level (head roll removed), horizontal distances in
units of the inter-ocular distance and vertical ones in units of the nose
length (27 -> 33). Both references are rigid parts of the face, so face size
and, to first order, foreshortening by yaw (horizontal) and pitch (vertical)
cancel.

Each action unit is computed from the landmarks FACS says move for it, and no
two units share a term (the same landmark coordinate against the same
reference) that would force them together: the smile (AU12) is lip-corner
height above the inner-lip midpoint, the lip-corner depressor (AU15) the
corners' closeness to the chin, the lip stretcher (AU20) mouth width. Their
definitions (landmarks, unit, range, failure cases) are in
:data:`coaffect.formats.faces_schema.AU_SPECS` and ``docs/faces-table.md``.
Each raw measure grows when the movement is stronger; values are only
meaningful against the same person's baseline (:mod:`.baseline`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Mean 3-D face (mm, x to the image right, y up, z towards the camera, nose tip
#: at 0) at rigid landmarks only (eye corners, nose, outline at eye and nose
#: level), so expressions do not move the pose: OpenFace 2.x's own 3-D
#: landmarks of ``interop/OpenFace_Test.csv`` rotated back by its pose,
#: averaged over the 100 frames and made left-right symmetric.
_MODEL_IDX = np.array([36, 39, 42, 45, 27, 30, 31, 33, 35, 0, 2, 14, 16])
_MODEL_3D = np.array(
    [
        [-45.4, 22.8, -43.2],
        [-19.3, 22.6, -35.0],
        [19.3, 22.6, -35.0],
        [45.4, 22.8, -43.2],
        [0.0, 29.2, -23.4],
        [0.0, 0.0, 0.0],
        [-13.6, -15.9, -16.2],
        [0.0, -18.7, -12.6],
        [13.6, -15.9, -16.2],
        [-75.3, 17.7, -83.6],
        [-73.0, -20.7, -79.2],
        [73.0, -20.7, -79.2],
        [75.3, 17.7, -83.6],
    ]
)


def face_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks in the face frame (roll removed, eye-corner midpoints at x = -0.5 and +0.5).

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
    # eye corners, not lid points: lids move with blinks, corners are rigid
    left, right = pts[:, [36, 39]].mean(axis=1), pts[:, [42, 45]].mean(axis=1)
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


def head_pose(landmarks: np.ndarray) -> pd.DataFrame:
    """Head yaw, pitch and roll (degrees) from 68 landmarks, vectorised.

    A weak-perspective camera is fitted by least squares from a mean 3-D
    face (:data:`_MODEL_3D`, 13 rigid points) to the landmarks; its two rows,
    made orthonormal, give the rotation. Roll is the eye line's angle. Signs
    follow OpenFace (pose_Ry, pose_Rx, pose_Rz): yaw > 0 when the face turns
    to the image left, roll > 0 when it tilts clockwise in the image. Accurate to a few degrees
    within +-45 deg yaw; beyond that the 68-point fit itself fails. On
    OpenFace's own landmarks (``OpenFace_Test.csv``) it follows OpenFace's
    pose at r = 1.00 (yaw), 0.96 (pitch), 0.82 (roll; 0.24 deg SD there), with
    pitch 2.5 deg higher on average (OpenFace models perspective).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) pixel landmarks (NaN rows give NaN).

    Returns
    -------
    pandas.DataFrame
        n rows: ``yaw``, ``pitch``, ``roll`` in degrees.

    Examples
    --------
    >>> rot = np.radians(20)
    >>> r = np.array([[np.cos(rot), 0, np.sin(rot)], [0, 1, 0]])  # turned 20 deg
    >>> pts = np.zeros((68, 2)); pts[_MODEL_IDX] = _MODEL_3D @ r.T * [1, -1]
    >>> head_pose(pts[None]).round(1).iloc[0].tolist()
    [-20.0, 0.0, 0.0]
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    uv = pts[:, _MODEL_IDX] * [1.0, -1.0]  # image y down -> model y up
    uv = uv - uv.mean(axis=1, keepdims=True)
    model = _MODEL_3D - _MODEL_3D.mean(axis=0)
    pinv = np.linalg.pinv(model)  # (3, 9): least-squares affine camera M = uv^T pinv^T
    m = np.einsum("nkc,dk->ncd", uv, pinv)  # (n, 2, 3)
    r1 = m[:, 0] / np.linalg.norm(m[:, 0], axis=1, keepdims=True)
    r2 = m[:, 1] - np.sum(m[:, 1] * r1, axis=1, keepdims=True) * r1
    r2 = r2 / np.linalg.norm(r2, axis=1, keepdims=True)
    r3 = np.cross(r1, r2)
    yaw = -np.degrees(np.arcsin(np.clip(r1[:, 2], -1, 1)))  # OpenFace's pose_Ry sign
    pitch = np.degrees(np.arctan2(-r2[:, 2], r3[:, 2]))
    d = pts[:, [42, 45]].mean(axis=1) - pts[:, [36, 39]].mean(axis=1)
    roll = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    return pd.DataFrame({"yaw": yaw, "pitch": pitch, "roll": roll})


def rigid_fit_residual(landmarks: np.ndarray) -> np.ndarray:
    """What the pose fit of :func:`head_pose` leaves unexplained at the rigid landmarks.

    The best affine camera maps the mean 3-D face onto the 13 rigid landmarks;
    the residuals (in inter-ocular distances) stay about constant for one
    person whatever the pose, and jump when the landmark fit collapses (a
    hand over the face, a profile the model cannot fit).

    Returns
    -------
    numpy.ndarray
        (n, 13, 2) residuals.

    Examples
    --------
    >>> pts = np.zeros((68, 2)); pts[_MODEL_IDX] = _MODEL_3D[:, :2] * [1, -1]
    >>> float(np.abs(rigid_fit_residual(pts[None])).max()) < 1e-9
    True
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    uv = pts[:, _MODEL_IDX]
    centre = uv.mean(axis=1, keepdims=True)
    model = _MODEL_3D - _MODEL_3D.mean(axis=0)
    proj = model @ np.linalg.pinv(model)  # (13, 13) projector onto the model's span
    fitted = np.einsum("jk,nkc->njc", proj, uv - centre)
    d = pts[:, [42, 45]].mean(axis=1) - pts[:, [36, 39]].mean(axis=1)
    iod = np.hypot(d[:, 0], d[:, 1])
    return (uv - centre - fitted) / iod[:, None, None]


def landmark_action_units(landmarks: np.ndarray) -> pd.DataFrame:
    """Raw action-unit-like measures for each set of 68 landmarks.

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) landmarks in pixels (rows of NaN give NaN measures).

    Returns
    -------
    pandas.DataFrame
        n rows; columns AU01 ... AU45 of :data:`coaffect.formats.faces_schema.ACTION_UNITS`
        (face-frame units of :data:`coaffect.formats.faces_schema.AU_SPECS`;
        larger = stronger movement). AU43 and AU45 are both the per-frame eye
        closure here; over time the scorer splits it into sustained closure
        (AU43) and blinks (AU45), see :mod:`.measures`.

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

    def mean_y(*idx):
        return y[:, list(idx)].mean(axis=1)

    eye_w = ((x[:, 39] - x[:, 36]) + (x[:, 45] - x[:, 42])) / 2
    # brows: inner (21, 22), outer (17, 18, 25, 26) and middle (19, 24) heights
    # against the rigid eye corners; AU04 from the brows drawing together (x
    # gap) and the brow middle lowering, points neither AU01 nor AU02 use
    inner = mean_y(39, 42) - mean_y(21, 22)
    outer = mean_y(36, 45) - mean_y(17, 18, 25, 26)
    knit = -(x[:, 22] - x[:, 21]) - (mean_y(36, 39, 42, 45) - mean_y(19, 24)) / 2
    # lids: the upper lid's height (AU05) and the outer lower lid (AU06: the
    # cheek pushes it up at the outer corner) against the inner lower lid
    # (AU07: the lid tightens medially); each against its own eye corner
    upper = ((mean_y(36, 39) - mean_y(37, 38)) + (mean_y(42, 45) - mean_y(43, 44))) / 2 / eye_w
    cheek = -((y[:, 41] - y[:, 36]) + (y[:, 46] - y[:, 45])) / 2 / eye_w
    tighten = -((y[:, 40] - y[:, 39]) + (y[:, 47] - y[:, 42])) / 2 / eye_w
    aperture = ((mean_y(40, 41) - mean_y(37, 38)) + (mean_y(46, 47) - mean_y(43, 44))) / 2 / eye_w
    # mouth: corners' height above the inner-lip midpoint (AU12: the smile's
    # upward curve; relative to the mouth, not the eyes, because nodding moves
    # the corners against the eyes far more than smiling does); the corners'
    # distance to the chin (AU15: the depressor pulls them towards the chin;
    # the chin is a point no other mouth unit uses); mouth width (AU20),
    # inner-lip gap (AU25), chin depth below the eyes (AU26)
    lift = (y[:, 62] + y[:, 66]) / 2 - mean_y(48, 54)
    to_chin = (
        np.hypot(x[:, 48] - x[:, 8], y[:, 48] - y[:, 8]) + np.hypot(x[:, 54] - x[:, 8], y[:, 54] - y[:, 8])
    ) / 2
    return pd.DataFrame(
        {
            "AU01": inner,
            "AU02": outer,
            "AU04": knit,
            "AU05": upper,
            "AU06": cheek,
            "AU07": tighten,
            "AU10": y[:, 33] - y[:, 51],
            "AU12": lift,
            "AU15": -to_chin,
            "AU20": x[:, 54] - x[:, 48],
            "AU25": mean_y(65, 66, 67) - mean_y(61, 62, 63),
            "AU26": y[:, 8],
            "AU43": -aperture,
            "AU45": -aperture,
        }
    )
