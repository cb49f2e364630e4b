"""The planted truth of a filmed simulated study, written beside its data (``derivatives/planted/``).

Read by nothing but the comparison of :mod:`analysis.simulate.planted`; see there for the files.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from coaffect.formats.session_writer import write_json_atomic
from coaffect.formats.tables import write_tsv

#: Derivatives pipeline folder of the planted truth.
PLANTED = "planted"


def planted_dir(dataset) -> Path:
    """``<dataset>/derivatives/planted``."""
    return Path(dataset) / "derivatives" / PLANTED


def planted_values(spec) -> dict:
    """The planted effects, in planted units (the comparison converts them by the measured gain).

    Parameters
    ----------
    spec : SimulationSpec

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec
    >>> planted_values(SimulationSpec(smile_group_effect=0.25))["AU12_group_effect"]
    0.25
    """
    return {
        "AU12_group_effect": spec.smile_group_effect,
        "inner_brow_lip_down_group_effect": spec.sad_group_effect,
        "coupling": spec.coupling,
        "coupling_lag_s": spec.coupling_lag,
        "session_signal_sd": spec.session_signal_sd,
        "face_button_coherence_above_chance": bool(spec.coupling > 0),
        "group_synchrony_above_pseudo_groups": bool(spec.session_signal_sd > 0),
    }


def _trial_truth(session, truth: pd.DataFrame, spec) -> pd.DataFrame:
    base = truth[(truth["t"] >= 5.0) & (truth["t"] < 5.0 + spec.baseline_duration)]
    rest = base.groupby("participant_id")[["smile", "sad"]].mean()
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
                row[f"{state}_change"] = m[state] - rest.loc[pid, state]
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
    write_json_atomic(
        out / "truth.json",
        {
            "planted": planted_values(spec),
            "simulation": asdict(spec),
            "video": video.as_dict(),
        },
    )
    return out
