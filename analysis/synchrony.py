"""Group synchrony: do members of a group move their faces together?

For every clip, the per-second time courses of one facial measure (default
AU12) are correlated between two people. *Real* pairs sat in the same group
session; *pseudo-pairs* are group participants from different sessions who
watched the same clip (the synchrony expected from the clip alone). The test
is per group session: d = mean Fisher z of the session's real pairs minus the
mean z of the pseudo-pairs involving its members, one-sample t test of d
across sessions (sessions are the independent units).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps


def synchrony_table(tc: pd.DataFrame, measure: str = "AU12", min_seconds: int = 5) -> pd.DataFrame:
    """Correlation of every real and pseudo pair of group participants per clip.

    Parameters
    ----------
    tc : pandas.DataFrame
        Time courses from :func:`analysis.timecourse.timecourses`.
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
    >>> syn = synchrony_table(timecourses(study, trials))  # doctest: +SKIP
    >>> syn.groupby("pair")["z"].mean()                     # doctest: +SKIP
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
    >>> per_session, test = synchrony_summary(syn)  # doctest: +SKIP
    >>> test["p_val"] < 0.05                         # doctest: +SKIP
    True
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
