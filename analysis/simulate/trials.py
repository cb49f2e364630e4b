"""Trial tables drawn straight from the generative model (for power and calibration).

:func:`analysis.simulate.study.simulate_study` writes whole session folders
(minutes for a study); power analysis and the calibration benchmark need
thousands of studies, so this draws the trial table itself from the same
:class:`~analysis.simulate.spec.SimulationSpec`::

    AU12 = smile_valence[valence] + smile_group_effect * group
           + u_participant + u_stimulus + u_session * group
           + u_stimulus:condition + u_participant:valence
           + u_session:stimulus * group + e

with every SD a spec field (in residual SD units): ``u_session:stimulus`` is
the moment a group shares on one clip (contagion, ``sd_session_stimulus``), and
``e`` has SD ``sd_residual`` alone and ``sd_residual_group`` in groups (equal
unless set). A trial's face is lost (AU12 missing, ``face_excluded``) with
probability ``p_dropout_<condition>``, shifted by ``face_loss_expression``
log-odds per residual SD of the trial's expression (not at random when set).
These draws come from their own random stream, so a seed's other values do not
depend on them. Count and zero-heavy outcomes come from the same random effects
on their own scale: ``n_switches`` ~ Poisson(switch_rate * exp(eta / 2)) per
clip (every clip lasts ``clip_duration``); ``t_both`` is 0 with probability ``p_zero_both`` and otherwise exp(eta / 2)
seconds (a hurdle outcome); ``any_simultaneous`` = t_both > 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .spec import SimulationSpec


def simulate_trials(
    spec: SimulationSpec, seed: int | None = None, group_effect: float | None = None
) -> pd.DataFrame:
    """One simulated study's trial table.

    Parameters
    ----------
    spec : SimulationSpec
        Sizes, effects and SDs.
    seed : int, optional
        Random seed (default ``spec.seed``).
    group_effect : float, optional
        Overrides ``spec.smile_group_effect`` (e.g. 0 for false-positive runs).

    Returns
    -------
    pandas.DataFrame
        participant_id, session_id, condition, in_group, stimulus_id, valence,
        clip_duration, AU12, n_switches, t_both, any_simultaneous, excluded,
        face_excluded, face_exclusion_reason.

    Examples
    --------
    >>> t = simulate_trials(SimulationSpec(n_alone=4, n_group_sessions=2, n_clips=6), seed=1)
    >>> len(t), sorted(t["condition"].unique())
    (60, ['alone', 'group'])
    """
    rng = np.random.default_rng(spec.seed if seed is None else seed)
    effect = spec.smile_group_effect if group_effect is None else group_effect
    clips = spec.clips()
    n_clip = len(clips)
    sessions = [("alone", f"a{k + 1:03d}", 1) for k in range(spec.n_alone)]
    sessions += [("group", f"g{k + 1:03d}", spec.group_size) for k in range(spec.n_group_sessions)]
    pid, ses, cond = [], [], []
    for condition, sid, size in sessions:
        for _ in range(size):
            pid.append(f"P{len(pid) + 1:04d}")
            ses.append(sid)
            cond.append(condition)
    n_p = len(pid)
    group = np.array([c == "group" for c in cond], float)
    ses_index = {s: i for i, s in enumerate(dict.fromkeys(ses))}
    s_idx = np.array([ses_index[s] for s in ses])
    valences = sorted(set(v for _, v in clips))
    v_of_clip = np.array([valences.index(v) for _, v in clips])
    u_p = rng.normal(0, spec.sd_participant, n_p)
    u_s = rng.normal(0, spec.sd_stimulus, n_clip)
    u_ses = rng.normal(0, spec.sd_session, len(ses_index))
    u_sc = rng.normal(0, spec.sd_stimulus_condition, (n_clip, 2))
    u_pv = rng.normal(0, spec.sd_participant_valence, (n_p, len(valences)))
    P, C = np.meshgrid(np.arange(n_p), np.arange(n_clip), indexing="ij")
    P, C = P.ravel(), C.ravel()
    g = group[P]
    fixed = np.array([spec.smile_valence.get(v, 0.0) for _, v in clips])[C] + effect * g
    eta = fixed + u_p[P] + u_s[C] + u_ses[s_idx[P]] * g + u_sc[C, g.astype(int)] + u_pv[P, v_of_clip[C]]
    # terms added later draw from their own stream: a seed's other values stay as they were
    extra = np.random.default_rng([spec.seed if seed is None else seed, 23])
    u_ss = extra.normal(0, spec.sd_session_stimulus, (len(ses_index), n_clip))
    eta = eta + u_ss[s_idx[P], C] * g
    scale = np.where(g > 0, spec.residual_sd("group"), spec.residual_sd("alone")) / spec.sd_residual
    resid = rng.normal(0, spec.sd_residual, len(P)) * scale
    y = eta + resid
    lin = eta - fixed + effect * g  # random part plus the group effect, on the count/duration scale
    lost = np.zeros(len(P), bool)
    for k, condition in enumerate(("alone", "group")):
        sel = g == k
        deviation = (y[sel] - fixed[sel]) / spec.sd_residual
        lost[sel] = extra.random(int(sel.sum())) < spec.face_loss(condition, deviation)
    y = np.where(lost, np.nan, y)
    n_switches = rng.poisson(spec.switch_rate * np.exp(lin / 2))
    t_both = np.where(
        rng.random(len(P)) < spec.p_zero_both, 0.0, np.exp(lin / 2 + rng.normal(0, 0.5, len(P)))
    )
    return pd.DataFrame(
        {
            "participant_id": np.array(pid)[P],
            "session_id": np.array(ses)[P],
            "condition": np.array(cond)[P],
            "in_group": g.astype(int),
            "stimulus_id": np.array([c for c, _ in clips])[C],
            "valence": np.array([v for _, v in clips])[C],
            "clip_duration": spec.clip_duration,
            "AU12": y,
            "n_switches": n_switches,
            "t_both": t_both,
            "any_simultaneous": t_both > 0,
            "excluded": False,
            "face_excluded": lost,
            "face_exclusion_reason": np.where(lost, "face lost (simulated)", ""),
        }
    )
