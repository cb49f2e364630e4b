"""Face-button coherence: do expression and reported experience go together?

Per participant x clip, the Pearson correlation over the clip's frames between
a button's state ``lag`` seconds earlier and a facial measure now (the face
follows the feeling): happy button with AU12, sad button with the
inner_brow_lip_down (AU01+AU04+AU15) composite.

Chance level, built the same way in both conditions: the face and the button
can correlate only because both follow the clip. For every participant x clip,
the surrogate correlates the face with the button of *every* participant of
*another session* who saw the clip (matched on time since clip onset, same lag),
and ``z_surrogate`` is the mean Fisher z over them: what the clip alone produces.
Group members are never paired with their own group (who shares the moment, not
just the clip), and alone viewers get the same kind of partners, so a difference
between conditions in ``z_above_chance = z - z_surrogate`` is not a difference in
how chance was measured.

Lag: the protocol's ``analysis.coherence_lag``, or, when unset, chosen per
button pair by leaving out whole sessions: a session's trials are scored at the
lag (-5 to +5 s, 0.25 s steps; negative: the face moves before the button) that
maximises the mean ``z_above_chance`` of the *other* sessions' trials. So no
participant is tested at a lag chosen on their own data or on their group mates'
(choosing and testing on the same data is circular: the maximum over 41 lags is
biased upwards; Kriegeskorte et al. 2009), and the lag maximises coherence
beyond chance, not the chance level that all viewers of a clip share.

Trials where a button was never (or always) held have no correlation (NaN)
and say so; :class:`CoherenceResult` counts them.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..study.load import Study
from .frames import clip_frames, session_segments

#: (button, facial measure) pairs analysed.
PAIRS = (("happy", "AU12"), ("sad", "inner_brow_lip_down"))

#: Candidate lags (s) of the cross-validated choice.
DEFAULT_LAGS = np.round(np.arange(-5.0, 5.0001, 0.25), 4)

#: Columns of :attr:`CoherenceResult.table`.
COHERENCE_COLUMNS = (
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
    "n_surrogates",
    "n_frames",
    "note",
)

#: Fewer frames with a face than this: no correlation.
MIN_FRAMES = 10


class CoherenceResult(NamedTuple):
    """Result of :func:`coherence_table`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per participant x clip x button pair (:data:`COHERENCE_COLUMNS`).
    lag_curve : pandas.DataFrame
        button, lag, mean_z, mean_z_surrogate, mean_z_above_chance over all trials:
        the shape the cross-validation searched.
    lag : float
        The protocol's lag, or the median of the cross-validated lags over both pairs.
    lag_source : str
        ``protocol`` or ``leave-one-session-out``.
    n_no_value : int
        Trial x pair rows without a correlation (button never/always held, too few frames).
    chance_z : float
        Mean surrogate z (the chance level of the mean z).
    lags : dict
        Button -> the median of its sessions' cross-validated lags (or the protocol's lag).
    """

    table: pd.DataFrame
    lag_curve: pd.DataFrame
    lag: float
    lag_source: str
    n_no_value: int
    chance_z: float
    lags: dict


def _fisher(r: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(r, -0.999999, 0.999999))


def _timeline(segments: dict, keys: list[tuple[str, str]], button: str, span: float) -> tuple:
    """Every partner's hold segments on one axis: partner ``i``'s shifted by ``i * span`` s."""
    ons, offs = [np.array([])], [np.array([])]
    for i, (session, pid) in enumerate(keys):
        on, off = segments.get(session, {}).get((pid, button), (np.array([]), np.array([])))
        ons.append(np.asarray(on, float) + i * span)
        offs.append(np.asarray(off, float) + i * span)
    return np.concatenate(ons), np.concatenate(offs)


def _clip_correlations(
    f: np.ndarray, starts: np.ndarray, t_rel: np.ndarray, onset: np.ndarray, on, off, span: float, lag: float
) -> tuple[np.ndarray, np.ndarray]:
    """r (partners x trials) between each trial's face and each partner's button ``lag`` s earlier.

    ``f`` holds the clip's face frames sorted by trial (trial ``k`` from ``starts[k]``), ``t_rel``
    their time since clip onset; partner ``q`` is held where its shifted segments cover
    ``q * span + onset[q] + t_rel - lag``.
    """
    valid = np.isfinite(f)
    f0 = np.where(valid, f, 0.0)
    w = valid.astype(float)
    times = (np.arange(len(onset)) * span + onset)[:, None] + (t_rel - lag)[None, :]
    held = (np.searchsorted(on, times, side="right") - np.searchsorted(off, times, side="right")) > 0
    s = held * w[None, :]
    n = np.add.reduceat(w, starts)
    sf, sff = np.add.reduceat(f0, starts), np.add.reduceat(f0 * f0, starts)
    ss, ssf = np.add.reduceat(s, starts, axis=1), np.add.reduceat(s * f0[None, :], starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = ssf - ss * sf / n
        vs, vf = ss - ss * ss / n, sff - sf * sf / n
        r = cov / np.sqrt(vs * vf)
    r[:, n < MIN_FRAMES] = np.nan
    r[(vs <= 1e-12) | np.broadcast_to(vf <= 1e-12, r.shape)] = np.nan
    return r, n


def coherence_from_frames(
    frames: pd.DataFrame,
    partners: pd.DataFrame,
    segments: dict,
    lag: float | None = None,
    lags: np.ndarray | None = None,
) -> CoherenceResult:
    """Face-button coherence with other-session surrogates, from frames and hold segments.

    The computation behind :func:`coherence_table`, on plain tables (for simulations
    that never write a dataset).

    Parameters
    ----------
    frames : pandas.DataFrame
        Face frames of the usable trials: session_id, participant_id, trial,
        stimulus_id, t_rel (s since clip onset) and the measures of :data:`PAIRS`
        (NaN where no face).
    partners : pandas.DataFrame
        Every trial whose buttons may be used (not excluded): session_id,
        participant_id, trial, stimulus_id, onset (clip onset, session clock).
    segments : dict
        session_id -> :func:`analysis.measures.frames.hold_segments` of that session.
    lag, lags
        As for :func:`coherence_table`.

    Returns
    -------
    CoherenceResult
        ``table`` without condition and valence (:func:`coherence_table` adds them).

    Examples
    --------
    >>> fr = pd.DataFrame({"session_id": "s1", "participant_id": "P1", "trial": 1,
    ...     "stimulus_id": "c1", "t_rel": np.arange(20) / 2, "AU12": np.r_[np.zeros(10), np.ones(10)],
    ...     "inner_brow_lip_down": 0.0})
    >>> pa = pd.DataFrame({"session_id": ["s1", "s2"], "participant_id": ["P1", "P2"], "trial": [1, 3],
    ...     "stimulus_id": "c1", "onset": [100.0, 50.0]})
    >>> seg = {"s1": {("P1", "happy"): (np.array([104.0]), np.array([120.0]))},
    ...        "s2": {("P2", "happy"): (np.array([50.0]), np.array([53.0]))}}
    >>> res = coherence_from_frames(fr, pa, seg, lag=1.0)
    >>> res.table.loc[0, ["r", "z_surrogate", "n_surrogates"]].round(2).tolist()
    [1.0, -0.78, 1.0]
    """
    keys = ["session_id", "participant_id", "trial"]
    frames = frames.sort_values([*keys, "t_rel"], kind="stable").reset_index(drop=True)
    trial_keys = frames[[*keys, "stimulus_id"]].drop_duplicates(keys).reset_index(drop=True)
    cv = lag is None
    grid = (DEFAULT_LAGS if lags is None else np.asarray(lags, float)) if cv else np.array([float(lag)])
    n_trials = len(trial_keys)
    # per pair: z, surrogate z and its count, frames, at every lag
    z = np.full((len(PAIRS), len(grid), n_trials), np.nan)
    z_sur = np.full_like(z, np.nan)
    n_sur = np.zeros_like(z)
    n_frames = np.zeros(n_trials)
    r_all = np.full_like(z, np.nan)
    row_of = {tuple(k): i for i, k in enumerate(trial_keys[keys].itertuples(index=False, name=None))}
    for stim, part in frames.groupby("stimulus_id", sort=False):
        mates = partners[partners["stimulus_id"] == stim].reset_index(drop=True)
        if mates.empty:
            continue
        who = list(zip(mates["session_id"], mates["participant_id"]))
        own = {k: i for i, k in enumerate(mates[keys].itertuples(index=False, name=None))}
        code = part.groupby(keys, sort=False).ngroup().to_numpy()
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        tk = list(part[keys].iloc[starts].itertuples(index=False, name=None))
        rows = np.array([row_of[k] for k in tk])
        col_own = np.array([own.get(k, -1) for k in tk])
        other = mates["session_id"].to_numpy()[:, None] != np.array([k[0] for k in tk])[None, :]
        t_rel = part["t_rel"].to_numpy(float)
        onset = mates["onset"].to_numpy(float)
        # wider than any time looked up, so that partners' shifted segments never meet
        last = max(
            (float(off.max()) for seg in segments.values() for _, off in seg.values() if len(off)), default=0
        )
        span = 2.0 * (max(last, float(onset.max() + t_rel.max())) + float(np.abs(grid).max()) + 1.0)
        for p, (button, measure) in enumerate(PAIRS):
            if measure not in part.columns:
                continue
            on, off = _timeline(segments, who, button, span)
            f = part[measure].to_numpy(float)
            for j, L in enumerate(grid):
                r, n = _clip_correlations(f, starts, t_rel, onset, on, off, span, L)
                zz = _fisher(r)
                has = col_own >= 0
                r_all[p, j, rows[has]] = r[col_own[has], np.flatnonzero(has)]
                z[p, j, rows[has]] = zz[col_own[has], np.flatnonzero(has)]
                ok = other & np.isfinite(zz)
                with np.errstate(invalid="ignore", divide="ignore"):
                    z_sur[p, j, rows] = np.where(ok, zz, 0.0).sum(axis=0) / ok.sum(axis=0)
                n_sur[p, j, rows] = ok.sum(axis=0)
                n_frames[rows] = n
    above = z - z_sur
    sessions = trial_keys["session_id"].to_numpy()
    pick = np.zeros((len(PAIRS), n_trials), int)
    if cv:
        valid = np.isfinite(above)
        total, count = np.where(valid, above, 0.0).sum(axis=2), valid.sum(axis=2)
        for s in np.unique(sessions):
            mine = sessions == s
            own_sum = np.where(valid[:, :, mine], above[:, :, mine], 0.0).sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                rest = (total - own_sum) / (count - valid[:, :, mine].sum(axis=2))
            for p in range(len(PAIRS)):
                pick[p, mine] = np.nanargmax(rest[p]) if np.isfinite(rest[p]).any() else len(grid) // 2
    out = []
    idx = np.arange(n_trials)
    for p, (button, measure) in enumerate(PAIRS):
        j = pick[p]
        part = trial_keys[[*keys, "stimulus_id"]].copy()
        part["button"], part["measure"], part["lag"] = button, measure, grid[j]
        part["r"], part["z"] = r_all[p, j, idx], z[p, j, idx]
        part["z_surrogate"], part["z_above_chance"] = z_sur[p, j, idx], above[p, j, idx]
        part["n_surrogates"], part["n_frames"] = n_sur[p, j, idx].astype(int), n_frames.astype(int)
        part["note"] = np.where(np.isnan(part["r"]), "button never/always held or too few frames", "")
        out.append(part)
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a lag at which no trial has a value
        curve = pd.concat(
            [
                pd.DataFrame(
                    {
                        "button": button,
                        "lag": grid.astype(float),
                        "mean_z": np.nanmean(z[p], axis=1),
                        "mean_z_surrogate": np.nanmean(z_sur[p], axis=1),
                        "mean_z_above_chance": np.nanmean(above[p], axis=1),
                    }
                )
                for p, (button, _) in enumerate(PAIRS)
            ],
            ignore_index=True,
        )
    if cv:  # one lag per session and pair: the medians over sessions
        per_session = table.drop_duplicates(["session_id", "button"])
        by_button = per_session.groupby("button")["lag"].median().to_dict()
        lag_used = float(per_session["lag"].median()) if len(per_session) else np.nan
    else:
        by_button, lag_used = {b: float(lag) for b, _ in PAIRS}, float(lag)
    chance = float(np.nanmean(table["z_surrogate"])) if table["z_surrogate"].notna().any() else np.nan
    source = "leave-one-session-out" if cv else "protocol"
    return CoherenceResult(table, curve, lag_used, source, int(table["r"].isna().sum()), chance, by_button)


def coherence_table(
    study: Study, trials: pd.DataFrame, lag: float | None = None, lags: np.ndarray | None = None
) -> CoherenceResult:
    """Face-button correlation per participant x clip, above the chance level of other sessions.

    Parameters
    ----------
    study : Study
        From :func:`analysis.study.load.load_study` (needs faces tables).
    trials : pandas.DataFrame
        Trial table: faces of trials that are neither excluded nor face-excluded are
        correlated; the buttons of every trial not excluded serve as surrogates.
    lag : float, optional
        Face-after-button lag in s. Default: the protocol's
        ``analysis.coherence_lag``, else leave-one-session-out per button pair on ``lags``.
    lags : numpy.ndarray, optional
        Candidate lags (default :data:`DEFAULT_LAGS`, -5, -4.75, ..., 5 s).

    Returns
    -------
    CoherenceResult
        ``table``: :data:`COHERENCE_COLUMNS` (``lag`` per session and pair under
        cross-validation; ``n_surrogates``: other-session partners with a value);
        the lag curve, lag, its source, the count of rows without a value and the
        chance level.

    Examples
    --------
    >>> res = coherence_table(study, trials, lag=1.0)
    >>> res.table.groupby(["condition", "button"])["z_above_chance"].mean().round(3)
    condition  button
    alone      happy     0.396
               sad       0.334
    group      happy     0.298
               sad       0.302
    Name: z_above_chance, dtype: float64
    """
    if lag is None:
        lag = study.settings.coherence_lag
    ok = ~trials["excluded"].astype(bool)
    usable = trials.loc[ok & ~trials["face_excluded"].astype(bool), ["participant_id", "trial"]]
    frames, partners, segments = [], [], {}
    for sd in study.sessions:
        if sd.faces is None or any(m not in sd.faces.columns for _, m in PAIRS):
            continue
        f = clip_frames(sd, [m for _, m in PAIRS])
        frames.append(f.merge(usable, on=["participant_id", "trial"], how="inner"))
        mine = trials.loc[ok & (trials["session_id"] == sd.session_id), ["participant_id", "trial"]]
        clips = sd.clips[["trial", "stimulus_id", "onset"]].assign(session_id=sd.session_id)
        partners.append(mine.merge(clips, on="trial", how="inner"))
        segments[sd.session_id] = session_segments(sd)
    frames = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames.empty:
        empty = pd.DataFrame(columns=list(COHERENCE_COLUMNS))
        curve = pd.DataFrame(columns=["button", "lag", "mean_z", "mean_z_surrogate", "mean_z_above_chance"])
        source = "protocol" if lag is not None else "leave-one-session-out"
        return CoherenceResult(empty, curve, np.nan, source, 0, np.nan, {})
    res = coherence_from_frames(frames, pd.concat(partners, ignore_index=True), segments, lag, lags)
    info = trials[["participant_id", "trial", "condition", "valence"]]
    table = res.table.merge(info, on=["participant_id", "trial"], how="left")
    return res._replace(table=table[list(COHERENCE_COLUMNS)])
