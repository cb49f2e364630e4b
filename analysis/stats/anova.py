"""Mixed ANOVA on participant means (pingouin), the simpler analysis many labs report.

Condition is the between-participant factor and clip valence the within
factor; each participant contributes the mean of their usable trials per
valence. Participants without a mean for every valence level are left out
(pingouin needs complete cells) and counted.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import write_tsv

from .model_data import is_face_column
from .result import warning_lines


def slug(text: str) -> str:
    """A file-name-safe version of a formula or column name (at most 60 characters).

    Examples
    --------
    >>> slug("AU12 ~ condition * valence")
    'AU12_condition_valence'
    """
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60]


@dataclass
class MixedAnova:
    """Result of :func:`mixed_anova_table`: the ANOVA and pairwise tables of one outcome.

    Attributes
    ----------
    dv : str
        The outcome.
    anova, pairwise : pandas.DataFrame
    info : dict
        Units, participants, left-out units, warnings.

    Unpacks as ``anova, pairwise, info`` (as the earlier named tuple did).
    """

    dv: str
    anova: pd.DataFrame
    pairwise: pd.DataFrame
    info: dict

    def __iter__(self) -> Iterator:
        return iter((self.anova, self.pairwise, self.info))

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``anova-<dv>.tsv`` and ``pairwise-<dv>.tsv`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return [
            write_tsv(self.anova, out / f"anova-{slug(self.dv)}.tsv"),
            write_tsv(self.pairwise, out / f"pairwise-{slug(self.dv)}.tsv"),
        ]


def _units(d: pd.DataFrame, between: str, cluster: bool) -> pd.Series:
    """The unit of each row: its participant, or ``session:<id>`` for group members when clustering."""
    pid = d["participant_id"].astype(str)
    if not cluster or "session_id" not in d.columns:
        return pid
    return pid.where(d[between].astype(str) != "group", "session:" + d["session_id"].astype(str))


def participant_means(
    trials: pd.DataFrame, dv: str, within: str = "valence", between: str = "condition", cluster: bool = False
) -> tuple[pd.DataFrame, int]:
    """Mean of ``dv`` per participant (or session unit) x ``within`` level over usable trials.

    Parameters
    ----------
    cluster : bool
        Average the members of each group session into one unit (their
        ``participant_id`` becomes ``session:<id>``): group members share a
        session and are not independent.

    Returns
    -------
    (pandas.DataFrame, int)
        participant_id (the unit), ``between``, ``within``, ``dv``, n_trials; and the
        number of units dropped for an incomplete design.

    Examples
    --------
    >>> means, n_out = participant_means(trials, "AU12")
    >>> means.shape, n_out
    ((15, 5), 2)
    >>> means.head(3)
      participant_id condition      valence      AU12  n_trials
    0          P0001     alone  bittersweet  2.137723         1
    1          P0001     alone     negative  0.745345         1
    2          P0001     alone     positive -0.557242         1
    """
    if dv not in trials.columns:
        raise AnalysisError(f"anova: unknown outcome column '{dv}'")
    keep = ~trials["excluded"].astype(bool) if "excluded" in trials.columns else True
    if is_face_column(dv) and "face_excluded" in trials.columns:
        keep = keep & ~trials["face_excluded"].astype(bool)
    d = trials.loc[keep].dropna(subset=[dv]).copy()
    d[dv] = d[dv].astype(float)
    d["participant_id"] = _units(d, between, cluster)
    g = d.groupby(["participant_id", between, within], observed=True)
    means = g[dv].mean().rename(dv).to_frame()
    means["n_trials"] = g.size()
    means = means.reset_index()
    levels = d[within].nunique()
    complete = means.groupby("participant_id")[within].nunique() == levels
    dropped = int((~complete).sum())
    means = means[means["participant_id"].isin(complete[complete].index)].reset_index(drop=True)
    return means, dropped


def mixed_anova_table(
    trials: pd.DataFrame,
    dv: str,
    within: str = "valence",
    between: str = "condition",
    padjust: str = "holm",
    cluster: bool = True,
) -> MixedAnova:
    """Mixed ANOVA (pingouin) on participant means, with pairwise follow-ups.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial table.
    dv : str
        Outcome column, e.g. ``"AU12"`` or ``"t_both"``.
    within, between : str
        Within-participant and between-participant factors.
    padjust : str
        Multiple-comparison correction of the pairwise tests (pingouin names).
    cluster : bool
        Default True: the group arm enters as session means (one unit per
        group session), because group members are not independent; False
        treats every participant as independent (``info["unit"]`` says which).

    Returns
    -------
    MixedAnova
        Named result with these fields:
    anova : pandas.DataFrame
        source, SS, DF1, DF2, MS, F, p_unc, np2, eps (pingouin 0.7 columns,
        ``Source`` lower-cased).
    pairwise : pandas.DataFrame
        pingouin ``pairwise_tests`` output (contrast, A, B, T, dof, p_unc,
        p_corr, hedges, ...), columns lower-cased.
    info : dict
        n_participants, n_dropped_incomplete, dv, within, between.

    Examples
    --------
    >>> aov, post, info = mixed_anova_table(trials, "t_both")
    >>> aov[["source", "F", "p_unc"]].round(3)
            source      F  p_unc
    0    condition  0.000  0.993
    1      valence  3.409  0.103
    2  Interaction  0.366  0.708
    """
    import pingouin as pg

    means, dropped = participant_means(trials, dv, within, between, cluster=cluster)
    if means[between].nunique() < 2 or means[within].nunique() < 2:
        raise AnalysisError(
            f"anova {dv}: needs two or more levels of '{between}' and of '{within}' "
            f"with complete data (got {means[between].nunique()} and "
            f"{means[within].nunique()})"
        )
    per_level = means.groupby(between)["participant_id"].nunique()
    if per_level.min() < 2 or means["participant_id"].nunique() <= means[within].nunique():
        raise AnalysisError(
            f"anova {dv}: too few units for a mixed ANOVA ({', '.join(f'{k}: {v}' for k, v in per_level.items())}; "
            "group sessions count as one unit each)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aov = pg.mixed_anova(data=means, dv=dv, within=within, between=between, subject="participant_id")
        post = pg.pairwise_tests(
            data=means, dv=dv, within=within, between=between, subject="participant_id", padjust=padjust
        )
    aov = aov.rename(columns={"Source": "source"})
    post = post.rename(columns={c: c.lower() for c in post.columns if c not in ("T",)})
    info = {
        "dv": dv,
        "within": within,
        "between": between,
        "n_units": int(means["participant_id"].nunique()),
        "n_participants": int(
            trials.loc[
                _units(trials, between, cluster).isin(set(means["participant_id"])), "participant_id"
            ].nunique()
        ),
        "unit": "group sessions as one unit each, alone participants"
        if cluster
        else "participants (clustering ignored)",
        "n_dropped_incomplete": dropped,
        # library RuntimeWarnings (e.g. a contrast with no variance) belong to the table, not the console
        "warnings": sorted(warning_lines(caught)),
    }
    return MixedAnova(dv, aov, post, info)
