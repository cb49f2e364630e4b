"""Generate the sessions of a simulated group-vs-alone study in memory: faces, buttons, ratings.

:func:`simulate_sessions` yields one :class:`SimulatedSession` at a time (nothing is
written); :func:`analysis.simulate.study.simulate_study` writes them as session folders.

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

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from coaffect.formats import faces_schema as fs

from .spec import SimulationSpec

__all__ = ["SimulatedSession", "simulate_sessions", "ar1"]


def ar1(rng: np.random.Generator, n: int, sd: float, phi: float = 0.9) -> np.ndarray:
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


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class SimulatedSession:
    """One simulated session in memory (what :func:`~analysis.simulate.study.simulate_study` writes to a session folder).

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

    The same draws as :func:`~analysis.simulate.study.simulate_study` (which writes what this yields), for
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
        c: [ar1(rng, n_frames_clip, spec.stimulus_signal_sd, 0.95) for _ in range(2)] for c, _ in clips
    }
    sessions = [("alone", f"a{k + 1:02d}", 1) for k in range(spec.n_alone)]
    sessions += [("group", f"g{k + 1:02d}", spec.group_size) for k in range(spec.n_group_sessions)]
    iterator = sessions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sessions, desc="simulating sessions", unit="session")
    pid_counter = 0
    seats_all = [seat for seat, _, _ in spec.seat_keys()]
    for condition, sid, size in iterator:
        pids = [f"P{pid_counter + i + 1:04d}" for i in range(size)]
        pid_counter += size
        u_cond = {c: tuple(np.add(u_stim[c], u_sc[(c, condition)])) for c, _ in clips}
        yield _simulate_session(
            spec, rng, condition, sid, list(zip(pids, seats_all)), clips, u_cond, stim_signal
        )


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
                ar1(rng, int(round(spec.clip_duration * spec.fps)), spec.session_signal_sd, 0.9)
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
        smile = base_level[0] + ar1(rng, len(times), spec.sd_frame)
        sad = base_level[1] + ar1(rng, len(times), spec.sd_frame)
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
        + ar1(np.random.default_rng([zlib.crc32(f"{sid}/{pid}".encode())]), n, 3.0),
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
