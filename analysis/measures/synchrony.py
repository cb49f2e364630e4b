"""Group synchrony: do members of a group move their faces together?

:func:`synchrony_test` is the test to report (below). The zero-lag comparison of
real and pseudo-pairs that comes first here is kept as a description, not a test:
for every clip, the per-second time courses of one facial measure (default
AU12) are correlated between two people. *Real* pairs sat in the same group
session; *pseudo-pairs* are group participants from different sessions who
watched the same clip (the synchrony expected from the clip alone). The test
is per group session: d = mean Fisher z of the session's real pairs minus the
mean z of the pseudo-pairs involving its members, one-sample t test of d
across sessions (sessions are the independent units).

:func:`synchrony_test` is the analysis to report: windowed lagged
cross-correlation on differenced series binned finely (whole frames, about
0.25 s), with a null from permuting group membership into pseudo-groups of the
same size that keep real group members apart (same statistic, same maximum over
lags); it says the smallest p the data can reach and how many distinct
pseudo-groupings there were. Run it on a head-position series as well (the face
box's horizontal position): people filmed by one camera share exposure and
framing artefacts, and two people who both lean forward at a scene change are
"synchronous" without any shared feeling; the control shows how much synchrony
such shared movement alone produces, and ``control=`` tests the facial measure
with each member's head movement regressed out.
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


#: Windowed lagged cross-correlation settings, in seconds: windows long enough that each r has
#: ~20-30 samples and the +/-2 s lag search stays a small part of the window (Boker et al. 2002).
WLCC_WINDOW_S = 8.0
WLCC_STEP_S = 4.0
WLCC_MAX_LAG_S = 2.0

#: Bins of the synchrony series: whole frames, about 0.25 s (the faces table has every frame).
SYNCHRONY_BIN_S = 0.25

#: Tries per permutation to deal pseudo-groups that keep real group members apart.
SEPARATION_TRIES = 200


def synchrony_bin(fps: float) -> float:
    """Bin width of the synchrony series: a whole number of frames, at least :data:`SYNCHRONY_BIN_S`.

    Examples
    --------
    >>> synchrony_bin(5.0), round(synchrony_bin(30.0), 4)
    (0.4, 0.2667)
    """
    dt = 1.0 / fps
    return dt * int(np.ceil(SYNCHRONY_BIN_S / dt - 1e-9))


class SynchronyTest(NamedTuple):
    """Result of :func:`synchrony_test`.

    Attributes
    ----------
    measure : str
        The series tested (``AU12``, a head-position control, or ``AU12 | face_x`` when
        adjusted for head position).
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
    min_p : float
        The smallest p these data can give: 1 / (1 + number of distinct pseudo-groupings drawn).
    n_distinct : int
        Distinct pseudo-groupings among the permutations.
    n_failed : int
        Permutations left out because no dealing kept every real group's members apart
        within :data:`SEPARATION_TRIES` tries.
    note : str
        Why there is no p, or what limits it, in words (empty when nothing does).
    """

    measure: str
    observed: float
    null_mean: float
    null_sd: float
    p_val: float
    n_perm: int
    n_groups: int
    per_session: pd.DataFrame
    min_p: float = np.nan
    n_distinct: int = 0
    n_failed: int = 0
    note: str = ""


def _wlcc(x: np.ndarray, y: np.ndarray, window: int, step: int, max_lag: int) -> float:
    """Mean over windows of the maximum over lags of r (Boker, Xu, Rotondo & King 2002)."""
    n = min(len(x), len(y))
    peaks = []
    lags = np.arange(-max_lag, max_lag + 1)
    for s in range(max_lag, n - window - max_lag + 1, step):
        a = x[s : s + window]
        b = np.stack([y[s + L : s + L + window] for L in lags])  # lags x window
        ok = np.isfinite(a)[None, :] & np.isfinite(b)
        cnt = ok.sum(axis=1)
        aa = np.where(ok, a[None, :], 0.0)
        bb = np.where(ok, b, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            aa = np.where(ok, aa - aa.sum(axis=1, keepdims=True) / cnt[:, None], 0.0)
            bb = np.where(ok, bb - bb.sum(axis=1, keepdims=True) / cnt[:, None], 0.0)
            den = np.sqrt((aa * aa).sum(axis=1) * (bb * bb).sum(axis=1))
            r = (aa * bb).sum(axis=1) / den
        r[(cnt < max(4, window // 2)) | ~(den > 1e-12)] = np.nan
        if np.isfinite(r).any():
            peaks.append(float(np.nanmax(r)))
    return float(np.mean(peaks)) if peaks else np.nan


def _residual_on(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` minus its least-squares fit on ``x`` at lags -1, 0, +1 bins (NaN where either is missing)."""
    X = np.column_stack([np.roll(x, k) for k in (-1, 0, 1)] + [np.ones(len(x))])
    X[-1, 0] = X[0, 2] = np.nan  # the values np.roll wrapped around
    ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
    out = np.full(len(y), np.nan)
    if ok.sum() > X.shape[1] + 2:
        beta, *_ = np.linalg.lstsq(X[ok], y[ok], rcond=None)
        out[ok] = y[ok] - X[ok] @ beta
    return out


def synchrony_test(
    tc: pd.DataFrame,
    measure: str,
    n_perm: int = 500,
    seed: int = 0,
    window_s: float = WLCC_WINDOW_S,
    step_s: float = WLCC_STEP_S,
    max_lag_s: float = WLCC_MAX_LAG_S,
    control: str | None = None,
) -> SynchronyTest:
    """Windowed lagged cross-correlation synchrony of real groups against permuted pseudo-groups.

    Each member's binned series of one clip is first differenced (removing
    slow trends and most autocorrelation, which inflate correlations between
    any two smooth series). For every pair, the WLCC statistic (mean over
    ``window_s`` windows stepped by ``step_s`` of the largest r over lags within
    +/- ``max_lag_s``; Boker et al. 2002) is averaged over the clips both saw; a
    group's value is the mean over its pairs; the observed value is the mean
    over groups. The null distribution permutes group membership: all group
    participants are dealt into pseudo-groups of the real sizes in which no two
    members of one real session meet (permutations where that fails within
    :data:`SEPARATION_TRIES` tries are left out and counted), and the same
    statistic, with the same maximum over lags, is computed; so the clip's
    shared drive and the search over lags are in the null too.

    Parameters
    ----------
    tc : pandas.DataFrame
        Time courses (:func:`analysis.measures.timecourse.timecourses`), ideally with
        bins of :func:`synchrony_bin` (the window and lags are in seconds, turned into
        bins by the spacing of ``second``).
    measure : str
        Column of ``tc``: a facial measure, or a head-position control.
    n_perm : int
    seed : int
    window_s, step_s, max_lag_s : float
        Window, step and largest lag in seconds.
    control : str, optional
        A column (head position) whose differenced series, at lags -1, 0, +1 bins, is
        regressed out of each member's differenced ``measure`` per clip before the test:
        synchrony of the measure beyond what shared head movement explains.

    Returns
    -------
    SynchronyTest

    Examples
    --------
    The small study's clips last 10 s, so shorter windows than the default here:

    >>> from analysis.measures.timecourse import timecourses
    >>> tc = timecourses(study, trials, bin_width=0.5)
    >>> res = synchrony_test(tc, "AU12", n_perm=50, window_s=4, step_s=2, max_lag_s=1)
    >>> res.n_perm, res.n_failed, round(res.min_p, 3), 0 <= res.p_val <= 1
    (50, 0, 0.333, True)

    Two groups of two can be dealt into few distinct pseudo-groups: no p below
    ``min_p`` = 1/3 is reachable, whatever the data.
    """
    name = f"{measure} | {control}" if control else measure
    g = tc[tc["condition"] == "group"].dropna(subset=[measure])
    secs = np.unique(np.round(g["second"].to_numpy(float), 6)) if len(g) else np.array([0.0, 1.0])
    dt = float(np.min(np.diff(secs))) if len(secs) > 1 else 1.0
    window, step = max(4, int(round(window_s / dt))), max(1, int(round(step_s / dt)))
    max_lag = int(round(max_lag_s / dt))
    members = g.drop_duplicates("participant_id")[["participant_id", "session_id"]].reset_index(drop=True)
    idx = {p: i for i, p in enumerate(members["participant_id"])}
    n = len(members)
    sums, counts = np.zeros((n, n)), np.zeros((n, n))
    for _, part in g.groupby("stimulus_id"):
        wide = part.pivot_table(index="second", columns="participant_id", values=measure).sort_index()
        diff = wide.diff().iloc[1:]
        arr = diff.to_numpy()
        if control:
            ctrl = part.pivot_table(index="second", columns="participant_id", values=control)
            ctrl = ctrl.reindex(index=wide.index, columns=wide.columns).diff().iloc[1:].to_numpy()
            arr = np.column_stack([_residual_on(arr[:, k], ctrl[:, k]) for k in range(arr.shape[1])])
        cols = list(diff.columns)
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
        why = (
            "fewer than two group sessions with two or more members"
            if len(groups) < 2
            else f"no window of {window_s:g} s with +/-{max_lag_s:g} s of lags fits in the clips"
        )
        return SynchronyTest(name, observed, np.nan, np.nan, np.nan, 0, len(groups), per, note=why)
    rng = np.random.default_rng(seed)
    sizes = [len(grp) for grp in groups]
    pool = np.concatenate(groups)
    null, seen, failed = [], set(), 0
    for _ in range(n_perm):
        for _attempt in range(SEPARATION_TRIES):  # pseudo-groups without two members of one real session
            order = rng.permutation(pool)
            cuts = np.split(order, np.cumsum(sizes)[:-1])
            if all(len(set(sessions[c])) == len(c) for c in cuts):
                break
        else:
            failed += 1
            continue
        seen.add(frozenset(frozenset(c.tolist()) for c in cuts))
        vals = [group_value(c) for c in cuts]
        null.append(np.nanmean(vals) if np.isfinite(vals).any() else np.nan)
    null = np.asarray(null, float)
    null = null[np.isfinite(null)]
    if not len(null):
        why = (
            f"pseudo-groups of sizes {sorted(set(sizes))} cannot keep the members of "
            f"{len(groups)} real groups apart: no null distribution"
        )
        return SynchronyTest(
            name, observed, np.nan, np.nan, np.nan, 0, len(groups), per, n_failed=failed, note=why
        )
    p = float((1 + (null >= observed).sum()) / (1 + len(null)))
    min_p = 1.0 / (1 + min(len(seen), len(null)))
    notes = []
    if len(seen) < len(null):
        notes.append(f"only {len(seen)} distinct pseudo-groupings among {len(null)} permutations")
    if failed:
        notes.append(f"{failed} permutations could not keep real group members apart and were left out")
    return SynchronyTest(
        name,
        observed,
        float(null.mean()),
        float(null.std(ddof=1)) if len(null) > 1 else np.nan,
        p,
        int(len(null)),
        len(groups),
        per,
        min_p,
        len(seen),
        failed,
        "; ".join(notes),
    )
