"""Post-clip ratings with the participants' own two buttons.

Each participant rates on their own scale with the two buttons they already
hold: a short press (tap) of HAPPY moves their marker one step right, a tap of
SAD one step left, and pressing BOTH at once confirms. No extra keyboard, mouse
or experimenter help is needed, so the same hardware works for 1..N seats.

``ratings.mode``:

``simultaneous``
    Every seat rates the same item at the same time, each on its own scale
    (one row per seat on screen). The screen ends when everyone has confirmed
    or ``ratings.timeout`` has passed. Fast for groups.
``in_turn``
    Seat by seat (others see whose turn it is). Slower, but nobody is
    distracted by the others' markers.

A key already held when the screen appears (a hold carried over from the
clip) neither moves the marker nor confirms: only presses that start on the
rating screen count. Every raw down/up is still written to ``buttons.tsv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from coaffect.formats.session_format import event_row

from .runtime import ButtonEvent, Runtime

#: Reminder at the bottom of every rating screen.
HOW_TO = "tap HAPPY = right, tap SAD = left, press BOTH = confirm"


@dataclass
class _SeatState:
    seat: str
    label: str
    participant_id: str
    value: int
    pressed: dict  # button -> bool: went down on this screen
    confirmed: bool = False
    rt: Optional[float] = None


def apply_rating_event(
    state: _SeatState, ev: ButtonEvent, held: set, low: int, high: int, onset: float
) -> None:
    """Update one seat's rating from one of its button events (pure logic).

    Parameters
    ----------
    state : _SeatState
    ev : ButtonEvent
        An event of this seat.
    held : set of str
        Buttons of this seat held right after the event.
    low, high : int
        Scale ends.
    onset : float
        Screen onset (for the response time).

    Examples
    --------
    >>> s = _SeatState("A", "", "P01", 5, {"happy": False, "sad": False})
    >>> e = lambda t, a, b: ButtonEvent(t, a, "k", "A", "P01", b)
    >>> apply_rating_event(s, e(1.0, "down", "happy"), {"happy"}, 0, 9, 0.0)
    >>> apply_rating_event(s, e(1.1, "up", "happy"), set(), 0, 9, 0.0)
    >>> s.value
    6
    >>> apply_rating_event(s, e(2.0, "down", "sad"), {"sad"}, 0, 9, 0.0)
    >>> apply_rating_event(s, e(2.02, "down", "happy"), {"sad", "happy"}, 0, 9, 0.0)
    >>> s.confirmed, s.value, s.rt
    (True, 6, 2.02)
    """
    if state.confirmed:
        return
    other = "sad" if ev.button == "happy" else "happy"
    if ev.action == "down":
        state.pressed[ev.button] = True
        if other in held and state.pressed[other]:
            state.confirmed = True
            state.rt = round(ev.t - onset, 6)
    elif state.pressed[ev.button]:
        state.pressed[ev.button] = False
        if other not in held:  # a tap, not half of a chord
            step = 1 if ev.button == "happy" else -1
            state.value = min(high, max(low, state.value + step))


def _draw(
    rt: Runtime,
    intro: str,
    item,
    states: list[_SeatState],
    active: set,
    how_to: str = HOW_TO,
    done: str = "OK",
) -> None:
    d = rt.display
    w, h = d.size
    d.text(intro, pos=(0, h / 2 - 40))
    d.text(item.prompt, pos=(0, h / 2 - 90))
    n = len(states)
    band = (h - 200) / max(n, 1)
    values = list(range(item.low, item.high + 1))
    span = w * 0.6
    step = span / max(len(values) - 1, 1)
    for i, st in enumerate(states):
        y = h / 2 - 160 - band * i - band / 2 + 30
        name = f"{st.seat}" + (f" ({st.label})" if st.label else "")
        color = "white" if st.seat in active else "grey"
        d.text(name, pos=(-w / 2 + 80, y), height=d.text_height * 0.8, color=color)
        for j, v in enumerate(values):
            x = -span / 2 + j * step
            d.text(str(v), pos=(x, y), height=d.text_height * 0.8, color=color)
        if st.seat in active or st.confirmed:
            x = -span / 2 + (st.value - item.low) * step
            d.rect(
                (x, y),
                (d.text_height * 1.4, d.text_height * 1.4),
                color="lightgreen" if st.confirmed else "yellow",
            )
        d.text(item.low_label, pos=(-span / 2, y - 35), height=d.text_height * 0.6, color=color)
        d.text(item.high_label, pos=(span / 2, y - 35), height=d.text_height * 0.6, color=color)
        if st.confirmed:
            d.text(done, pos=(span / 2 + 70, y), height=d.text_height * 0.8, color="lightgreen")
    d.text(how_to, pos=(0, -h / 2 + 30), height=d.text_height * 0.7, color="grey")


@dataclass(frozen=True)
class RatingScreen:
    """What every rating screen of one trial shows and records.

    Attributes
    ----------
    trial : int
    stimulus_id, valence : str
    intro : str
        The protocol's ``texts.rating_intro``.
    seats : list of (seat_id, label, participant_id)
        All seats (drawn), in protocol order.
    timeout : float
        Seconds; unconfirmed ratings are written with value and rt ``n/a``.
    how_to, done : str
        The protocol's ``texts.rating_help`` and ``texts.rating_done`` (shown
        beside a confirmed rating).
    """

    trial: int
    stimulus_id: str
    valence: str
    intro: str
    seats: list
    timeout: float
    how_to: str = HOW_TO
    done: str = "OK"


def _write_rating(rt: Runtime, screen: RatingScreen, item, st: _SeatState, onset: float) -> None:
    """One ``ratings.tsv`` row: the confirmed value and response time, or n/a for both."""
    rt.writer.append(
        "ratings.tsv",
        {
            "trial": screen.trial,
            "stimulus_id": screen.stimulus_id,
            "participant_id": st.participant_id,
            "item": item.id,
            "value": st.value if st.confirmed else None,
            "rt": st.rt if st.confirmed else None,
            "onset": onset,
        },
    )


def run_rating_screen(rt: Runtime, screen: RatingScreen, item, active: list[str]) -> None:
    """One rating screen for one item; writes a ``ratings.tsv`` row per active seat.

    Parameters
    ----------
    rt : Runtime
    screen : RatingScreen
        The trial's texts, seats and timeout.
    item : RatingItem
    active : list of str
        Seats rating on this screen.

    Examples
    --------
    Not run as a doctest: it needs a session's window and keyboard (tests/test_runner_session.py).

    >>> screen = RatingScreen(1, "demo-positive", "positive", "Rate:", [("A", "left", "P01")], 30.0)
    >>> run_rating_screen(rt, screen, item, ["A"])  # doctest: +SKIP
    """
    trial, stimulus_id, intro, seats = screen.trial, screen.stimulus_id, screen.intro, screen.seats
    how_to, done, timeout = screen.how_to, screen.done, screen.timeout
    start = (item.low + item.high) // 2
    states = [_SeatState(s, lab, pid, start, {"happy": False, "sad": False}) for s, lab, pid in seats]
    by_seat = {st.seat: st for st in states}
    active_set = set(active)
    _draw(rt, intro, item, states, active_set, how_to, done)
    onset = rt.display.flip()
    rt.plan(
        "rating",
        onset,
        trial=trial,
        seats=active,
        item=item.id,
        low=item.low,
        high=item.high,
        start=start,
        valence=screen.valence,
    )
    pending = set(active)
    while pending and rt.clock.now() - onset < timeout:
        for ev in rt.tick():
            st = by_seat.get(ev.seat)
            if st is None or ev.seat not in pending:
                continue
            held = {b for (s, b) in rt.held if s == ev.seat}
            apply_rating_event(st, ev, held, item.low, item.high, onset)
            if st.confirmed:
                pending.discard(ev.seat)
                _write_rating(rt, screen, item, st, onset)
        _draw(rt, intro, item, states, active_set, how_to, done)
        rt.display.flip()
    for sid in sorted(pending, key=active.index):  # timed out: value and rt n/a
        _write_rating(rt, screen, item, by_seat[sid], onset)
    end = rt.clock.now()
    detail = f"item={item.id} seats={','.join(active)}"
    if pending:
        detail += f" timed_out={','.join(sorted(pending))}"
    rt.writer.append(
        "events.tsv",
        event_row(onset, end - onset, "rating", trial=trial, stimulus_id=stimulus_id, detail=detail),
    )


def run_ratings(
    rt: Runtime,
    ratings_cfg,
    trial: int,
    stimulus_id: str,
    valence: str,
    intro: str,
    seats: list[tuple[str, str, str]],
    how_to: str = HOW_TO,
    done: str = "OK",
) -> None:
    """All rating screens of one trial, in the protocol's ``ratings.mode``."""
    if not ratings_cfg.items:
        return
    screen = RatingScreen(trial, stimulus_id, valence, intro, seats, ratings_cfg.timeout, how_to, done)
    if ratings_cfg.mode == "in_turn":
        screens = [(item, [seat_id]) for seat_id, _, _ in seats for item in ratings_cfg.items]
    else:
        screens = [(item, [s for s, _, _ in seats]) for item in ratings_cfg.items]
    for item, active in screens:
        run_rating_screen(rt, screen, item, active)
