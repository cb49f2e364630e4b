"""Express raw facial movements against each participant's own neutral baseline.

Chosen scale: a robust **z-score**, ``(x - baseline median) / spread``, where
spread is the larger of the baseline's robust SD (1.4826 x MAD) and half the
robust SD over the participant's whole recording (so a very still baseline
of a few frames cannot blow values up; if both are 0, the plain SD of the
recording). 0 means "as at baseline", +1 one
typical deviation more of that movement. A z-score keeps the direction of
movements below baseline (e.g. AU15 versus AU12) that a 0-5 scale would cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_MAD_TO_SD = 1.4826


def _robust_sd(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan
    return float(_MAD_TO_SD * np.median(np.abs(values - np.median(values))))


def baseline_zscores(raw: pd.DataFrame, columns, in_baseline, by: str = "participant_id") -> pd.DataFrame:
    """Robust z-scores of ``columns`` against each group's baseline rows.

    Parameters
    ----------
    raw : pandas.DataFrame
        Raw measures, one row per frame x participant (NaN where no face).
    columns : sequence of str
        Measures to normalise.
    in_baseline : array-like of bool
        Rows inside the neutral baseline window. A group with fewer than 5 valid
        baseline rows uses its whole recording as the reference instead.
    by : str
        Grouping column (the participant).

    Returns
    -------
    pandas.DataFrame
        Same index as ``raw``; the z-scored ``columns``.

    Examples
    --------
    >>> raw = pd.DataFrame({"participant_id": ["P"] * 8,
    ...                     "AU12": [1.0, 1.1, 0.9, 1.0, 1.0, 2.0, 3.0, np.nan]})
    >>> base = np.array([True] * 5 + [False] * 3)
    >>> baseline_zscores(raw, ["AU12"], base)["AU12"].round(2).tolist()
    [0.0, 1.35, -1.35, 0.0, 0.0, 13.49, 26.98, nan]
    """
    in_baseline = np.asarray(in_baseline, dtype=bool)
    out = pd.DataFrame(index=raw.index, columns=list(columns), dtype=float)
    for _, idx in raw.groupby(by, sort=False).indices.items():
        block = raw.iloc[idx]
        base = in_baseline[idx]
        for col in columns:
            v = block[col].to_numpy(dtype=float)
            ref = v[base & np.isfinite(v)]
            if len(ref) < 5:
                ref = v[np.isfinite(v)]
            if len(ref) == 0:
                out.iloc[idx, out.columns.get_loc(col)] = np.nan
                continue
            spread = np.nanmax([_robust_sd(ref), 0.5 * _robust_sd(v)])
            if not spread > 0:  # most values identical: fall back to the plain SD
                spread = float(np.nanstd(v))
            if not spread > 0:
                spread = np.inf  # a constant measure: z = 0
            out.iloc[idx, out.columns.get_loc(col)] = (v - np.median(ref)) / spread
    return out


def baseline_mask(t: np.ndarray, events: pd.DataFrame, window) -> tuple[np.ndarray, str]:
    """Which times fall in the session's neutral baseline window.

    Parameters
    ----------
    t : numpy.ndarray
        Frame times on the session clock (s).
    events : pandas.DataFrame
        ``events.tsv`` (rows with ``trial_type == 'baseline'`` give onset, duration).
    window : (float, float or None)
        Protocol ``analysis.baseline_window``: seconds from baseline onset; end
        None = the end of the baseline.

    Returns
    -------
    mask : numpy.ndarray of bool
    source : str
        ``"baseline"`` or ``"whole recording"`` (no baseline event).

    Examples
    --------
    >>> ev = pd.DataFrame({"onset": [10.0], "duration": [5.0], "trial_type": ["baseline"]})
    >>> baseline_mask(np.array([10.5, 11.5, 14.0, 16.0]), ev, (1.0, None))[0].tolist()
    [False, True, True, False]
    """
    t = np.asarray(t, dtype=float)
    rows = events[events["trial_type"] == "baseline"] if len(events) else events
    if rows is None or len(rows) == 0:
        return np.zeros(len(t), dtype=bool), "whole recording"
    mask = np.zeros(len(t), dtype=bool)
    start, end = window if window is not None else (0.0, None)
    for onset, duration in rows[["onset", "duration"]].astype(float).itertuples(index=False):
        stop = onset + (duration if end is None else min(end, duration))
        mask |= (t >= onset + start) & (t <= stop)
    return mask, "baseline"
