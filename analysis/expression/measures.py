"""From landmarks on a frame x participant grid to baseline-normalised measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import ACTION_UNITS, RAW_UNITS

from .baseline import UNIT_SCALES, baseline_zscores
from .composites import composite_scores
from .frontal import (
    POSE_SMOOTH_S,
    RIGID,
    TEMPLATE_3D,
    PoseFit,
    fit_depth,
    fit_pose,
    frontal_landmarks,
    participant_runs,
    pose_angles,
    smooth_pose,
)
from .geometry import action_units_from_frontal

#: Window of the running median that turns eye closure into sustained closure (AU43).
AU43_WINDOW_S = 0.5
#: Window of the running minimum of eye closure that blinks (AU45) are measured from.
AU45_WINDOW_S = 1.0


def eye_closure_units(closure: pd.Series, participant, fps: float) -> pd.DataFrame:
    """Split per-frame eye closure into sustained closure (AU43) and blinks (AU45).

    AU43 is the closure's running median over :data:`AU43_WINDOW_S` (blinks of
    2-4 frames vanish); AU45 is the closure minus its running minimum over
    :data:`AU45_WINDOW_S` (how much more closed the eye is than at its most
    open in the surrounding second: 0 between blinks, rises only for short
    closures). So a slow squint moves AU43, a blink AU45, and neither copies
    the other.

    Examples
    --------
    >>> c = pd.Series([-.3, -.3, -.3, -.3, -.05, -.3, -.3, -.3, -.3, -.3])
    >>> out = eye_closure_units(c, ["P"] * 10, fps=10)
    >>> out["AU45"].round(2).tolist()[3:6], out["AU43"].round(2).tolist()[3:6]
    ([0.0, 0.25, 0.0], [-0.3, -0.3, -0.3])
    """
    by = np.asarray(participant)
    c = closure.reset_index(drop=True)
    med = max(1, int(round(AU43_WINDOW_S * fps)))
    low = max(1, int(round(AU45_WINDOW_S * fps)))
    au43 = c.groupby(by).transform(lambda s: s.rolling(med, center=True, min_periods=1).median())
    floor = c.groupby(by).transform(lambda s: s.rolling(low, center=True, min_periods=1).min())
    out = pd.DataFrame({"AU43": au43, "AU45": c - floor})
    out[c.isna().to_numpy()] = np.nan
    return out.set_axis(closure.index)


def landmark_jitter(front: np.ndarray, participant) -> np.ndarray:
    """Frame-to-frame jitter of the rigid landmarks on the frontal face (template mm).

    The pose fit takes head movement out, so what the rigid points (eye
    corners, nose) still do between consecutive rows of one participant is
    the landmark fit's own noise: the RMS over those points of the change of
    their offset from the template, divided by sqrt(2) (the SD of one
    frame's offset if the noise is independent between frames). It grows as
    faces get smaller; a trial's median is a column of the trial table.

    Parameters
    ----------
    front : numpy.ndarray
        (n, 68, 2) frontal landmarks (:func:`.frontal.frontal_landmarks`), NaN where no face.
    participant : array-like
        Participant of each row (rows sorted by participant, then time).

    Returns
    -------
    numpy.ndarray
        (n,) template mm; NaN on a participant's first row and where no face.

    Examples
    --------
    >>> f = np.zeros((3, 68, 2)); f[1, RIGID] += [0.3, 0.4]     # rigid points off by 0.5 mm once
    >>> landmark_jitter(f, ["P"] * 3).round(3).tolist()
    [nan, 0.354, 0.354]
    """
    off = np.asarray(front, dtype=float)[:, RIGID] - TEMPLATE_3D[RIGID, :2] * [1.0, -1.0]
    step = np.full(len(off), np.nan)
    if len(off) > 1:
        step[1:] = np.sqrt(np.mean(np.sum((off[1:] - off[:-1]) ** 2, axis=-1), axis=-1)) / np.sqrt(2)
        who = np.asarray(participant)
        step[1:][who[1:] != who[:-1]] = np.nan
    return step


def fit_by_participant(landmarks: np.ndarray, participant) -> PoseFit:
    """:func:`.frontal.fit_pose` with each participant's own template depth (:func:`.frontal.fit_depth`).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) pixel landmarks, NaN where no face.
    participant : array-like
        (n,) participant of each row; rows sorted by participant.

    Examples
    --------
    >>> from analysis.expression.invariance import project
    >>> from analysis.expression.frontal import template
    >>> img = np.stack([project(template(d), yaw=y) for d in (0.8, 1.2) for y in (-20, 0, 20)])
    >>> fit_by_participant(img, ["A"] * 3 + ["B"] * 3).depth.tolist()
    [0.8, 0.8, 0.8, 1.2, 1.2, 1.2]
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    fit = fit_pose(pts)
    for a, b in participant_runs(participant):
        depth = fit_depth(pts[a:b])
        if depth != 1.0:
            part = fit_pose(pts[a:b], depth=depth)
            for whole, mine in zip(fit, part):
                whole[a:b] = mine
    return fit


def expression_measures(grid: pd.DataFrame, landmarks: np.ndarray, in_baseline, fps: float) -> pd.DataFrame:
    """Action-unit z-scores and composites for every row of a frame x participant grid.

    Parameters
    ----------
    grid : pandas.DataFrame
        Rows sorted by participant_id then frame; must have ``participant_id``.
    landmarks : numpy.ndarray
        (len(grid), 68, 2) landmarks, NaN where the face was not seen.
    in_baseline : array-like of bool
        Rows in the participant's neutral baseline window.
    fps : float
        Rows per second of each participant's series (for the AU43 and AU45 windows).

    Returns
    -------
    pandas.DataFrame
        Same index as ``grid``: ACTION_UNITS (z), COMPOSITES, RAW_UNITS
        (``AU12_raw``...: template mm on the frontal face), HEAD_POSE (yaw,
        pitch, roll, deg) and ``landmark_jitter`` (template mm).

    Examples
    --------
    >>> grid = pd.DataFrame({"participant_id": ["P"] * 3})
    >>> bool(expression_measures(grid, np.full((3, 68, 2), np.nan), [True] * 3, 25).isna().all().all())
    True
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    # the head's pose averaged over 0.3 s (odd window in rows): the per-frame fit's
    # noise would otherwise skew the units and move their means with the noise
    window = 2 * int(round(POSE_SMOOTH_S * fps / 2)) + 1
    who = grid["participant_id"].to_numpy()
    fit = smooth_pose(fit_by_participant(pts, who), pts, who, window)
    front = frontal_landmarks(pts, fit)
    raw = action_units_from_frontal(front)
    raw.index = grid.index
    raw[["AU43", "AU45"]] = eye_closure_units(raw["AU45"], grid["participant_id"].to_numpy(), fps)
    raw["participant_id"] = grid["participant_id"].to_numpy()
    # one fixed scale per unit for everyone; AU15 signed (clipping it at 0
    # turned noise into a positive mean that grew with the noise)
    z = baseline_zscores(raw, ACTION_UNITS, in_baseline, scales=UNIT_SCALES)
    raw_units = raw[list(ACTION_UNITS)].set_axis(list(RAW_UNITS), axis=1)
    pose = pose_angles(fit).set_axis(grid.index)
    pose["landmark_jitter"] = landmark_jitter(front, grid["participant_id"].to_numpy())
    return pd.concat([z, composite_scores(z), raw_units, pose], axis=1)
