"""Per-row quality flags of the faces table (``face_quality``).

Each flag marks a row whose measures a reviewer may want left out; nothing is
dropped here (the trial table counts the flags and excludes flagged frames by
the protocol's ``analysis.exclude_quality``). The limits are
:data:`coaffect.formats.faces_schema.QUALITY_LIMITS`:

* ``pose``: ``|yaw|``, or ``|pitch - the participant's median pitch|``, beyond
  the limit, where the 68-point fit and the face-frame normalisation stop being
  reliable. Pitch is taken from the participant's own median because the
  template's pitch of a frontal face carries an offset set by the face's shape
  and the camera's height (6-25 deg on the shared portrait stills, 21 deg on
  the astronaut photo); an absolute limit would flag some faces for their
  shape (and the condition whose cameras sit higher), not for turning away.
  Viewers face the screen most of a session, so their median is their
  frontal pose; a participant who looks away for most of it is not caught.
* ``occlusion``: the rigid landmarks (eye corners, nose, outline at eye and
  nose level), which expressions do not move, stop fitting a 3-D face: the
  residual of the head-pose fit (:func:`analysis.expression.geometry.rigid_fit_residual`)
  differs from the participant's own median residual by more than the limit
  (RMS, inter-ocular distances). That is a collapsed landmark fit (a hand
  across the face, a profile). dlib's 68-point model gives no per-point
  confidence and its shape prior keeps a plausible face under a flat
  occluder, so a covered mouth or covered eyes with an intact fit are NOT
  flagged (measured: 0.015-0.029 for a block over the mouth, eyes or half the
  face of the synthetic face, against the 0.07 limit).
* ``identity``: identity confidence under the cutoff (the row may belong to
  someone else).
* ``motion_blur``: the landmarks move faster than the limit (inter-ocular
  distances per second) between consecutive rows: the frame is likely blurred
  and the landmark fit lags.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import QUALITY_LIMITS

from ..expression.geometry import rigid_fit_residual

#: What the pitch limit of the ``pose`` flag is measured from (part of the scoring settings hash).
POSE_PITCH_ZERO = "participant median"


#: Landmarks that expressions do not move: outline above the jaw, nose, eye corners.
RIGID = np.array([0, 1, 2, 3, 4, 12, 13, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])


def rigid_shape(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rigid landmarks centred, rotated eyes-level and divided by the inter-ocular distance.

    Returns the (n, len(RIGID), 2) shapes and the (n,) inter-ocular distances in px.

    Examples
    --------
    >>> from analysis.simulate.faces import base_face
    >>> shape, iod = rigid_shape(base_face()[1][None])
    >>> shape.shape, bool(iod[0] > 20)
    ((1, 23, 2), True)
    """
    pts = np.asarray(pts, dtype=float).reshape(-1, 68, 2)
    left, right = pts[:, [36, 39]].mean(axis=1), pts[:, [42, 45]].mean(axis=1)
    d = right - left
    iod = np.hypot(d[:, 0], d[:, 1])
    cos, sin = d[:, 0] / iod, d[:, 1] / iod
    rel = pts[:, RIGID] - pts[:, RIGID].mean(axis=1, keepdims=True)
    x = rel[..., 0] * cos[:, None] + rel[..., 1] * sin[:, None]
    y = -rel[..., 0] * sin[:, None] + rel[..., 1] * cos[:, None]
    return np.stack([x, y], axis=-1) / iod[:, None, None], iod


def shape_deviation(shapes: np.ndarray) -> np.ndarray:
    """RMS distance (inter-ocular distances) of each row's points from the rows' median.

    Examples
    --------
    >>> s = np.zeros((5, 23, 2)); s[4] += [[0.3, 0.0]] * 23
    >>> shape_deviation(s).round(2).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.3]
    """
    if not len(shapes):
        return np.zeros(0)
    median = np.median(shapes, axis=0)
    return np.sqrt(np.mean(np.sum((shapes - median) ** 2, axis=-1), axis=-1))


def quality_flags(
    participant: np.ndarray,
    t: np.ndarray,
    landmarks: np.ndarray,
    pose: pd.DataFrame,
    identity_confidence: np.ndarray,
    limits: dict | None = None,
) -> np.ndarray:
    """The ``face_quality`` value of every row: "ok", "no_face" or flags joined by "|".

    Parameters
    ----------
    participant : numpy.ndarray
        Participant of each row (rows sorted by participant, then time).
    t : numpy.ndarray
        Row times (s).
    landmarks : numpy.ndarray
        (n, 68, 2) pixel landmarks, NaN where no face.
    pose : pandas.DataFrame
        yaw, pitch (deg) per row.
    identity_confidence : numpy.ndarray
        Per row (NaN = not decided, never flagged).
    limits : dict, optional
        Overrides of :data:`QUALITY_LIMITS`.

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> from analysis.expression.geometry import head_pose
    >>> from analysis.simulate.faces import base_face
    >>> pts = np.repeat(base_face()[1][None], 4, axis=0)
    >>> pts[3] = np.nan
    >>> pts[2] += 40.0                       # the whole face jumps 40 px in 0.1 s
    >>> quality_flags(np.array(["P"] * 4), np.arange(4) * 0.1, pts, head_pose(pts),
    ...               np.array([0.9, 0.1, 0.9, 0.9])).tolist()
    ['ok', 'identity', 'motion_blur', 'no_face']
    """
    lim = {**QUALITY_LIMITS, **(limits or {})}
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    n = len(pts)
    found = np.isfinite(pts).all(axis=(1, 2))
    flags = {name: np.zeros(n, bool) for name in ("pose", "occlusion", "identity", "motion_blur")}
    pitch = pose["pitch"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        flags["pose"] = np.abs(pose["yaw"].to_numpy()) > lim["max_abs_yaw_deg"]
        flags["identity"] = np.asarray(identity_confidence, dtype=float) < lim["min_identity_confidence"]
    _, iod = rigid_shape(pts)
    residual = rigid_fit_residual(pts) if n else np.zeros((0, 13, 2))
    t = np.asarray(t, dtype=float)
    for pid in pd.unique(participant):
        idx = np.flatnonzero((participant == pid) & found)
        if not len(idx):
            continue
        flags["occlusion"][idx] = shape_deviation(residual[idx]) > lim["max_rigid_shape_rms"]
        if np.isfinite(pitch[idx]).any():
            zero = np.nanmedian(pitch[idx])
            with np.errstate(invalid="ignore"):
                flags["pose"][idx] |= np.abs(pitch[idx] - zero) > lim["max_abs_pitch_deg"]
        if len(idx) > 1:
            step = np.mean(np.hypot(*(pts[idx[1:]] - pts[idx[:-1]]).transpose(2, 0, 1)), axis=1)
            dt = np.diff(t[idx])
            with np.errstate(invalid="ignore", divide="ignore"):
                speed = step / iod[idx[1:]] / dt
            flags["motion_blur"][idx[1:]] = (dt > 0) & (speed > lim["max_landmark_speed_iod_s"])
    out = np.full(n, "ok", dtype=object)
    for i in range(n):
        if not found[i]:
            out[i] = "no_face"
            continue
        hit = [name for name, f in flags.items() if f[i]]
        if hit:
            out[i] = "|".join(hit)
    return out
