"""Simulation-based power for the group effect (``coaffect power``).

For every design in a grid of numbers of group sessions, alone participants
and clips, many studies are drawn from :class:`~analysis.simulate.spec.SimulationSpec`
(every random term the default model has, faces lost more often in groups) by
:func:`analysis.simulate.trials.simulate_trials` and fitted with the default
model (lme4 + lmerTest, the maximal identified random structure, the
singular-fit rule). Power is the share of studies whose group coefficient
has p < alpha, with its Monte-Carlo SE ``sqrt(p (1 - p) / n)`` (Morris, White &
Crowther 2019) and a Wilson 95% interval (which, unlike p +/- 1.96 SE, is not
zero-wide at 0 or 1). Batches of studies go to one R call each,
dispatched by :func:`analysis.parallel.executor.open_executor`.

The effect is given as ``d``, on the scale of the fitted model's ``d_group``
(the group effect over the square root of the sum of all variance components,
the terms only groups have weighted by the share of group trials), and turned
into the simulation's residual-SD units per design. :func:`power_verdict` names
the smallest design reaching the target power or, when none does, says what
caps it: with a clip-by-condition variance, the group effect's SE cannot fall
below ``sqrt(2 sd_stimulus_condition^2 / n_clips)`` however many people take
part (Westfall, Kenny & Judd 2014), so only more clips raise that ceiling.

Without R, the statsmodels fallback fits each study in Python (Wald z tests:
somewhat optimistic with few group sessions; the table says which engine ran).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coaffect.formats.checks import check_option, check_type
from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import write_tsv

from ..docstrings import fill_doc
from .spec import SimulationSpec

#: Columns of :func:`power_table`.
POWER_COLUMNS = (
    "n_group_sessions",
    "n_alone",
    "n_clips",
    "n_participants",
    "effect_d",
    "effect_raw",
    "n_sims",
    "power",
    "mc_se",
    "ci_low",
    "ci_high",
    "not_converged",
    "engine",
)

#: The power a design should reach (:func:`power_verdict`).
TARGET_POWER = 0.8

#: Default true effect, as d on the scale of the model's ``d_group``.
DEFAULT_EFFECT = 0.2


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (Wilson 1927; Brown, Cai & DasGupta 2001).

    Examples
    --------
    >>> [round(float(x), 3) for x in (*wilson(0, 100), *wilson(100, 100))]
    [0.0, 0.037, 0.963, 1.0]
    """
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def group_share(spec: SimulationSpec) -> float:
    """Share of trials from group sessions in a design."""
    group = spec.n_group_sessions * spec.group_size
    return group / max(1, group + spec.n_alone)


def standardising_sd(spec: SimulationSpec) -> float:
    """The SD that ``d_group`` divides by, for a design drawn from ``spec`` (residual-SD units).

    Every variance component of the simulated world, the group-only ones (session,
    session-by-clip, the group residual) weighted by the share of group trials, as
    :func:`analysis.stats.inference.effect_sizes` does for a fitted model.

    Examples
    --------
    >>> round(standardising_sd(SimulationSpec()), 3)
    1.127
    """
    share = group_share(spec)
    var = spec.sd_participant**2 + spec.sd_stimulus**2 + spec.sd_stimulus_condition**2
    if len(spec.valences) > 1:
        var += spec.sd_participant_valence**2
    var += share * (spec.sd_session**2 + spec.sd_session_stimulus**2)
    var += (1 - share) * spec.residual_sd("alone") ** 2 + share * spec.residual_sd("group") ** 2
    return float(np.sqrt(var))


def fit_batch_task(
    spec_dict: dict, seeds: list[int], group_effect: float, formula: str, compare: dict | None = None
) -> pd.DataFrame:
    """Simulate one study per seed and fit them in one R call (an executor task: picklable arguments).

    ``compare`` names further random parts to fit on the same data
    (:func:`analysis.stats.batch.group_effect_batch`).

    Examples
    --------
    >>> from dataclasses import asdict
    >>> fit_batch_task(asdict(SimulationSpec(n_clips=8)), [1], 0.0, "AU12 ~ condition")  # doctest: +SKIP
    """
    from ..stats.batch import group_effect_batch
    from .trials import simulate_trials

    spec = SimulationSpec(**{k: tuple(v) if k == "valences" else v for k, v in spec_dict.items()})
    studies = [simulate_trials(spec, seed=s, group_effect=group_effect) for s in seeds]
    out = group_effect_batch(studies, formula, compare=compare, first_study=seeds[0])
    out["study"] = [seeds[int(i) - seeds[0]] for i in out["study"]]
    out["true_effect"] = group_effect
    return out


def _statsmodels_task(spec_dict: dict, seeds: list[int], effect: float, formula: str) -> pd.DataFrame:
    """Fallback task: fit each simulated study with the statsmodels engine."""
    from ..stats import fit_mixed
    from ..stats.inference import GROUP_TERM
    from .trials import simulate_trials

    spec = SimulationSpec(**{k: tuple(v) if k == "valences" else v for k, v in spec_dict.items()})
    rows = []
    for s in seeds:
        res = fit_mixed(simulate_trials(spec, seed=s, group_effect=effect), formula, engine="statsmodels")
        row = res.fixed.set_index("term").loc[GROUP_TERM]
        rows.append(
            {
                "study": s,
                "model": "default",
                "p_val": float(row["p_val"]),
                "estimate": float(row["estimate"]),
                "converged": bool(res.converged),
            }
        )
    return pd.DataFrame(rows)


@fill_doc
def power_table(
    spec: SimulationSpec,
    group_sessions: list[int],
    alone: list[int],
    clips: list[int],
    n_sims: int = 200,
    effect: float | None = None,
    alpha: float = 0.05,
    formula: str = "AU12 ~ condition * valence",
    engine: str = "auto",
    batch: int = 50,
    scheduler=None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Power for the group effect over a grid of designs, with Monte-Carlo error.

    Parameters
    ----------
    spec : SimulationSpec
        Effects and SDs (its sizes are replaced by each grid point's).
    group_sessions, alone, clips : list of int
        Numbers of group sessions, alone participants and clips to try.
    n_sims : int
        Simulated studies per design.
    effect : float, optional
        True group effect as ``d`` (default 0.2), the scale of ``d_group`` (see
        :func:`standardising_sd`); each design's residual-SD value is in ``effect_raw``.
    alpha : float
    formula : str
    %(engine)s
    batch : int
        Studies per task (one R call each).
    %(scheduler)s
    %(workers)s

    Returns
    -------
    pandas.DataFrame
        :data:`POWER_COLUMNS`; ``ci_low``/``ci_high``: Wilson 95% interval of the power;
        ``not_converged``: fits with an lme4 convergence message.

    Raises
    ------
    AnalysisError
        Empty grid, ``n_sims < 1``, or a design the model cannot fit.

    Examples
    --------
    >>> spec = SimulationSpec(valences=("positive", "negative"), sd_stimulus_condition=0.2)
    >>> t = power_table(spec, [4], [8], [8], n_sims=4, engine="statsmodels")
    >>> t[["n_group_sessions", "n_alone", "n_clips", "n_sims"]].values.tolist()
    [[4, 8, 8, 4]]
    """
    from ..parallel.executor import open_executor
    from ..stats.fit import ENGINES, default_engine

    check_option("engine", engine, ENGINES, error=AnalysisError)
    if n_sims < 1:
        raise AnalysisError(f"n_sims: must be at least 1 (got {n_sims})", field="n_sims")
    if not (group_sessions and alone and clips):
        raise AnalysisError("power: give at least one number of group sessions, alone participants and clips")
    if min(group_sessions) < 2:
        raise AnalysisError(
            "power: at least 2 group sessions per design (with one the group effect is not identified)"
        )
    engine = default_engine() if engine == "auto" else engine
    effect = DEFAULT_EFFECT if effect is None else float(effect)
    designs = list(itertools.product(group_sessions, alone, clips))
    tasks, keys, raw = [], [], {}
    for k, (g, a, c) in enumerate(designs):
        design = replace(spec, n_group_sessions=g, n_alone=a, n_clips=c)
        raw[k] = effect * standardising_sd(design)
        d = asdict(design)
        for start in range(0, n_sims, batch):
            seeds = list(range(k * 1_000_000 + start + 1, k * 1_000_000 + min(start + batch, n_sims) + 1))
            tasks.append((d, seeds, raw[k], formula))
            keys.append(k)
    func = fit_batch_task if engine == "lme4" else _statsmodels_task  # module-level: picklable tasks
    with open_executor(scheduler, workers) as ex:
        parts = ex.map(func, tasks, desc="power simulations")
    rows = []
    for k, (g, a, c) in enumerate(designs):
        fits = pd.concat([p for p, kk in zip(parts, keys) if kk == k], ignore_index=True)
        fits = fits[fits["model"] == "default"]
        hits = int((fits["p_val"] < alpha).sum())
        p = hits / len(fits)
        low, high = wilson(hits, len(fits))
        rows.append(
            {
                "n_group_sessions": g,
                "n_alone": a,
                "n_clips": c,
                "n_participants": a + g * spec.group_size,
                "effect_d": effect,
                "effect_raw": raw[k],
                "n_sims": len(fits),
                "power": p,
                "mc_se": float(np.sqrt(p * (1 - p) / len(fits))),
                "ci_low": low,
                "ci_high": high,
                "not_converged": int((~fits["converged"].astype(bool)).sum()),
                "engine": engine,
            }
        )
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def power_figure(table: pd.DataFrame, path: str | Path, target: float = TARGET_POWER) -> Path:
    """Power against the number of group sessions, one line per (alone, clips), with Wilson intervals.

    Examples
    --------
    >>> from PIL import Image
    >>> t = pd.DataFrame({"n_alone": 20, "n_clips": 6, "n_group_sessions": [4, 8, 12],
    ...                   "power": [0.31, 0.62, 0.83], "mc_se": [0.046, 0.049, 0.038],
    ...                   "ci_low": [0.23, 0.52, 0.74], "ci_high": [0.41, 0.71, 0.89],
    ...                   "effect_d": 0.5, "engine": "lme4"})
    >>> Image.open(power_figure(t, tmp / "power.png")).size
    (700, 450)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (a, c), part in table.groupby(["n_alone", "n_clips"]):
        part = part.sort_values("n_group_sessions")
        err = np.vstack([part["power"] - part["ci_low"], part["ci_high"] - part["power"]])
        ax.errorbar(
            part["n_group_sessions"],
            part["power"],
            yerr=err,
            marker="o",
            capsize=3,
            label=f"{a} alone, {c} clips",
        )
    ax.axhline(target, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("group sessions")
    ax.set_ylabel("power (group effect, p < .05)")
    eff = table["effect_d"].iloc[0] if len(table) else float("nan")
    engine = table["engine"].iloc[0] if len(table) else ""
    ax.set_title(
        f"Simulated power, true group effect d = {eff:g} ({engine}); bars: Wilson 95% CI", fontsize=9
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def power_ceiling(spec: SimulationSpec, effect_raw: float, n_clips: int, alpha: float = 0.05) -> float:
    """Power with unlimited participants and sessions but ``n_clips`` clips (normal approximation).

    The clip-by-condition deviations do not average out over people: the group
    effect's SE stays at least ``sqrt(2 sd_stimulus_condition^2 / n_clips)``
    (Westfall, Kenny & Judd 2014). With few clips the t test's small df lowers the
    real ceiling further.

    Examples
    --------
    >>> round(power_ceiling(SimulationSpec(sd_stimulus_condition=0.4), 0.25, 6), 2)
    0.19
    """
    from scipy.stats import norm

    if spec.sd_stimulus_condition <= 0:
        return 1.0
    floor = np.sqrt(2 * spec.sd_stimulus_condition**2 / n_clips)
    return float(norm.cdf(abs(effect_raw) / floor - norm.ppf(1 - alpha / 2)))


def clips_for_ceiling(spec: SimulationSpec, effect_raw: float, target: float, alpha: float = 0.05) -> int:
    """Fewest clips whose power ceiling (:func:`power_ceiling`) exceeds ``target``.

    Examples
    --------
    >>> clips_for_ceiling(SimulationSpec(sd_stimulus_condition=0.4), 0.25, 0.8)
    41
    """
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(target)
    return int(np.floor(2 * spec.sd_stimulus_condition**2 * z * z / effect_raw**2)) + 1


def power_verdict(
    table: pd.DataFrame, spec: SimulationSpec, target: float = TARGET_POWER, alpha: float = 0.05
) -> str:
    """The smallest design that reaches ``target`` power, or why none in the grid does and what would.

    Smallest: fewest participants, then fewest clips, then fewest group sessions.

    Examples
    --------
    >>> t = pd.DataFrame({"n_group_sessions": [4, 8], "n_alone": [24, 24], "n_clips": [6, 6],
    ...     "n_participants": [36, 48], "effect_raw": [0.25, 0.25], "n_sims": [100, 100],
    ...     "power": [0.5, 0.83], "ci_low": [0.4, 0.74], "ci_high": [0.6, 0.89], "not_converged": [0, 0]})
    >>> print(power_verdict(t, SimulationSpec(group_size=3)))
    Smallest design with power >= 0.80: 8 group sessions of 3, 24 alone, 6 clips (48 participants): power 0.83 (95% CI 0.74-0.89); the interval reaches below 0.80: more simulations would settle it.
    """
    ok = table[table["power"] >= target]
    if len(ok):
        best = ok.sort_values(["n_participants", "n_clips", "n_group_sessions"]).iloc[0]
        text = (
            f"Smallest design with power >= {target:.2f}: {int(best['n_group_sessions'])} group sessions of "
            f"{spec.group_size}, {int(best['n_alone'])} alone, {int(best['n_clips'])} clips "
            f"({int(best['n_participants'])} participants): power {best['power']:.2f} "
            f"(95% CI {best['ci_low']:.2f}-{best['ci_high']:.2f})"
        )
        if best["ci_low"] < target:
            text += f"; the interval reaches below {target:.2f}: more simulations would settle it"
        return text + "."
    top = table.sort_values("power").iloc[-1]
    clips = int(table["n_clips"].max())
    raw = float(table.loc[table["n_clips"] == clips, "effect_raw"].iloc[0])
    ceiling = power_ceiling(spec, raw, clips, alpha)
    text = (
        f"No design in the grid reaches power {target:.2f}; the best is {int(top['n_group_sessions'])} group "
        f"sessions, {int(top['n_alone'])} alone, {int(top['n_clips'])} clips: {top['power']:.2f} "
        f"(95% CI {top['ci_low']:.2f}-{top['ci_high']:.2f})."
    )
    gains = []
    for lever, label in (
        ("n_group_sessions", "group sessions"),
        ("n_clips", "clips"),
        ("n_alone", "alone participants"),
    ):
        lo, hi = table[lever].min(), table[lever].max()
        if hi > lo:
            p_lo = table.loc[table[lever] == lo, "power"].mean()
            p_hi = table.loc[table[lever] == hi, "power"].mean()
            gains.append((p_hi - p_lo, f"{label} ({lo} -> {hi}: power {p_lo:.2f} -> {p_hi:.2f})"))
    if gains:
        text += " In the grid, the strongest lever is " + max(gains)[1] + "."
    if ceiling < target + 0.1:
        need = clips_for_ceiling(spec, raw, target, alpha)
        roomy = clips_for_ceiling(spec, raw, min(0.95, target + 0.1), alpha)
        return (
            text
            + f" With {clips} clips the clip-by-condition SD ({spec.sd_stimulus_condition:g}) caps power near "
            f"{ceiling:.2f} however many people take part; only more clips raise that ceiling (above "
            f"{target:.2f} from about {need} clips, above {min(0.95, target + 0.1):.2f} from about {roomy}), "
            "and power approaches the ceiling only with many group sessions: simulate more clips and sessions."
        )
    return text + " The clips do not cap power here: simulate more group sessions (and alone participants)."


@dataclass
class PowerResult:
    """What :func:`power_analysis` found.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`POWER_COLUMNS`, one row per design.
    alpha : float
        The significance level power counts.
    spec : SimulationSpec or None
        The assumed world (SDs, face loss, group size).
    formula : str
        The model fitted to each simulated study.
    target : float
        The power a design should reach.
    """

    table: pd.DataFrame
    alpha: float = 0.05
    spec: SimulationSpec | None = None
    formula: str = "AU12 ~ condition * valence"
    target: float = TARGET_POWER

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``power.tsv``, the plot ``power.png`` and ``power.txt`` (assumptions and verdict)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = [
            write_tsv(self.table, out / "power.tsv"),
            power_figure(self.table, out / "power.png", self.target),
        ]
        (out / "power.txt").write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
        return [*files, out / "power.txt"]

    def assumptions(self) -> list[str]:
        """Outcome, model and every assumed SD, in words."""
        s = self.spec
        if s is None:
            return []
        d = float(self.table["effect_d"].iloc[0]) if len(self.table) else float("nan")
        raws = ", ".join(sorted({f"{r:.3f}" for r in self.table["effect_raw"]}))
        return [
            f"Outcome: {self.formula.split('~')[0].strip()} (a trial-level facial measure, simulated); model: "
            f"{self.formula} + the maximal identified random part (participants, clips, group sessions, "
            "clip x condition, participant x valence, session x clip), singular-fit rule; "
            f"engine {self.table['engine'].iloc[0] if len(self.table) else '?'}; p < {self.alpha:g}, two-sided.",
            f"Effect: d = {d:g} (group minus alone over the SD that d_group divides by: all variance "
            f"components, group-only terms weighted by the share of group trials) = {raws} residual SDs "
            "in these designs.",
            f"Assumed SDs (residual SD = 1): participant {s.sd_participant:g}, clip {s.sd_stimulus:g}, "
            f"group session {s.sd_session:g}, clip x condition {s.sd_stimulus_condition:g}, participant x "
            f"valence {s.sd_participant_valence:g}, session x clip {s.sd_session_stimulus:g}, residual "
            f"{s.sd_residual:g} alone / {s.residual_sd('group'):g} in groups; groups of {s.group_size}; "
            f"valences {', '.join(s.valences)} cycled over clips.",
            f"Face loss: a trial's face is lost with probability {s.p_dropout_alone:g} alone and "
            f"{s.p_dropout_group:g} in groups"
            + (
                f", +{s.face_loss_expression:g} log-odds per SD of expression (not at random)"
                if s.face_loss_expression
                else " (at random)"
            )
            + "; those trials are left out of the model, as in a real study.",
        ]

    def lines(self) -> list[str]:
        """Assumptions, the table, how to read it, and the verdict, as text."""
        n = int(self.table["n_sims"].max()) if len(self.table) else 0
        out = [*self.assumptions(), ""]
        out += [
            self.table.to_string(index=False, float_format="{:.3f}".format),
            "",
            f"power = share of {n} simulated studies with p < {self.alpha:g}; mc_se = Monte-Carlo error; "
            "ci_low/ci_high = Wilson 95% interval",
        ]
        bad = int(self.table["not_converged"].sum()) if len(self.table) else 0
        if bad:
            out.append(
                f"WARNING: {bad} of {int(self.table['n_sims'].sum())} fits did not converge (lme4 message); "
                "they count as they came out (see not_converged per design)"
            )
        if self.spec is not None and len(self.table):
            out.append(power_verdict(self.table, self.spec, self.target, self.alpha))
        return out


def power_analysis(spec: SimulationSpec, *grid: list[int], **options: Any) -> PowerResult:
    """Simulated power for the group effect over a grid of designs (what ``coaffect power`` runs).

    Takes the arguments of :func:`power_table` (the spec; the numbers of group
    sessions, alone participants and clips to try; ``n_sims``, ``effect`` (d),
    ``engine``, ``scheduler``, ``workers`` and the rest) and ``target`` (the power
    to reach, 0.8), and returns the table with the assumptions and the verdict of
    :func:`power_verdict` (:meth:`PowerResult.lines`).

    Returns
    -------
    PowerResult
        Write it with :meth:`PowerResult.write` (``power.tsv``, ``power.png``).

    Examples
    --------
    >>> spec = SimulationSpec(valences=("positive", "negative"))
    >>> res = power_analysis(spec, [3], [6], [4], n_sims=2, engine="statsmodels", workers=1)
    >>> [p.name for p in res.write(tmp)]
    ['power.tsv', 'power.png', 'power.txt']
    """
    check_type("spec", spec, SimulationSpec, "a SimulationSpec")
    target = float(options.pop("target", TARGET_POWER))
    formula = options.get("formula", "AU12 ~ condition * valence")
    table = power_table(spec, *grid, **options)
    return PowerResult(table, options.get("alpha", 0.05), spec, formula, target)
