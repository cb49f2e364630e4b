"""Self-report measures against hand-computed interval sets (Larsen & McGraw 2011)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.measures.self_report import clip_intervals, ratings_wide, self_report_measures
from coaffect.formats.session_reader import button_intervals

CLIPS = pd.DataFrame(
    {"onset": [10.0, 28.0], "duration": [10.0, 5.0], "trial": [1, 2], "stimulus_id": ["bitter", "happy"]}
)


def _iv(rows):
    df = pd.DataFrame(rows, columns=["participant_id", "button", "onset", "offset"])
    df["seat"] = "A"
    df["duration"] = df["offset"] - df["onset"]
    df["closed"] = True
    return df


def test_hand_computed_overlapping_and_boundary_crossing_holds():
    iv = _iv(
        [
            ("P1", "happy", 8.0, 12.0),  # starts before the clip: counts from 10 -> 2 s
            ("P1", "sad", 11.0, 16.0),  # 5 s, overlaps happy 11-12 (1 s) and 15-16 (1 s)
            ("P1", "happy", 15.0, 25.0),  # ends after the clip: counts to 20 -> 5 s
            ("P1", "happy", 30.0, 31.0),  # clip 2 only
            ("P2", "happy", 12.0, 13.0),  # two overlapping holds of one button: union 12-14
            ("P2", "happy", 12.5, 14.0),
        ]
    )
    m = self_report_measures(iv, CLIPS, ["P1", "P2", "P3"], threshold=0.5)
    m = m.set_index(["participant_id", "trial"])
    # hand-computed: P1 clip 1: happy 2 + 5 = 7 s, sad 5 s, both 1 + 1 = 2 s of 10 s;
    # press order happy(10, clipped), sad(11), happy(15) -> 2 switches; MIN = min(7, 5) = 5
    p1 = m.loc[("P1", 1)]
    assert (p1.t_happy, p1.t_sad, p1.t_both) == pytest.approx((7.0, 5.0, 2.0))
    assert (p1.p_happy, p1.p_sad, p1.p_both) == pytest.approx((0.7, 0.5, 0.2))
    assert p1.n_switches == 2 and p1.min_index == pytest.approx(5.0)
    assert bool(p1.any_simultaneous)
    # P1 clip 2 (28-33): only the 30-31 happy hold; the 15-25 hold ended before it
    p1b = m.loc[("P1", 2)]
    assert (p1b.t_happy, p1b.t_sad, p1b.t_both, p1b.n_switches) == (1.0, 0.0, 0.0, 0)
    # P2: union of overlapping holds is 2 s, never sad -> no mixed feelings, MIN 0
    p2 = m.loc[("P2", 1)]
    assert (p2.t_happy, p2.t_sad, p2.t_both, p2.min_index, p2.n_switches) == (2.0, 0.0, 0.0, 0.0, 0)
    assert not bool(p2.any_simultaneous)
    # P3 never pressed but is in the session: a row of zeros, not a missing row
    p3 = m.loc[("P3", 1)]
    assert (p3.t_happy, p3.t_sad, p3.t_both) == (0.0, 0.0, 0.0)
    assert len(m) == 6


def test_threshold_is_inclusive_and_zero_overlap_is_never_simultaneous():
    iv = _iv([("P1", "happy", 10.0, 12.0), ("P1", "sad", 11.5, 13.0)])  # both 0.5 s exactly
    m = self_report_measures(iv, CLIPS.iloc[:1], threshold=0.5)
    assert m.loc[0, "t_both"] == pytest.approx(0.5)
    assert bool(m.loc[0, "any_simultaneous"])  # t_both >= threshold
    m = self_report_measures(iv, CLIPS.iloc[:1], threshold=0.6)
    assert not bool(m.loc[0, "any_simultaneous"])
    m = self_report_measures(_iv([("P1", "happy", 10.0, 11.0)]), CLIPS.iloc[:1], threshold=0.0)
    assert not bool(m.loc[0, "any_simultaneous"])  # no overlap at all


def test_from_raw_key_rows_hold_across_two_clips_and_unclosed_hold():
    # sad pressed at 18 (clip 1) and released at 30 (clip 2, after a rating screen)
    raw = pd.DataFrame(
        {
            "t": [18.0, 30.0, 31.0, 31.2, 32.0],
            "action": ["down", "up", "down", "down", "up"],  # 31.2: auto-repeat, ignored
            "participant_id": ["P1"] * 5,
            "seat": ["A"] * 5,
            "button": ["sad", "sad", "happy", "happy", "happy"],
            "key": ["z", "z", "a", "a", "a"],
        }
    )
    raw2 = pd.concat(
        [
            raw,
            pd.DataFrame(
                {
                    "t": [32.5],
                    "action": ["down"],
                    "participant_id": ["P1"],
                    "seat": ["A"],
                    "button": ["sad"],
                    "key": ["z"],
                }
            ),
        ]
    )
    iv = button_intervals(raw2, end_time=40.0)
    m = self_report_measures(iv, CLIPS).set_index("trial")
    assert m.loc[1, "t_sad"] == pytest.approx(2.0)  # 18-20
    # clip 2 (28-33): sad 28-30 and 32.5-33 (never released), happy 31-32
    assert m.loc[2, "t_sad"] == pytest.approx(2.5)
    assert m.loc[2, "t_happy"] == pytest.approx(1.0)
    assert m.loc[2, "n_switches"] == 2  # sad(28) -> happy(31) -> sad(32.5)
    assert bool(m.loc[2, "unclosed_hold"]) and not bool(m.loc[1, "unclosed_hold"])


def test_clip_intervals_and_ratings_wide():
    iv = _iv([("P1", "happy", 5.0, 9.0), ("P1", "sad", 9.0, 22.0)])
    c = clip_intervals(iv, 10.0, 20.0)
    assert c[["onset", "offset", "duration"]].values.tolist() == [[10.0, 20.0, 10.0]]
    r = pd.DataFrame(
        {
            "trial": [1, 1, 2],
            "stimulus_id": ["a", "a", "b"],
            "participant_id": ["P1", "P1", "P1"],
            "item": ["happy", "sad", "happy"],
            "value": [7, pd.NA, 3],
            "rt": [1.0, None, 2.0],
            "onset": [0.0, 0.0, 5.0],
        }
    )
    w = ratings_wide(r).set_index("trial")
    assert w.loc[1, "rating_happy"] == 7 and pd.isna(w.loc[1, "rating_sad"])  # timed out -> NaN
    assert w.loc[2, "rating_happy"] == 3


def _iv(rows):
    return pd.DataFrame(
        [
            {
                "participant_id": p,
                "seat": "A",
                "button": b,
                "onset": a,
                "offset": e,
                "duration": e - a,
                "closed": True,
            }
            for p, b, a, e in rows
        ]
    )


def test_switches_count_exclusive_states_only():
    clips = pd.DataFrame({"onset": [0.0], "duration": [20.0], "trial": [1], "stimulus_id": ["c1"]})
    # happy 1-5, sad pressed at 3 while happy still held, released at 8: happy-only, both, sad-only
    # = 1 switch; then happy 10-12 (happy-only again) = 2; sad 14-15 = 3
    iv = _iv([("P1", "happy", 1, 5), ("P1", "sad", 3, 8), ("P1", "happy", 10, 12), ("P1", "sad", 14, 15)])
    assert self_report_measures(iv, clips)["n_switches"].tolist() == [3]
    # pressing sad while holding happy and releasing both together: never sad-only, no switch
    iv = _iv([("P1", "happy", 1, 9), ("P1", "sad", 3, 9)])
    assert self_report_measures(iv, clips)["n_switches"].tolist() == [0]


def test_expected_overlap_and_compliance_flag():
    clips = pd.DataFrame(
        {"onset": [0.0, 30.0], "duration": [20.0, 20.0], "trial": [1, 2], "stimulus_id": ["c1", "c2"]}
    )
    iv = _iv([("P1", "happy", 0, 10), ("P1", "sad", 5, 15)])
    m = self_report_measures(iv, clips, participants=["P1", "P2"])
    one = m[(m["participant_id"] == "P1") & (m["trial"] == 1)].iloc[0]
    assert one["t_both"] == 5.0
    assert one["t_both_expected"] == pytest.approx(10 * 10 / 20)
    assert one["t_both_excess"] == pytest.approx(0.0)
    assert m.groupby("participant_id")["never_pressed"].all().to_dict() == {"P1": False, "P2": True}
