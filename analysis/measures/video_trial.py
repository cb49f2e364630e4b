"""A plain video measured as coaffect measures a session: a baseline window, then one trial.

A clip scored without a session (``coaffect score`` on a plain video, the
invariance bench, the size tests) has no events. To ask what a trial table
would report for it, :func:`video_study` takes the first part of its frames
as the neutral baseline window and the rest as one clip, and builds the
:class:`~analysis.study.load.Study` a session folder with that timing would
give; :func:`video_trial_means` runs :func:`analysis.measures.trials.trial_table` on
it. The numbers are the trial table's own: each measure's mean over the clip
minus the participant's mean over the baseline window, with the protocol's
frame exclusions (doubtful identities by default). So a constant offset of a
measure (a face drawn differently by the landmark model at another size)
cancels, as it does for every participant of a study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats import session_format as fmt
from coaffect.formats.protocol import Analysis
from coaffect.formats.session_meta import SessionMeta
from coaffect.formats.session_reader import Session, button_intervals

from ..study.load import SessionData, Study, measure_columns
from .trials import trial_table

#: Share of a plain video's span taken as the baseline window by default.
BASELINE_FRACTION = 0.3


def _empty(spec: fmt.TableSpec) -> pd.DataFrame:
    return pd.DataFrame(
        {c.name: pd.Series(dtype=float if c.kind == "float" else object) for c in spec.columns}
    )


def baseline_split(t: np.ndarray, baseline_fraction: float = BASELINE_FRACTION) -> float:
    """Session time that ends the baseline window: ``baseline_fraction`` of the span of ``t``.

    Examples
    --------
    >>> baseline_split(np.arange(10) / 10.0, 0.3)
    0.27
    """
    t = np.asarray(t, dtype=float)
    lo, hi = float(np.nanmin(t)), float(np.nanmax(t))
    return round(lo + baseline_fraction * (hi - lo), 9)


def video_study(
    faces: pd.DataFrame, baseline_fraction: float = BASELINE_FRACTION, settings: Analysis | None = None
) -> Study:
    """A one-session :class:`Study` of a scored plain video: baseline window, then one clip.

    Parameters
    ----------
    faces : pandas.DataFrame
        A faces table of one video (:func:`analysis.scoring.video.score_video`, or
        the same columns: ``t``, ``participant_id``, ``face_found`` and the
        measures; ``face_quality`` optional).
    baseline_fraction : float
        Share of the video's time span, from its first frame, that is the
        baseline window (``[t0, split)``); the clip (trial 1, ``stimulus_id``
        ``video``) runs from ``split`` to the last frame.
    settings : coaffect.formats.protocol.Analysis, optional
        The protocol's analysis settings (default: a protocol's defaults).

    Returns
    -------
    Study
        One session (``video``, condition ``alone``), no button presses or ratings.

    Examples
    --------
    >>> faces = pd.DataFrame({"t": np.arange(10) / 10, "participant_id": "P",
    ...                       "face_found": True, "AU12": np.arange(10.0)})
    >>> sd = video_study(faces).sessions[0]
    >>> sd.baseline, sd.clips[["onset", "trial"]].values.tolist()
    ((0.0, 0.27), [[0.27, 1.0]])
    """
    settings = settings or Analysis()
    t = faces["t"].to_numpy(dtype=float)
    split = baseline_split(t, baseline_fraction)
    step = float(np.median(np.diff(np.unique(t)))) if len(np.unique(t)) > 1 else 1.0
    end = float(np.nanmax(t)) + 0.5 * step  # the last frame is inside the clip (t < onset + duration)
    clips = pd.DataFrame(
        {"onset": [split], "duration": [end - split], "trial": [1], "stimulus_id": ["video"]}
    )
    events = _empty(fmt.EVENTS)
    buttons = _empty(fmt.BUTTONS)
    session = Session(
        Path("video"),
        SessionMeta("video", "alone", [], status="complete"),
        events,
        buttons,
        _empty(fmt.RATINGS),
        _empty(fmt.FLIPS),
    )
    pids = sorted(faces["participant_id"].astype(str).unique())
    people = pd.DataFrame({"participant_id": pids, "seat": [f"seat{k + 1}" for k in range(len(pids))]})
    sd = SessionData(
        session,
        "alone",
        people,
        clips,
        (float(np.nanmin(t)), split),
        button_intervals(buttons),
        faces,
    )
    stimuli = pd.DataFrame({"stimulus_id": ["video"], "valence": ["neutral"], "planned_duration": [np.nan]})
    return Study(Path("video"), [sd], stimuli, settings)


def video_trial_means(
    faces: pd.DataFrame,
    measures: list[str] | None = None,
    baseline_fraction: float = BASELINE_FRACTION,
    settings: Analysis | None = None,
) -> pd.DataFrame:
    """The trial table's row per participant for a plain video (:func:`video_study`).

    Parameters
    ----------
    faces : pandas.DataFrame
        A faces table of one video (see :func:`video_study`).
    measures : list of str, optional
        Facial measures (default: every measure in ``faces``).
    baseline_fraction : float
        Share of the span that is the baseline window.
    settings : coaffect.formats.protocol.Analysis, optional

    Returns
    -------
    pandas.DataFrame
        Indexed by participant_id: :func:`analysis.measures.trials.trial_table`'s
        columns (each measure's baseline-corrected clip mean, ``M_peak``,
        ``n_face_frames``, ``face_excluded``...).

    Examples
    --------
    A constant offset of the whole video does not change what the trial table reports:

    >>> faces = pd.DataFrame({"t": np.arange(10) / 10, "participant_id": "P",
    ...                       "face_found": True, "AU12": [0.0] * 3 + [1.0] * 7})
    >>> a = video_trial_means(faces, ["AU12"])["AU12"]
    >>> b = video_trial_means(faces.assign(AU12=faces["AU12"] + 5), ["AU12"])["AU12"]
    >>> a.tolist(), b.tolist()
    ([1.0], [1.0])
    """
    measures = list(measures) if measures is not None else measure_columns(faces)
    table = trial_table(video_study(faces, baseline_fraction, settings), measures)
    return table.set_index("participant_id")
