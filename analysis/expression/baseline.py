"""Express raw facial movements against each participant's own neutral baseline.

Chosen scale: a robust **z-score**, ``(x - baseline median) / spread``, where
both the centre and the spread come from the **baseline window only**, never
from clip periods (so how much someone moves during the clips cannot change
their scale, and a condition effect cannot shrink its own units). The spread
is the larger of the participant's baseline robust SD (1.4826 x MAD) and half
the pooled baseline robust SD of all participants of the recording (each
centred on their own median), so a very still baseline cannot blow values up.
A participant with fewer than ``min_frames`` baseline frames uses the pooled
spread alone (and the median of the baseline frames they have); one with none
gets NaN. Only a recording with no baseline at all (a plain video) uses its
whole length as the reference, and ``score_summary.json`` says so
(``baseline_source``). 0 means "as at baseline"; +1 one typical baseline
deviation more of that movement. A z-score keeps the direction of movements
below baseline that a 0-5 scale would cut; the raw-unit columns (``AU12_raw``)
stay in the table for analysts who want another normalisation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_MAD_TO_SD = 1.4826

#: Baseline frames a participant needs for their own spread (else the pooled one).
MIN_BASELINE_FRAMES = 10


def _robust_sd(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan
    return float(_MAD_TO_SD * np.median(np.abs(values - np.median(values))))


def baseline_zscores(
    raw: pd.DataFrame,
    columns,
    in_baseline,
    by: str = "participant_id",
    min_frames: int = MIN_BASELINE_FRAMES,
    min_spread: float = 0.0,
) -> pd.DataFrame:
    """Robust z-scores of ``columns`` against each group's baseline rows only.

    Parameters
    ----------
    raw : pandas.DataFrame
        Raw measures, one row per frame x participant (NaN where no face).
    columns : sequence of str
        Measures to normalise.
    in_baseline : array-like of bool
        Rows inside the neutral baseline window. If no row at all is in a
        baseline (a plain video), each group's whole recording is its reference.
    by : str
        Grouping column (the participant).
    min_frames : int
        Baseline frames below which a group's spread is the pooled one.
    min_spread : float
        Smallest spread, in the measure's units (default 0: none). For scales clipped
        at 0, such as OpenFace's intensities, a still baseline has no spread at all.

    Returns
    -------
    pandas.DataFrame
        Same index as ``raw``; the z-scored ``columns``.

    Examples
    --------
    Clip values (rows 5-7) do not change the scale; the baseline alone does:

    >>> raw = pd.DataFrame({"participant_id": ["P"] * 8,
    ...                     "AU12": [1.0, 1.2, 0.9, 1.1, 1.0, 2.0, 30.0, np.nan]})
    >>> base = np.array([True] * 5 + [False] * 3)
    >>> baseline_zscores(raw, ["AU12"], base, min_frames=5)["AU12"].round(2).tolist()
    [0.0, 1.35, -0.67, 0.67, 0.0, 6.74, 195.6, nan]
    """
    in_baseline = np.asarray(in_baseline, dtype=bool)
    whole = not in_baseline.any()
    ref_mask = np.ones(len(raw), bool) if whole else in_baseline
    groups = raw.groupby(by, sort=False).indices
    out = pd.DataFrame(index=raw.index, columns=list(columns), dtype=float)
    for col in columns:
        v_all = raw[col].to_numpy(dtype=float)
        centres, spreads, counts, pooled = {}, {}, {}, []
        for key, idx in groups.items():
            v = v_all[idx]
            ref = v[ref_mask[idx] & np.isfinite(v)]
            counts[key] = len(ref)
            if len(ref):
                centres[key] = float(np.median(ref))
                spreads[key] = _robust_sd(ref)
                pooled.append(ref - centres[key])
        pooled_sd = _robust_sd(np.concatenate(pooled)) if pooled else np.nan
        if not pooled_sd > 0 and pooled:  # most values identical: plain SD of the baselines
            pooled_sd = float(np.std(np.concatenate(pooled)))
        for key, idx in groups.items():
            if key not in centres:
                out.iloc[idx, out.columns.get_loc(col)] = np.nan
                continue
            own = spreads[key] if counts[key] >= min_frames else np.nan
            spread = np.nanmax([own, 0.5 * pooled_sd]) if counts[key] >= min_frames else pooled_sd
            spread = max(spread, min_spread) if np.isfinite(spread) else min_spread
            if not spread > 0:
                spread = np.inf  # a constant measure: z = 0
            out.iloc[idx, out.columns.get_loc(col)] = (v_all[idx] - centres[key]) / spread
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
