"""Simulated datasets shared by the analysis tests (each made once per pytest session)."""

from __future__ import annotations

import shutil
from pathlib import Path

from analysis.simulate.study import SimulationSpec, simulate_study

#: Small study used by the trial, report and CLI tests: 3 alone + 2 groups of 2, 3 clips.
SMALL = dict(n_alone=3, n_group_sessions=2, group_size=2, n_clips=3, clip_duration=10.0, fps=5.0, seed=3)


def sim_dataset(tmp_path_factory, name: str, **spec) -> Path:
    """Path of a simulated dataset, created on first use in this pytest session."""
    path = tmp_path_factory.getbasetemp() / f"sim-{name}"
    if not (path / "participants.tsv").exists():
        if path.exists():
            shutil.rmtree(path)
        simulate_study(path, SimulationSpec(**spec))
    return path


def copy_dataset(src: Path, dst: Path) -> Path:
    """A private copy to modify (abort rows, deleted faces...)."""
    shutil.copytree(src, dst)
    return dst


def coherence_inputs(sessions, clip_duration: float) -> tuple:
    """Frames, partners and hold segments of in-memory simulated sessions (for coherence_from_frames)."""
    import pandas as pd

    from analysis.measures.frames import hold_segments

    frames, partners, segments = [], [], {}
    for s in sessions:
        t = s.faces["t"].to_numpy()
        for trial, stim, _, onset in s.clips:
            hit = s.faces[(t >= onset) & (t < onset + clip_duration)]
            frames.append(
                hit[["participant_id", "AU12", "inner_brow_lip_down"]].assign(
                    session_id=s.session_id, trial=trial, stimulus_id=stim, t_rel=hit["t"] - onset
                )
            )
            partners += [(s.session_id, pid, trial, stim, onset) for pid, _ in s.participants]
        segments[s.session_id] = hold_segments(s.intervals())
    cols = ["session_id", "participant_id", "trial", "stimulus_id", "onset"]
    return pd.concat(frames, ignore_index=True), pd.DataFrame(partners, columns=cols), segments
