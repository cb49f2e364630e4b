"""Face-button coherence: the chance level is built alike in both conditions (other sessions only)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.measures.coherence import coherence_from_frames
from analysis.simulate.study import SimulationSpec, simulate_sessions
from tests.sim_helpers import coherence_inputs

#: Small studies: 4 alone participants and 2 groups of 3, 3 clips of 8 s; faces do not follow buttons.
NULL = dict(n_alone=4, n_group_sessions=2, group_size=3, n_clips=3, clip_duration=8.0, fps=5.0, coupling=0.0)


def _group_minus_alone(seed: int) -> float:
    spec = SimulationSpec(**NULL, seed=seed)
    frames, partners, segments = coherence_inputs(list(simulate_sessions(spec)), spec.clip_duration)
    res = coherence_from_frames(frames, partners, segments, lags=np.array([-1.0, 0.0, 1.0, 2.0]))
    t = res.table.dropna(subset=["z_above_chance"])
    group = t["session_id"].str.startswith("g")
    # a group member's partners are never its own group mates
    assert (t.loc[group, "n_surrogates"] <= 4 + 3).all()
    return float(t.loc[group, "z_above_chance"].mean() - t.loc[~group, "z_above_chance"].mean())


def test_no_coupling_gives_the_same_chance_corrected_coherence_in_both_conditions():
    """200 simulated studies in which faces do not follow buttons (only the clip drives both, and
    group members share a face time course): group minus alone z_above_chance is zero within 2
    Monte-Carlo SEs. A chance level built differently by condition (a group member's own group
    mate as the surrogate partner, as before issue 23) would not average out here."""
    d = np.array([_group_minus_alone(seed) for seed in range(1, 201)])
    mc_se = d.std(ddof=1) / np.sqrt(len(d))
    assert abs(d.mean()) < 2 * mc_se, (d.mean(), mc_se)
    assert mc_se < 0.02  # precise enough to see a bias of the size measured before (0.05-0.07)


def _study(seed: int = 3):
    spec = SimulationSpec(**{**NULL, "coupling": 0.6}, seed=seed)
    return coherence_inputs(list(simulate_sessions(spec)), spec.clip_duration)


def test_surrogate_is_the_mean_over_every_participant_of_another_session():
    from analysis.measures.coherence import MIN_FRAMES
    from analysis.measures.frames import button_state

    frames, partners, segments = _study()
    res = coherence_from_frames(frames, partners, segments, lag=1.0)
    row = res.table[(res.table["session_id"] == "g01") & (res.table["button"] == "happy")].iloc[0]
    mine = frames[(frames["participant_id"] == row["participant_id"]) & (frames["trial"] == row["trial"])]
    face = mine["AU12"].to_numpy()
    ok = np.isfinite(face)
    zs = []
    others = partners[(partners["stimulus_id"] == row["stimulus_id"]) & (partners["session_id"] != "g01")]
    for q in others.itertuples(index=False):
        held = button_state(segments[q.session_id], q.participant_id, "happy", q.onset + mine["t_rel"] - 1.0)
        if ok.sum() >= MIN_FRAMES and held[ok].std() > 0:
            zs.append(np.arctanh(np.corrcoef(held[ok], face[ok])[0, 1]))
    # the 4 alone viewers and the other group's 3 members: never the own group's 2 mates
    assert len(others) == 7 and row["n_surrogates"] == len(zs) >= 5
    assert row["z_surrogate"] == pytest.approx(np.mean(zs), abs=1e-9)


def test_a_sessions_lag_is_chosen_without_its_own_data():
    from analysis.measures.frames import button_state

    frames, partners, segments = _study()
    lags = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    before = coherence_from_frames(frames, partners, segments, lags=lags).table
    # make g01's faces follow its happy buttons 2 s *before* the press, strongly
    changed = frames.copy()
    sel = changed["session_id"] == "g01"
    for (pid, trial), part in changed[sel].groupby(["participant_id", "trial"]):
        onset = partners.set_index(["session_id", "participant_id", "trial"]).loc[
            ("g01", pid, trial), "onset"
        ]
        held = button_state(segments["g01"], pid, "happy", onset + part["t_rel"] + 2.0)
        changed.loc[part.index, "AU12"] = 5 * held + 0.01 * np.arange(len(part))
    after = coherence_from_frames(changed, partners, segments, lags=lags).table
    lag_of = lambda t, s: t[(t["session_id"] == s) & (t["button"] == "happy")]["lag"].iloc[0]  # noqa: E731
    assert lag_of(after, "g01") == lag_of(before, "g01")  # chosen on the other sessions only
    # g01's own data now pull every other session's choice towards -2 s
    assert lag_of(after, "a01") == -2.0
