"""Simulated participants: seeded plans of key downs and ups for every phase.

A :class:`SimulatedParticipants` turns each phase of the session (button
check, clip, rating screen) into timed key actions on the session clock. The
plans are delivered either in-process (:class:`InProcessSource`, exact times,
fast) or as real X key events by :mod:`experiments.runner.xdotool_input`.

Hold schedules follow the clip's valence tag: mostly happy holds in positive
clips, sad holds in negative ones, both (often overlapping) in bittersweet
clips, few holds in neutral ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional

from .keyboard import KeyEvent

#: Mean share of a clip each button is held, by valence: (happy, sad).
HOLD_SHARE = {
    "positive": (0.55, 0.05),
    "negative": (0.05, 0.55),
    "bittersweet": (0.45, 0.45),
    "neutral": (0.08, 0.08),
}
#: How simulated participants press: key events made in-process, or real X key events (xdotool).
SIMULATE_MODES = ("inprocess", "xdotool")
MIN_HOLD = 0.15  # s; also the minimum gap, so injected events stay well ordered
TAP = 0.05  # s a rating tap is held
TAP_GAP = 0.10  # s between taps


@dataclass(frozen=True, order=True)
class Action:
    """One planned key transition."""

    t: float
    action: str
    key: str
    seat: str = ""
    button: str = ""


@dataclass(frozen=True)
class SeatKeys:
    seat: str
    happy: str
    sad: str

    def key(self, button: str) -> str:
        return self.happy if button == "happy" else self.sad


@dataclass
class Scripted:
    """A fixed key action tied to a phase: ``(phase, trial, seconds after its onset)``.

    ``phase`` is one of ``clip``, ``rating``, ``iti``, ``baseline``,
    ``button_check``; ``trial`` is 1-based (ignored outside trials).
    """

    key: str
    action: str
    phase: str
    trial: Optional[int]
    offset: float
    seat: str = ""
    button: str = ""


def hold_schedule(valence: str, duration: float, rng: random.Random) -> list[tuple[str, float, float]]:
    """Seeded holds ``(button, onset, offset)`` in seconds from clip onset.

    Parameters
    ----------
    valence : str
        The clip's valence tag (positive, negative, bittersweet, neutral).
    duration : float
        Clip length in seconds; holds stay inside ``[0.1, duration - 0.1]``.
    rng : random.Random

    Returns
    -------
    list of (button, onset, offset)

    Examples
    --------
    >>> holds = hold_schedule("positive", 10.0, random.Random(1))
    >>> happy = sum(b - a for k, a, b in holds if k == "happy")
    >>> sad = sum(b - a for k, a, b in holds if k == "sad")
    >>> happy > sad
    True
    """
    shares = HOLD_SHARE.get(valence, HOLD_SHARE["neutral"])
    out = []
    for button, share in zip(("happy", "sad"), shares):
        t = 0.1 + rng.uniform(0, 0.3)
        end = duration - 0.1
        mean_hold = max(MIN_HOLD, share * duration / 2)
        mean_gap = max(MIN_HOLD, (1 - share) * duration / 2)
        pressing = rng.random() < share * 1.5
        while t < end:
            if pressing:
                length = max(MIN_HOLD, rng.expovariate(1 / mean_hold))
                if t + length > end:
                    break
                out.append((button, round(t, 4), round(t + length, 4)))
                t += length
            else:
                t += max(MIN_HOLD, rng.expovariate(1 / mean_gap))
            pressing = not pressing
    return sorted(out, key=lambda h: h[1])


def rating_target(item_id: str, valence: str, low: int, high: int, rng: random.Random) -> int:
    """A plausible rating: high happiness after positive clips, and so on."""
    strong = {"happy": ("positive", "bittersweet"), "sad": ("negative", "bittersweet")}
    share = rng.uniform(0.6, 1.0) if valence in strong.get(item_id, ()) else rng.uniform(0, 0.4)
    return int(round(low + share * (high - low)))


class SimulatedParticipants:
    """Seeded key plans for every seat.

    Parameters
    ----------
    seats : list of SeatKeys
    seed : int
    scripted : list of Scripted, optional
        Extra actions (e.g. a key held across two trials, escape + y to abort).

    Examples
    --------
    >>> sim = SimulatedParticipants([SeatKeys("A", "a", "z")], seed=1)
    >>> [(a.action, a.key) for a in sim.on_phase("button_check", 10.0, seat="A", button="sad")]
    [('down', 'z'), ('up', 'z')]
    """

    def __init__(self, seats: list[SeatKeys], seed: int, scripted: Optional[list[Scripted]] = None):
        self.seats = {s.seat: s for s in seats}
        self.rng = random.Random(seed)
        self.scripted = list(scripted or [])
        self._busy: dict[str, float] = {}  # seat -> time until which a scripted hold owns it

    def _scripted_for(self, phase: str, t0: float, trial: Optional[int]) -> list[Action]:
        out = []
        for s in self.scripted:
            if s.phase == phase and (s.trial is None or s.trial == trial):
                out.append(Action(round(t0 + s.offset, 4), s.action, s.key, s.seat, s.button))
        return out

    def _scripted_seats(self, trial: Optional[int]) -> set[str]:
        """Seats whose scripted hold spans this trial (they stay out of the way)."""
        seats = set()
        downs = [s for s in self.scripted if s.action == "down" and s.seat]
        for d in downs:
            ups = [u for u in self.scripted if u.action == "up" and u.key == d.key]
            lo = d.trial or 0
            hi = max((u.trial or 0 for u in ups), default=10**6)
            if trial is not None and lo <= trial <= hi:
                seats.add(d.seat)
        return seats

    def on_phase(self, phase: str, t0: float, **info) -> list[Action]:
        """Plan the key actions of a phase that starts at session time ``t0``.

        ``info`` holds ``seat``/``button`` (button_check), ``trial``, ``duration``,
        ``valence`` (clip), ``trial``, ``seats``, ``item``, ``low``, ``high``,
        ``start``, ``valence`` (rating).
        """
        trial = info.get("trial")
        acts = self._scripted_for(phase, t0, trial)
        quiet = self._scripted_seats(trial)
        if phase == "button_check":
            keys = self.seats[info["seat"]]
            k = keys.key(info["button"])
            delay = 0.2 + self.rng.uniform(0, 0.2)
            acts += [
                Action(round(t0 + delay, 4), "down", k, keys.seat, info["button"]),
                Action(round(t0 + delay + 0.3, 4), "up", k, keys.seat, info["button"]),
            ]
        elif phase == "clip":
            for seat in self.seats.values():
                if seat.seat in quiet:
                    continue
                for button, a, b in hold_schedule(info.get("valence", "neutral"), info["duration"], self.rng):
                    k = seat.key(button)
                    acts += [
                        Action(round(t0 + a, 4), "down", k, seat.seat, button),
                        Action(round(t0 + b, 4), "up", k, seat.seat, button),
                    ]
        elif phase == "rating":
            for sid in info["seats"]:
                if sid in quiet:
                    continue
                seat = self.seats[sid]
                target = rating_target(
                    info["item"], info.get("valence", "neutral"), info["low"], info["high"], self.rng
                )
                steps = target - info["start"]
                button = "happy" if steps > 0 else "sad"
                t = t0 + 0.15 + self.rng.uniform(0, 0.15)
                for _ in range(abs(steps)):
                    acts += [
                        Action(round(t, 4), "down", seat.key(button), sid, button),
                        Action(round(t + TAP, 4), "up", seat.key(button), sid, button),
                    ]
                    t += TAP + TAP_GAP
                # confirm: both buttons at once
                acts += [
                    Action(round(t, 4), "down", seat.happy, sid, "happy"),
                    Action(round(t + 0.03, 4), "down", seat.sad, sid, "sad"),
                    Action(round(t + 0.15, 4), "up", seat.happy, sid, "happy"),
                    Action(round(t + 0.16, 4), "up", seat.sad, sid, "sad"),
                ]
        return sorted(acts)


@dataclass
class InProcessSource:
    """Delivers planned actions as key events at their planned times (no X server).

    Examples
    --------
    >>> src = InProcessSource()
    >>> src.schedule([Action(1.0, "down", "a"), Action(2.0, "up", "a")])
    >>> [e.action for e in src.poll(1.5)]
    ['down']
    """

    pending: list[Action] = field(default_factory=list)
    sent: list[tuple[Action, float, float]] = field(default_factory=list)

    def schedule(self, actions: list[Action]) -> None:
        self.pending = sorted(self.pending + list(actions))

    def poll(self, now: float) -> list[KeyEvent]:
        out = []
        while self.pending and self.pending[0].t <= now:
            a = self.pending.pop(0)
            self.sent.append((a, a.t, a.t))
            out.append(KeyEvent(a.t, a.action, a.key))
        return out

    def idle(self) -> bool:
        return not self.pending

    def close(self) -> None:
        self.pending.clear()
