"""Group synchrony: do members of a group move their faces together?

For every clip, the per-second time courses of one facial measure (default
AU12) are correlated between two people. *Real* pairs sat in the same group
session; *pseudo-pairs* are group participants from different sessions who
watched the same clip (the synchrony expected from the clip alone). The test
is per group session: d = mean Fisher z of the session's real pairs minus the
mean z of the pseudo-pairs involving its members, one-sample t test of d
across sessions (sessions are the independent units).

:func:`synchrony_test` is the analysis to report: windowed lagged
cross-correlation on differenced series, with a null from permuting group
membership into pseudo-groups of the same size (same statistic, same maximum
over lags). Run it on a head-position series as well (the face box's
horizontal position): people filmed by one camera share exposure and framing
artefacts, and two people who both lean forward at a scene change are
"synchronous" without any shared feeling; the control shows how much
synchrony such shared movement alone produces.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps


def synchrony_table(tc: pd.DataFrame, measure: str = "AU12", min_seconds: int = 5) -> pd.DataFrame:
    """Correlation of every real and pseudo pair of group participants per clip.

    Parameters
    ----------
    tc : pandas.DataFrame
        Time courses from :func:`analysis.measures.timecourse.timecourses`.
    measure : str
        Facial measure to correlate.
    min_seconds : int
        Fewer shared bins than this give NaN.

    Returns
    -------
    pandas.DataFrame
        stimulus_id, participant_a, participant_b, session_a, session_b,
        pair (``real`` or ``pseudo``), r, z (Fisher), n_seconds.

    Examples
    --------
    >>> from analysis.measures.timecourse import timecourses
    >>> syn = synchrony_table(timecourses(study, trials))
    >>> syn.groupby("pair")["z"].mean().round(3)
    pair
    pseudo   -0.145
    real      0.610
    Name: z, dtype: float64
    """
    cols = [
        "stimulus_id",
        "participant_a",
        "participant_b",
        "session_a",
        "session_b",
        "pair",
        "r",
        "z",
        "n_seconds",
    ]
    g = tc[(tc["condition"] == "group")].dropna(subset=[measure])
    rows = []
    for stim, part in g.groupby("stimulus_id"):
        wide = part.pivot_table(index="second", columns="participant_id", values=measure)
        if wide.shape[1] < 2:
            continue
        session = part.drop_duplicates("participant_id").set_index("participant_id")["session_id"]
        corr = wide.corr(min_periods=min_seconds).to_numpy()
        mask = wide.notna().to_numpy().astype(float)
        shared = mask.T @ mask
        people = list(wide.columns)
        for i, j in itertools.combinations(range(len(people)), 2):
            a, b = people[i], people[j]
            sa, sb = session[a], session[b]
            r = corr[i, j]
            rows.append(
                (
                    stim,
                    a,
                    b,
                    sa,
                    sb,
                    "real" if sa == sb else "pseudo",
                    r,
                    np.arctanh(np.clip(r, -0.999999, 0.999999)),
                    int(shared[i, j]),
                )
            )
    return pd.DataFrame(rows, columns=cols)


def synchrony_summary(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Real vs pseudo-pair synchrony, tested across group sessions.

    Returns
    -------
    per_session : pandas.DataFrame
        session_id, real_z, pseudo_z, difference, n_real, n_pseudo.
    test : dict
        mean_real_r, mean_pseudo_r, mean_difference_z, t, df, p_val, ci_low,
        ci_high, n_sessions.

    Examples
    --------
    >>> from analysis.measures.timecourse import timecourses
    >>> per_session, test = synchrony_summary(synchrony_table(timecourses(study, trials)))
    >>> per_session.round(3)
      session_id  real_z  pseudo_z  difference  n_real  n_pseudo
    0        g01   0.758    -0.145       0.903       2         8
    1        g02   0.512    -0.145       0.657       3         8
    >>> {k: round(v, 3) if isinstance(v, float) else v for k, v in test.items()}
    {'mean_real_r': 0.527, 'mean_pseudo_r': -0.126, 'n_sessions': 2, 'mean_difference_z': 0.78, 't': 6.326, 'df': 1, 'p_val': 0.1, 'ci_low': -0.787, 'ci_high': 2.346}
    """
    t = table.dropna(subset=["z"])
    rows = []
    for sid in sorted(set(t["session_a"]) | set(t["session_b"])):
        real = t[(t["pair"] == "real") & (t["session_a"] == sid)]
        pseudo = t[(t["pair"] == "pseudo") & ((t["session_a"] == sid) | (t["session_b"] == sid))]
        if len(real) and len(pseudo):
            rows.append((sid, real["z"].mean(), pseudo["z"].mean(), len(real), len(pseudo)))
    per = pd.DataFrame(rows, columns=["session_id", "real_z", "pseudo_z", "n_real", "n_pseudo"])
    per.insert(3, "difference", per["real_z"] - per["pseudo_z"])
    test = {
        "mean_real_r": float(t.loc[t["pair"] == "real", "r"].mean()) if len(t) else np.nan,
        "mean_pseudo_r": float(t.loc[t["pair"] == "pseudo", "r"].mean()) if len(t) else np.nan,
        "n_sessions": int(len(per)),
    }
    if len(per) >= 2:
        d = per["difference"].to_numpy()
        res = sps.ttest_1samp(d, 0.0)
        se = d.std(ddof=1) / np.sqrt(len(d))
        q = sps.t.ppf(0.975, len(d) - 1)
        test.update(
            {
                "mean_difference_z": float(d.mean()),
                "t": float(res.statistic),
                "df": int(len(d) - 1),
                "p_val": float(res.pvalue),
                "ci_low": float(d.mean() - q * se),
                "ci_high": float(d.mean() + q * se),
            }
        )
    else:
        test.update(
            {
                "mean_difference_z": np.nan,
                "t": np.nan,
                "df": np.nan,
                "p_val": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
            }
        )
    return per, test


#: Windowed lagged cross-correlation settings (in time-course bins, 1 s by default).
WLCC_WINDOW = 8
WLCC_STEP = 4
WLCC_MAX_LAG = 3


class SynchronyTest(NamedTuple):
    """Result of :func:`synchrony_test`.

    Attributes
    ----------
    measure : str
    observed : float
        Mean over real groups of the mean over member pairs of the WLCC
        statistic (mean over windows of the maximum over lags of r).
    null_mean, null_sd : float
        Of the same statistic over pseudo-groups (permuted membership).
    p_val : float
        One-sided permutation p, (1 + #null >= observed) / (1 + n_perm).
    n_perm, n_groups : int
    per_session : pandas.DataFrame
        session_id, n_members, statistic.
    """

    measure: str
    observed: float
    null_mean: float
    null_sd: float
    p_val: float
    n_perm: int
    n_groups: int
    per_session: pd.DataFrame


def _wlcc(x: np.ndarray, y: np.ndarray, window: int, step: int, max_lag: int) -> float:
    """Mean over windows of the maximum over lags of r (Boker, Xu, Rotondo & King 2002)."""
    n = min(len(x), len(y))
    peaks = []
    for s in range(max_lag, n - window - max_lag + 1, step):
        a = x[s : s + window]
        best = -np.inf
        for L in range(-max_lag, max_lag + 1):
            b = y[s + L : s + L + window]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 4:
                continue
            aa, bb = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
            den = np.sqrt((aa * aa).sum() * (bb * bb).sum())
            if den > 1e-12:
                best = max(best, float((aa * bb).sum() / den))
        if np.isfinite(best):
            peaks.append(best)
    return float(np.mean(peaks)) if peaks else np.nan


def synchrony_test(
    tc: pd.DataFrame,
    measure: str,
    n_perm: int = 500,
    seed: int = 0,
    window: int = WLCC_WINDOW,
    step: int = WLCC_STEP,
    max_lag: int = WLCC_MAX_LAG,
) -> SynchronyTest:
    """Windowed lagged cross-correlation synchrony of real groups against permuted pseudo-groups.

    Each member's per-bin series of one clip is first differenced (removing
    slow trends and most autocorrelation, which inflate correlations between
    any two smooth series). For every pair, the WLCC statistic (mean over
    8-bin windows, step 4, of the largest r over lags -3..+3 bins; Boker et
    al. 2002) is averaged over the clips both saw; a group's value is the mean
    over its pairs; the observed value is the mean over groups. The null
    distribution permutes group membership: all group participants are dealt
    into pseudo-groups of the real sizes (members of one real session kept
    apart where possible) and the same statistic, with the same maximum over
    lags, is computed; so the clip's shared drive and the search over lags are
    in the null too.

    Parameters
    ----------
    tc : pandas.DataFrame
        Time courses (:func:`analysis.measures.timecourse.timecourses`).
    measure : str
        Column of ``tc``: a facial measure, or a head-position control.
    n_perm : int
    seed : int

    Returns
    -------
    SynchronyTest

    Examples
    --------
    The small study's clips last 10 s (10 bins), so shorter windows than the default here:

    >>> from analysis.measures.timecourse import timecourses
    >>> res = synchrony_test(timecourses(study, trials), "AU12", n_perm=50, window=4, step=2, max_lag=1)
    >>> round(res.observed, 3), round(res.p_val, 3), res.n_perm, res.n_groups
    (0.66, 0.02, 50, 2)
    """
    g = tc[tc["condition"] == "group"].dropna(subset=[measure])
    members = g.drop_duplicates("participant_id")[["participant_id", "session_id"]].reset_index(drop=True)
    idx = {p: i for i, p in enumerate(members["participant_id"])}
    n = len(members)
    sums, counts = np.zeros((n, n)), np.zeros((n, n))
    for _, part in g.groupby("stimulus_id"):
        wide = part.pivot_table(index="second", columns="participant_id", values=measure).sort_index()
        diff = wide.diff().iloc[1:]
        cols = list(diff.columns)
        arr = diff.to_numpy()
        for a, b in itertools.combinations(range(len(cols)), 2):
            v = _wlcc(arr[:, a], arr[:, b], window, step, max_lag)
            if np.isfinite(v):
                i, j = idx[cols[a]], idx[cols[b]]
                sums[i, j] += v
                sums[j, i] += v
                counts[i, j] += 1
                counts[j, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        M = sums / counts
    sessions = members["session_id"].to_numpy()
    groups = [np.flatnonzero(sessions == s) for s in dict.fromkeys(sessions)]
    groups = [grp for grp in groups if len(grp) >= 2]

    def group_value(grp):
        vals = [M[i, j] for i, j in itertools.combinations(grp, 2) if np.isfinite(M[i, j])]
        return float(np.mean(vals)) if vals else np.nan

    per = pd.DataFrame(
        {
            "session_id": [sessions[grp[0]] for grp in groups],
            "n_members": [len(grp) for grp in groups],
            "statistic": [group_value(grp) for grp in groups],
        }
    )
    observed = float(np.nanmean(per["statistic"])) if len(per) and per["statistic"].notna().any() else np.nan
    if len(groups) < 2 or not np.isfinite(observed):
        return SynchronyTest(measure, observed, np.nan, np.nan, np.nan, 0, len(groups), per)
    rng = np.random.default_rng(seed)
    sizes = [len(grp) for grp in groups]
    pool = np.concatenate(groups)
    null = []
    for _ in range(n_perm):
        for _attempt in range(20):  # prefer pseudo-groups without two members of one real session
            order = rng.permutation(pool)
            cuts = np.split(order, np.cumsum(sizes)[:-1])
            if all(len(set(sessions[c])) == len(c) for c in cuts):
                break
        vals = [group_value(c) for c in cuts]
        null.append(np.nanmean(vals) if np.isfinite(vals).any() else np.nan)
    null = np.asarray(null, float)
    null = null[np.isfinite(null)]
    p = float((1 + (null >= observed).sum()) / (1 + len(null)))
    return SynchronyTest(
        measure, observed, float(null.mean()), float(null.std(ddof=1)), p, int(len(null)), len(groups), per
    )
