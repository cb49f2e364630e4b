"""From landmarks on a frame x participant grid to baseline-normalised measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import ACTION_UNITS, RAW_UNITS

from .baseline import baseline_zscores
from .composites import composite_scores
from .geometry import head_pose, landmark_action_units

#: Window of the running median that turns eye closure (AU45) into sustained closure (AU43).
AU43_WINDOW_S = 0.5


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
        Frames per second of the scored rows (for the AU43 window).

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
    win = max(1, int(round(AU43_WINDOW_S * fps)))
    raw["AU43"] = (
        raw["AU45"]
        .groupby(grid["participant_id"].to_numpy())
        .transform(lambda s: s.rolling(win, center=True, min_periods=1).median())
    )
    raw.loc[raw["AU45"].isna(), "AU43"] = np.nan
    raw["participant_id"] = grid["participant_id"].to_numpy()
    z = baseline_zscores(raw, ACTION_UNITS, in_baseline)
    raw_units = raw[list(ACTION_UNITS)].set_axis(list(RAW_UNITS), axis=1)
    pose = head_pose(landmarks).set_axis(grid.index)
    return pd.concat([z, composite_scores(z), raw_units, pose], axis=1)
