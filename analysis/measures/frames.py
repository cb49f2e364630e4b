"""The frames of each clip, aligned with the buttons and the baseline: the ground the trial table stands on.

:func:`clip_frames` gives every participant's camera frames inside each clip with the
button states at each frame and the facial measures less the participant's baseline
mean (:func:`baseline_means`); :func:`button_state` and :func:`hold_segments` answer
"was this button held at time t" from the hold intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..study.load import SessionData, measure_columns
from .self_report import merge_segments

__all__ = ["baseline_means", "button_state", "clip_frames", "hold_segments", "session_segments"]


def hold_segments(intervals: pd.DataFrame) -> dict:
    """Merged hold segments per (participant_id, button), as (onsets, offsets) arrays.

    Examples
    --------
    >>> iv = pd.DataFrame({"participant_id": ["P1", "P1"], "button": ["happy"] * 2,
    ...                    "onset": [1.0, 1.5], "offset": [2.0, 3.0]})
    >>> [a.tolist() for a in hold_segments(iv)[("P1", "happy")]]
    [[1.0], [3.0]]
    """
    out = {}
    for (pid, button), part in intervals.groupby(["participant_id", "button"]):
        segs = merge_segments(list(zip(part["onset"].astype(float), part["offset"].astype(float))))
        out[(str(pid), str(button))] = (np.array([a for a, _ in segs]), np.array([b for _, b in segs]))
    return out


def button_state(
    intervals: pd.DataFrame | dict, participant_id: str, button: str, times: np.ndarray
) -> np.ndarray:
    """Whether a button was held (1.0) or not (0.0) at each time.

    Parameters
    ----------
    intervals : pandas.DataFrame or dict
        Hold intervals (participant_id, button, onset, offset), or their
        :func:`hold_segments` (faster when called many times).
    participant_id, button : str
        Whose button (``happy`` or ``sad``).
    times : numpy.ndarray
        Session-clock times (s).

    Returns
    -------
    numpy.ndarray of float
        1.0 where held (onset <= t < offset), else 0.0.

    Examples
    --------
    >>> iv = pd.DataFrame({"participant_id": ["P1"], "button": ["happy"],
    ...                    "onset": [1.0], "offset": [2.0]})
    >>> button_state(iv, "P1", "happy", np.array([0.5, 1.0, 1.5, 2.0])).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    segments = intervals if isinstance(intervals, dict) else hold_segments(intervals)
    on, off = segments.get((str(participant_id), button), (np.array([]), np.array([])))
    if len(on) == 0:
        return np.zeros(len(times))
    held = np.searchsorted(on, times, side="right") - np.searchsorted(off, times, side="right")
    return (held > 0).astype(float)


def session_segments(sd: SessionData) -> dict:
    """:func:`hold_segments` of a session, computed once."""
    if "segments" not in sd.cache:
        sd.cache["segments"] = hold_segments(sd.intervals)
    return sd.cache["segments"]


def baseline_means(sd: SessionData, measures: list[str], exclude=()) -> pd.DataFrame:
    """Each participant's mean of each measure over the baseline window.

    ``exclude`` lists face_quality flags whose frames are left out (the
    protocol's ``analysis.exclude_quality``).

    Returns
    -------
    pandas.DataFrame
        Indexed by participant_id, one column per measure, plus
        ``baseline_frames`` (frames with a face in the window).

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> baseline_means(load_study(sim).sessions[0], ["AU12"])["baseline_frames"].tolist()
    [24]
    """
    faces = sd.faces
    if faces is None or sd.baseline is None:
        return pd.DataFrame(columns=[*measures, "baseline_frames"])
    a, b = sd.baseline
    win = faces.loc[(faces["t"] >= a) & (faces["t"] < b) & faces["face_found"].astype(bool)]
    if exclude and "face_quality" in win.columns:
        q = win["face_quality"].astype(str)
        win = win[~np.logical_or.reduce([q.str.contains(f, regex=False) for f in exclude])]
    means = win.groupby("participant_id")[measures].mean()
    means["baseline_frames"] = win.groupby("participant_id").size()
    return means


def clip_frames(sd: SessionData, measures: list[str] | None = None) -> pd.DataFrame:
    """Frames inside each clip window, baseline-corrected, with button states.

    Parameters
    ----------
    sd : SessionData
        One session (its faces table must exist).
    measures : list of str, optional
        Facial measures to keep (default: all present).

    Returns
    -------
    pandas.DataFrame
        session_id, participant_id, trial, stimulus_id, t (session clock),
        t_rel (s since clip onset), face_found, happy, sad (button held 0/1)
        and each measure minus the participant's baseline mean (NaN where no
        face or no baseline).

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> clip_frames(load_study(sim).sessions[0], ["AU12"]).columns.tolist()
    ['session_id', 'participant_id', 'trial', 'stimulus_id', 't', 't_rel', 'face_found', 'happy', 'sad', 'AU12', 'face_quality', 'face_w', 'landmark_jitter']
    """
    faces = sd.faces
    if faces is None:
        raise ValueError("clip_frames needs a faces table")
    measures = list(measures) if measures is not None else measure_columns(faces)
    for have, frames in sd.cache.items():  # computed once per session, reused by every analysis
        if isinstance(have, tuple) and set(measures) <= set(have):
            return frames[[c for c in frames.columns if c not in have or c in measures]]
    base = baseline_means(sd, measures)
    cols = [
        "session_id",
        "participant_id",
        "trial",
        "stimulus_id",
        "t",
        "t_rel",
        "face_found",
        "happy",
        "sad",
        *measures,
    ]
    t_all = faces["t"].to_numpy(dtype=float)
    idx, trial, stim, onset = [], [], [], []
    for clip in sd.clips.itertuples(index=False):
        hit = np.flatnonzero((t_all >= clip.onset) & (t_all < clip.onset + clip.duration))
        idx.append(hit)
        trial.append(np.full(len(hit), int(clip.trial)))
        stim += [str(clip.stimulus_id)] * len(hit)
        onset.append(np.full(len(hit), float(clip.onset)))
    if not idx or not sum(len(i) for i in idx):
        return pd.DataFrame(columns=cols)
    rows = np.concatenate(idx)
    t = t_all[rows]
    pids = faces["participant_id"].to_numpy()[rows].astype(str)
    found = faces["face_found"].to_numpy()[rows].astype(bool)
    values = faces[measures].to_numpy(dtype=float)[rows]
    ref = base.reindex(pids)[measures].to_numpy(dtype=float) if len(measures) else values
    values = values - ref
    values[~found] = np.nan
    frames = pd.DataFrame(
        {
            "session_id": sd.session_id,
            "participant_id": pids,
            "trial": np.concatenate(trial),
            "stimulus_id": stim,
            "t": t,
            "t_rel": t - np.concatenate(onset),
            "face_found": found,
        }
    )
    segments = session_segments(sd)
    for button in ("happy", "sad"):
        state = np.zeros(len(frames))
        for pid in np.unique(pids):
            sel = pids == pid
            state[sel] = button_state(segments, pid, button, t[sel])
        frames[button] = state
    for j, m in enumerate(measures):
        frames[m] = values[:, j]
    if "face_quality" in faces.columns:  # faces tables of format 2 on
        frames["face_quality"] = faces["face_quality"].to_numpy()[rows].astype(str)
        cols = [*cols, "face_quality"]
    for extra in ("face_w", "yaw", "pitch", "landmark_jitter"):  # pose and size (format 3)
        if extra in faces.columns and extra not in measures:
            frames[extra] = faces[extra].to_numpy(dtype=float)[rows]
            cols = [*cols, extra]
    frames = frames[cols]
    sd.cache[tuple(measures)] = frames
    return frames
