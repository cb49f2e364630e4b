"""Express raw facial movements against each participant's own neutral baseline.

One rule for every participant, camera and condition (coaffect's own units):
``z = (x - the participant's baseline median) / the unit's fixed scale``.

* The **centre** is the participant's own: the median of their frames in the
  protocol's baseline window (person-specific normalisation by the neutral
  median, as OpenFace does: Baltrusaitis, Mahmoud & Robinson 2015, FG
  workshops), so a face that is wider, deeper or differently drawn by the
  landmark model than the template starts at 0.
* The **scale** is one constant per unit (:data:`UNIT_SCALES`): the SD a
  normal distribution with the unit's typical 5-95% range on real footage
  would have (``range / 3.29``; ranges in
  :data:`coaffect.formats.faces_schema.AU_SPECS`). It depends on nothing a
  session contains. A spread taken from the participant's own baseline
  would not: it grows with landmark jitter, and jitter grows as faces get
  smaller (wide group shots), and it shrinks for someone who sat very still
  (earlier versions floored it at half the camera's pooled baseline spread,
  which acted on group cameras and never on alone ones). Because the units
  are millimetres of the frontal template face, one scale fits every face.

A participant with no baseline frame gets NaN. Only a recording with no
baseline at all (a plain video) uses its whole length as the reference, and
``score_summary.json`` says so (``baseline_source``). 0 means "as at
baseline"; +1 one typical SD of that movement more. A z-score keeps the
direction of movements below baseline that a 0-5 scale would cut; the
raw-unit columns (``AU12_raw``) stay in the table for other normalisations.

:func:`baseline_zscores` without ``scales`` keeps the older per-participant
robust SD (for other tools' intensities, :mod:`analysis.interop`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import AU_SPECS

_MAD_TO_SD = 1.4826

#: z95 - z05 of a normal distribution: a 5-95% range over this is an SD.
_RANGE_TO_SD = 3.29


def unit_scales() -> dict:
    """Each action unit's fixed z scale: its typical 5-95% range on real footage / 3.29.

    Examples
    --------
    >>> round(unit_scales()["AU20"], 2)    # mouth width: 49.4..74.9 mm
    7.75
    """
    out = {}
    for au, spec in AU_SPECS.items():
        lo, hi = (float(v) for v in spec["range"].split(".."))
        out[au] = (hi - lo) / _RANGE_TO_SD
    return out


#: Fixed scale of each unit's z column (template mm per z unit).
UNIT_SCALES = unit_scales()

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
    scales: dict | None = None,
) -> pd.DataFrame:
    """z-scores of ``columns`` against each group's baseline rows only.

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
        Without ``scales``: baseline frames below which a group's spread is the pooled one.
    min_spread : float
        Without ``scales``: smallest spread, in the measure's units (default 0: none).
        For scales clipped at 0, such as OpenFace's intensities, a still baseline has
        no spread at all.
    scales : dict, optional
        Column -> fixed scale (coaffect's units: :data:`UNIT_SCALES`): each
        group is centred on its baseline median and divided by this, the same
        for everyone. Without it, each group's own baseline robust SD (at
        least half the pooled one), for other tools' intensities.

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

    With a fixed scale, only the centre is the participant's:

    >>> baseline_zscores(raw, ["AU12"], base, scales={"AU12": 0.5})["AU12"].round(2).tolist()
    [0.0, 0.4, -0.2, 0.2, 0.0, 2.0, 58.0, nan]
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
        if scales is not None:
            for key, idx in groups.items():
                centre = centres.get(key, np.nan)
                out.iloc[idx, out.columns.get_loc(col)] = (v_all[idx] - centre) / float(scales[col])
            continue
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
