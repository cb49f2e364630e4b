"""Data-quality table: one row per participant of every session."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import QUALITY_FLAGS


def _gaps(times: pd.Series, factor: float) -> tuple[int, float]:
    t = np.sort(times.dropna().astype(float).to_numpy())
    if len(t) < 3:
        return 0, np.nan
    d = np.diff(t)
    med = np.median(d)
    return int((d > factor * med).sum()), float(d.max())


def quality_table(study, trials: pd.DataFrame) -> pd.DataFrame:
    """Data quality per participant.

    Parameters
    ----------
    study : Study
    trials : pandas.DataFrame
        Trial table.

    Returns
    -------
    pandas.DataFrame
        session_id, participant_id, condition, status, n_clips, n_excluded,
        n_face_excluded, face_fraction (mean over clips), identity_confidence
        (mean over frames with a face), dropped_frames (movie frames the
        runner reports dropped, summed over clips), long_flips (flip intervals
        longer than 1.5x the median, during clips), camera_gaps (frame intervals
        longer than 2x the median, all cameras), max_camera_gap_s, and
        ``flag_<name>`` for each face_quality flag: share of the participant's
        frames with a face that carry it (pose, occlusion, identity, motion_blur).

    Examples
    --------
    >>> quality_table(study, trials).head()  # doctest: +SKIP
    """
    rows = []
    for sd in study.sessions:
        long_flips, _ = _gaps(sd.session.flips["t"], 1.5) if len(sd.session.flips) else (np.nan, np.nan)
        clip_detail = sd.session.events.loc[sd.session.events["trial_type"] == "clip", "detail"]
        counts = clip_detail.dropna().astype(str).str.extract(r"dropped=(\d+)")[0].dropna()
        dropped = int(counts.astype(int).sum()) if len(counts) else np.nan
        cam_gaps, cam_max = 0, np.nan
        for frames in sd.session.cameras.values():
            n, mx = _gaps(frames["t"], 2.0)
            cam_gaps += n
            cam_max = mx if np.isnan(cam_max) else max(cam_max, mx)
        if not sd.session.cameras:
            cam_gaps = np.nan
        t = trials[trials["session_id"] == sd.session_id]
        for pid in sd.participants["participant_id"]:
            tp = t[t["participant_id"] == pid]
            ident = np.nan
            flags = {f"flag_{name}": np.nan for name in QUALITY_FLAGS}
            if sd.faces is not None and "identity_confidence" in sd.faces.columns:
                f = sd.faces[sd.faces["participant_id"] == pid]
                ident = float(f["identity_confidence"].mean()) if len(f) else np.nan
                if "face_quality" in f.columns:
                    q = f.loc[f["face_found"].astype(bool), "face_quality"].astype(str)
                    for name in QUALITY_FLAGS:
                        flags[f"flag_{name}"] = (
                            float(q.str.contains(name, regex=False).mean()) if len(q) else np.nan
                        )
            rows.append(
                {
                    "session_id": sd.session_id,
                    "participant_id": pid,
                    "condition": sd.condition,
                    "status": sd.session.status,
                    "n_clips": int(len(tp)),
                    "n_excluded": int(tp["excluded"].sum()),
                    "n_face_excluded": int(tp["face_excluded"].sum()),
                    "face_fraction": float(tp["face_fraction"].mean()) if len(tp) else np.nan,
                    "identity_confidence": ident,
                    "dropped_frames": dropped,
                    "long_flips": long_flips,
                    "camera_gaps": cam_gaps,
                    "max_camera_gap_s": cam_max,
                    **flags,
                }
            )
    out = pd.DataFrame(rows)
    out.attrs["min_face_fraction"] = study.settings.min_face_fraction
    return out


#: Pose and size columns of :func:`pose_size_table` (faces-table columns and what is shown).
POSE_SIZE = (("yaw", "abs"), ("pitch", "abs"), ("roll", "abs"), ("face_w", "value"))


def pose_size_table(study) -> pd.DataFrame:
    """Head pose and face size by condition, over frames with a face (DESIGN: a confound to report).

    In groups people turn to each other and sit smaller in the frame; a facial unit
    that moves with pose or size would then differ by condition without any
    expression. Each participant's mean counts once.

    Returns
    -------
    pandas.DataFrame
        condition, n_participants, and per measure the mean over participants of their
        mean ``|yaw|``, ``|pitch|``, ``|roll|`` (degrees) and ``face_w`` (px), with the
        participants' SD (``_sd``).

    Examples
    --------
    >>> from analysis.study.load import load_study
    >>> pose_size_table(load_study(sim))[["condition", "n_participants", "face_w"]]  # simulated: no pose
      condition  n_participants  face_w
    0     alone               3   120.0
    1     group               4   120.0
    """
    parts = []
    for sd in study.sessions:
        f = sd.faces
        if f is None or "face_w" not in f.columns:
            continue
        f = f[f["face_found"].astype(bool)]
        cols = {
            (f"abs_{c}" if how == "abs" else c): (f[c].abs() if how == "abs" else f[c])
            for c, how in POSE_SIZE
            if c in f.columns
        }
        parts.append(pd.DataFrame({"participant_id": f["participant_id"], "condition": sd.condition, **cols}))
    if not parts:
        return pd.DataFrame(columns=["condition", "n_participants"])
    per = pd.concat(parts).groupby(["condition", "participant_id"]).mean()
    measures = list(per.columns)
    g = per.groupby("condition")
    out = g[measures].mean().join(g[measures].std().add_suffix("_sd"))
    out.insert(0, "n_participants", g.size())
    return out.reset_index()
