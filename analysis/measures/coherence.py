"""Face-button coherence: do expression and reported experience go together?

Per participant x clip, the Pearson correlation over the clip's frames between
a button's state ``lag`` seconds earlier and a facial measure now (the face
follows the feeling): happy button with AU12, sad button with the inner_brow_lip_down (AU01+AU04+AU15)
composite. The lag comes from the protocol (``analysis.coherence_lag``) or,
when that is unset, from leave-one-participant-out cross-validation over -5 to
+5 s (0.25 s steps; negative: the face moves before the button): each
participant's lag is the one that maximises the mean Fisher z of *the other*
participants, so no participant's correlation is tested at a lag chosen on
their own data (choosing and testing on the same data is circular: the
maximum over 41 lags is biased upwards; Kriegeskorte et al. 2009).

Chance level: the face and the button can correlate only because both follow
the clip. The cross-person same-clip surrogate correlates each participant's
face with *another* participant's button on the same clip (matched on time
since clip onset, same lag): what the clip alone produces. ``z_surrogate`` is
given per trial and ``z_above_chance = z - z_surrogate``.

Trials where a button was never (or always) held have no correlation (NaN)
and say so; :class:`CoherenceResult` counts them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..study.load import Study
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


class CoherenceResult(NamedTuple):
    """Result of :func:`coherence_table`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per participant x clip x button pair.
    lag_curve : pandas.DataFrame
        lag, mean_z (all participants) and mean_z_surrogate: the shape the
        cross-validation searched.
    lag : float
        The protocol's lag, or the median of the cross-validated lags.
    lag_source : str
        ``protocol`` or ``leave-one-participant-out``.
    n_no_value : int
        Trial x pair rows without a correlation (button never/always held, too few frames).
    chance_z : float
        Mean surrogate z (the chance level of the mean z).
    """

    table: pd.DataFrame
    lag_curve: pd.DataFrame
    lag: float
    lag_source: str
    n_no_value: int
    chance_z: float


def coherence_table(
    study: Study, trials: pd.DataFrame, lag: float | None = None, lags: np.ndarray | None = None
) -> CoherenceResult:
    """Face-button correlation per participant x clip at one lag.

    Parameters
    ----------
    study : Study
        From :func:`analysis.study.load.load_study` (needs faces tables).
    trials : pandas.DataFrame
        Trial table; excluded and face-excluded trials are left out.
    lag : float, optional
        Face-after-button lag in s. Default: the protocol's
        ``analysis.coherence_lag``, else leave-one-participant-out on ``lags``.
    lags : numpy.ndarray, optional
        Candidate lags (default -5, -4.75, ..., 5 s).

    Returns
    -------
    CoherenceResult
        ``table``: participant_id, session_id, condition, trial, stimulus_id,
        valence, button, measure, lag (per participant under cross-validation),
        r, z (Fisher), z_surrogate, z_above_chance, n_frames, note; and the
        lag curve, lag, its source, the count of rows without a value and the
        chance level.

    Examples
    --------
    >>> res = coherence_table(study, trials, lag=1.0)
    >>> res.table.groupby(["condition", "button"])["z_above_chance"].mean().round(3)
    condition  button
    alone      happy     0.183
               sad       0.375
    group      happy     0.241
               sad       0.299
    Name: z_above_chance, dtype: float64
    """
    if lag is None:
        lag = study.settings.coherence_lag
    source = "protocol" if lag is not None else "leave-one-participant-out"
    lags = np.round(np.arange(-5.0, 5.0001, 0.25), 4) if lags is None else np.asarray(lags, float)
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
        "z_surrogate",
        "z_above_chance",
        "n_frames",
        "note",
    ]
    if not frames or all(f.empty for _, f in frames):
        return CoherenceResult(
            pd.DataFrame(columns=cols),
            pd.DataFrame(columns=["lag", "mean_z", "mean_z_surrogate"]),
            np.nan,
            source,
            0,
            np.nan,
        )
    allf = pd.concat([f.assign(_sid=i) for i, (_, f) in enumerate(frames)], ignore_index=True)
    key_df = allf[["session_id", "participant_id", "trial"]].drop_duplicates().reset_index(drop=True)
    key_df["_k"] = np.arange(len(key_df))
    allf = allf.merge(key_df, on=["session_id", "participant_id", "trial"], how="left")
    keys = allf["_k"].to_numpy()
    t = allf["t"].to_numpy()
    segs = [session_segments(sd) for sd, _ in frames]
    groups = allf.groupby(["_sid", "participant_id"]).indices

    t_rel = allf["t_rel"].to_numpy()
    onset = t - t_rel
    # surrogate partner: the next participant (another person) who saw the same clip
    key_df["stimulus_id"] = allf.groupby("_k")["stimulus_id"].first().reindex(key_df["_k"]).to_numpy()
    key_df["_sid"] = allf.groupby("_k")["_sid"].first().reindex(key_df["_k"]).to_numpy()
    key_df["_onset"] = pd.Series(onset).groupby(keys).first().reindex(key_df["_k"]).to_numpy()
    partner = np.full(len(key_df), -1)
    for _, idx in key_df.groupby("stimulus_id").indices.items():
        people = key_df.loc[idx, "participant_id"].to_numpy()
        if len(set(people)) < 2:
            continue
        for j, k in enumerate(idx):
            for step in range(1, len(idx)):
                other = idx[(j + step) % len(idx)]
                if people[(j + step) % len(idx)] != people[j]:
                    partner[k] = other
                    break

    def states(button: str, shift: float) -> np.ndarray:
        s = np.empty(len(allf))
        for (i, pid), idx in groups.items():
            s[idx] = button_state(segs[i], pid, button, t[idx] - shift)
        return s

    def surrogate_states(button: str, shift: float) -> np.ndarray:
        s = np.full(len(allf), np.nan)
        for k in range(len(key_df)):
            q = partner[k]
            if q < 0:
                continue
            idx = rows_of[k]
            row = key_df.iloc[q]
            s[idx] = button_state(
                segs[int(row["_sid"])], row["participant_id"], button, row["_onset"] + t_rel[idx] - shift
            )
        return s

    rows_of = pd.Series(np.arange(len(allf))).groupby(keys).apply(np.asarray).reindex(key_df["_k"]).tolist()

    def zs(shift: float, surrogate: bool = False) -> dict:
        out = {}
        for b, m in PAIRS:
            x = surrogate_states(b, shift) if surrogate else states(b, shift)
            r, n = _grouped_r(keys, x, allf[m].to_numpy(), len(key_df))
            out[(b, m)] = (r, n)
        return out

    fisher = lambda r: np.arctanh(np.clip(r, -0.999999, 0.999999))  # noqa: E731
    if lag is None:
        # per-trial z at every lag: (pairs x trials) per lag
        Z = np.stack(
            [np.stack([fisher(r) for r, _ in zs(L).values()]) for L in lags]
        )  # lags x pairs x trials
        pids = key_df["participant_id"].to_numpy()
        per_trial = np.where(np.isfinite(Z), Z, 0.0)
        valid = np.isfinite(Z).astype(float)
        total_sum, total_n = per_trial.sum(axis=(1, 2)), valid.sum(axis=(1, 2))
        lag_of = {}
        for pid in np.unique(pids):
            mine = pids == pid
            own_sum = per_trial[:, :, mine].sum(axis=(1, 2))
            own_n = valid[:, :, mine].sum(axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                rest = (total_sum - own_sum) / (total_n - own_n)
            lag_of[pid] = (
                float(lags[np.nanargmax(rest)]) if np.isfinite(rest).any() else float(lags[len(lags) // 2])
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            curve_df = pd.DataFrame({"lag": lags.astype(float), "mean_z": total_sum / total_n})
        lag_used = float(np.median(list(lag_of.values())))
        trial_lag = np.array([lag_of[p] for p in pids])
    else:
        curve_df = pd.DataFrame({"lag": [float(lag)], "mean_z": [np.nan]})
        lag_used = float(lag)
        trial_lag = np.full(len(key_df), float(lag))
    # each trial at its own (cross-validated) lag; surrogate at the same lag
    results = {
        pair: (np.full(len(key_df), np.nan), np.zeros(len(key_df)), np.full(len(key_df), np.nan))
        for pair in PAIRS
    }
    for L in np.unique(trial_lag):
        sel = trial_lag == L
        real, sur = zs(float(L)), zs(float(L), surrogate=True)
        for pair in PAIRS:
            results[pair][0][sel] = real[pair][0][sel]
            results[pair][1][sel] = real[pair][1][sel]
            results[pair][2][sel] = sur[pair][0][sel]
    out = []
    for (b, m), (r, n, r_sur) in results.items():
        part = key_df[["session_id", "participant_id", "trial"]].copy()
        part["button"], part["measure"], part["lag"] = b, m, trial_lag
        part["r"], part["n_frames"] = r, n.astype(int)
        part["z"] = fisher(r)
        part["z_surrogate"] = fisher(r_sur)
        part["z_above_chance"] = part["z"] - part["z_surrogate"]
        part["note"] = np.where(np.isnan(r), "button never/always held or too few frames", "")
        out.append(part)
    table = pd.concat(out, ignore_index=True)
    info = trials[["participant_id", "trial", "condition", "stimulus_id", "valence"]]
    table = table.merge(info, on=["participant_id", "trial"], how="left")
    chance = float(np.nanmean(table["z_surrogate"])) if table["z_surrogate"].notna().any() else np.nan
    if lag is None:
        curve_df["mean_z_surrogate"] = np.nan
        curve_df.loc[curve_df["lag"] == lag_used, "mean_z_surrogate"] = chance
    else:
        curve_df["mean_z_surrogate"] = chance
    return CoherenceResult(table[cols], curve_df, lag_used, source, int(table["r"].isna().sum()), chance)
