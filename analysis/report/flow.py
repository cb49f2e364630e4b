"""CONSORT-style flow of participants, trials and frames by condition (Schulz et al. 2010).

What entered the study, what was excluded at each step and why (trials, frames
left out by face-quality flags, coherence rows without a value), and what each
model analysed, per condition, so that a reader sees whether exclusions differ
between group and alone viewers (more missing faces in groups would bias the
facial comparison).
"""

from __future__ import annotations

import pandas as pd

#: Columns of :func:`exclusion_flow`.
FLOW_COLUMNS = ("step", "unit", "condition", "n")


def exclusion_flow(trials: pd.DataFrame, coherence: pd.DataFrame | None = None, models=()) -> pd.DataFrame:
    """Counts per condition at each step from enrolment to analysis.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table (:func:`analysis.measures.trials.trial_table`).
    coherence : pandas.DataFrame, optional
        :attr:`analysis.measures.coherence.CoherenceResult.table`: its rows without a
        value are counted per condition.
    models : list of MixedModelResult
        Fitted models: the participants and trials each one used, per condition.

    Returns
    -------
    pandas.DataFrame
        step, unit (participants, trials, frames, trial x button), condition, n;
        exclusion steps name their reason (``excluded: <reason>``).

    Examples
    --------
    >>> t = pd.DataFrame({"participant_id": ["P1", "P1", "P2"], "condition": ["alone"] * 3,
    ...     "excluded": [False, True, False], "exclusion_reason": ["", "clip cut", ""],
    ...     "face_excluded": [False, False, True], "face_exclusion_reason": ["", "", "no face"],
    ...     "n_frames": [50, 50, 50], "face_fraction": [1.0, 0.9, 0.2]})
    >>> f = exclusion_flow(t)
    >>> f.loc[f["step"] == "analysed: facial measures", "n"].tolist()
    [1]
    """
    rows = []

    def add(step, unit, part, n):
        rows.append({"step": step, "unit": unit, "condition": part, "n": int(n)})

    for cond, d in trials.groupby("condition", sort=True):
        add("enrolled", "participants", cond, d["participant_id"].nunique())
        if "never_pressed" in d.columns:
            never = d.loc[d["never_pressed"].astype(bool), "participant_id"].nunique()
            add("flagged: never pressed a button", "participants", cond, never)
        add("planned or shown", "trials", cond, len(d))
        ex = d["excluded"].astype(bool)
        for reason, n in d.loc[ex, "exclusion_reason"].fillna("").value_counts().items():
            add(f"excluded: {reason or 'unspecified'}", "trials", cond, n)
        add("analysed: self-report", "trials", cond, (~ex).sum())
        if "face_excluded" in d.columns:
            fx = d["face_excluded"].astype(bool) & ~ex
            reasons = (
                d.loc[fx, "face_exclusion_reason"]
                .fillna("")
                .str.replace(
                    r"face visible in \d+% of frames \(< (\d+)%\)",
                    r"face visible in fewer than \1% of frames",
                    regex=True,
                )
                .str.replace(
                    r"identity doubtful in \d+% of face frames \(left out\)",
                    "identity doubtful in most face frames (left out)",
                    regex=True,
                )
            )
            for reason, n in reasons.value_counts().items():
                add(f"no facial measures: {reason or 'unspecified'}", "trials", cond, n)
            add("analysed: facial measures", "trials", cond, (~ex & ~d["face_excluded"].astype(bool)).sum())
        if "n_frames" in d.columns and "face_fraction" in d.columns:
            frames = d["n_frames"].fillna(0)
            with_face = frames * d["face_fraction"].fillna(0)
            add("camera frames during clips", "frames", cond, frames.sum())
            add("frames with the participant's face", "frames", cond, with_face.sum())
            if "quality_excluded" in d.columns:
                flagged = (with_face * d["quality_excluded"].fillna(0)).sum()
                add(
                    "frames left out: face_quality flags (analysis.exclude_quality)",
                    "frames",
                    cond,
                    round(flagged),
                )
            if "identity_doubtful_frames" in d.columns:
                add(
                    "frames with a doubtful identity",
                    "frames",
                    cond,
                    d["identity_doubtful_frames"].fillna(0).sum(),
                )
            if "n_face_frames" in d.columns:
                add("frames analysed: usable face frames", "frames", cond, d["n_face_frames"].fillna(0).sum())
        if coherence is not None and len(coherence):
            c = coherence[coherence["condition"] == cond]
            add("coherence: trial x button rows", "trial x button", cond, len(c))
            add(
                "coherence: no value (button never/always held, too few frames)",
                "trial x button",
                cond,
                c["r"].isna().sum(),
            )
    for res in models:
        for cond, (n_p, n_t) in getattr(res, "n_by_condition", {}).items():
            add(f"in model: {res.formula}", "participants", cond, n_p)
            add(f"in model: {res.formula}", "trials", cond, n_t)
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def flow_wide(flow: pd.DataFrame) -> pd.DataFrame:
    """The flow with one column per condition (for the report).

    Examples
    --------
    >>> print(flow_wide(exclusion_flow(trials)).to_string(index=False))
                                                              step         unit  alone  group
                                                          enrolled participants      3      4
                                   flagged: never pressed a button participants      0      0
                                                  planned or shown       trials      9     12
                                             analysed: self-report       trials      9     12
      no facial measures: face visible in fewer than 50% of frames       trials      0      2
                                         analysed: facial measures       trials      9     10
                                        camera frames during clips       frames    450    600
                                frames with the participant's face       frames    437    476
                                   frames with a doubtful identity       frames      0      0
    frames left out: face_quality flags (analysis.exclude_quality)       frames      0      0
                               frames analysed: usable face frames       frames    437    476
    """
    if flow.empty:
        return flow
    order = sorted(dict.fromkeys(zip(flow["unit"], flow["step"])), key=lambda us: _stage(us[1]))
    wide = flow.pivot_table(
        index=["unit", "step"], columns="condition", values="n", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(pd.MultiIndex.from_tuples(order, names=["unit", "step"]))
    wide.columns.name = None
    return wide.fillna(0).astype(int).reset_index()[["step", "unit", *wide.columns]]


_STAGES = (
    "enrolled",
    "flagged",
    "planned",
    "excluded",
    "analysed: self-report",
    "no facial measures",
    "analysed: facial",
    "camera frames",
    "frames with",
    "frames left out",
    "frames analysed",
    "coherence: trial",
    "coherence: no value",
    "in model",
)


def _stage(step: str) -> int:
    """Position of a step in the flow (stable sort keeps reasons in count order)."""
    return next((i for i, s in enumerate(_STAGES) if step.startswith(s)), len(_STAGES))
