"""A trial's peak of a facial measure that neither noise nor missing frames can raise.

The peak of a series is the 90th percentile of its ~1 s moving average. Any
upper percentile of a noisy series grows with the noise: a moving average of
``k`` frames of pure noise of SD ``s`` still has a 90th percentile of
``1.28 s / sqrt(k)``, and a window with missing frames averages fewer frames,
so it is noisier still. Landmark noise grows as faces get smaller (wide group
shots) and frames go missing when heads turn (groups), so such a peak would
differ by condition with no expression at all (measured: 1.3x noise raised a
noise-only peak from 0.33 to 0.43; 10% instead of 3% missing frames to 0.35).

:func:`robust_peak` therefore removes, from each window's mean, the level
noise alone reaches at the 90th percentile in a window of that many frames:

``peak = q90 over windows of ( mean_w - 1.2816 * s_hat / sqrt(n_w) )``

where ``n_w`` is the number of usable frames in window ``w`` (windows with
fewer than half their frames are skipped) and ``s_hat`` is the frame-level
noise SD estimated from consecutive differences (``1.4826 * MAD(diff) /
sqrt(2)``; expression changes are slow against a frame interval, so
differences are mostly noise). On a noise-only series the peak is about 0
whatever the noise level and the share of missing frames; on an expression
it is the 90th percentile of the expression's own time course (slightly
less, by the noise of the estimate). Noise that is correlated between frames
is underestimated by the difference estimator; the tests state the tolerance
(``tests/test_invariance.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Quantile and moving-average window (s) of the peak.
PEAK_QUANTILE = 0.9
PEAK_SMOOTH_S = 1.0
_Z90 = 1.2816  # standard normal 90th percentile


def noise_sd(values: np.ndarray) -> float:
    """Frame-level noise SD from consecutive differences (robust; NaN gaps skipped).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_sd(rng.normal(0, 2.0, 5000) + np.linspace(0, 5, 5000)), 1)
    2.0
    """
    v = np.asarray(values, dtype=float)
    d = np.diff(v)
    d = d[np.isfinite(d)]
    if len(d) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def robust_peak(values, window: int, quantile: float = PEAK_QUANTILE) -> float:
    """Noise-corrected peak of one series (see the module docstring).

    Parameters
    ----------
    values : array-like
        One trial's series in time order, NaN where the frame is missing or excluded.
    window : int
        Moving-average window in frames (about :data:`PEAK_SMOOTH_S` seconds).
    quantile : float
        Quantile over windows.

    Returns
    -------
    float
        NaN when no window has half its frames.

    Examples
    --------
    Noise alone gives about 0 at any noise level:

    >>> rng = np.random.default_rng(1)
    >>> [round(robust_peak(rng.normal(0, s, 20000), 15), 1) for s in (1.0, 1.5)]
    [0.0, 0.0]

    An expression keeps its own level:

    >>> smile = np.r_[np.zeros(300), np.full(300, 2.0)]
    >>> round(robust_peak(smile + rng.normal(0, 1, 600), 15), 1)
    1.9
    """
    v = np.asarray(values, dtype=float)
    window = max(1, int(window))
    ok = np.isfinite(v)
    if not ok.any():
        return float("nan")
    s = noise_sd(v)
    kernel = np.ones(window)
    sums = np.convolve(np.where(ok, v, 0.0), kernel, mode="same")
    counts = np.convolve(ok.astype(float), kernel, mode="same")
    keep = counts >= max(1.0, window / 2)
    if not keep.any():
        return float("nan")
    corrected = sums[keep] / counts[keep] - _Z90 * s / np.sqrt(counts[keep])
    return float(np.quantile(corrected, quantile))


def trial_peaks(frames: pd.DataFrame, measures: list[str], keys=("participant_id", "trial")) -> pd.DataFrame:
    """:func:`robust_peak` of each measure per participant x trial (columns ``M_peak``).

    Parameters
    ----------
    frames : pandas.DataFrame
        One row per frame: ``keys``, ``t`` and the measures (NaN where unusable).
    measures : list of str
        Columns of ``frames`` to take the peak of.
    keys : tuple of str
        Columns naming one trial of one participant; the frames of each are one series.

    Returns
    -------
    pandas.DataFrame
        One row per ``keys`` value (the index), one ``M_peak`` column per measure.

    Examples
    --------
    >>> fr = pd.DataFrame({"participant_id": "P", "trial": 1, "t": np.arange(40) / 10,
    ...                    "AU12": np.r_[np.zeros(20), np.ones(20)]})
    >>> trial_peaks(fr, ["AU12"]).round(2).to_dict("list")
    {'AU12_peak': [1.0]}
    """
    cols = [f"{m}_peak" for m in measures]
    if not len(frames) or not measures:
        return pd.DataFrame(columns=cols)
    times = np.sort(frames["t"].unique())
    dt = float(np.nanmedian(np.diff(times))) if len(times) > 1 else 1.0
    window = max(1, int(round(PEAK_SMOOTH_S / dt))) if dt > 0 else 1
    f = frames.sort_values([*keys, "t"])
    rows = {}
    for key, part in f.groupby(list(keys), sort=True):
        rows[key] = [robust_peak(part[m].to_numpy(dtype=float), window) for m in measures]
    index = pd.MultiIndex.from_tuples(list(rows), names=list(keys))
    return pd.DataFrame(list(rows.values()), index=index, columns=cols)
