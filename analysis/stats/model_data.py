"""Turn a trial table and a model formula into the rows a mixed model can use.

Shared by both engines so that statsmodels and lme4 see exactly the same data
and the same fixed-effect design (built once here with patsy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coaffect.formats import faces_schema as fs
from coaffect.formats.errors import AnalysisError, did_you_mean

_FUNCTIONS = {
    "C",
    "I",
    "np",
    "log",
    "exp",
    "sqrt",
    "center",
    "standardize",
    "scale",
    "Q",
    "Treatment",
    "Sum",
    "Diff",
    "Poly",
    "Helmert",
    "reference",
    "levels",
    "abs",
}


@dataclass
class ModelData:
    """Rows and design of one model.

    Attributes
    ----------
    formula : str
        The fixed part, as given (``dv ~ terms``).
    dv : str
        The outcome column.
    data : pandas.DataFrame
        Usable rows, with ``in_group`` (1.0 for group sessions) added.
    X : pandas.DataFrame
        Fixed-effect design matrix (patsy column names).
    random : list of str
        Variance components fitted: ``participant_id``, ``stimulus_id``,
        ``session_id`` (group sessions only) where the data identify them.
    n_dropped : int
        Trials left out (excluded, face-excluded for facial outcomes, missing values).
    notes : list of str
    """

    formula: str
    dv: str
    data: pd.DataFrame
    X: pd.DataFrame
    random: list[str]
    n_dropped: int
    notes: list[str] = field(default_factory=list)

    def n_levels(self) -> dict:
        """N per level: participants, group sessions, stimuli, observations."""
        d = self.data
        return {
            "participants": int(d["participant_id"].nunique()),
            "sessions": int(d["session_id"].nunique()),
            "group_sessions": int(d.loc[d["in_group"] > 0, "session_id"].nunique()),
            "stimuli": int(d["stimulus_id"].nunique()),
            "observations": int(len(d)),
        }

    def random_formula(self) -> str:
        """The random part in lme4 notation."""
        parts = {
            "participant_id": "(1 | participant_id)",
            "stimulus_id": "(1 | stimulus_id)",
            "session_id": "(0 + in_group | session_id)",
        }
        return " + ".join(parts[r] for r in self.random)


def _is_face_column(name: str) -> bool:
    base = name[:-5] if name.endswith("_peak") else name
    return base in fs.MEASURES or name in ("face_fraction",)


def model_data(trials: pd.DataFrame, formula: str) -> ModelData:
    """Select the usable rows for ``formula`` and build its fixed-effect design.

    Parameters
    ----------
    trials : pandas.DataFrame
        A trial table (:func:`analysis.trials.trial_table`) or any table with
        participant_id, session_id, condition, stimulus_id and the formula's columns.
    formula : str
        Fixed part, e.g. ``"AU12 ~ condition * valence"``.

    Returns
    -------
    ModelData

    Raises
    ------
    AnalysisError
        Unknown column, constant outcome, or too few rows.

    Examples
    --------
    >>> md = model_data(trials, "AU12 ~ condition * valence")  # doctest: +SKIP
    >>> md.random                                              # doctest: +SKIP
    ['participant_id', 'stimulus_id', 'session_id']
    """
    import patsy

    if "~" not in formula:
        raise AnalysisError(
            f"formula '{formula}': needs 'outcome ~ predictors' (got no '~')",
            hint="e.g. 'AU12 ~ condition * valence'",
        )
    lhs, rhs = formula.split("~", 1)
    dv = lhs.strip()
    unquoted = re.sub(r"(['\"]).*?\1", "", formula)
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", unquoted)) - _FUNCTIONS
    cols = [c for c in trials.columns]
    for name in sorted(names):
        if name not in trials.columns and _is_face_column(name):
            raise AnalysisError(
                f"formula '{formula}': facial measure '{name}' is not in the trial "
                "table (no session has a faces.parquet)",
                hint="run 'coaffect score DATASET' first, or model a self-report outcome such as t_both",
            )
        if name not in trials.columns:
            raise AnalysisError(
                f"formula '{formula}': unknown column '{name}'{did_you_mean(name, cols)}",
                hint="columns include condition, valence, t_happy, t_sad, t_both, "
                "p_both, min_index, rating_<item>, AU12, AU12_peak, inner_brow_lip_down, ...",
            )
    for need in ("participant_id", "session_id", "stimulus_id", "condition"):
        if need not in trials.columns:
            raise AnalysisError(f"trial table: missing column '{need}'")
    keep = pd.Series(True, index=trials.index)
    notes = []
    if "excluded" in trials.columns:
        keep &= ~trials["excluded"].astype(bool)
    if any(_is_face_column(n) for n in names) and "face_excluded" in trials.columns:
        keep &= ~trials["face_excluded"].astype(bool)
    used = [n for n in names if n in trials.columns]
    data = trials.loc[keep].copy()
    for c in used:
        if data[c].dtype == bool:
            data[c] = data[c].astype(float)
    data = data.dropna(subset=used)
    n_dropped = int(len(trials) - len(data))
    if n_dropped:
        notes.append(f"{n_dropped} of {len(trials)} trials left out (excluded or missing values)")
    if len(data) < 5:
        raise AnalysisError(
            f"formula '{formula}': only {len(data)} usable trials",
            hint="check exclusions (face_excluded) and that faces were scored",
        )
    for c in ("participant_id", "session_id", "stimulus_id", "condition"):
        data[c] = data[c].astype(str)
    if "valence" in data.columns:
        data["valence"] = data["valence"].astype(str)
    if np.nanstd(data[dv].astype(float)) == 0:
        raise AnalysisError(
            f"formula '{formula}': outcome '{dv}' is constant ({data[dv].iloc[0]}) in the usable trials"
        )
    rhs_names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"(['\"]).*?\1", "", rhs)))
    for name in sorted(rhs_names & set(data.columns)):
        col = data[name]
        if not pd.api.types.is_numeric_dtype(col) and col.nunique() < 2:
            raise AnalysisError(
                f"formula '{formula}': predictor '{name}' has one level only "
                f"({col.iloc[0]}) in the usable trials",
                hint="a comparison needs both levels, e.g. alone and group sessions",
            )
    data["in_group"] = (data["condition"] == "group").astype(float)
    data = data.reset_index(drop=True)
    try:
        X = patsy.dmatrix(rhs, data, return_type="dataframe")
    except patsy.PatsyError as exc:
        raise AnalysisError(f"formula '{formula}': {str(exc).splitlines()[0]}") from None
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise AnalysisError(
            f"formula '{formula}': fixed effects are not estimable "
            f"(design columns {', '.join(X.columns)} are collinear)",
            hint="some combination of levels has no usable trials (e.g. a clip "
            "valence no group saw); try additive terms such as "
            "'condition + valence'",
        )
    random = []
    if data["participant_id"].nunique() > 1 and data.groupby("participant_id").size().max() > 1:
        random.append("participant_id")
    if data["stimulus_id"].nunique() > 1:
        random.append("stimulus_id")
    if data.loc[data["in_group"] > 0, "session_id"].nunique() > 1:
        random.append("session_id")
    return ModelData(formula, dv, data, X, random, n_dropped, notes)
