"""Time courses: per-second means of each measure, aligned to clip onset.

Button states (``happy``, ``sad``: share of the bin the button was held) are
always available; facial measures (baseline-corrected, see
:mod:`analysis.measures.trials`) only for scored sessions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from coaffect.formats import faces_schema as fs

from ..study.load import SessionData, Study, measure_columns
from .frames import button_state, clip_frames, session_segments

#: Measures kept by default (others can be asked for).
#: Face-box position columns usable as a head-movement control series (baseline-corrected px).
HEAD_POSITION = tuple(c for c in fs.FACE_COLUMNS if c in ("face_x", "face_y"))

DEFAULT_MEASURES = ("AU12", "AU06", "smile", "inner_brow_lip_down", "emo_happy", "emo_sad")


def _grid_frames(sd: SessionData, rate: float = 10.0) -> pd.DataFrame:
    """Button states on a regular grid when a session has no faces table."""
    parts = []
    for clip in sd.clips.itertuples(index=False):
        t = clip.onset + np.arange(0, clip.duration, 1.0 / rate)
        for pid in sd.participants["participant_id"]:
            parts.append(
                pd.DataFrame(
                    {
                        "session_id": sd.session_id,
                        "participant_id": pid,
                        "trial": int(clip.trial),
                        "stimulus_id": str(clip.stimulus_id),
                        "t": t,
                        "t_rel": t - clip.onset,
                        "face_found": False,
                        "happy": button_state(session_segments(sd), pid, "happy", t),
                        "sad": button_state(session_segments(sd), pid, "sad", t),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def session_timecourses(sd: SessionData, measures: list[str], bin_width: float = 1.0) -> pd.DataFrame:
    """Per-bin means for one session (see :func:`timecourses`).

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> session_timecourses(load_study(sim).sessions[0], ["AU12"]).columns[:6].tolist()
    ['session_id', 'participant_id', 'trial', 'stimulus_id', 'second', 'happy']
    """
    have = set(measure_columns(sd.faces)) | set(HEAD_POSITION) if sd.faces is not None else set()
    present = [m for m in measures if m in have and (sd.faces is None or m in sd.faces.columns)]
    frames = clip_frames(sd, present) if sd.faces is not None else _grid_frames(sd)
    if frames.empty:
        return frames
    for m in measures:
        if m not in frames.columns:
            frames[m] = np.nan
    frames["second"] = np.floor(frames["t_rel"] / bin_width) * bin_width
    keys = ["session_id", "participant_id", "trial", "stimulus_id", "second"]
    g = frames.groupby(keys, sort=True)
    out = g[["happy", "sad", *measures]].mean()
    out["face_fraction"] = g["face_found"].mean()
    return out.reset_index()


def timecourses(
    study: Study,
    trials: pd.DataFrame | None = None,
    measures: list[str] | tuple = DEFAULT_MEASURES,
    bin_width: float = 1.0,
) -> pd.DataFrame:
    """Per-participant time courses of every clip, aligned to clip onset.

    Parameters
    ----------
    study : Study
        From :func:`analysis.study.load.load_study`.
    trials : pandas.DataFrame, optional
        Trial table; when given, trials it marks ``excluded`` are dropped and
        facial measures of ``face_excluded`` trials are set to NaN.
    measures : list of str
        Facial measures (missing ones come out NaN).
    bin_width : float
        Bin width in seconds (default 1 s).

    Returns
    -------
    pandas.DataFrame
        session_id, participant_id, condition, trial, stimulus_id, valence,
        second (bin start, s since clip onset), happy and sad (share of the
        bin held), each measure (mean over frames with a face), face_fraction.

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> tc = timecourses(load_study(sim))
    >>> sorted(tc["valence"].unique())
    ['bittersweet', 'negative', 'positive']
    """
    measures = list(measures)
    parts = []
    for sd in study.sessions:
        part = session_timecourses(sd, measures, bin_width)
        if len(part):
            part.insert(2, "condition", sd.condition)
            parts.append(part)
    if not parts:
        return pd.DataFrame()
    tc = pd.concat(parts, ignore_index=True)
    tc = tc.merge(study.stimuli[["stimulus_id", "valence"]], on="stimulus_id", how="left")
    if trials is not None and len(trials):
        flags = trials[["participant_id", "trial", "excluded", "face_excluded"]]
        tc = tc.merge(flags, on=["participant_id", "trial"], how="left")
        tc = tc[~tc["excluded"].fillna(False).astype(bool)]
        tc.loc[tc["face_excluded"].fillna(True).astype(bool), measures] = np.nan
        tc = tc.drop(columns=["excluded", "face_excluded"])
    cols = [
        "session_id",
        "participant_id",
        "condition",
        "trial",
        "stimulus_id",
        "valence",
        "second",
        "happy",
        "sad",
        *measures,
        "face_fraction",
    ]
    return tc[cols].reset_index(drop=True)


def condition_timecourse(
    tc: pd.DataFrame, measure: str, by: tuple[str, ...] = ("valence", "condition"), cluster: bool = True
) -> pd.DataFrame:
    """Mean time course with a 95% confidence band per group.

    Each participant is first averaged over the clips of a group (so the band
    reflects participants, not clips). With ``cluster`` (default), the members
    of a group session are then averaged into one unit, because they watched
    together and are not independent; the band is the t interval over units
    (alone participants and group sessions).

    Parameters
    ----------
    tc : pandas.DataFrame
        From :func:`timecourses`.
    measure : str
        Column to summarise (a facial measure, ``happy`` or ``sad``).
    by : tuple of str
        Grouping columns.
    cluster : bool
        Group sessions as one unit each (default), or every participant as independent.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, second, mean, sem, ci_low, ci_high, n (units).

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> tc = timecourses(load_study(sim))
    >>> condition_timecourse(tc, "AU12").columns.tolist()
    ['valence', 'condition', 'second', 'mean', 'sem', 'ci_low', 'ci_high', 'n']
    """
    keys = [*by, "second"]
    d = tc
    if cluster and "session_id" in tc.columns and "condition" in tc.columns:
        unit = (
            tc["participant_id"]
            .astype(str)
            .where(tc["condition"] != "group", "ses:" + tc["session_id"].astype(str))
        )
        d = tc.assign(_unit=unit)
        per = d.groupby([*keys, "_unit", "participant_id"], observed=True)[measure].mean().dropna()
        per = per.groupby(level=[*keys, "_unit"], observed=True).mean()
    else:
        per = d.groupby([*keys, "participant_id"], observed=True)[measure].mean().dropna()
    g = per.groupby(level=keys, observed=True)
    out = pd.DataFrame({"mean": g.mean(), "sem": g.sem(), "n": g.size()}).reset_index()
    q = sps.t.ppf(0.975, np.maximum(out["n"] - 1, 1))
    out["ci_low"] = out["mean"] - q * out["sem"]
    out["ci_high"] = out["mean"] + q * out["sem"]
    return out[[*keys, "mean", "sem", "ci_low", "ci_high", "n"]]
