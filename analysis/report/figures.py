"""PNG figures of the report (matplotlib, Agg backend). Each function takes tidy tables and a path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..measures.timecourse import condition_timecourse  # noqa: E402

COLORS = {
    "alone": "#1f77b4",
    "group": "#d62728",
    "happy": "#f2a900",
    "sad": "#3b6fb6",
    "real": "#d62728",
    "pseudo": "#7f7f7f",
}


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def nonnegative_errors(means, errs) -> np.ndarray:
    """Asymmetric error bars (2 x n: below, above) that never reach below 0.

    Examples
    --------
    >>> nonnegative_errors([0.5, 2.0], [1.0, 1.0]).tolist()
    [[0.5, 1.0], [1.0, 1.0]]
    """
    m = np.nan_to_num(np.asarray(means, dtype=float))
    e = np.nan_to_num(np.asarray(errs, dtype=float))
    return np.vstack([np.minimum(e, np.maximum(m, 0)), e])


def quality_figure(quality: pd.DataFrame, path: Path, reasons: dict | None = None) -> Path:
    """Share of frames with a face per participant, grouped by session.

    A participant whose bar is empty (no face, or not scored) gets the reason
    written beside the bar, from ``reasons`` (``(session_id, participant_id)``
    -> text, e.g. the trials' ``face_exclusion_reason``), else "not scored".

    Examples
    --------
    >>> from PIL import Image
    >>> from analysis.report.quality import quality_table
    >>> Image.open(quality_figure(quality_table(study, trials), tmp / "quality.png")).size
    (590, 420)
    """
    reasons = reasons or {}
    q = quality
    per_session = len(q) > 80  # one bar per person stops being readable: one per session
    if per_session:
        q = (
            q.dropna(subset=["face_fraction"])
            .groupby(["session_id", "condition"], as_index=False)["face_fraction"]
            .mean()
            .assign(participant_id="mean")
        )
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(q) + 2), 3.6))
    x = np.arange(len(q))
    heights = q["face_fraction"].fillna(0).to_numpy(dtype=float)
    ax.bar(x, heights, color=[COLORS.get(c, "grey") for c in q["condition"]])
    for xi, h, raw, s, p in zip(x, heights, q["face_fraction"], q["session_id"], q["participant_id"]):
        if h < 0.02:  # an empty bar says why it is empty
            why = reasons.get((s, p)) or ("not scored" if pd.isna(raw) else "no face found")
            ax.text(
                xi,
                0.03,
                why.split(" (")[0][:60],
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=6,
                color="#b00",
            )
    ax.set_xticks(
        x, [f"{s}:{p}" for s, p in zip(q["session_id"], q["participant_id"])], rotation=90, fontsize=7
    )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of clip frames with a face")
    ax.set_title(
        f"Face found, per {'session (mean of its participants)' if per_session else 'participant'}"
        " (blue: alone, red: group)"
    )
    if "min_face_fraction" in quality.attrs:
        ax.axhline(quality.attrs["min_face_fraction"], color="k", lw=0.8, ls="--")
    return _save(fig, path)


def raster_figure(study, path: Path, max_clips: int = 12, max_people: int = 40) -> Path:
    """Button holds per clip: one row per participant, happy above sad, time from clip onset.

    Examples
    --------
    >>> from PIL import Image
    >>> Image.open(raster_figure(study, tmp / "rasters.png")).size
    (1507, 349)
    """
    clips = sorted({c for sd in study.sessions for c in sd.clips["stimulus_id"]})[:max_clips]
    ncol = min(3, len(clips)) or 1
    nrow = int(np.ceil(len(clips) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.2 * nrow), squeeze=False)
    valence = dict(zip(study.stimuli["stimulus_id"], study.stimuli["valence"]))
    for ax, clip in zip(axes.flat, clips):
        row = 0
        dur = 0.0
        lines = {"happy": ([], [], []), "sad": ([], [], [])}
        for sd in study.sessions:
            sel = sd.clips[sd.clips["stimulus_id"] == clip]
            if sel.empty:
                continue
            on, d = float(sel["onset"].iloc[0]), float(sel["duration"].iloc[0])
            dur = max(dur, d)
            iv = sd.intervals[(sd.intervals["offset"] > on) & (sd.intervals["onset"] < on + d)]
            for pid in sd.participants["participant_id"]:
                if row >= max_people:
                    break
                mine = iv[iv["participant_id"] == pid]
                for k, button in enumerate(("happy", "sad")):
                    b = mine[mine["button"] == button]
                    lines[button][0].extend([row + 0.25 + 0.45 * k] * len(b))
                    lines[button][1].extend(np.maximum(b["onset"].to_numpy(float), on) - on)
                    lines[button][2].extend(np.minimum(b["offset"].to_numpy(float), on + d) - on)
                row += 1
        for button, (ys, x0, x1) in lines.items():
            if ys:  # one call per button: hundreds of broken_barh calls are slow
                ax.hlines(ys, x0, x1, colors=COLORS[button], lw=max(1.0, 80 / max(row, 1)))
        ax.set_xlim(0, dur or 1)
        ax.tick_params(labelsize=7)
        ax.set_ylim(0, max(row, 1))
        ax.set_yticks([])
        ax.set_title(f"{clip} ({valence.get(clip, '?')})", fontsize=9)
        ax.set_xlabel("s from clip onset")
    for ax in list(axes.flat)[len(clips) :]:
        ax.axis("off")
    fig.suptitle(
        f"Button holds (yellow: happy, blue: sad; one row per participant, at most {max_people} per clip)",
        fontsize=10,
    )
    fig.tight_layout(w_pad=2.0)
    return _save(fig, path)


def timecourse_figure(tc: pd.DataFrame, measures: list[str], path: Path) -> Path:
    """Mean time course per valence (columns) and measure (rows), alone vs group, 95% CI bands.

    Examples
    --------
    >>> from PIL import Image
    >>> from analysis.measures.timecourse import timecourses
    >>> tc = timecourses(study, trials)
    >>> Image.open(timecourse_figure(tc, ["AU12", "happy", "sad"], tmp / "tc.png")).size
    (1234, 780)
    """
    valences = sorted(tc["valence"].dropna().unique())
    fig, axes = plt.subplots(
        len(measures),
        len(valences),
        sharex=True,
        squeeze=False,
        figsize=(3.8 * len(valences), 2.4 * len(measures)),
    )
    for i, m in enumerate(measures):
        summary = condition_timecourse(tc, m)
        for j, v in enumerate(valences):
            ax = axes[i, j]
            for cond, part in summary[summary["valence"] == v].groupby("condition"):
                c = COLORS.get(cond, "grey")
                ax.plot(part["second"], part["mean"], color=c, label=cond)
                low, high = part["ci_low"], part["ci_high"]
                if m in ("happy", "sad"):  # a share of the second held lies in [0, 1]
                    low, high = low.clip(0, 1), high.clip(0, 1)
                ax.fill_between(part["second"], low, high, color=c, alpha=0.2)
            if i == 0:
                ax.set_title(v)
            if j == 0:
                label = {"happy": "happy button\n(share held)", "sad": "sad button\n(share held)"}
                ax.set_ylabel(label.get(m, f"{m}\n(baseline-corrected)"), fontsize=8)
            if i == len(measures) - 1:
                ax.set_xlabel("s from clip onset")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def coherence_figure(coh: pd.DataFrame, curve: pd.DataFrame, lags: dict, path: Path) -> Path:
    """Lag curves per button (left) and per-trial coherence by condition and button (right).

    Examples
    --------
    >>> from PIL import Image
    >>> from analysis.measures.coherence import coherence_table
    >>> res = coherence_table(study, trials, lag=1.0)
    >>> Image.open(coherence_figure(res.table, res.lag_curve, res.lags, tmp / "coherence.png")).size
    (1075, 384)
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    if len(curve) > 2 and curve["mean_z_above_chance"].notna().any():
        for (button, part), color in zip(curve.groupby("button", sort=False), ("#d62728", "#1f77b4")):
            a1.plot(part["lag"], part["mean_z_above_chance"], marker="o", ms=3, color=color, label=button)
            if button in lags:
                a1.axvline(lags[button], color=color, ls="--", lw=0.8)
        a1.axhline(0, color="grey", ls=":", lw=1)
        a1.legend(fontsize=7)
        a1.set_xlabel("lag of face after button (s)")
        a1.set_ylabel("mean z above chance (other sessions)")
        a1.set_title("Lags: medians of the leave-one-session-out choices", fontsize=9)
    else:
        text = ", ".join(f"{b} {v:g} s" for b, v in lags.items())
        a1.text(0.5, 0.5, f"lag set by the protocol: {text}", ha="center", transform=a1.transAxes)
        a1.axis("off")
    labels, data, colors = [], [], []
    for (button, measure), part in coh.groupby(["button", "measure"]):
        for cond in ("alone", "group"):
            vals = part.loc[part["condition"] == cond, "r"].dropna()
            if len(vals):
                labels.append(f"{button}~{measure}\n{cond}")
                data.append(vals.to_numpy())
                colors.append(COLORS[cond])
    if data:
        bp = a2.boxplot(data, patch_artist=True)
        a2.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        for patch, c in zip(bp["boxes"], colors):
            patch.set_facecolor(c)
            patch.set_alpha(0.5)
    a2.axhline(0, color="k", lw=0.6)
    a2.set_ylabel("r per participant x clip")
    a2.set_title("Face-button coherence")
    fig.tight_layout()
    return _save(fig, path)


def synchrony_figure(syn: pd.DataFrame, per_session: pd.DataFrame, path: Path) -> Path:
    """Real vs pseudo-pair correlations (left) and per-session differences (right).

    Examples
    --------
    >>> from PIL import Image
    >>> from analysis.measures.synchrony import synchrony_summary, synchrony_table
    >>> from analysis.measures.timecourse import timecourses
    >>> syn = synchrony_table(timecourses(study, trials))
    >>> Image.open(synchrony_figure(syn, synchrony_summary(syn)[0], tmp / "synchrony.png")).size
    (1089, 384)
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = np.linspace(-1, 1, 41)
    for pair in ("pseudo", "real"):
        vals = syn.loc[syn["pair"] == pair, "r"].dropna()
        a1.hist(
            vals,
            bins=bins,
            density=len(vals) > 0,  # no pairs of a kind (a short study): an empty bar, not 0/0
            alpha=0.55,
            color=COLORS[pair],
            label=f"{pair} pairs (n={len(vals)})",
        )
    a1.set_xlabel("r between two people's time courses")
    a1.legend(fontsize=8)
    a1.set_title("Synchrony: same session vs different sessions")
    if len(per_session):
        a2.bar(per_session["session_id"], per_session["difference"], color=COLORS["real"])
        a2.axhline(0, color="k", lw=0.6)
        a2.tick_params(axis="x", rotation=90, labelsize=7)
    a2.set_ylabel("real - pseudo (mean Fisher z)")
    a2.set_title("Per group session")
    fig.tight_layout()
    return _save(fig, path)


def self_report_figure(trials: pd.DataFrame, path: Path) -> Path:
    """Mean seconds held (happy, sad, both) per valence and condition, with 95% CIs over participants.

    Seconds cannot be negative, so each interval is cut at 0 s.

    Examples
    --------
    >>> from PIL import Image
    >>> Image.open(self_report_figure(trials, tmp / "self_report.png")).size
    (1198, 362)
    """
    d = trials[~trials["excluded"].astype(bool)]
    measures = ["t_happy", "t_sad", "t_both"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    valences = sorted(d["valence"].dropna().unique())
    for ax, m in zip(axes, measures):
        per = d.groupby(["valence", "condition", "participant_id"])[m].mean()
        for k, cond in enumerate(("alone", "group")):
            means, errs = [], []
            for v in valences:
                try:
                    vals = per.loc[(v, cond)]
                except KeyError:
                    vals = pd.Series(dtype=float)
                means.append(vals.mean())
                errs.append(1.96 * vals.sem() if len(vals) > 1 else 0)
            x = np.arange(len(valences)) + (k - 0.5) * 0.38
            yerr = nonnegative_errors(means, errs)
            ax.bar(x, means, width=0.36, yerr=yerr, color=COLORS[cond], label=cond, alpha=0.8)
        ax.set_xticks(np.arange(len(valences)), valences)
        ax.set_title(m)
    axes[0].set_ylabel("seconds per clip")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
