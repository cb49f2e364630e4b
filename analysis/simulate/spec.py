"""Every figure of a simulated group-vs-alone study: :class:`SimulationSpec`.

The generator (:mod:`analysis.simulate.sessions`), the dataset writer
(:mod:`analysis.simulate.study`), the trial-level shortcut
(:mod:`analysis.simulate.trials`) and power analysis all read their figures from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from coaffect.formats.errors import AnalysisError

#: The happy and sad keys of simulated seats A, B, C, ... (a keyboard's letters, two per seat).
SEAT_KEYS = [
    ("a", "z"),
    ("g", "b"),
    ("k", "m"),
    ("q", "w"),
    ("e", "r"),
    ("t", "y"),
    ("u", "i"),
    ("o", "p"),
    ("s", "d"),
    ("f", "h"),
    ("j", "l"),
    ("x", "c"),
]


@dataclass
class SimulationSpec:
    """Every figure of the simulated study.

    Defaults follow the literature summarised in issue 6: smiling about
    +0.25 SD in groups, sad displays about -0.2 SD, random-intercept SDs 0.35
    (participants), 0.25 (stimuli), 0.15 (group sessions), more missing faces
    in groups, self-reports that differ by clip but not by condition.
    """

    n_alone: int = 24
    n_group_sessions: int = 8
    group_size: int = 3
    n_clips: int = 6
    valences: tuple[str, ...] = ("positive", "negative", "bittersweet")
    clip_duration: float = 20.0
    baseline_duration: float = 5.0
    fps: float = 5.0
    smile_group_effect: float = 0.25
    sad_group_effect: float = -0.20
    smile_valence: dict = field(
        default_factory=lambda: {"positive": 0.8, "negative": -0.2, "bittersweet": 0.3, "neutral": 0.0}
    )
    sad_valence: dict = field(
        default_factory=lambda: {"positive": -0.2, "negative": 0.8, "bittersweet": 0.4, "neutral": 0.0}
    )
    sd_participant: float = 0.35
    sd_stimulus: float = 0.25
    sd_session: float = 0.15
    sd_stimulus_condition: float = 0.15
    sd_participant_valence: float = 0.2
    sd_session_stimulus: float = 0.15
    sd_residual: float = 1.0
    sd_residual_group: float | None = None
    sd_frame: float = 0.5
    happy_fraction: dict = field(
        default_factory=lambda: {"positive": 0.55, "negative": 0.05, "bittersweet": 0.45, "neutral": 0.05}
    )
    sad_fraction: dict = field(
        default_factory=lambda: {"positive": 0.05, "negative": 0.55, "bittersweet": 0.45, "neutral": 0.05}
    )
    mean_hold: float = 3.0
    coupling: float = 0.6
    coupling_lag: float = 1.0
    stimulus_signal_sd: float = 0.3
    session_signal_sd: float = 0.4
    p_missing_alone: float = 0.03
    p_missing_group: float = 0.10
    p_dropout_alone: float = 0.02
    p_dropout_group: float = 0.06
    face_loss_expression: float = 0.0
    switch_rate: float = 2.0
    p_zero_both: float = 0.5
    seed: int = 1

    def __post_init__(self) -> None:
        """Check every field once, here, for scripts and the CLI alike (errors name the field)."""

        def bad(name: str, what: str, hint: str | None = None) -> AnalysisError:
            return AnalysisError(f"{name}: {what} (got {getattr(self, name)!r})", hint=hint, field=name)

        for name in ("n_alone", "n_group_sessions", "n_clips"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise bad(name, "a whole number >= 0")
        if self.n_clips < 1:
            raise bad("n_clips", "at least 1 clip")
        for name in (
            "sd_participant",
            "sd_stimulus",
            "sd_session",
            "sd_stimulus_condition",
            "sd_participant_valence",
            "sd_session_stimulus",
            "sd_frame",
            "switch_rate",
        ):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise bad(name, "a number >= 0")
        if not self.sd_residual > 0:
            raise bad("sd_residual", "must be > 0")
        if self.sd_residual_group is not None and not self.sd_residual_group > 0:
            raise bad("sd_residual_group", "must be > 0 (or None: the same as sd_residual)")
        if not np.isfinite(self.face_loss_expression):
            raise bad("face_loss_expression", "a finite number (log-odds per residual SD)")
        for name in ("p_dropout_alone", "p_dropout_group"):
            if not 0 <= getattr(self, name) < 1:
                raise bad(name, "a probability in [0, 1)")
        if not 0 <= self.p_zero_both < 1:
            raise bad("p_zero_both", "a probability in [0, 1)")
        for name in ("fps", "clip_duration"):
            if not getattr(self, name) > 0:
                raise bad(name, "must be > 0")
        unknown = [v for v in self.valences if v not in self.smile_valence or v not in self.sad_valence]
        if unknown:
            raise AnalysisError(
                f"valences: no smile/sad effect given for {', '.join(unknown)}",
                hint="add them to smile_valence and sad_valence",
                field="valences",
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SimulationSpec:
        """A spec from the entries of ``options`` that name its fields (e.g. ``vars(args)`` of the CLI).

        Examples
        --------
        >>> SimulationSpec.from_options({"n_alone": 2, "valences": ["positive"], "quiet": True}).valences
        ('positive',)
        """
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in options.items() if k in names and v is not None}
        if "valences" in given:
            given["valences"] = tuple(given["valences"])
        return cls(**given)

    def residual_sd(self, condition: str) -> float:
        """The trial-level residual SD of a condition (``sd_residual_group`` in groups, when set)."""
        if condition == "group" and self.sd_residual_group is not None:
            return float(self.sd_residual_group)
        return float(self.sd_residual)

    def face_loss(self, condition: str, expression: np.ndarray | float) -> np.ndarray:
        """Probability that a trial's face is lost, given the expression's deviation (residual SDs).

        ``p_dropout_<condition>`` at an average expression; ``face_loss_expression`` adds that
        many log-odds per residual SD of expression (faces lost while laughing or turning: not
        at random when it is not zero).

        Examples
        --------
        >>> spec = SimulationSpec(face_loss_expression=1.0)
        >>> spec.face_loss("group", np.array([0.0, 2.0])).round(3).tolist()
        [0.06, 0.32]
        """
        p = self.p_dropout_group if condition == "group" else self.p_dropout_alone
        if p <= 0:
            return np.zeros_like(np.asarray(expression, float))
        logit = np.log(p / (1 - p)) + self.face_loss_expression * np.asarray(expression, float)
        return 1.0 / (1.0 + np.exp(-logit))

    def seat_keys(self) -> list[tuple[str, str, str]]:
        """(seat id, happy key, sad key) of each simulated seat: A, B, ... with :data:`SEAT_KEYS`.

        Examples
        --------
        >>> SimulationSpec(group_size=2).seat_keys()
        [('A', 'a', 'z'), ('B', 'g', 'b')]
        """
        if self.group_size > len(SEAT_KEYS):
            raise AnalysisError(
                f"group_size: at most {len(SEAT_KEYS)} seats can be simulated (got {self.group_size})",
                field="group_size",
            )
        return [(chr(ord("A") + i), h, s) for i, (h, s) in enumerate(SEAT_KEYS[: self.group_size])]

    def clips(self) -> list[tuple[str, str]]:
        """(stimulus id, valence) of every simulated clip."""
        return [(f"clip{k + 1:02d}", self.valences[k % len(self.valences)]) for k in range(self.n_clips)]
