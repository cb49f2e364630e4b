"""Pure parts of the runner: simulated schedules, rating logic, resume point, clocks, planning."""

from __future__ import annotations

import random
import time

import pytest
from test_runner_kit import make_study

from conftest import require_module
from experiments.runner.clock import SessionClock, measure_offset
from experiments.runner.preflight import prepare_session
from experiments.runner.ratings import _SeatState, apply_rating_event
from experiments.runner.resume import find_resume_point, resumed_clock_zero
from experiments.runner.runtime import ButtonEvent
from experiments.runner.simulated import (
    MIN_HOLD,
    InProcessSource,
    Scripted,
    SeatKeys,
    SimulatedParticipants,
    hold_schedule,
)


@pytest.mark.parametrize("valence,more", [("positive", "happy"), ("negative", "sad")])
def test_hold_schedule_follows_valence(valence, more):
    rng = random.Random(0)
    totals = {"happy": 0.0, "sad": 0.0}
    for _ in range(50):
        for button, a, b in hold_schedule(valence, 8.0, rng):
            assert 0.1 <= a < b <= 7.9 and b - a >= MIN_HOLD - 1e-9
            totals[button] += b - a
    other = "sad" if more == "happy" else "happy"
    assert totals[more] > 3 * totals[other]


def test_bittersweet_has_both_buttons_at_once():
    rng = random.Random(1)
    both = 0.0
    for _ in range(30):
        holds = hold_schedule("bittersweet", 8.0, rng)
        happy = [(a, b) for k, a, b in holds if k == "happy"]
        sad = [(a, b) for k, a, b in holds if k == "sad"]
        both += sum(max(0.0, min(b1, b2) - max(a1, a2)) for a1, b1 in happy for a2, b2 in sad)
    assert both > 30 * 8.0 * 0.1  # mixed feelings: >10% of clip time on average


def test_holds_of_one_button_never_overlap():
    for seed in range(20):
        holds = hold_schedule("bittersweet", 5.0, random.Random(seed))
        for button in ("happy", "sad"):
            spans = sorted((a, b) for k, a, b in holds if k == button)
            assert all(b1 + MIN_HOLD - 1e-9 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))


def test_simulated_rating_plan_reaches_target_and_confirms():
    sim = SimulatedParticipants([SeatKeys("A", "a", "z")], seed=2)
    acts = sim.on_phase(
        "rating", 10.0, trial=1, seats=["A"], item="happy", low=0, high=9, start=4, valence="positive"
    )
    st = _SeatState("A", "", "P01", 4, {"happy": False, "sad": False})
    held = set()
    for a in acts:
        held = held | {a.button} if a.action == "down" else held - {a.button}
        apply_rating_event(st, ButtonEvent(a.t, a.action, a.key, "A", "P01", a.button), held, 0, 9, 10.0)
    assert st.confirmed and st.value >= 5  # positive clip: happy rated above the middle


def test_rating_ignores_a_key_held_from_before_the_screen():
    st = _SeatState("A", "", "P01", 2, {"happy": False, "sad": False})

    def ev(t, a, b):
        return ButtonEvent(t, a, "k", "A", "P01", b)

    # happy has been down since the clip; sad goes down on the screen: no chord, no move
    apply_rating_event(st, ev(1.0, "down", "sad"), {"happy", "sad"}, 0, 4, 0.5)
    assert not st.confirmed
    apply_rating_event(st, ev(1.2, "up", "happy"), {"sad"}, 0, 4, 0.5)
    assert st.value == 2  # the carried-over release is not a tap
    apply_rating_event(st, ev(1.3, "up", "sad"), set(), 0, 4, 0.5)
    assert st.value == 1  # the sad tap moves one step left


def test_scripted_hold_keeps_its_seat_quiet():
    hold = [
        Scripted("a", "down", "clip", 1, 0.5, "A", "happy"),
        Scripted("a", "up", "clip", 2, 0.5, "A", "happy"),
    ]
    sim = SimulatedParticipants([SeatKeys("A", "a", "z"), SeatKeys("B", "g", "b")], 1, hold)
    acts = sim.on_phase("clip", 100.0, trial=1, duration=4.0, valence="positive")
    assert [a for a in acts if a.seat == "A"] == [type(acts[0])(100.5, "down", "a", "A", "happy")]
    assert any(a.seat == "B" for a in acts)


def test_inprocess_source_delivers_in_time_order():
    src = InProcessSource()
    sim = SimulatedParticipants([SeatKeys("A", "a", "z")], seed=3)
    src.schedule(sim.on_phase("clip", 0.0, trial=1, duration=3.0, valence="bittersweet"))
    got = src.poll(10.0)
    assert [e.t for e in got] == sorted(e.t for e in got) and src.idle()


def test_measure_offset_of_a_shifted_clock():
    off, err = measure_offset(lambda: time.perf_counter() + 1000.0)
    assert off == pytest.approx(1000.0, abs=1e-4) and err < 1e-3


def test_ptb_getsecs_offset_converts_to_perf_counter():
    """ptb's GetSecs is not perf_counter on Linux; the measured offset maps one onto the other."""
    ptb = require_module("psychtoolbox")
    off, _ = measure_offset(ptb.GetSecs)
    a = time.perf_counter()
    g = ptb.GetSecs()
    b = time.perf_counter()
    assert a - 1e-4 <= g - off <= b + 1e-4


def test_resume_point_and_clock(tmp_path):
    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\ttrial\tstimulus_id\tdetail\n"
        "1.0\t5.0\tbaseline\tn/a\tn/a\tn/a\n"
        "7.0\t1.0\tclip\t1\tx\tn/a\n"
        "9.0\t0.2\titi\t1\tx\tn/a\n"
        "9.5\t0.5\tclip\t2\ty\t",
        encoding="utf-8",
    )  # cut by a crash: not a row
    (tmp_path / "flips.tsv").write_text(
        "t\ttrial\tstimulus_id\tframe\tpts\n7.0\t1\tx\t0\t0.0\n9.6\t2\ty\t0\t0.0\n", encoding="utf-8"
    )
    rp = find_resume_point(tmp_path)
    assert rp.next_trial(3) == 2 and rp.baseline_done and rp.attempts == {1: 1, 2: 1}
    assert rp.last_time == pytest.approx(9.6)
    zero, rebased = resumed_clock_zero(time.perf_counter() - 50, rp.last_time)
    assert not rebased and SessionClock(zero).now() == pytest.approx(50, abs=0.1)
    zero, rebased = resumed_clock_zero(time.perf_counter() + 1000, rp.last_time)  # after a reboot
    assert rebased and SessionClock(zero).now() == pytest.approx(10.6, abs=0.1)


def test_prepare_session_plans_latin_square_rows(tmp_path):
    proto = make_study(tmp_path, seats=3, clips=("clip-pos", "clip-neg", "clip-bit"), order="latin_square")
    data = tmp_path / "data"
    plan = prepare_session(proto, "group", ["P01", "P02"], session_id="S1", output=data, check_disk=False)
    assert plan.seats == ["A", "B"] and plan.order == ["clip-pos", "clip-neg", "clip-bit"]
    (data / "ses-S0").mkdir(parents=True)  # one session already in the dataset
    plan = prepare_session(proto, "group", ["P01", "P02"], session_id="S1", output=data, check_disk=False)
    assert plan.session_index == 1 and plan.order == ["clip-neg", "clip-bit", "clip-pos"]


def test_simulation_presses_every_device_kind(tmp_path):
    """Issue 25 item 1: each seat's simulated presses travel through its own device kind."""
    import os
    import select

    from coaffect.formats.protocol import load_protocol
    from experiments.runner.simulated import Action
    from experiments.runner.simulated_input import SimulatedInput

    proto = make_study(tmp_path, seats=4)
    text = proto.read_text(encoding="utf-8")
    own = {
        "B": "{kind: ptb_keyboard, index: 3}",
        "C": "{kind: serial, port: /dev/ttyLAB, codes: {happy: {down: H, up: h}, sad: {down: S, up: s}}}",
        "D": "{kind: xid}",
    }
    for seat, response in own.items():
        text = text.replace(
            f"{{id: {seat}, label: seat{seat}, ", f"{{id: {seat}, response: {response}, label: seat{seat}, "
        )
    proto.write_text(text, encoding="utf-8")
    p = load_protocol(proto).protocol
    clock = SessionClock(time.perf_counter())
    sim = SimulatedInput(p, ["A", "B", "C", "D"], clock, "inprocess")
    try:
        assert list(sim.ports) == ["C"] and sim.ports["C"].startswith("/dev/pts/")
        fd = os.open(sim.ports["C"], os.O_RDONLY | os.O_NOCTTY)  # as seat C's serial reader does
        t = clock.now()
        sim.schedule([Action(t, "down", "x", seat, "happy") for seat in "ABCD"])
        got = {e.key for e in sim.poll(t + 1.0)}
        assert got == {"a", "B:ptb_keyboard:happy", "D:xid:happy"}
        assert select.select([fd], [], [], 2.0)[0] and os.read(fd, 64) == b"H\n"
        os.close(fd)
        # real input of buttons simulated in-process is dropped; a serial seat's box is read for real
        assert sim.replaces == {
            "a",
            "z",
            "B:ptb_keyboard:happy",
            "B:ptb_keyboard:sad",
            "D:xid:happy",
            "D:xid:sad",
        }
        # the box's thread records an action just after writing it (the line above may win the race)
        deadline = time.monotonic() + 2.0
        while not sim.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {a.key for a, _, _ in sim.sent} == {
            "a",
            "B:ptb_keyboard:happy",
            "C:serial:happy",
            "D:xid:happy",
        }
    finally:
        sim.close()
