"""A planted study: filmed simulated sessions, their planted truth, and estimates set beside it.

A method is trusted when it finds an effect known to be there and nothing where
nothing is. :func:`simulate_planted_study` writes a dataset whose camera videos
show faces driven by planted states (:mod:`analysis.simulate.camera_feed`); the
real pipeline (``coaffect score``: detection, landmarks, identity, units) then
measures them, and nothing but :func:`planted_comparison` reads the truth.

The truth goes to ``derivatives/planted/`` (a BIDS derivatives pipeline of its own):

* ``truth.json``: the simulation and filming settings and the planted values,
  in planted units (:func:`~analysis.simulate.truth.planted_values`);
* ``frames.tsv``: per session x participant x frame, the planted smile and sad
  states, the rendered intensities, blinks, head pose and face size;
* ``trials.tsv``: per participant x trial, the planted change of the smile and
  sad states from the baseline mean to the clip mean (planted units).

The scale: a facial unit is reported in its own units (template millimetres over
a fixed per-unit scale, :mod:`analysis.expression.baseline`), which the planted
states do not share. The comparison therefore measures the pipeline's *gain*, the
measured change per planted unit, within participants (:func:`measure_gain`: the
slope of each trial's measured change from baseline on its planted change, after
removing each participant's mean; between-participant and between-condition
differences do not enter it), and sets ``planted effect x gain`` beside the
estimate. The within-participant slope comes from the clips' differences, so the
group effect (between participants) stays a test. :func:`framing_bias` then asks
the fairness question directly: after the gain, is a group member's measured
change larger or smaller than an alone viewer's for the same planted change?
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .camera_feed import VideoSpec
from .spec import SimulationSpec
from .study import simulate_study


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


#: Within-participant r below which a measure is not taken to follow the planted state (r^2 = 0.5):
#: a planted value converted by a gain the data do not support is not "recovered".
MIN_GAIN_R = 0.71


def measure_gain(both: pd.DataFrame, measure: str, state: str) -> tuple[float, float]:
    """The measured change per planted change of one facial measure, within participants.

    Parameters
    ----------
    both : pandas.DataFrame
        Trials with the measure (baseline-corrected trial mean) and the planted
        ``<state>_change`` of ``derivatives/planted/trials.tsv``, and ``participant_id``.
    measure, state : str
        E.g. ``"AU12"`` and ``"smile"``.

    Returns
    -------
    (float, float)
        The slope (measure units per planted unit) and the within-participant r.

    Examples
    --------
    >>> both = pd.DataFrame({"participant_id": ["A", "A", "B", "B"], "smile_change": [0.0, 1.0, 5.0, 7.0],
    ...                      "AU12": [3.0, 3.5, 0.0, 1.0]})
    >>> measure_gain(both, "AU12", "smile")    # participant levels do not enter
    (0.5, 1.0)
    """
    d = both.dropna(subset=[measure, f"{state}_change"])
    g = d.groupby("participant_id")
    x = d[f"{state}_change"] - g[f"{state}_change"].transform("mean")
    y = d[measure] - g[measure].transform("mean")
    sxx, syy = float((x * x).sum()), float((y * y).sum())
    if sxx == 0 or syy == 0:
        return float("nan"), float("nan")
    sxy = float((x * y).sum())
    return sxy / sxx, float(sxy / np.sqrt(sxx * syy))


def framing_bias(both: pd.DataFrame, measure: str, state: str, gain: float) -> dict:
    """Group minus alone in ``measure - gain x planted change``: what the pipeline adds by condition.

    The same planted change should give the same measured change whether the
    face is alone in a close-up or in a group in a wide shot, turned towards a
    neighbour. Each participant's mean residual (measured change minus gain
    times planted change) is one value; Welch's t gives the 95% CI of the
    difference between conditions (participants, not trials, are independent).

    Examples
    --------
    >>> both = pd.DataFrame({"participant_id": list("AABBCCDD"), "condition": ["alone"] * 4 + ["group"] * 4,
    ...                      "smile_change": [1.0, 2, 1, 3, 1, 2, 2, 2], "AU12": [0.5, 1.0, 0.6, 1.4, 0.7, 1.2, 1.2, 1.1]})
    >>> {k: round(v, 2) for k, v in framing_bias(both, "AU12", "smile", 0.5).items()}
    {'estimate': 0.18, 'ci_low': -0.14, 'ci_high': 0.49}
    """
    from scipy import stats

    d = both.dropna(subset=[measure, f"{state}_change"])
    resid = (d[measure] - gain * d[f"{state}_change"]).groupby([d["participant_id"], d["condition"]]).mean()
    resid = resid.reset_index(name="r")
    g, a = (resid.loc[resid["condition"] == c, "r"] for c in ("group", "alone"))
    if len(g) < 2 or len(a) < 2:
        return {"estimate": float(g.mean() - a.mean()), "ci_low": np.nan, "ci_high": np.nan}
    ci = stats.ttest_ind(g, a, equal_var=False).confidence_interval()
    return {"estimate": float(g.mean() - a.mean()), "ci_low": float(ci.low), "ci_high": float(ci.high)}


def planted_comparison(analysis, truth: dict, planted_trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """The planted values beside the analysis' estimates (the demo's check), one row per quantity.

    Parameters
    ----------
    analysis : analysis.report.StudyAnalysis
    truth : dict
        ``truth.json`` of :func:`~analysis.simulate.truth.write_planted_truth`.
    planted_trials : pandas.DataFrame, optional
        ``trials.tsv`` of the planted truth; default read beside ``truth.json``.

    Returns
    -------
    pandas.DataFrame
        quantity, planted, estimate, ci_low, ci_high, recovered (the planted value
        inside the 95% CI, or the direction found where a value is not comparable), how.
    """
    from ..report.summary import answer_table
    from .truth import planted_dir

    if planted_trials is None:
        planted_trials = pd.read_csv(planted_dir(analysis.study.path) / "trials.tsv", sep="\t")
    both = analysis.trials[~analysis.trials["excluded"].astype(bool)].merge(
        planted_trials[["session_id", "participant_id", "trial", "smile_change", "sad_change"]],
        on=["session_id", "participant_id", "trial"],
    )
    planted = truth["planted"]
    rows = []
    answer = answer_table(analysis.models, None)
    for measure, state in (("AU12", "smile"), ("inner_brow_lip_down", "sad")):
        if measure not in both or not both[measure].notna().any():
            continue
        gain, r = measure_gain(both, measure, state)
        how = f"x the measured {measure} per planted unit ({gain:.3f}, within-participant trial slope, r = {r:.3f})"
        follows = bool(r >= MIN_GAIN_R)
        if not follows:
            how += f"; r < {MIN_GAIN_R}: the measure does not follow the planted state, nothing is recovered"
        mine = answer[answer["outcome"] == measure]
        if len(mine):
            m = mine.iloc[0]
            value = planted[f"{measure}_group_effect"] * gain
            new = [_row(f"{measure} group - alone", value, m, f"planted {state}_group_effect {how}")]
            if measure == "AU12":
                new += _valence_rows(analysis.models[int(m["model"])], truth, gain, how)
            for row in new:
                row["recovered"] = row["recovered"] and follows
            rows += new
        bias = framing_bias(both, measure, state, gain)
        rows.append(
            _row(
                f"{measure} framing bias, group - alone",
                0.0,
                bias,
                f"participant means of measured - gain x planted change; Welch t CI ({measure} units)",
            )
        )
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


def _row(quantity: str, planted: float, est, how: str) -> dict:
    """One comparison row; ``est`` has estimate, ci_low and ci_high."""
    lo, hi = est["ci_low"], est["ci_high"]
    return {
        "quantity": quantity,
        "planted": planted,
        "estimate": est["estimate"],
        "ci_low": lo,
        "ci_high": hi,
        "recovered": bool(lo <= planted <= hi),
        "how": how,
    }


def _valence_rows(model, truth: dict, gain: float, how: str) -> list[dict]:
    """AU12's valence contrasts (deviation-coded ``valence[a-b]`` terms) beside the planted ones."""
    import re

    smile = truth["simulation"]["smile_valence"]
    rows = []
    for term in model.fixed.itertuples(index=False):
        m = re.fullmatch(r"valence\[(\w+)-(\w+)\]", term.term)
        if not m or m[1] not in smile or m[2] not in smile:
            continue
        value = (smile[m[1]] - smile[m[2]]) * gain
        est = {"estimate": term.estimate, "ci_low": term.ci_low, "ci_high": term.ci_high}
        rows.append(
            _row(f"AU12 {m[1]} - {m[2]} clips", value, est, f"planted smile_valence difference {how}")
        )
    return rows


def _mean_ci(x: pd.Series) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 2:
        return np.nan, np.nan
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)
