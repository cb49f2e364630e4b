"""The trial table: one row per participant x clip (``trials.tsv``).

Every participant x clip of every session gets a row; nothing is deleted.
Two pairs of flags say what may be used:

* ``excluded`` / ``exclusion_reason``: the trial itself is unusable (the
  session was aborted during the clip, the clip was cut short). Applies to
  every outcome.
* ``face_excluded`` / ``face_exclusion_reason``: the facial measures are
  unusable (no faces table, no face during the baseline, face visible in fewer
  than ``analysis.min_face_fraction`` of the clip's frames). Applies to facial
  outcomes only; the button measures of such a trial stay usable.

Frames whose ``face_quality`` carries a flag listed in the protocol's
``analysis.exclude_quality`` are left out of the facial means and peaks, and
so are frames of a doubtful identity (flag ``identity``) unless the protocol
sets ``analysis.exclude_doubtful_identity: false``; every flag is counted
either way (``quality_<flag>``: share of the clip's frames with a face that
carry it; ``identity_doubtful_frames``), so a reviewer sees how much each
flag touched. Each trial also gets its usable face frames, median face size,
median |yaw|, |pitch change| and landmark jitter (:mod:`analysis.faces.pose_size`).

Facial measures over the clip window are baseline-corrected: the participant's
mean over the protocol's ``analysis.baseline_window`` is subtracted. A measure
``M`` gives two columns: ``M`` (mean over usable face frames) and ``M_peak``
(:func:`analysis.expression.peak.robust_peak`: the 90th percentile of the ~1 s
moving average, less what noise alone reaches in a window of that many
frames, so neither noise nor missing frames, which differ by condition, can
raise it), so model formulas can say ``AU12 ~ condition * valence``;
``n_face_frames`` stays in the table as a covariate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_ids
from coaffect.formats.faces_schema import QUALITY_FLAGS

from ..docstrings import fill_doc
from ..expression.peak import trial_peaks
from ..faces.pose_size import trial_pose_size
from ..interop.session_import import face_sources
from ..study.load import SessionData, Study, as_study, measure_columns
from .frames import baseline_means, clip_frames
from .self_report import ratings_wide, self_report_measures

#: Identifying columns at the start of every trial table (``in_group``: 1 in group sessions, else 0,
#: the column of the ``(0 + in_group | session_id)`` random term).
ID_COLUMNS = (
    "participant_id",
    "session_id",
    "condition",
    "in_group",
    "seat",
    "trial",
    "stimulus_id",
    "valence",
)


def _quality_columns(frames: pd.DataFrame, exclude: list[str], measures: list[str]) -> pd.DataFrame:
    """Share of each trial's face frames per quality flag; blank out excluded frames (in place).

    Examples
    --------
    >>> fr = pd.DataFrame({"participant_id": "P", "trial": 1, "face_found": True,
    ...                    "face_quality": ["ok", "pose", "pose|motion_blur", "ok"], "AU12": [1.0, 9, 9, 3]})
    >>> q = _quality_columns(fr, ["pose"], ["AU12"])
    >>> q.iloc[0][["quality_pose", "quality_motion_blur", "quality_excluded"]].tolist(), fr["AU12"].tolist()
    ([0.5, 0.25, 0.5], [1.0, nan, nan, 3.0])
    """
    keys = ["participant_id", "trial"]
    if "face_quality" not in frames.columns:
        return pd.DataFrame(index=frames.groupby(keys).size().index)
    q = frames["face_quality"].astype(str)
    seen = frames["face_found"].astype(bool)
    cols = {f"quality_{flag}": q.str.contains(flag, regex=False) & seen for flag in QUALITY_FLAGS}
    bad = np.zeros(len(frames), bool)
    for flag in exclude:
        bad |= cols[f"quality_{flag}"].to_numpy()
    cols["quality_excluded"] = pd.Series(bad, index=frames.index)
    if bad.any() and measures:
        frames.loc[bad, measures] = np.nan
    table = pd.DataFrame(cols).astype(float)
    table[keys] = frames[keys]
    n_seen = seen.groupby([frames[k] for k in keys]).sum()
    sums = table.groupby(keys).sum()
    return sums.div(n_seen.where(n_seen > 0), axis=0)


def _session_trials(sd: SessionData, stimuli: pd.DataFrame, settings, measures: list[str]) -> pd.DataFrame:
    pids = sd.participants["participant_id"].tolist()
    sr = self_report_measures(sd.intervals, sd.clips, pids, settings.simultaneity_threshold)
    sr = sr.merge(ratings_wide(sd.session.ratings), on=["participant_id", "trial"], how="left")
    sr = sr.merge(sd.participants, on="participant_id", how="left")
    sr.insert(1, "session_id", sd.session_id)
    sr.insert(2, "condition", sd.condition)
    sr.insert(3, "in_group", int(sd.condition == "group"))
    sr = sr.merge(stimuli, on="stimulus_id", how="left")
    reasons = []
    for row in sr.itertuples(index=False):
        why = []
        off = row.clip_onset + row.clip_duration
        if any(row.clip_onset <= a <= off + 0.5 for a in sd.aborts):
            why.append("session aborted during the clip")
        planned = getattr(row, "planned_duration", np.nan)
        if planned == planned and row.clip_duration < 0.9 * planned:
            why.append(f"clip shown for {row.clip_duration:.1f} s of {planned:.1f} s")
        reasons.append("; ".join(why))
    sr["excluded"] = [bool(r) for r in reasons]
    sr["exclusion_reason"] = reasons
    face_cols = {m: np.nan for m in measures} | {f"{m}_peak": np.nan for m in measures}
    if sd.faces is None or not measures:
        for c, v in face_cols.items():
            sr[c] = v
        sr["face_fraction"] = np.nan
        sr["n_frames"] = 0
        sr["n_face_frames"] = 0
        sr["face_excluded"] = True
        sr["face_exclusion_reason"] = "no faces table (session not scored)"
        return sr
    frames = clip_frames(sd, measures).copy()  # the session cache stays unfiltered
    exclude = excluded_flags(settings)
    base = baseline_means(sd, measures, exclude)
    if exclude and len(frames) and measures:  # the baseline leaves out flagged frames too
        shift = baseline_means(sd, measures)[measures] - base[measures]
        frames[measures] += shift.reindex(frames["participant_id"]).to_numpy(dtype=float)
    quality = _quality_columns(frames, exclude, measures)
    usable = frames["face_found"].to_numpy(dtype=bool) & ~frames[measures].isna().all(axis=1).to_numpy()
    g = frames.groupby(["participant_id", "trial"])
    agg = g[measures].mean()
    peaks = trial_peaks(frames, measures)
    counts = g.size().rename("n_frames")
    uncovered = _uncovered_frames(frames, sd.clips, sd.faces)
    frac = (g["face_found"].sum() / (counts + uncovered.reindex(counts.index).fillna(0))).rename(
        "face_fraction"
    )
    found = sd.faces["face_found"].astype(bool)
    pitch_zero = (
        sd.faces.loc[found].groupby(sd.faces.loc[found, "participant_id"].astype(str))["pitch"].median()
        if "pitch" in sd.faces
        else None
    )
    pose_size = trial_pose_size(frames, usable, pitch_zero=pitch_zero)
    face = pd.concat([agg, peaks, counts, frac, pose_size, quality], axis=1).reset_index()
    sr = sr.merge(face, on=["participant_id", "trial"], how="left")
    sr["n_frames"] = sr["n_frames"].fillna(0).astype("int64")
    for c in ("n_face_frames", "identity_doubtful_frames"):
        sr[c] = sr[c].fillna(0).astype("int64")
    sources = (
        face_sources(sd.faces)
        .groupby(sd.faces["participant_id"].astype(str))
        .agg(lambda s: "+".join(sorted(set(s))))
    )
    sr["face_source"] = sr["participant_id"].map(sources)
    why_face = []
    for row in sr.itertuples(index=False):
        if row.n_frames == 0:
            why_face.append("no camera frames during the clip")
        elif row.participant_id not in base.index or base.loc[row.participant_id, "baseline_frames"] == 0:
            why_face.append(
                "no face on its seat; faces seen outside every seat (see score_summary.json seat_warnings)"
                if sd.score_warnings and not row.face_fraction > 0
                else "no face during the baseline"
            )
        elif row.face_fraction < settings.min_face_fraction:
            why_face.append(
                f"face visible in {100 * row.face_fraction:.0f}% of frames "
                f"(< {100 * settings.min_face_fraction:.0f}%)"
            )
        elif row.n_face_frames < settings.min_face_fraction * row.n_frames:
            seen = row.face_fraction * row.n_frames
            doubtful = row.identity_doubtful_frames / seen if seen else 0.0
            why_face.append(
                f"identity doubtful in {100 * doubtful:.0f}% of face frames (left out)"
                if "identity" in exclude and doubtful > 0.5
                else f"usable face in {100 * row.n_face_frames / row.n_frames:.0f}% of frames after "
                f"quality exclusions (< {100 * settings.min_face_fraction:.0f}%)"
            )
        else:
            why_face.append("")
    sr["face_excluded"] = [bool(w) for w in why_face]
    sr["face_exclusion_reason"] = why_face
    return sr


#: Frame intervals a participant's rows may miss at a clip's start or end before they count as lost.
UNCOVERED_FRAMES = 2


def _uncovered_frames(frames: pd.DataFrame, clips: pd.DataFrame, faces: pd.DataFrame) -> pd.Series:
    """Frames a participant's rows miss at a clip's start or end, at their own frame rate.

    A faces table whose rows stop inside a clip (a hand-made or partial table) would
    otherwise count its face fraction over the rows it has, not over the clip. A gap
    of up to :data:`UNCOVERED_FRAMES` frame intervals (the participant's median) is
    the frame grid itself (the first frame lands up to one interval after onset).

    Examples
    --------
    >>> faces = pd.DataFrame({"participant_id": "P", "t": np.arange(0, 30, 0.1)})
    >>> fr = pd.DataFrame({"participant_id": "P", "trial": 1, "t": np.arange(10, 19, 0.1)})
    >>> clips = pd.DataFrame({"trial": [1], "onset": [10.0], "duration": [20.0]})
    >>> int(_uncovered_frames(fr, clips, faces).iloc[0])
    110
    """
    keys = ["participant_id", "trial"]
    if not len(frames):
        return pd.Series(dtype=float)
    step = faces.groupby(faces["participant_id"].astype(str))["t"].agg(
        lambda t: float(np.nanmedian(np.diff(np.sort(t.unique())))) if t.nunique() > 1 else np.nan
    )
    span = frames.groupby(keys)["t"].agg(["min", "max"]).reset_index()
    span = span.merge(clips[["trial", "onset", "duration"]], on="trial", how="left")
    dt = span["participant_id"].map(step).to_numpy(float)
    ok = np.isfinite(dt) & (dt > 0)
    missing = np.zeros(len(span))
    for gap in (span["min"] - span["onset"], span["onset"] + span["duration"] - span["max"]):
        gap = gap.to_numpy(float)
        lost = ok & (gap > UNCOVERED_FRAMES * np.where(ok, dt, np.inf))
        missing[lost] += np.round(gap[lost] / dt[lost]) - 1  # the row at the edge stands for one interval
    return pd.Series(missing, index=pd.MultiIndex.from_frame(span[keys]))


def excluded_flags(settings) -> list[str]:
    """face_quality flags whose frames are left out of the facial measures.

    The protocol's ``analysis.exclude_quality``, plus ``identity`` (frames
    whose identity confidence is below the documented threshold) unless
    ``analysis.exclude_doubtful_identity`` is false.

    Examples
    --------
    >>> from coaffect.formats.protocol import Analysis
    >>> excluded_flags(Analysis()), excluded_flags(Analysis(exclude_doubtful_identity=False))
    (['identity'], [])
    """
    flags = list(getattr(settings, "exclude_quality", None) or [])
    if getattr(settings, "exclude_doubtful_identity", True) and "identity" not in flags:
        flags.append("identity")
    return flags


def _not_shown(sd: SessionData, stimuli: pd.DataFrame) -> pd.DataFrame:
    """Rows for planned clips (session.json ``trial_order``) that never played."""
    order = [c for c in (sd.session.meta.get("trial_order") or []) if isinstance(c, str)]
    shown = set(sd.clips["stimulus_id"])
    rows = []
    for k, clip in enumerate(order, start=1):
        if clip in shown:
            continue
        why = f"not shown: the session ended ({sd.session.status}) before this clip"
        for p in sd.participants.itertuples(index=False):
            rows.append(
                {
                    "participant_id": p.participant_id,
                    "session_id": sd.session_id,
                    "condition": sd.condition,
                    "in_group": int(sd.condition == "group"),
                    "seat": p.seat,
                    "trial": k,
                    "stimulus_id": clip,
                    "excluded": True,
                    "exclusion_reason": why,
                    "face_excluded": True,
                    "face_exclusion_reason": why,
                    "n_frames": 0,
                    "n_face_frames": 0,
                }
            )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).merge(stimuli, on="stimulus_id", how="left")


@fill_doc
def trial_table(study: Study, measures: list[str] | None = None, progress: bool = False) -> pd.DataFrame:
    """One row per participant x clip with self-report and facial measures.

    Parameters
    ----------
    %(study)s
    measures : list of str, optional
        Facial measures to summarise (default: every measure in the faces tables).
    progress : bool
        Show a tqdm progress bar over sessions.

    Returns
    -------
    pandas.DataFrame
        :data:`ID_COLUMNS` (with ``in_group``), stimulus tags, the self-report columns of
        :func:`analysis.measures.self_report.self_report_measures`, ``rating_<item>``,
        ``face_fraction``, ``n_frames``, the pose and size columns of
        :data:`analysis.faces.pose_size.POSE_SIZE_COLUMNS` (``n_face_frames``,
        ``identity_doubtful_frames``, ``face_size_px``, ``abs_yaw``,
        ``abs_pitch_change``, ``landmark_jitter``), each measure ``M`` (baseline-corrected
        mean) and ``M_peak``, ``excluded``, ``exclusion_reason``,
        ``face_excluded``, ``face_exclusion_reason``.

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> trials = trial_table(load_study(sim))
    >>> trials.groupby("valence")["t_both"].mean().round(1).to_dict()
    {'bittersweet': 1.1, 'negative': 0.0, 'positive': 0.4}
    """
    study = as_study(study)
    if measures is not None:
        measures = check_ids("measures", measures, "facial measure names")
    if measures is None:
        found = [measure_columns(s.faces) for s in study.sessions if s.faces is not None]
        measures = [m for m in (found[0] if found else []) if all(m in f for f in found)]
    sessions = study.sessions
    if progress:
        from tqdm import tqdm

        sessions = tqdm(sessions, desc="trial table", unit="session")
    parts = []
    for sd in sessions:
        parts += [_session_trials(sd, study.stimuli, study.settings, measures), _not_shown(sd, study.stimuli)]
    table = pd.concat([p for p in parts if len(p)], ignore_index=True) if parts else pd.DataFrame()
    if table.empty:
        return table
    first = [c for c in ID_COLUMNS if c in table.columns]
    rest = [
        c
        for c in table.columns
        if c not in first
        and c not in ("excluded", "exclusion_reason", "face_excluded", "face_exclusion_reason")
    ]
    table = table[first + rest + ["excluded", "exclusion_reason", "face_excluded", "face_exclusion_reason"]]
    table = table.sort_values(["session_id", "participant_id", "trial"]).reset_index(drop=True)
    table.attrs = {
        "protocol_sha256": study.protocol_sha256,
        "reference_levels": study.reference_levels,
        "simultaneity_threshold": study.settings.simultaneity_threshold,
    }
    return table
