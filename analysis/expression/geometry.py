"""Action-unit-like facial movements and head pose measured from 68 landmarks.

Every unit is a distance on the **frontal** face: the landmarks are first
taken to a frontal view at a fixed size (:func:`analysis.expression.frontal.frontal_landmarks`:
a rigid 3-D face fitted to the eye corners and the nose, head pose and face
size undone), so coordinates are millimetres of that template face, x to the
image right and y down. Turning, nodding or tilting the head, and the face's
size in the image, leave the units unchanged except for what the template's
depth and the landmark fit itself get wrong; ``bench/invariance.py`` measures
that per unit (``docs/faces-table.md``).

Each action unit is computed from the landmarks FACS says move for it, and no
two units share a term (the same landmark coordinate against the same
reference) that would force them together: the smile (AU12) is the lip
corners' closeness to fixed points of the rigid frontal face at the cheekbones'
level (up and out, as zygomaticus major pulls; not against the lips, which open), the lip-corner depressor
(AU15) the corners' closeness to the chin, the lip stretcher (AU20) mouth
width. Their definitions (landmarks, unit, range, failure cases) are in
:data:`coaffect.formats.faces_schema.AU_SPECS` and ``docs/faces-table.md``.
Each raw measure grows when the movement is stronger; values are only
meaningful against the same person's baseline (:mod:`.baseline`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frontal import TEMPLATE_3D, fit_pose, frontal_landmarks, pose_angles

#: The fixed points AU12 measures the lip corners against (frontal template
#: mm, y down): the template's face edge at nose-base level (points 2 and 14),
#: lateral to zygomaticus major's origin on the cheekbone.
ZYGOMA_POINTS = TEMPLATE_3D[[2, 14], :2] * [1.0, -1.0]
_FRONT = TEMPLATE_3D[:, :2] * [1.0, -1.0]
#: Unit directions (template) from each lip corner to its zygoma point, and from the chin to each corner.
_TO_ZYGOMA = (ZYGOMA_POINTS - _FRONT[[48, 54]]) / np.linalg.norm(ZYGOMA_POINTS - _FRONT[[48, 54]], axis=1)[
    :, None
]
_FROM_CHIN = (_FRONT[[48, 54]] - _FRONT[8]) / np.linalg.norm(_FRONT[[48, 54]] - _FRONT[8], axis=1)[:, None]

#: Rigid points of the occlusion check (:func:`rigid_fit_residual`, the
#: ``occlusion`` quality flag, whose limit was calibrated on them): eye
#: corners, nose and the outline at eye and nose level, mm (x image right, y
#: up, z towards the camera, nose tip at 0), from the same OpenFace face as
#: :data:`analysis.expression.frontal.TEMPLATE_3D`.
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


def head_pose(landmarks: np.ndarray) -> pd.DataFrame:
    """Head yaw, pitch and roll (degrees) from 68 landmarks, vectorised.

    The rigid 3-D template face is fitted to the eye corners and the nose
    (:func:`analysis.expression.frontal.fit_pose`, a scaled-orthographic
    camera); signs follow OpenFace (pose_Ry, pose_Rx, pose_Rz): yaw > 0 when
    the face turns to the image left, roll > 0 when it tilts clockwise in the
    image. Rotated copies of a real 3-D face come back within about 2 deg
    over yaw +-30 and pitch +-20 (``bench/invariance.py``).

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
    >>> from analysis.expression.frontal import TEMPLATE_3D
    >>> rot = np.radians(20)
    >>> r = np.array([[np.cos(rot), 0, np.sin(rot)], [0, 1, 0]])  # turned 20 deg
    >>> pts = TEMPLATE_3D @ r.T * [1, -1]
    >>> head_pose(pts[None]).round(1).iloc[0].tolist()
    [-20.0, 0.0, 0.0]
    """
    return pose_angles(fit_pose(np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)))


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


def landmark_action_units(landmarks: np.ndarray, depth: float = 1.0) -> pd.DataFrame:
    """Raw action-unit-like measures for each set of 68 landmarks, on the frontal face.

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) landmarks in pixels (rows of NaN give NaN measures).
    depth : float
        The template depth factor of this face (:func:`analysis.expression.frontal.fit_depth`).

    Returns
    -------
    pandas.DataFrame
        n rows; columns AU01 ... AU45 of :data:`coaffect.formats.faces_schema.ACTION_UNITS`
        in millimetres of the template face (:data:`coaffect.formats.faces_schema.AU_SPECS`;
        larger = stronger movement). AU43 and AU45 are both the per-frame eye
        closure here; over time the scorer splits it into sustained closure
        (AU43) and blinks (AU45), see :mod:`.measures`.

    Examples
    --------
    >>> from analysis.faces.detect import detect_faces, fit_landmarks, to_grey
    >>> from skimage.data import astronaut
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> au = landmark_action_units(fit_landmarks(g, detect_faces(g)[0][0])[None])
    >>> list(au.columns[:3]), bool(30 < au["AU20"].iloc[0] < 70)   # mouth width, mm
    (['AU01', 'AU02', 'AU04'], True)
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    return action_units_from_frontal(frontal_landmarks(pts, fit_pose(pts, depth=depth)))


def action_units_from_frontal(front: np.ndarray) -> pd.DataFrame:
    """The raw units of :func:`landmark_action_units` from frontal landmarks (template mm, y down).

    Split out so that 3-D landmark sets (rotated copies of a real face, a
    face mesh) can be measured after their own frontalisation.

    Examples
    --------
    >>> from analysis.expression.frontal import TEMPLATE_3D
    >>> au = action_units_from_frontal(TEMPLATE_3D[None, :, :2] * [1, -1])
    >>> round(float(au["AU20"].iloc[0]), 1)   # the template's mouth width
    49.0
    """
    a = np.asarray(front, dtype=float).reshape(-1, 68, 2)
    x, y = a[..., 0], a[..., 1]

    def mean_y(*idx):
        return y[:, list(idx)].mean(axis=1)

    # brows: inner (21, 22), outer (17, 18, 25, 26) and middle (19, 24) heights
    # against the rigid eye corners; AU04 from the brows drawing together (x
    # gap) and the brow middle lowering, points neither AU01 nor AU02 use
    inner = mean_y(39, 42) - mean_y(21, 22)
    outer = mean_y(36, 45) - mean_y(17, 18, 25, 26)
    knit = -(x[:, 22] - x[:, 21]) - (mean_y(36, 39, 42, 45) - mean_y(19, 24)) / 2
    # lids: the upper lid's height (AU05) and the outer lower lid (AU06: the
    # cheek pushes it up at the outer corner) against the inner lower lid
    # (AU07: the lid tightens medially); each against its own eye corner
    upper = ((mean_y(36, 39) - mean_y(37, 38)) + (mean_y(42, 45) - mean_y(43, 44))) / 2
    cheek = -((y[:, 41] - y[:, 36]) + (y[:, 46] - y[:, 45])) / 2
    tighten = -((y[:, 40] - y[:, 39]) + (y[:, 47] - y[:, 42])) / 2
    aperture = ((mean_y(40, 41) - mean_y(37, 38)) + (mean_y(46, 47) - mean_y(43, 44))) / 2
    # mouth: the corners' closeness to fixed points of the rigid frontal face
    # on the face's edge at nose-base level (AU12: zygomaticus major pulls the
    # corners up and out, towards the cheekbones; the points are the template's,
    # placed by the pose fit, so neither nodding nor an opening mouth moves them);
    # the corners' distance to the chin (AU15: the depressor pulls them towards
    # the chin; the chin is a point no other mouth unit uses), mouth width
    # (AU20), inner-lip gap (AU25), chin depth below the eyes (AU26)
    # both are projections on fixed template directions, linear in the points, so
    # landmark noise averages out (a Euclidean distance grows with noise: smaller
    # faces, with more jitter, would read as less smile and more depressor)
    lift = (
        -(
            np.einsum("nc,c->n", ZYGOMA_POINTS[0] - a[:, 48], _TO_ZYGOMA[0])
            + np.einsum("nc,c->n", ZYGOMA_POINTS[1] - a[:, 54], _TO_ZYGOMA[1])
        )
        / 2
    )
    to_chin = (
        np.einsum("nc,c->n", a[:, 48] - a[:, 8], _FROM_CHIN[0])
        + np.einsum("nc,c->n", a[:, 54] - a[:, 8], _FROM_CHIN[1])
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
            "AU26": y[:, 8] - mean_y(36, 39, 42, 45),
            "AU43": -aperture,
            "AU45": -aperture,
        }
    )
