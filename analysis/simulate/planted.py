"""A planted study: filmed simulated sessions, their planted truth, and estimates set beside it.

A method is trusted when it finds an effect known to be there and nothing where
nothing is. :func:`simulate_planted_study` writes a dataset whose camera videos
show faces driven by planted states (:mod:`analysis.simulate.camera_feed`); the
real pipeline (``coaffect score``: detection, landmarks, identity, units) then
measures them, and nothing but :func:`planted_comparison` reads the truth.

The truth goes to ``derivatives/planted/`` (a BIDS derivatives pipeline of its own):

* ``truth.json``: the simulation and filming settings and the planted values,
  each on the scale the analysis reports (:func:`planted_values`);
* ``frames.tsv``: per session x participant x frame, the planted smile and sad
  states, the rendered intensities, blinks, head pose and face size;
* ``trials.tsv``: per participant x trial, the planted change of the smile and
  sad states from the baseline mean to the clip mean, in planted units and in
  the participant's baseline SDs of that state.

The scale: the analysis expresses a facial unit in each participant's baseline
SDs (:mod:`analysis.expression.baseline`). During a baseline the planted smile
state moves only by its frame-level process (SD ``sd_frame``), and the rendering
is linear, so a planted group difference of ``smile_group_effect`` (planted
units) is ``smile_group_effect / sd_frame`` baseline SDs, less a small
attenuation by measurement noise (pixel noise, blinks, head movement add to the
measured baseline spread).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .camera_feed import VideoSpec
from .study import SimulationSpec, simulate_study


def simulate_planted_study(
    out_dir, spec: SimulationSpec | None = None, video: VideoSpec | None = None, progress: bool = False
) -> Path:
    """Write a filmed simulated study with known effects and its planted truth.

    Parameters
    ----------
    out_dir : str or Path
        New dataset folder.
    spec : SimulationSpec, optional
        The study and its planted effects (sizes, group effects, coupling and lag
        of the buttons, the group's shared session signal...).
    video : VideoSpec, optional
        How the sessions are filmed (frame sizes, blinks, head movement, turning
        towards neighbours, noise).
    progress : bool
        Show a tqdm progress bar over sessions.

    Returns
    -------
    Path
        The dataset folder: session folders with camera videos (no faces table:
        score them with ``coaffect score``) and ``derivatives/planted/``.

    Examples
    --------
    >>> spec = SimulationSpec(n_alone=1, n_group_sessions=0, n_clips=1, clip_duration=2.0, baseline_duration=1.0)
    >>> from analysis.simulate.truth import planted_dir
    >>> path = simulate_planted_study(tmp / "planted", spec)
    >>> sorted(p.name for p in (path / "ses-a01").glob("cam-*")), sorted(p.name for p in planted_dir(path).iterdir())
    (['cam-wide.mjpg', 'cam-wide_frames.tsv'], ['frames.tsv', 'trials.tsv', 'truth.json'])
    """
    return simulate_study(out_dir, spec or SimulationSpec(), progress, video=video or VideoSpec())


def planted_comparison(analysis, truth: dict) -> pd.DataFrame:
    """The planted values beside the analysis' estimates (the demo's check), one row per quantity.

    Parameters
    ----------
    analysis : analysis.report.StudyAnalysis
    truth : dict
        ``truth.json`` of :func:`write_planted_truth`.

    Returns
    -------
    pandas.DataFrame
        quantity, planted, estimate, ci_low, ci_high, recovered (the planted value
        inside the 95% CI, or the direction found where a value is not comparable), how.
    """
    from ..report.summary import answer_table

    planted = truth["planted"]
    rows = []
    answer = answer_table(analysis.models, None)
    au12 = answer[answer["outcome"] == "AU12"]
    if len(au12):
        r = au12.iloc[0]
        value = planted["AU12_group_effect_baseline_sd"]
        rows.append(
            {
                "quantity": "AU12 group - alone (baseline SDs)",
                "planted": value,
                "estimate": r["estimate"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "recovered": bool(r["ci_low"] <= value <= r["ci_high"]),
                "how": "planted smile_group_effect x the planted state's units per baseline SD; AU12 model",
            }
        )
        rows += _valence_rows(analysis.models[int(r["model"])], truth)
    if analysis.coherence is not None:
        z = analysis.coherence.table["z_above_chance"].dropna()
        lo, hi = _mean_ci(z)
        rows.append(
            {
                "quantity": "face-button coherence, Fisher z above chance",
                "planted": f"coupling {planted['coupling']:g}, lag {planted['coupling_lag_s']:g} s",
                "estimate": float(z.mean()) if len(z) else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "recovered": bool(lo > 0) == planted["face_button_coherence_above_chance"],
                "how": "mean over participant x clip x button rows (CI across rows)",
            }
        )
    if analysis.synchrony is not None:
        test = analysis.synchrony.tests[0]
        rows.append(
            {
                "quantity": "AU12 group synchrony minus pseudo-groups",
                "planted": f"session signal SD {planted['session_signal_sd']:g}",
                "estimate": test.observed - test.null_mean,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "recovered": bool(test.p_val is not None and test.p_val < 0.05)
                == planted["group_synchrony_above_pseudo_groups"],
                "how": f"windowed lagged cross-correlation; permutation p = {test.p_val}",
            }
        )
    return pd.DataFrame(rows)


def _valence_rows(model, truth: dict) -> list[dict]:
    """AU12's valence contrasts (deviation-coded ``valence[a-b]`` terms) beside the planted ones."""
    import re

    smile = truth["simulation"]["smile_valence"]
    rows = []
    for term in model.fixed.itertuples(index=False):
        m = re.fullmatch(r"valence\[(\w+)-(\w+)\]", term.term)
        if not m or m[1] not in smile or m[2] not in smile:
            continue
        value = (smile[m[1]] - smile[m[2]]) * truth["smile_per_baseline_sd"]
        rows.append(
            {
                "quantity": f"AU12 {m[1]} - {m[2]} clips (baseline SDs)",
                "planted": value,
                "estimate": term.estimate,
                "ci_low": term.ci_low,
                "ci_high": term.ci_high,
                "recovered": bool(term.ci_low <= value <= term.ci_high),
                "how": "planted smile_valence difference x units per baseline SD; AU12 model",
            }
        )
    return rows


def _mean_ci(x: pd.Series) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 2:
        return np.nan, np.nan
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)
