"""Continuous self-report measures per participant x clip (Larsen & McGraw 2011).

Participants hold a *happy* and a *sad* button while they feel so; holding both
is a simultaneous mixed feeling. From the hold intervals rebuilt by
:func:`coaffect.formats.session_reader.button_intervals`, clipped to each clip's onset
and offset from ``events.tsv``, this module computes per participant x clip:

========================  ====================================================
column                    meaning
========================  ====================================================
``t_happy``, ``t_sad``    seconds the button was held during the clip
``t_both``                seconds both buttons were held at once
``t_both_expected``       seconds of overlap expected by chance if the two
                          buttons were held independently:
                          ``t_happy * t_sad / duration``
``t_both_excess``         ``t_both - t_both_expected``: overlap beyond chance
                          (positive: the buttons are held together more
                          than independent use would produce)
``p_happy``, ``p_sad``,   the same as shares of the clip duration (0..1)
``p_both``
``any_simultaneous``      ``t_both >= threshold`` (protocol
                          ``analysis.simultaneity_threshold``)
``n_switches``            changes between the exclusive states happy-only
                          and sad-only (periods with neither or both buttons
                          in between are skipped: happy-only, both,
                          sad-only is one switch; pressing the second
                          button while still holding the first is not one
                          by itself)
``min_index``             ``min(t_happy, t_sad)``, the MIN index of mixed
                          feelings on durations: simultaneous *and*
                          sequential (happy, then sad) feelings alike;
                          ``t_both`` is the simultaneous part (Larsen &
                          McGraw 2011 report them apart)
``unclosed_hold``         a hold in this clip whose release was never recorded
``never_pressed``         the participant pressed no button in any clip of
                          the session (a compliance flag: their zeros are
                          not evidence of no feeling)
========================  ====================================================

All computation is on tidy tables; reading files is done by the callers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_ids, check_type

#: Columns of :func:`self_report_measures`, in order.
SELF_REPORT_COLUMNS = (
    "participant_id",
    "trial",
    "stimulus_id",
    "clip_onset",
    "clip_duration",
    "t_happy",
    "t_sad",
    "t_both",
    "t_both_expected",
    "t_both_excess",
    "p_happy",
    "p_sad",
    "p_both",
    "any_simultaneous",
    "n_switches",
    "min_index",
    "unclosed_hold",
    "never_pressed",
)


def _exclusive_switches(segs: dict) -> int:
    """Changes between happy-only and sad-only periods, in time order."""
    edges = sorted({t for b in ("happy", "sad") for seg in segs[b] for t in seg})
    states = []
    for a, b in zip(edges, edges[1:]):
        mid = (a + b) / 2
        on = {k: any(x <= mid < y for x, y in segs[k]) for k in ("happy", "sad")}
        if on["happy"] != on["sad"]:
            state = "happy" if on["happy"] else "sad"
            if not states or states[-1] != state:
                states.append(state)
    return max(0, len(states) - 1)


def merge_segments(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge overlapping or touching segments.

    Examples
    --------
    >>> merge_segments([(3.0, 4.0), (1.0, 2.0), (1.5, 2.5)])
    [(1.0, 2.5), (3.0, 4.0)]
    """
    out: list[tuple[float, float]] = []
    for a, b in sorted(segments):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _total(segments: list[tuple[float, float]]) -> float:
    return float(sum(b - a for a, b in segments))


def _overlap(a_segs: list[tuple[float, float]], b_segs: list[tuple[float, float]]) -> float:
    """Total length of the intersection of two merged segment lists."""
    i = j = 0
    total = 0.0
    while i < len(a_segs) and j < len(b_segs):
        lo = max(a_segs[i][0], b_segs[j][0])
        hi = min(a_segs[i][1], b_segs[j][1])
        if hi > lo:
            total += hi - lo
        if a_segs[i][1] < b_segs[j][1]:
            i += 1
        else:
            j += 1
    return total


def clip_intervals(intervals: pd.DataFrame, onset: float, offset: float) -> pd.DataFrame:
    """Hold intervals cut to the window ``[onset, offset]``.

    Parameters
    ----------
    intervals : pandas.DataFrame
        Output of :func:`coaffect.formats.session_reader.button_intervals`.
    onset, offset : float
        Window on the session clock (s).

    Returns
    -------
    pandas.DataFrame
        The intervals that overlap the window, with ``onset``/``offset``
        clipped to it and ``duration`` recomputed.

    Examples
    --------
    >>> iv = pd.DataFrame({"participant_id": ["P1"], "seat": ["A"], "button": ["happy"],
    ...                    "onset": [8.0], "offset": [12.0], "duration": [4.0], "closed": [True]})
    >>> clip_intervals(iv, 10.0, 20.0)[["onset", "offset", "duration"]].values.tolist()
    [[10.0, 12.0, 2.0]]
    """
    keep = (intervals["offset"] > onset) & (intervals["onset"] < offset)
    out = intervals.loc[keep].copy()
    out["onset"] = out["onset"].clip(lower=onset)
    out["offset"] = out["offset"].clip(upper=offset)
    out["duration"] = out["offset"] - out["onset"]
    return out.reset_index(drop=True)


def _one(holds: list[tuple[str, float, float, bool]], onset: float, offset: float, threshold: float) -> dict:
    """Measures from one participant's holds, already clipped to [onset, offset]."""
    duration = offset - onset
    segs = {b: merge_segments([(a, e) for bb, a, e, _ in holds if bb == b]) for b in ("happy", "sad")}
    t_happy, t_sad = _total(segs["happy"]), _total(segs["sad"])
    t_both = _overlap(segs["happy"], segs["sad"])
    switches = _exclusive_switches(segs)
    share = (lambda x: x / duration) if duration > 0 else (lambda x: np.nan)
    expected = t_happy * t_sad / duration if duration > 0 else np.nan
    return {
        "t_happy": t_happy,
        "t_sad": t_sad,
        "t_both": t_both,
        "t_both_expected": expected,
        "t_both_excess": t_both - expected,
        "p_happy": share(t_happy),
        "p_sad": share(t_sad),
        "p_both": share(t_both),
        "any_simultaneous": bool(t_both >= threshold and t_both > 0),
        "n_switches": int(switches),
        "min_index": min(t_happy, t_sad),
        "unclosed_hold": any(not closed for *_, closed in holds),
    }


def self_report_measures(
    intervals: pd.DataFrame,
    clips: pd.DataFrame,
    participants: list[str] | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Larsen & McGraw (2011) button measures per participant x clip.

    Parameters
    ----------
    intervals : pandas.DataFrame
        Hold intervals of one session (``participant_id``, ``button``,
        ``onset``, ``offset``, ``closed``), from
        :func:`coaffect.formats.session_reader.button_intervals`.
    clips : pandas.DataFrame
        The session's clip events: ``onset``, ``duration``, ``trial``,
        ``stimulus_id`` (``events.tsv`` rows with ``trial_type == 'clip'``).
    participants : list of str, optional
        Everyone in the session (ids, e.g. ``SessionData.participants["participant_id"].tolist()``);
        participants who never pressed get zeros. Default: those present in ``intervals``.
    threshold : float
        Seconds of simultaneous holding for ``any_simultaneous`` (protocol
        ``analysis.simultaneity_threshold``).

    Returns
    -------
    pandas.DataFrame
        One row per participant x clip with the columns listed in
        :data:`SELF_REPORT_COLUMNS` (times in s, shares 0..1).

    Examples
    --------
    >>> iv = pd.DataFrame({"participant_id": ["P1", "P1"], "seat": ["A", "A"],
    ...     "button": ["happy", "sad"], "onset": [1.0, 3.0], "offset": [5.0, 12.0],
    ...     "duration": [4.0, 9.0], "closed": [True, True]})
    >>> clips = pd.DataFrame({"onset": [0.0], "duration": [10.0], "trial": [1],
    ...                       "stimulus_id": ["c1"]})
    >>> m = self_report_measures(iv, clips)
    >>> m[["t_happy", "t_sad", "t_both", "n_switches", "min_index"]].values.tolist()
    [[4.0, 7.0, 2.0, 1.0, 4.0]]
    >>> m[["t_both_expected", "t_both_excess"]].round(2).values.tolist()  # 4 * 7 / 10
    [[2.8, -0.8]]
    """
    check_type("intervals", intervals, pd.DataFrame, "hold intervals (pandas DataFrame)")
    check_type("clips", clips, pd.DataFrame, "the session's clip events (pandas DataFrame)")
    participants = check_ids("participants", participants)
    if participants is None:
        participants = sorted(intervals["participant_id"].dropna().unique().tolist())
    by_pid: dict[str, list] = {}
    closed = intervals["closed"] if "closed" in intervals.columns else [True] * len(intervals)
    for pid, button, a, e, c in zip(
        intervals["participant_id"].astype(str),
        intervals["button"],
        intervals["onset"].astype(float),
        intervals["offset"].astype(float),
        closed,
    ):
        by_pid.setdefault(pid, []).append((str(button), a, e, bool(c)))
    rows = []
    for clip in clips.itertuples(index=False):
        onset, offset = float(clip.onset), float(clip.onset) + float(clip.duration)
        for pid in participants:
            holds = [
                (b, max(a, onset), min(e, offset), c)
                for b, a, e, c in by_pid.get(str(pid), [])
                if e > onset and a < offset
            ]
            rows.append(
                {
                    "participant_id": str(pid),
                    "trial": int(clip.trial),
                    "stimulus_id": str(clip.stimulus_id),
                    "clip_onset": onset,
                    "clip_duration": float(clip.duration),
                    **_one(holds, onset, offset, threshold),
                }
            )
    out = pd.DataFrame(rows, columns=list(SELF_REPORT_COLUMNS))
    pressed = out.groupby("participant_id")[["t_happy", "t_sad"]].sum().sum(axis=1) > 0
    out["never_pressed"] = ~out["participant_id"].map(pressed).fillna(False).astype(bool)
    return out.astype(
        {
            "trial": "int64",
            "n_switches": "int64",
            "any_simultaneous": "bool",
            "unclosed_hold": "bool",
            "never_pressed": "bool",
        }
    )


def ratings_wide(ratings: pd.DataFrame) -> pd.DataFrame:
    """Post-clip ratings as one row per participant x trial.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``ratings.tsv`` rows (trial, stimulus_id, participant_id, item, value, rt).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``trial`` and one ``rating_<item>`` column per
        item (scale points; NaN when the rating timed out), and
        ``rating_min`` = min(rating_happy, rating_sad) when both items exist
        (Schimmack 2001).

    Examples
    --------
    >>> r = pd.DataFrame({"trial": [1, 1], "stimulus_id": ["c1", "c1"],
    ...     "participant_id": ["P1", "P1"], "item": ["happy", "sad"],
    ...     "value": [7, 2], "rt": [1.2, 0.9], "onset": [30.0, 30.0]})
    >>> ratings_wide(r).columns.tolist()
    ['participant_id', 'trial', 'rating_happy', 'rating_sad', 'rating_min']
    >>> float(ratings_wide(r)["rating_min"].iloc[0])
    2.0
    """
    if ratings.empty:
        return pd.DataFrame({"participant_id": pd.Series(dtype="str"), "trial": pd.Series(dtype="int64")})
    r = ratings.assign(
        value=pd.to_numeric(ratings["value"], errors="coerce").astype("float64"),
        participant_id=ratings["participant_id"].astype(str),
        trial=ratings["trial"].astype("int64"),
        item=ratings["item"].astype(str),
    )
    wide = r.pivot_table(
        index=["participant_id", "trial"], columns="item", values="value", aggfunc="last", dropna=False
    )
    wide.columns = [f"rating_{c}" for c in wide.columns]
    wide = wide.reset_index()
    if {"rating_happy", "rating_sad"} <= set(wide.columns):
        # the MIN index on ratings (Schimmack 2001): mixed feelings are as strong as the weaker one
        wide["rating_min"] = wide[["rating_happy", "rating_sad"]].min(axis=1, skipna=False)
    return wide
