"""Pose, face size and usable frames per trial and by condition.

In groups people turn to each other and sit smaller in the frame, so head
pose, face size and the number of usable face frames can differ between
conditions and confound a facial comparison. :func:`trial_pose_size` gives
each trial its own figures (columns of the trial table);
:func:`condition_balance` compares them between conditions with a
standardised difference (Cohen's d with the pooled SD of the trials; a
difference above :data:`BALANCE_LIMIT` gets a warning, as in covariate
balance checks: Austin 2009, Stat Med 28:3083-3107, uses 0.1-0.2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Per-trial pose, size and usable-frame columns, with what each is.
POSE_SIZE_COLUMNS = {
    "n_face_frames": "Usable face frames during the clip: a face found and no excluded quality flag.",
    "identity_doubtful_frames": "Face frames whose identity confidence is below the documented "
    "threshold (face_quality 'identity'); left out of the facial measures unless the protocol "
    "sets analysis.exclude_doubtful_identity: false.",
    "face_size_px": "Median face box width during the clip (px, frames with a face).",
    "abs_yaw": "Median |yaw| during the clip (deg, frames with a face).",
    "abs_pitch_change": "Median |pitch - the participant's median pitch over the session| during the "
    "clip (deg, frames with a face): movement up or down. Not |pitch| itself: the template's pitch of a "
    "frontal face carries an offset set by the face's shape (6-25 deg on the shared stills, 21 deg on "
    "the astronaut photo), so an absolute reading would compare face shapes, not poses.",
    "landmark_jitter": "Median frame-to-frame jitter of the rigid landmarks on the frontal face "
    "during the clip (template mm; grows as faces get smaller).",
}

#: Standardised difference between conditions above which the report warns.
BALANCE_LIMIT = 0.2


def trial_pose_size(
    frames: pd.DataFrame, usable: np.ndarray, keys=("participant_id", "trial"), pitch_zero=None
) -> pd.DataFrame:
    """The :data:`POSE_SIZE_COLUMNS` of every participant x trial.

    Parameters
    ----------
    frames : pandas.DataFrame
        Clip frames: ``keys``, ``face_found`` and, where the faces table has
        them, ``face_quality``, ``face_w``, ``yaw``, ``pitch``, ``landmark_jitter``.
    usable : numpy.ndarray of bool
        Frames whose facial measures count (face found, no excluded flag).
    keys : tuple of str
    pitch_zero : pandas.Series, optional
        Participant -> their median pitch over the session (frames with a face);
        default the median over ``frames``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``keys``.

    Examples
    --------
    >>> fr = pd.DataFrame({"participant_id": "P", "trial": 1, "face_found": [True, True, False],
    ...     "face_quality": ["ok", "identity", "no_face"], "face_w": [100.0, 120, np.nan],
    ...     "yaw": [-10.0, 20, np.nan], "pitch": [5.0, 5, np.nan], "landmark_jitter": [0.3, 0.5, np.nan]})
    >>> trial_pose_size(fr, np.array([True, False, False]), pitch_zero=pd.Series({"P": 2.0})).iloc[0].tolist()
    [1.0, 1.0, 110.0, 15.0, 3.0, 0.4]
    """
    seen = frames["face_found"].to_numpy(dtype=bool)
    data = pd.DataFrame({k: frames[k].to_numpy() for k in keys})
    data["n_face_frames"] = np.asarray(usable, dtype=float)
    q = frames["face_quality"].astype(str) if "face_quality" in frames else pd.Series("", index=frames.index)
    data["identity_doubtful_frames"] = (q.str.contains("identity", regex=False).to_numpy() & seen).astype(
        float
    )
    for col, src in (("face_size_px", "face_w"), ("abs_yaw", "yaw"), ("abs_pitch_change", "pitch")):
        v = frames[src].to_numpy(dtype=float) if src in frames else np.full(len(frames), np.nan)
        if src == "pitch":
            pid = frames[keys[0]].astype(str)
            if pitch_zero is None:
                pitch_zero = pd.Series(np.where(seen, v, np.nan)).groupby(pid.to_numpy()).median()
            v = v - pid.map(pitch_zero.rename(index=str)).to_numpy(dtype=float)
        data[col] = np.where(seen, np.abs(v) if src != "face_w" else v, np.nan)
    jit = frames["landmark_jitter"].to_numpy(dtype=float) if "landmark_jitter" in frames else np.nan
    data["landmark_jitter"] = np.where(seen, jit, np.nan)
    g = data.groupby(list(keys), sort=True)
    counts = g[["n_face_frames", "identity_doubtful_frames"]].sum()
    medians = g[["face_size_px", "abs_yaw", "abs_pitch_change", "landmark_jitter"]].median()
    return pd.concat([counts, medians], axis=1)[list(POSE_SIZE_COLUMNS)]


def condition_balance(trials: pd.DataFrame, columns=None, limit: float = BALANCE_LIMIT) -> pd.DataFrame:
    """Pose, size and usable frames by condition, with the standardised difference.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table (``condition`` and :data:`POSE_SIZE_COLUMNS`); excluded
        trials are left out.
    columns : list of str, optional
        Default: the :data:`POSE_SIZE_COLUMNS` present.
    limit : float
        |d| above which ``warning`` is True.

    Returns
    -------
    pandas.DataFrame
        measure, then ``<condition>_mean`` and ``<condition>_sd`` per
        condition (trials), ``std_diff`` (second condition minus first in
        sorted order, over the pooled SD; NaN unless exactly two conditions)
        and ``warning``.

    Examples
    --------
    >>> t = pd.DataFrame({"condition": ["alone"] * 4 + ["group"] * 4, "excluded": False,
    ...                   "abs_yaw": [4.0, 5, 6, 5, 9, 11, 10, 10]})
    >>> condition_balance(t, ["abs_yaw"])[["measure", "std_diff", "warning"]].round(2).values.tolist()
    [['abs_yaw', 6.12, True]]
    """
    d = trials[~trials["excluded"].astype(bool)] if "excluded" in trials else trials
    cols = [c for c in (columns or POSE_SIZE_COLUMNS) if c in d.columns]
    conds = sorted(d["condition"].dropna().unique())
    rows = []
    for c in cols:
        row = {"measure": c}
        stats = {}
        for cond in conds:
            v = d.loc[d["condition"] == cond, c].astype(float).dropna()
            stats[cond] = (v.mean(), v.std(ddof=1), len(v))
            row[f"{cond}_mean"], row[f"{cond}_sd"] = stats[cond][0], stats[cond][1]
        diff = np.nan
        if len(conds) == 2:
            (m1, s1, n1), (m2, s2, n2) = stats[conds[0]], stats[conds[1]]
            pooled = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)) if n1 + n2 > 2 else np.nan
            diff = (m2 - m1) / pooled if pooled and pooled > 0 else (0.0 if m1 == m2 else np.nan)
        row["std_diff"] = diff
        row["warning"] = bool(np.isfinite(diff) and abs(diff) > limit)
        rows.append(row)
    return pd.DataFrame(rows)
