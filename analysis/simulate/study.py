"""Simulate a complete group-vs-alone study with known effects (``coaffect simulate-study``).

The dataset looks like one recorded by the runner: ``ses-<id>/`` folders
written with :class:`coaffect.formats.session_writer.SessionWriter` (session.json,
frozen protocol.yaml, events.tsv with baseline and clip rows, raw down/up rows
in buttons.tsv, ratings.tsv), a dataset-level participants.tsv, and, instead
of video, frame-level facial measures in
``derivatives/coaffect/ses-<id>/faces.parquet`` with the columns of
:mod:`coaffect.formats.faces_schema`. A ``stimuli/manifest.yaml`` inside the dataset
gives every simulated clip its valence (the frozen protocols point at it), and
``derivatives/coaffect/simulation.json`` keeps the true parameters.

Generative model (trial level, every figure a :class:`SimulationSpec` field)::

    AU12 clip mean - baseline mean = smile_valence[valence] + smile_group_effect * group
                                     + u_participant + u_stimulus + u_group_session
                                     + u_stimulus:condition + u_participant:valence
                                     + u_group_session:stimulus + e

and the same for the inner_brow_lip_down composite (AU01+AU04+AU15) with its own random effects. Effects are
in units of the trial-level residual SD (``sd_residual``). Within a clip the
smile signal also follows the participant's happy button ``coupling_lag`` s
later, a stimulus-driven time course shared by every viewer, and (in groups) a
session-shared time course (its clip mean is removed: the group's shared level
on a clip is ``u_group_session:stimulus``, SD ``sd_session_stimulus``), which
makes real pairs more synchronous than pseudo-pairs. ``e`` has SD
``sd_residual_group`` in groups when that is set. A trial's face is mostly lost
with probability :meth:`SimulationSpec.face_loss` (``p_dropout_<condition>``,
more likely with a stronger smile when ``face_loss_expression`` > 0).
Self-reports depend on the clip, not on the condition.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.signal import lfilter

from coaffect.formats import faces_schema as fs
from coaffect.formats.errors import AnalysisError
from coaffect.formats.session_writer import SessionWriter, write_json_atomic
from coaffect.formats.tables import derivatives_dir

_KEYS = [
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

    def clips(self) -> list[tuple[str, str]]:
        """(stimulus id, valence) of every simulated clip."""
        return [(f"clip{k + 1:02d}", self.valences[k % len(self.valences)]) for k in range(self.n_clips)]


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float = 0.9) -> np.ndarray:
    """Stationary AR(1) noise with marginal SD ``sd``."""
    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    return lfilter([1.0], [1.0, -phi], e)


def _holds(rng, onset: float, offset: float, fraction: float, mean_hold: float):
    """Alternating on/off renewal process started at the clip onset; holds may cross the offset."""
    if fraction <= 0:
        return []
    mean_off = mean_hold * (1 - fraction) / fraction
    t, out = onset + rng.exponential(mean_off), []
    while t < offset:
        end = t + max(0.2, rng.exponential(mean_hold))
        out.append((t, min(end, offset + 3.0)))
        t = end + max(0.2, rng.exponential(mean_off))
    return out


def _state(segments, times: np.ndarray) -> np.ndarray:
    s = np.zeros(len(times))
    for a, b in segments:
        s[(times >= a) & (times < b)] = 1.0
    return s


def simulated_protocol(spec: SimulationSpec, video: Any = None) -> dict:
    """The protocol (as a dict) that the simulated sessions ran (with its camera when ``video`` is given)."""
    if spec.group_size > len(_KEYS):
        raise AnalysisError(
            f"group_size: at most {len(_KEYS)} seats can be simulated (got {spec.group_size})"
        )
    seats = [
        {"id": chr(ord("A") + i), "buttons": {"happy": h, "sad": s}}
        for i, (h, s) in enumerate(_KEYS[: spec.group_size])
    ]
    cameras = {}
    if video is not None:
        from .camera_feed import CAMERA

        # one camera: a wide shot of the seats left to right; alone people sit in seat A, centred
        cameras = {
            "cameras": [
                {
                    "name": CAMERA,
                    "device": 0,
                    "resolution": list(video.group_frame),
                    "fps": spec.fps,
                    "seats": [seat["id"] for seat in seats],
                    "condition_seats": {"alone": [seats[0]["id"]]},
                    "required": False,
                }
            ]
        }
    return {
        "format_version": 1,
        "id": "simulated-study",
        "version": "1.0.0",
        "title": "Simulated group-vs-alone study",
        "authors": ["coaffect simulate-study"],
        "texts": {"consent": "Simulated.", "instructions": "Hold happy / sad."},
        "stimuli": {"manifest": "../stimuli/manifest.yaml", "clips": [c for c, _ in spec.clips()]},
        "trial_order": {"mode": "random", "seed": spec.seed},
        "baseline": {"duration": spec.baseline_duration, "kind": "fixation"},
        "iti": 1.0,
        "conditions": {"alone": {"participants": 1}, "group": {"participants": spec.group_size}},
        "seats": seats,
        "ratings": {
            "items": [
                {"id": "happy", "prompt": "How happy did you feel?"},
                {"id": "sad", "prompt": "How sad did you feel?"},
            ]
        },
        **cameras,
        "analysis": {
            "baseline_window": [0.0, None],
            "simultaneity_threshold": 0.5,
            "min_face_fraction": 0.5,
            "models": [
                "AU12 ~ condition * valence",
                "inner_brow_lip_down ~ condition * valence",
                "t_both ~ condition * valence",
            ],
        },
    }


def _manifest(spec: SimulationSpec) -> dict:
    clips = []
    for cid, valence in spec.clips():
        clips.append(
            {
                "id": cid,
                "file": f"{cid}.mp4",
                "sha256": hashlib.sha256(cid.encode()).hexdigest(),
                "duration": spec.clip_duration,
                "fps": 25.0,
                "frame_count": int(spec.clip_duration * 25),
                "width": 640,
                "height": 360,
                "audio": False,
                "tags": {"valence": valence},
                "licence": "CC0-1.0",
                "source": "simulated by coaffect simulate-study (no file)",
            }
        )
    return {"format_version": 1, "clips": clips}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class SimulatedSession:
    """One simulated session in memory (what :func:`simulate_study` writes to a session folder).

    Attributes
    ----------
    condition, session_id : str
    participants : list of (participant_id, seat)
    clips : list of (trial, stimulus_id, valence, onset)
        Clip onsets on the session clock.
    buttons : list of (t, action, participant_id, seat, button)
        Raw down/up rows.
    ratings : list of dict
    faces : pandas.DataFrame
        The faces table (:mod:`coaffect.formats.faces_schema` columns).
    end : float
        Session end (s).
    """

    condition: str
    session_id: str
    participants: list
    clips: list
    buttons: list
    ratings: list
    faces: pd.DataFrame
    end: float

    def intervals(self) -> pd.DataFrame:
        """Hold intervals (participant_id, button, onset, offset) from the down/up rows."""
        downs: dict = {}
        rows = []
        for t, action, pid, _, button in sorted(self.buttons):
            if action == "down":
                downs[(pid, button)] = t
            elif (pid, button) in downs:
                rows.append((pid, button, downs.pop((pid, button)), t))
        return pd.DataFrame(rows, columns=["participant_id", "button", "onset", "offset"])


def simulate_sessions(spec: SimulationSpec, progress: bool = False):
    """The sessions of a simulated study, generated in memory one by one (nothing written).

    The same draws as :func:`simulate_study` (which writes what this yields), for
    simulations that need many studies' frames and buttons quickly.

    Yields
    ------
    SimulatedSession

    Examples
    --------
    >>> spec = SimulationSpec(n_alone=1, n_group_sessions=1, group_size=2, n_clips=2, clip_duration=4.0)
    >>> [(s.session_id, len(s.participants), len(s.faces)) for s in simulate_sessions(spec)]
    [('a01', 1, 155), ('g01', 2, 310)]
    """
    rng = np.random.default_rng(spec.seed)
    clips = spec.clips()
    u_stim = {c: (rng.normal(0, spec.sd_stimulus), rng.normal(0, spec.sd_stimulus)) for c, _ in clips}
    # clip-by-condition deviations: how much a clip's group effect differs from the average one
    # (own random stream, so that adding these terms left every other draw of a seed unchanged)
    slope_rng = np.random.default_rng([spec.seed, 11])
    u_sc = {
        (c, cond): slope_rng.normal(0, spec.sd_stimulus_condition, 2)
        for c, _ in clips
        for cond in ("alone", "group")
    }
    n_frames_clip = int(round(spec.clip_duration * spec.fps))
    stim_signal = {
        c: [_ar1(rng, n_frames_clip, spec.stimulus_signal_sd, 0.95) for _ in range(2)] for c, _ in clips
    }
    sessions = [("alone", f"a{k + 1:02d}", 1) for k in range(spec.n_alone)]
    sessions += [("group", f"g{k + 1:02d}", spec.group_size) for k in range(spec.n_group_sessions)]
    iterator = sessions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sessions, desc="simulating sessions", unit="session")
    pid_counter = 0
    seats_all = [seat["id"] for seat in simulated_protocol(spec)["seats"]]
    for condition, sid, size in iterator:
        pids = [f"P{pid_counter + i + 1:04d}" for i in range(size)]
        pid_counter += size
        u_cond = {c: tuple(np.add(u_stim[c], u_sc[(c, condition)])) for c, _ in clips}
        yield _simulate_session(
            spec, rng, condition, sid, list(zip(pids, seats_all)), clips, u_cond, stim_signal
        )


def simulate_study(
    out_dir: str | Path, spec: SimulationSpec | None = None, progress: bool = False, video: Any = None
) -> Path:
    """Write a simulated dataset with known effects.

    Parameters
    ----------
    out_dir : str or Path
        New dataset folder (must not contain sessions yet).
    spec : SimulationSpec, optional
        Sizes and effects; defaults as documented on :class:`SimulationSpec`.
    progress : bool
        Show a tqdm progress bar over sessions.
    video : analysis.simulate.camera_feed.VideoSpec, optional
        Film every session instead of writing its faces table: camera videos whose
        faces show the planted states, for the real scoring pipeline to measure
        (the planted truth goes beside them:
        :func:`analysis.simulate.truth.write_planted_truth`). Without it, the faces table is written directly.

    Returns
    -------
    Path
        The dataset folder.

    Examples
    --------
    >>> spec = SimulationSpec(n_alone=2, n_group_sessions=1, n_clips=2, clip_duration=4.0, fps=5.0)
    >>> path = simulate_study(tmp / "sim", spec)
    >>> sorted(p.name for p in path.glob("ses-*"))
    ['ses-a01', 'ses-a02', 'ses-g01']
    """
    spec = spec or SimulationSpec()
    out = Path(out_dir)
    if any(out.glob("ses-*")):
        raise AnalysisError(
            f"{out}: already holds ses-* folders",
            hint="choose a new `out_dir` folder for the simulated study",
        )
    if spec.n_alone < 0 or spec.n_group_sessions < 0 or spec.n_alone + spec.n_group_sessions == 0:
        raise AnalysisError(
            f"n_alone={spec.n_alone}, n_group_sessions={spec.n_group_sessions}: need at least one session"
        )
    if spec.n_group_sessions and spec.group_size < 2:
        raise AnalysisError(f"group_size: a group has at least 2 participants (got {spec.group_size})")
    out.mkdir(parents=True, exist_ok=True)
    (out / "stimuli").mkdir(exist_ok=True)
    (out / "stimuli" / "manifest.yaml").write_text(yaml.safe_dump(_manifest(spec), sort_keys=False))
    protocol_text = yaml.safe_dump(simulated_protocol(spec, video), sort_keys=False, allow_unicode=True)
    protocol_sha = hashlib.sha256(protocol_text.encode()).hexdigest()
    filmed = []
    for session in simulate_sessions(spec, progress):
        truth = _write_session(out, spec, session, protocol_text, protocol_sha, video)
        if truth is not None:
            filmed.append((session, truth))
    truth = {
        "spec": asdict(spec),
        "truth": {
            "AU12": {"condition[group-alone]": spec.smile_group_effect},
            "inner_brow_lip_down": {"condition[group-alone]": spec.sad_group_effect},
            "variances": {
                "participant_id": spec.sd_participant**2,
                "stimulus_id": spec.sd_stimulus**2,
                "session_id": spec.sd_session**2,
                "stimulus_condition": spec.sd_stimulus_condition**2,
                "participant_valence": spec.sd_participant_valence**2,
                "session_stimulus": spec.sd_session_stimulus**2,
            },
        },
    }
    if video is not None:  # the truth stays out of the pipeline's folder: derivatives/planted/
        from .truth import write_planted_truth

        write_planted_truth(out, spec, video, filmed)
        return out
    deriv = derivatives_dir(out)
    deriv.mkdir(parents=True, exist_ok=True)
    write_json_atomic(deriv / "simulation.json", truth)
    return out


def _simulate_session(spec, rng, condition, sid, people, clips, u_stim, stim_signal) -> SimulatedSession:
    pids = [p for p, _ in people]
    seats = [seat for _, seat in people]
    order = [clips[i] for i in rng.permutation(len(clips))]
    t = 5.0 + spec.baseline_duration + 1.0  # instructions (5 s), baseline, a 1 s pause
    trials = []
    for k, (cid, valence) in enumerate(order, start=1):
        trials.append((k, cid, valence, t))
        t += spec.clip_duration + 5.0 + 1.0
    end = t
    dt = 1.0 / spec.fps
    times = np.arange(0.0, end, dt)
    frames_all = []
    button_rows = []
    rating_rows = []
    group = condition == "group"
    u_ses = (rng.normal(0, spec.sd_session), rng.normal(0, spec.sd_session)) if group else (0.0, 0.0)
    # the group's shared response to each clip (contagion), from its own stream
    ss_rng = np.random.default_rng([spec.seed, 13, zlib.crc32(sid.encode())])
    u_ss = {cid: ss_rng.normal(0, spec.sd_session_stimulus, 2) * group for cid, _ in clips}
    resid_scale = spec.residual_sd(condition) / spec.sd_residual
    shared = (
        {
            cid: [
                _ar1(rng, int(round(spec.clip_duration * spec.fps)), spec.session_signal_sd, 0.9)
                for _ in range(2)
            ]
            for cid, _ in clips
        }
        if group
        else None
    )
    p_missing = spec.p_missing_group if group else spec.p_missing_alone
    for seat_i, (pid, seat) in enumerate(zip(pids, seats)):
        u_p = (rng.normal(0, spec.sd_participant), rng.normal(0, spec.sd_participant))
        pv_rng = np.random.default_rng([spec.seed, 12, int(pid.lstrip("P"))])
        u_pv = {v: pv_rng.normal(0, spec.sd_participant_valence, 2) for v in spec.valences}
        base_level = rng.normal(0, 0.5, 2)  # the participant's resting face, removed by baseline
        smile = base_level[0] + _ar1(rng, len(times), spec.sd_frame)
        sad = base_level[1] + _ar1(rng, len(times), spec.sd_frame)
        missing = rng.random(len(times)) < p_missing
        for k, cid, valence, onset in trials:
            offset = onset + spec.clip_duration
            holds = {}
            for button, frac in (("happy", spec.happy_fraction), ("sad", spec.sad_fraction)):
                holds[button] = _holds(rng, onset, offset, frac.get(valence, 0.05), spec.mean_hold)
                for a, b in holds[button]:
                    button_rows += [(a, "down", pid, seat, button), (b, "up", pid, seat, button)]
            sel = (times >= onset) & (times < offset)
            idx = np.flatnonzero(sel)
            n = len(idx)
            happy_lag = _state(holds["happy"], times[idx] - spec.coupling_lag)
            sad_lag = _state(holds["sad"], times[idx] - spec.coupling_lag)
            for which, (latent, effect, val, state) in enumerate(
                (
                    (smile, spec.smile_group_effect, spec.smile_valence, happy_lag),
                    (sad, spec.sad_group_effect, spec.sad_valence, sad_lag),
                )
            ):
                deviation = (
                    u_p[which]
                    + u_pv[valence][which]
                    + u_stim[cid][which]
                    + u_ses[which]
                    + u_ss[cid][which]
                    + rng.normal(0, spec.sd_residual) * resid_scale
                )
                mean = val.get(valence, 0.0) + effect * group + deviation
                if which == 0:
                    smile_deviation = deviation / spec.sd_residual
                wiggle = stim_signal[cid][which][:n] - stim_signal[cid][which][:n].mean()
                if group:
                    sh = shared[cid][which][:n]
                    wiggle = wiggle + sh - sh.mean()
                coupling = spec.coupling * (state - state.mean())
                latent[idx] += mean + wiggle + coupling
            if rng.random() < spec.face_loss(condition, smile_deviation):
                missing[idx[: int(0.7 * n)]] = True
            p_h = sum(min(b, offset) - a for a, b in holds["happy"]) / spec.clip_duration
            p_s = sum(min(b, offset) - a for a, b in holds["sad"]) / spec.clip_duration
            r_on = offset + 0.5
            for item, p in (("happy", p_h), ("sad", p_s)):
                value = int(np.clip(round(1 + 8 * p + rng.normal(0, 1)), 0, 9))
                rating_rows.append(
                    {
                        "trial": k,
                        "stimulus_id": cid,
                        "participant_id": pid,
                        "item": item,
                        "value": value,
                        "rt": round(1.0 + rng.exponential(1.0), 3),
                        "onset": r_on,
                    }
                )
        frames_all.append(_face_frames(rng, sid, pid, seat_i, times, smile, sad, missing))
    faces = pd.concat(frames_all, ignore_index=True)
    return SimulatedSession(condition, sid, list(people), trials, button_rows, rating_rows, faces, end)


def _write_session(
    out: Path, spec: SimulationSpec, s: SimulatedSession, protocol_text: str, protocol_sha: str, video=None
):
    """Write one simulated session as the runner would (session folder and faces.parquet, or its video)."""
    proto = simulated_protocol(spec)
    seats = [seat for _, seat in s.participants]
    writer = SessionWriter.create(
        out,
        s.session_id,
        {
            "condition": s.condition,
            "participants": [{"participant_id": p, "seat": seat} for p, seat in s.participants],
            "protocol": {
                "id": proto["id"],
                "version": proto["version"],
                "sha256": protocol_sha,
                "file": "protocol.yaml",
            },
            "versions": {"coaffect": "simulate-study"},
            "simulated": True,
            "cameras": (
                [{"name": "sim", "fps": spec.fps, "seats": seats, "simulated": True}]
                if video is None
                else None
            ),
            "seats": seats,
        },
    )
    (writer.dir / "protocol.yaml").write_text(protocol_text, encoding="utf-8")
    writer.add_participants(
        [
            {"participant_id": p, "condition": s.condition, "session_id": s.session_id, "seat": seat}
            for p, seat in s.participants
        ]
    )
    writer.append("events.tsv", {"onset": 0.0, "duration": 5.0, "trial_type": "instructions"})
    writer.append("events.tsv", {"onset": 5.0, "duration": spec.baseline_duration, "trial_type": "baseline"})
    trials = s.clips
    for k, cid, valence, onset in trials:
        writer.append(
            "events.tsv",
            {
                "onset": onset,
                "duration": spec.clip_duration,
                "trial_type": "clip",
                "trial": k,
                "stimulus_id": cid,
                "detail": f"simulated valence={valence}",
            },
        )
        writer.append(
            "events.tsv",
            {
                "onset": onset + spec.clip_duration + 0.5,
                "duration": 4.5,
                "trial_type": "rating",
                "trial": k,
                "stimulus_id": cid,
            },
        )
    for row in sorted(s.buttons):
        writer.append(
            "buttons.tsv",
            {
                "t": row[0],
                "action": row[1],
                "participant_id": row[2],
                "seat": row[3],
                "button": row[4],
                "key": dict(zip(("happy", "sad"), _KEYS[seats.index(row[3])]))[row[4]],
            },
        )
    for row in s.ratings:
        writer.append("ratings.tsv", row)
    writer.append("events.tsv", {"onset": s.end, "duration": 0.0, "trial_type": "end"})
    if video is None:
        deriv = derivatives_dir(out, s.session_id)
        deriv.mkdir(parents=True, exist_ok=True)
        s.faces.to_parquet(deriv / "faces.parquet", index=False)
        writer.finish("complete")
        return None
    from .camera_feed import CAMERA, render_session_feed

    truth = render_session_feed(s, video, writer.dir)
    frames = int(truth["frame"].nunique())
    writer.finish(
        "complete",
        cameras={CAMERA: {"fps": spec.fps, "frames_written": frames, "seats": seats, "simulated": True}},
    )
    return truth


def _face_frames(rng, sid, pid, seat_i, times, smile, sad, missing) -> pd.DataFrame:
    n = len(times)
    noise = lambda sd=0.5: rng.normal(0, sd, n)  # noqa: E731
    cols = {name: noise() for name in fs.ACTION_UNITS}
    cols["AU12"] = smile
    cols["AU06"] = 0.8 * smile + noise(0.4)
    cols["AU25"] = 0.4 * smile + noise()
    cols["AU15"] = 0.8 * sad + noise(0.4)
    cols["AU01"] = 0.5 * sad + noise()
    cols["AU04"] = 0.5 * sad + noise()
    comps = {name: noise(0.3) for name in fs.COMPOSITES}
    comps["smile"] = (cols["AU06"] + cols["AU12"]) / 2
    comps["inner_brow_lip_down"] = sad
    logits = np.column_stack([rng.normal(-0.5, 0.3, n) for _ in fs.EMOTIONS])
    logits[:, fs.EMOTIONS.index("emo_happy")] = 1.2 * smile
    logits[:, fs.EMOTIONS.index("emo_sad")] = 1.2 * sad
    logits[:, fs.EMOTIONS.index("emo_neutral")] = 1.0
    emos = _softmax(logits)
    data = {
        "session_id": sid,
        "camera": "sim",
        "frame": np.arange(n, dtype="int64"),
        "t": times,
        "participant_id": pid,
        "face_found": ~missing,
        # head sway (px): independent per person, from its own stream so the other draws are unchanged
        "face_x": 40.0
        + 200 * seat_i
        + _ar1(np.random.default_rng([zlib.crc32(f"{sid}/{pid}".encode())]), n, 3.0),
        "face_y": np.full(n, 120.0),
        "face_w": np.full(n, 120.0),
        "face_h": np.full(n, 120.0),
        "detection_confidence": rng.uniform(0.8, 1.0, n),
        "identity_confidence": rng.uniform(0.7, 0.99, n),
        "track_id": pd.array(np.full(n, seat_i), dtype="Int64"),
        "landmark_jitter": np.full(n, 0.3),
    }
    data.update({name: cols[name] for name in fs.ACTION_UNITS})
    data.update({name: comps[name] for name in fs.COMPOSITES})
    data.update({name: emos[:, j] for j, name in enumerate(fs.EMOTIONS)})
    value_cols = [c for c in fs.FACE_COLUMNS[1:] if c != "face_quality"] + list(fs.MEASURES)
    for c in value_cols:  # one table built at once (column by column was most of the run time)
        if c in data:
            data[c] = np.where(missing, np.nan, np.asarray(data[c], float))
    if "track_id" in value_cols:
        data["track_id"] = pd.array(np.where(missing, pd.NA, seat_i), dtype="Int64")
    data["face_quality"] = np.where(missing, "no_face", "ok")
    return pd.DataFrame(data)
