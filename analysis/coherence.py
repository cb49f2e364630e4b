"""Face-button coherence: do expression and reported experience go together?

Per participant x clip, the Pearson correlation over the clip's frames between
a button's state ``lag`` seconds earlier and a facial measure now (the face
follows the feeling): happy button with AU12, sad button with the inner_brow_lip_down (AU01+AU04+AU15)
composite. The lag comes from the protocol (``analysis.coherence_lag``) or,
when that is unset, from the data: the lag on a grid (default 0-5 s in 0.25 s
steps) that maximises the mean Fisher z over all usable trials. Trials where a
button was never (or always) held have no correlation (NaN) and say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .study_data import Study
from .trials import button_state, clip_frames, session_segments

#: (button, facial measure) pairs analysed.
PAIRS = (("happy", "AU12"), ("sad", "inner_brow_lip_down"))


def _grouped_r(
    keys: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r per group from sums (vectorised), with the group's n."""
    ok = np.isfinite(x) & np.isfinite(y)
    k, x, y = keys[ok], x[ok], y[ok]
    n = np.bincount(k, minlength=n_groups).astype(float)
    sx, sy = np.bincount(k, x, n_groups), np.bincount(k, y, n_groups)
    sxx, syy, sxy = (
        np.bincount(k, x * x, n_groups),
        np.bincount(k, y * y, n_groups),
        np.bincount(k, x * y, n_groups),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
    r[(n < 10) | (vx <= 1e-12) | (vy <= 1e-12)] = np.nan
    return r, n


def coherence_table(
    study: Study, trials: pd.DataFrame, lag: float | None = None, lags: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Face-button correlation per participant x clip at one lag.

    Parameters
    ----------
    study : Study
        From :func:`analysis.study_data.load_study` (needs faces tables).
    trials : pandas.DataFrame
        Trial table; excluded and face-excluded trials are left out.
    lag : float, optional
        Face-after-button lag in s. Default: the protocol's
        ``analysis.coherence_lag``, else estimated on ``lags``.
    lags : numpy.ndarray, optional
        Candidate lags (default 0, 0.25, ..., 5 s).

    Returns
    -------
    table : pandas.DataFrame
        participant_id, session_id, condition, trial, stimulus_id, valence,
        button, measure, lag, r, z (Fisher), n_frames, note.
    lag_curve : pandas.DataFrame
        lag, mean_z (averaged over trials and both pairs): how the lag was chosen.
    lag_used : float

    Examples
    --------
    >>> coh, curve, lag = coherence_table(load_study("sim"), trials)  # doctest: +SKIP
    >>> coh.groupby(["condition", "button"])["z"].mean()             # doctest: +SKIP
    """
    if lag is None:
        lag = study.settings.coherence_lag
    lags = np.round(np.arange(0.0, 5.0001, 0.25), 4) if lags is None else np.asarray(lags, float)
    usable = trials.loc[
        ~trials["excluded"].astype(bool) & ~trials["face_excluded"].astype(bool), ["participant_id", "trial"]
    ]
    frames = []
    for sd in study.sessions:
        if sd.faces is None:
            continue
        measures = [m for _, m in PAIRS if m in sd.faces.columns]
        if len(measures) < len(PAIRS):
            continue
        f = clip_frames(sd, measures)
        frames.append((sd, f.merge(usable, on=["participant_id", "trial"], how="inner")))
    cols = [
        "participant_id",
        "session_id",
        "condition",
        "trial",
        "stimulus_id",
        "valence",
        "button",
        "measure",
        "lag",
        "r",
        "z",
        "n_frames",
        "note",
    ]
    if not frames or all(f.empty for _, f in frames):
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=["lag", "mean_z"]), np.nan
    allf = pd.concat([f.assign(_sid=i) for i, (_, f) in enumerate(frames)], ignore_index=True)
    key_df = allf[["session_id", "participant_id", "trial"]].drop_duplicates().reset_index(drop=True)
    key_df["_k"] = np.arange(len(key_df))
    allf = allf.merge(key_df, on=["session_id", "participant_id", "trial"], how="left")
    keys = allf["_k"].to_numpy()
    t = allf["t"].to_numpy()
    segs = [session_segments(sd) for sd, _ in frames]
    groups = allf.groupby(["_sid", "participant_id"]).indices

    def states(button: str, shift: float) -> np.ndarray:
        s = np.empty(len(allf))
        for (i, pid), idx in groups.items():
            s[idx] = button_state(segs[i], pid, button, t[idx] - shift)
        return s

    def rs(shift: float) -> dict:
        return {(b, m): _grouped_r(keys, states(b, shift), allf[m].to_numpy(), len(key_df)) for b, m in PAIRS}

    curve = []
    if lag is None:
        for L in lags:
            zs = [np.arctanh(np.clip(r, -0.999999, 0.999999)) for r, _ in rs(L).values()]
            curve.append((float(L), float(np.nanmean(np.concatenate(zs)))))
        curve_df = pd.DataFrame(curve, columns=["lag", "mean_z"])
        lag = float(curve_df.loc[curve_df["mean_z"].idxmax(), "lag"])
    else:
        curve_df = pd.DataFrame({"lag": [float(lag)], "mean_z": [np.nan]})
    out = []
    for (b, m), (r, n) in rs(float(lag)).items():
        part = key_df.copy()
        part["button"], part["measure"], part["lag"] = b, m, float(lag)
        part["r"], part["n_frames"] = r, n.astype(int)
        part["z"] = np.arctanh(np.clip(r, -0.999999, 0.999999))
        part["note"] = np.where(np.isnan(r), "button never/always held or too few frames", "")
        out.append(part)
    table = pd.concat(out, ignore_index=True).drop(columns="_k")
    info = trials[["participant_id", "trial", "condition", "stimulus_id", "valence"]]
    table = table.merge(info, on=["participant_id", "trial"], how="left")
    return table[cols], curve_df, float(lag)
