"""The report's pose-and-size section: pose, face size and usable frames by condition.

A figure and a table by condition (:func:`analysis.faces.pose_size.condition_balance`),
a warning where the conditions differ by a standardised difference above
0.2, and a sensitivity table beside the primary model: the primary model,
the same model with pose-flagged frames left out of the trial measures, and
the primary model with median |yaw|, |pitch| and face size as trial
covariates. If the condition effect holds in all three, pose and framing do
not carry it. Also the red warnings for participants whose face frames are
mostly of a doubtful identity.
"""

from __future__ import annotations

import html as _html

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import QUALITY_LIMITS

from ..faces.pose_size import BALANCE_LIMIT, POSE_SIZE_COLUMNS, condition_balance
from . import html as H

#: Share of a participant's face frames with a doubtful identity above which the report warns.
DOUBTFUL_SHARE = 0.5

#: Trial covariates of the third sensitivity model.
POSE_COVARIATES = ("abs_yaw", "abs_pitch_change", "face_size_px")


def doubtful_identity_warnings(
    quality: pd.DataFrame, share: float = DOUBTFUL_SHARE, left_out: bool = True
) -> list[str]:
    """One message per participant whose face frames are mostly of a doubtful identity.

    Parameters
    ----------
    quality : pandas.DataFrame
        :func:`analysis.report.quality.quality_table` (``flag_identity``: share of face frames).
    share : float
        Share above which a participant is named.
    left_out : bool
        Whether the analysis leaves those frames out (the protocol's
        ``analysis.exclude_doubtful_identity``); the message says which.

    Examples
    --------
    >>> q = pd.DataFrame({"session_id": ["g1", "g1"], "participant_id": ["P1", "P2"],
    ...                   "flag_identity": [0.94, 0.1]})
    >>> doubtful_identity_warnings(q)[0][:30]
    'ses-g1 P1: 94% of this partici'
    >>> "are kept in the facial measures" in doubtful_identity_warnings(q, left_out=False)[0]
    True
    """
    if "flag_identity" not in quality.columns:
        return []
    what = (
        "they are left out of the facial measures (analysis.exclude_doubtful_identity) and the "
        "trials they empty are excluded"
        if left_out
        else "they are kept in the facial measures (the protocol sets "
        "analysis.exclude_doubtful_identity: false)"
    )
    limit = QUALITY_LIMITS["min_identity_confidence"]
    out = []
    for r in quality.itertuples(index=False):
        if np.isfinite(r.flag_identity) and r.flag_identity > share:
            out.append(
                f"ses-{r.session_id} {r.participant_id}: {100 * r.flag_identity:.0f}% of this "
                f"participant's face frames have a doubtful identity (identity confidence below "
                f"{limit:g}: the face may be someone else's); {what}. Check the enrollment photo "
                "and the seat plan."
            )
    return out


def sensitivity_table(primary: pd.DataFrame, pose_excluded: pd.DataFrame, formula: str, fit) -> pd.DataFrame:
    """The condition terms of one formula under the primary and two sensitivity analyses.

    Parameters
    ----------
    primary, pose_excluded : pandas.DataFrame
        Trial tables: as analysed, and with pose-flagged frames left out.
    formula : str
        The primary model's fixed part.
    fit : callable
        ``fit(trials, formula) -> MixedModelResult`` (:func:`analysis.stats.fit.fit_mixed`).

    Returns
    -------
    pandas.DataFrame
        analysis, formula, term, estimate, se, p_val, ci_low, ci_high (condition terms
        only), or a row with the reason when a model could not be fitted.

    Examples
    --------
    The small study's trial table twice (no pose or size varies in its simulated faces):

    >>> from analysis.stats.fit import fit_mixed
    >>> fit = lambda t, f: fit_mixed(t, f, engine="statsmodels")
    >>> sensitivity_table(trials, trials, "AU12 ~ condition", fit)[["analysis", "term"]].values.tolist()
    [['primary', 'condition[group-alone]'], ['pose-flagged frames excluded', 'condition[group-alone]'], ['pose and face size as trial covariates', 'no pose or size columns']]
    """
    covars = [c for c in POSE_COVARIATES if c in primary.columns and primary[c].astype(float).std() > 0]
    runs = [
        ("primary", primary, formula),
        ("pose-flagged frames excluded", pose_excluded, formula),
        (
            "pose and face size as trial covariates",
            primary,
            f"{formula} + {' + '.join(covars)}" if covars else None,
        ),
    ]
    rows = []
    for name, trials, f in runs:
        if f is None:
            rows.append({"analysis": name, "formula": "", "term": "no pose or size columns"})
            continue
        try:
            res = fit(trials, f)
        except Exception as exc:  # a sensitivity model that cannot be fitted is reported, not fatal
            rows.append({"analysis": name, "formula": f, "term": f"not fitted: {exc}"})
            continue
        fixed = res.fixed[res.fixed["term"].str.contains("condition")]
        for r in fixed.itertuples(index=False):
            rows.append(
                {
                    "analysis": name,
                    "formula": f,
                    "term": r.term,
                    "estimate": r.estimate,
                    "se": r.se,
                    "p_val": r.p_val,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                }
            )
    return pd.DataFrame(rows)


def pose_size_figure(trials: pd.DataFrame, path) -> None:
    """Box plots by condition of usable face frames, face size, |yaw|, |pitch| and jitter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in POSE_SIZE_COLUMNS if c in trials.columns and c != "identity_doubtful_frames"]
    d = trials[~trials["excluded"].astype(bool)]
    conds = sorted(d["condition"].dropna().unique())
    fig, axes = plt.subplots(1, len(cols), figsize=(2.6 * len(cols), 3.0), squeeze=False)
    for ax, c in zip(axes[0], cols):
        data = [d.loc[d["condition"] == k, c].astype(float).dropna().to_numpy() for k in conds]
        ax.boxplot(data, tick_labels=conds, showfliers=False)
        for i, v in enumerate(data, start=1):
            ax.scatter(
                np.full(len(v), i) + np.random.default_rng(i).uniform(-0.12, 0.12, len(v)), v, s=5, alpha=0.4
            )
        ax.set_title(c, fontsize=9)
    fig.suptitle("Per trial, by condition (trials not excluded)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def pose_size_section(trials: pd.DataFrame, sensitivity: pd.DataFrame | None, out_dir) -> str:
    """HTML of the section: figure, balance table, warnings, sensitivity table.

    Examples
    --------
    >>> html = pose_size_section(trials, None, tmp)
    >>> (tmp / "pose_size.png").exists(), html.count("<table")
    (True, 1)
    """
    if not any(c in trials.columns for c in POSE_SIZE_COLUMNS if c != "n_face_frames"):
        return H.missing("No pose or face-size columns: score the sessions again with this version.")
    balance = condition_balance(trials)
    pose_size_figure(trials, out_dir / "pose_size.png")
    body = ""
    for r in balance[balance["warning"]].itertuples(index=False):
        body += H.missing(
            f"The conditions differ in {r.measure}: standardised difference {r.std_diff:+.2f} "
            f"(|d| > {BALANCE_LIMIT:g}). A facial difference between conditions may partly come "
            "from this; see the sensitivity analyses below."
        )
    body += (
        H.para(
            "Head pose, face size, landmark jitter and usable face frames per trial, by condition. "
            "The facial units are computed on the pose-normalised frontal face, and each unit's "
            "remaining sensitivity to pose and size is published in docs/faces-table.md; where the "
            "conditions still differ, the sensitivity analyses show whether the result depends on it. "
            "Standardised difference: (second condition - first) / pooled SD over trials."
        )
        + H.figure("pose_size.png", "pose, size and usable frames by condition")
        + H.table(balance)
    )
    if sensitivity is not None and len(sensitivity):
        body += (
            "<h3>Sensitivity of the primary model</h3>"
            + H.para(
                "Condition terms of the primary model; of the same model with pose-flagged frames "
                "(|yaw| > 30 or |pitch| > 25 deg) left out of every trial's facial measures; and of "
                "the primary model with each trial's median |yaw|, |pitch| and face size as covariates."
            )
            + H.table(sensitivity)
        )
    return body


def warning_banner(messages: list[str]) -> str:
    """Red boxes for the top of the report.

    Examples
    --------
    >>> warning_banner(["P1: check"]).count("missing")
    1
    """
    return "".join(f"<p class='missing'><b>{_html.escape(m)}</b></p>" for m in messages)
