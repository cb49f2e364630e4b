"""How much each facial unit moves with head pose: rotate real 3-D landmarks, project, measure.

The landmark-level half of ``bench/invariance.py`` and of the invariance
tests: a real 3-D landmark set (OpenFace's 3-D landmarks of
``interop/OpenFace_Test.csv``, or a mesh's 3-D points) is turned by known
yaw, pitch and roll, projected to an image, optionally given the landmark
jitter of a small face, and measured with the same code as a video
(:func:`analysis.expression.geometry.landmark_action_units`). A unit that
does not move with the head changes by nothing; what it does change is
reported per 10 degrees as a fraction of the unit's typical 5-95% range on
real footage (:data:`coaffect.formats.faces_schema.AU_SPECS` ``range``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import AU_SPECS

from .frontal import fit_depth
from .geometry import landmark_action_units

#: Units measured per frame (AU43 is AU45's closure over time, the same per frame).
PER_FRAME_UNITS = tuple(au for au in AU_SPECS if au != "AU43")


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3 x 3 rotation (x image right, y up, z towards the camera) from OpenFace-signed degrees.

    ``yaw`` > 0 turns the face to the image left, ``pitch`` as OpenFace's
    pose_Rx, ``roll`` > 0 tilts it clockwise in the image: the angles
    :func:`analysis.expression.geometry.head_pose` reports for the projection.

    Examples
    --------
    >>> rotation(0, 0, 0).tolist() == np.eye(3).tolist()
    True
    """
    a, b, c = np.radians([-yaw, pitch, -roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz  # OpenFace's order (R = Rx Ry Rz)


def project(points: np.ndarray, yaw=0.0, pitch=0.0, roll=0.0, px_per_mm=3.0, distance_mm=None) -> np.ndarray:
    """Image landmarks (px, y down) of 3-D landmarks turned by yaw, pitch and roll.

    Parameters
    ----------
    points : numpy.ndarray
        (..., 68, 3) millimetres, x image right, y up, z towards the camera.
    yaw, pitch, roll : float
        Degrees (OpenFace signs, see :func:`rotation`).
    px_per_mm : float
        Image scale at the face (a 65 mm inter-ocular face at 3 px/mm is
        about 400 px wide).
    distance_mm : float, optional
        Camera distance for a perspective projection (None: orthographic).

    Returns
    -------
    numpy.ndarray
        (..., 68, 2) pixel landmarks around (0, 0).

    Examples
    --------
    >>> from analysis.expression.frontal import TEMPLATE_3D
    >>> from analysis.expression.geometry import head_pose
    >>> head_pose(project(TEMPLATE_3D, yaw=15, pitch=-10)[None]).round(1).iloc[0].tolist()
    [15.0, -10.0, 0.0]
    """
    p = np.asarray(points, dtype=float) @ rotation(yaw, pitch, roll).T
    xy = p[..., :2]
    if distance_mm is not None:
        xy = xy * (distance_mm / (distance_mm - p[..., 2:3]))
    return px_per_mm * xy * [1.0, -1.0]


def unit_ranges(units=PER_FRAME_UNITS) -> pd.Series:
    """Width of each unit's typical 5-95% range on real footage (``AU_SPECS`` ``range``).

    Examples
    --------
    >>> float(unit_ranges(["AU20"]).iloc[0]) > 0
    True
    """
    out = {}
    for au in units:
        lo, hi = (float(v) for v in AU_SPECS[au]["range"].split(".."))
        out[au] = hi - lo
    return pd.Series(out, dtype=float)


def pose_sensitivity(
    points: np.ndarray,
    yaw=(-30, 30),
    pitch=(-20, 20),
    roll=(-30, 30),
    step: float = 10.0,
    jitter_px: float = 0.0,
    px_per_mm: float = 3.0,
    seed: int = 0,
    distance_mm=None,
    own_depth: bool = False,
) -> pd.DataFrame:
    """Each unit's change per 10 degrees of yaw, pitch and roll, as a fraction of its range.

    For each axis the face is turned over the range in ``step`` degree steps
    (the other two axes at 0); for each landmark set and step the change of
    the unit between neighbouring angles is taken, and the mean absolute
    change per 10 degrees over sets, and the largest over steps, is divided by
    the unit's 5-95% range (:func:`unit_ranges`).

    Parameters
    ----------
    points : numpy.ndarray
        (n, 68, 3) real 3-D landmark sets (mm; x right, y up, z to the camera).
    yaw, pitch, roll : (float, float)
        Angle ranges (degrees).
    step : float
        Angle step (degrees).
    jitter_px : float
        SD of Gaussian noise added to every projected landmark (px): the
        landmark jitter of a face of that size (the same noise at every angle,
        so it shows as noise, not as a trend).
    px_per_mm, distance_mm
        As for :func:`project`.
    seed : int
        Noise seed.
    own_depth : bool
        Measure each landmark set with its own template depth, found from all
        its turned copies (:func:`analysis.expression.frontal.fit_depth`, as
        scoring does from a participant's frames), instead of the template's.

    Returns
    -------
    pandas.DataFrame
        Index: units; columns yaw, pitch, roll (fraction of range per 10 deg)
        and worst (the largest of the three).

    Examples
    --------
    >>> from analysis.expression.frontal import TEMPLATE_3D
    >>> s = pose_sensitivity(TEMPLATE_3D[None])
    >>> float(s["worst"].max()) < 1e-6    # the template itself: exactly invariant
    True
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 68, 3)
    ranges = unit_ranges()
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, jitter_px, size=(len(pts), 68, 2)) if jitter_px > 0 else 0.0
    axes = (("yaw", yaw), ("pitch", pitch), ("roll", roll))
    poses = [
        {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, axis: float(a)}
        for axis, (lo, hi) in axes
        for a in np.arange(lo, hi + step / 2, step)
    ]
    images = {
        tuple(kw.values()): project(pts, px_per_mm=px_per_mm, distance_mm=distance_mm, **kw) + noise
        for kw in poses
    }
    depth = np.ones(len(pts))
    if own_depth:
        every = np.stack(list(images.values()), axis=1)  # (n, poses, 68, 2)
        depth = np.array([fit_depth(face) for face in every])

    def units(img):
        out = np.full((len(img), len(ranges)), np.nan)
        for d in np.unique(depth):
            mine = depth == d
            out[mine] = landmark_action_units(img[mine], depth=d)[list(ranges.index)].to_numpy()
        return out

    out = {}
    for axis, (lo, hi) in axes:
        angles = np.arange(lo, hi + step / 2, step)
        values = []
        for a in angles:
            kw = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, axis: float(a)}
            values.append(units(images[tuple(kw.values())]))
        v = np.stack(values)  # (angles, n, units)
        per10 = np.abs(np.diff(v, axis=0)).mean(axis=1) * (10.0 / step)  # (steps, units)
        out[axis] = per10.max(axis=0) / ranges.to_numpy()
    table = pd.DataFrame(out, index=ranges.index)
    table["worst"] = table.max(axis=1)
    return table
