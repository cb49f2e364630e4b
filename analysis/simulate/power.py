"""Simulation-based power for the group effect (``coaffect power``).

For every design in a grid of numbers of group sessions, alone participants
and clips, many studies are drawn from :class:`~analysis.simulate.study.SimulationSpec`
(with its clip-by-condition and participant-by-valence SDs) by
:func:`analysis.simulate.trials.simulate_trials` and fitted with the default
model (lme4 + lmerTest, the maximal identified random structure, the
singular-fit rule). Power is the share of studies whose group coefficient
has p < alpha; its Monte-Carlo error is ``sqrt(p (1 - p) / n)`` (Morris,
White & Crowther 2019). Batches of studies go to one ``Rscript`` call each,
dispatched by :func:`analysis.parallel.executor.open_executor`.

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
from .study import SimulationSpec

#: Columns of :func:`power_table`.
POWER_COLUMNS = (
    "n_group_sessions",
    "n_alone",
    "n_clips",
    "n_participants",
    "effect",
    "n_sims",
    "power",
    "mc_se",
    "ci_low",
    "ci_high",
    "engine",
)


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
            {"study": s, "model": "default", "p_val": float(row["p_val"]), "estimate": float(row["estimate"])}
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
        True group effect (default ``spec.smile_group_effect``), residual SD units.
    alpha : float
    formula : str
    %(engine)s
    batch : int
        Studies per task (one Rscript call each).
    %(scheduler)s
    %(workers)s

    Returns
    -------
    pandas.DataFrame
        :data:`POWER_COLUMNS`; ``ci_low``/``ci_high`` = power +/- 1.96 MC SE.

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
    effect = spec.smile_group_effect if effect is None else effect
    designs = list(itertools.product(group_sessions, alone, clips))
    tasks, keys = [], []
    for k, (g, a, c) in enumerate(designs):
        d = asdict(replace(spec, n_group_sessions=g, n_alone=a, n_clips=c))
        for start in range(0, n_sims, batch):
            seeds = list(range(k * 1_000_000 + start + 1, k * 1_000_000 + min(start + batch, n_sims) + 1))
            if engine == "lme4":
                tasks.append((d, seeds, effect, formula))
            else:
                tasks.append((d, seeds, effect, formula))
            keys.append(k)
    func = fit_batch_task if engine == "lme4" else _statsmodels_task  # module-level: picklable tasks
    with open_executor(scheduler, workers) as ex:
        parts = ex.map(func, tasks, desc="power simulations")
    rows = []
    for k, (g, a, c) in enumerate(designs):
        fits = pd.concat([p for p, kk in zip(parts, keys) if kk == k], ignore_index=True)
        p = float((fits["p_val"] < alpha).mean())
        se = float(np.sqrt(p * (1 - p) / len(fits)))
        rows.append(
            {
                "n_group_sessions": g,
                "n_alone": a,
                "n_clips": c,
                "n_participants": a + g * spec.group_size,
                "effect": effect,
                "n_sims": len(fits),
                "power": p,
                "mc_se": se,
                "ci_low": max(0.0, p - 1.96 * se),
                "ci_high": min(1.0, p + 1.96 * se),
                "engine": engine,
            }
        )
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def power_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """Power against the number of group sessions, one line per (alone, clips), with MC error bars.

    Examples
    --------
    >>> power_figure(t, tmp / "power.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (a, c), part in table.groupby(["n_alone", "n_clips"]):
        part = part.sort_values("n_group_sessions")
        ax.errorbar(
            part["n_group_sessions"],
            part["power"],
            yerr=1.96 * part["mc_se"],
            marker="o",
            capsize=3,
            label=f"{a} alone, {c} clips",
        )
    ax.axhline(0.8, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("group sessions")
    ax.set_ylabel("power (group effect, p < .05)")
    eff = table["effect"].iloc[0] if len(table) else float("nan")
    ax.set_title(
        f"Simulated power, true group effect {eff:g} SD ({table['engine'].iloc[0] if len(table) else ''})"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass
class PowerResult:
    """What :func:`power_analysis` found.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`POWER_COLUMNS`, one row per design.
    alpha : float
        The significance level power counts.
    """

    table: pd.DataFrame
    alpha: float = 0.05

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``power.tsv`` and the plot ``power.png`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return [write_tsv(self.table, out / "power.tsv"), power_figure(self.table, out / "power.png")]

    def lines(self) -> list[str]:
        """The table and how to read it, as text."""
        n = int(self.table["n_sims"].max()) if len(self.table) else 0
        return [
            self.table.to_string(index=False, float_format="{:.3f}".format),
            "",
            f"power = share of {n} simulated studies with p < {self.alpha:g}; mc_se = Monte-Carlo error",
        ]


def power_analysis(spec: SimulationSpec, *grid: list[int], **options: Any) -> PowerResult:
    """Simulated power for the group effect over a grid of designs (what ``coaffect power`` runs).

    Takes the arguments of :func:`power_table` (the spec; the numbers of group
    sessions, alone participants and clips to try; ``n_sims``, ``engine``,
    ``scheduler``, ``workers`` and the rest) and returns its table as a result.

    Returns
    -------
    PowerResult
        Write it with :meth:`PowerResult.write` (``power.tsv``, ``power.png``).

    Examples
    --------
    >>> spec = SimulationSpec(valences=("positive", "negative"))
    >>> res = power_analysis(spec, [3], [6], [4], n_sims=2, engine="statsmodels", workers=1)
    >>> [p.name for p in res.write(tmp)]
    ['power.tsv', 'power.png']
    """
    check_type("spec", spec, SimulationSpec, "a SimulationSpec")
    return PowerResult(power_table(spec, *grid, **options), options.get("alpha", 0.05))
