"""From landmarks on a frame x participant grid to baseline-normalised measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import ACTION_UNITS, RAW_UNITS

from .baseline import baseline_zscores
from .composites import composite_scores
from .geometry import head_pose, landmark_action_units

#: Units whose z-score counts movement beyond baseline in their own direction only.
ONE_SIDED = ("AU15",)

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
        (``AU12_raw``...: face-frame units) and HEAD_POSE (yaw, pitch, roll, deg).

    Examples
    --------
    >>> grid = pd.DataFrame({"participant_id": ["P"] * 3})
    >>> bool(expression_measures(grid, np.full((3, 68, 2), np.nan), [True] * 3, 25).isna().all().all())
    True
    """
    raw = landmark_action_units(landmarks)
    raw.index = grid.index
    raw[["AU43", "AU45"]] = eye_closure_units(raw["AU45"], grid["participant_id"].to_numpy(), fps)
    raw["participant_id"] = grid["participant_id"].to_numpy()
    z = baseline_zscores(raw, ACTION_UNITS, in_baseline)
    # AU15 is one-sided: its raw measure (corners' closeness to the chin) also
    # falls when a smile lifts the corners, which is AU12's movement, not the
    # depressor relaxing; counting only movement towards the chin beyond
    # baseline keeps a smile from lowering AU15 (and the composites using it).
    for au in ONE_SIDED:
        z[au] = z[au].clip(lower=0.0)
    raw_units = raw[list(ACTION_UNITS)].set_axis(list(RAW_UNITS), axis=1)
    pose = head_pose(landmarks).set_axis(grid.index)
    return pd.concat([z, composite_scores(z), raw_units, pose], axis=1)
