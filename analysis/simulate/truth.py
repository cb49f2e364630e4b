"""The planted truth of a filmed simulated study, written beside its data (``derivatives/planted/``).

Read by nothing but the comparison of :mod:`analysis.simulate.planted`; see there for the files.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.session_writer import write_json_atomic
from coaffect.formats.tables import write_tsv

#: Derivatives pipeline folder of the planted truth.
PLANTED = "planted"


def planted_dir(dataset) -> Path:
    """``<dataset>/derivatives/planted``."""
    return Path(dataset) / "derivatives" / PLANTED


def planted_values(spec, per_baseline_sd: float | None = None) -> dict:
    """The planted effects, each as the analysis reports it.

    Parameters
    ----------
    spec : SimulationSpec
    per_baseline_sd : float, optional
        The planted smile state's units per baseline SD, as the analysis scales it
        (:func:`baseline_scale` of the planted frames); default ``1 / sd_frame``.

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> planted_values(SimulationSpec(smile_group_effect=0.25, sd_frame=0.5))["AU12_group_effect_baseline_sd"]
    0.5
    """
    scale = 1.0 / spec.sd_frame if per_baseline_sd is None else per_baseline_sd
    return {
        "AU12_group_effect": spec.smile_group_effect,
        "AU12_group_effect_baseline_sd": spec.smile_group_effect * scale,
        "inner_brow_lip_down_group_effect": spec.sad_group_effect,
        "coupling": spec.coupling,
        "coupling_lag_s": spec.coupling_lag,
        "session_signal_sd": spec.session_signal_sd,
        "face_button_coherence_above_chance": bool(spec.coupling > 0),
        "group_synchrony_above_pseudo_groups": bool(spec.session_signal_sd > 0),
    }


def baseline_scale(frames: pd.DataFrame, spec, state: str = "smile") -> float:
    """Mean over group members of 1 / (their baseline spread of the planted ``state``).

    The spread is the analysis' own (:func:`analysis.expression.baseline.baseline_zscores`:
    robust SD over the baseline window, floored at half the recording's pooled one),
    applied to the planted state instead of the measurement; so the planted group
    effect times this factor is the effect in the baseline SDs the analysis reports
    (short, autocorrelated baselines give spreads below ``sd_frame``, as on people).

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> t = np.arange(0, 20, 0.2)
    >>> rng = np.random.default_rng(0)
    >>> frames = pd.DataFrame({"session_id": "g01", "participant_id": "P1", "t": t, "smile": rng.normal(0, 0.5, len(t))})
    >>> round(baseline_scale(frames, SimulationSpec(baseline_duration=10.0)), 1)   # about 1 / 0.5
    1.9
    """
    from ..expression.baseline import baseline_mask, baseline_zscores

    events = pd.DataFrame({"onset": [5.0], "duration": [spec.baseline_duration], "trial_type": ["baseline"]})
    inverse = []
    for _sid, f in frames.groupby("session_id"):
        if f["participant_id"].nunique() < 2 and frames["session_id"].nunique() > 1:
            continue  # alone sessions: the group effect is scaled as group members are
        mask = baseline_mask(f["t"].to_numpy(float), events, (0.0, None))[0]
        z = baseline_zscores(f.reset_index(drop=True), [state], mask)[state].to_numpy()
        x = f[state].to_numpy(float)
        for pid in f["participant_id"].unique():
            # frames where the face was filmed (a lost face has no planted value in the table)
            i = np.flatnonzero((f["participant_id"] == pid).to_numpy() & np.isfinite(x) & np.isfinite(z))
            if len(i) < 2 or np.ptp(x[i]) == 0:
                continue
            a, b = i[np.argmin(x[i])], i[np.argmax(x[i])]
            inverse.append((z[b] - z[a]) / (x[b] - x[a]))
    return float(np.mean(inverse)) if inverse else float("nan")


def _trial_truth(session, truth: pd.DataFrame, spec) -> pd.DataFrame:
    base = truth[(truth["t"] >= 5.0) & (truth["t"] < 5.0 + spec.baseline_duration)]
    stats = base.groupby("participant_id")[["smile", "sad"]].agg(["mean", "std"])
    rows = []
    for trial, stimulus, valence, onset in session.clips:
        clip = truth[(truth["t"] >= onset) & (truth["t"] < onset + spec.clip_duration)]
        means = clip.groupby("participant_id")[["smile", "sad"]].mean()
        for pid, m in means.iterrows():
            row = {
                "session_id": session.session_id,
                "participant_id": pid,
                "condition": session.condition,
                "trial": trial,
                "stimulus_id": stimulus,
                "valence": valence,
            }
            for state in ("smile", "sad"):
                change = m[state] - stats.loc[pid, (state, "mean")]
                row[f"{state}_change"] = change
                row[f"{state}_change_baseline_sd"] = change / stats.loc[pid, (state, "std")]
            rows.append(row)
    return pd.DataFrame(rows)


def write_planted_truth(dataset, spec, video, filmed: list) -> Path:
    """Write ``derivatives/planted/`` (truth.json, frames.tsv, trials.tsv) of filmed sessions.

    ``filmed``: (session, truth frames) pairs, as :func:`~analysis.simulate.study.simulate_study` collects them.
    """
    out = planted_dir(dataset)
    out.mkdir(parents=True, exist_ok=True)
    frames = pd.concat([truth for _, truth in filmed], ignore_index=True)
    write_tsv(frames.round(5), out / "frames.tsv")
    write_tsv(pd.concat([_trial_truth(s, t, spec) for s, t in filmed], ignore_index=True), out / "trials.tsv")
    scale = baseline_scale(frames, spec)
    write_json_atomic(
        out / "truth.json",
        {
            "planted": planted_values(spec, scale),
            "smile_per_baseline_sd": scale,
            "simulation": asdict(spec),
            "video": video.as_dict(),
        },
    )
    return out
