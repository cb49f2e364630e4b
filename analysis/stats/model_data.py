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
from coaffect.formats.checks import check_option
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
        Variance components fitted (keys of :data:`RANDOM_TERMS`) where the data identify them.
    n_dropped : int
        Trials left out (excluded, face-excluded for facial outcomes, missing values).
    notes : list of str
        What was left out and why, in words.
    terms : dict
        Fixed-effect term name -> its design columns (for omnibus tests).
    coding : str
        ``deviation`` (default; each coefficient is level minus reference,
        other effects averaged over the levels) or ``treatment``.
    reference : dict
        Reference level of each coded factor.
    dropped_random : list of str
        Random terms of the full structure left out, each with the reason in words.
    factors : dict
        Factor name -> its levels (reference first), for the reference grid of EMMs.
    left_out : dict
        ``excluded``, ``face_excluded`` (facial outcomes only) and ``missing``
        (column -> trials with no value there, among those not excluded): counted apart.
    offset : str or None
        Exposure column of a count model (its log is the offset), e.g. ``clip_duration``.
    face_sources : dict
        Facial models: the tool that scored the faces of the trials used -> number of trials
        (``face_source`` of the trial table; empty for other outcomes).
    """

    formula: str
    dv: str
    data: pd.DataFrame
    X: pd.DataFrame
    random: list[str]
    n_dropped: int
    notes: list[str] = field(default_factory=list)
    terms: dict = field(default_factory=dict)
    coding: str = "deviation"
    reference: dict = field(default_factory=dict)
    dropped_random: list[str] = field(default_factory=list)
    factors: dict = field(default_factory=dict)
    design_info: object = None
    left_out: dict = field(default_factory=dict)
    offset: str | None = None
    face_sources: dict = field(default_factory=dict)

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
        return " + ".join(RANDOM_TERMS[r] for r in self.random)

    def contrast_matrices(self) -> dict:
        """Each coded factor's levels and coefficient columns (as R's ``contrasts()`` would hold them).

        Examples
        --------
        >>> md = model_data(trials, "AU12 ~ condition")
        >>> md.contrast_matrices()["condition"]
        {'levels': ['alone', 'group'], 'columns': {'condition[group-alone]': [-0.5, 0.5]}}
        """
        out = {}
        for name, levels in self.factors.items():
            k = len(levels)
            if self.coding == "deviation":
                m = np.eye(k)[:, 1:] - 1.0 / k
                names = [f"{name}[{lv}-{levels[0]}]" for lv in levels[1:]]
            else:
                m = np.eye(k)[:, 1:]
                names = [f"{name}[T.{lv}]" for lv in levels[1:]]
            out[name] = {
                "levels": list(levels),
                "columns": {c: m[:, j].tolist() for j, c in enumerate(names)},
            }
        return out

    def without(self, component: str, reason: str) -> ModelData:
        """The same model with one random term dropped (and the reason recorded)."""
        from dataclasses import replace

        return replace(
            self,
            random=[r for r in self.random if r != component],
            dropped_random=[*self.dropped_random, f"{RANDOM_TERMS[component]} dropped: {reason}"],
        )


#: Random terms of the full structure, in the order they are fitted, in lme4 notation.
RANDOM_TERMS = {
    "participant_id": "(1 | participant_id)",
    "stimulus_id": "(1 | stimulus_id)",
    "session_id": "(0 + in_group | session_id)",
    "stimulus_condition": "(1 | stimulus_id:condition)",
    "participant_valence": "(1 | participant_id:valence)",
    "session_stimulus": "(0 + in_group | session_id:stimulus_id)",
    "observation": "(1 | observation)",
}

#: Random terms that only group sessions have (their column is ``in_group``: 0 for alone participants).
GROUP_ONLY = ("session_id", "session_stimulus")

#: Fewer clips than this per valence level (or in all, without valence): the
#: clip-by-condition variance is not separable from the fixed cell means (Westfall et al. 2014).
MIN_CLIPS_PER_LEVEL = 4

#: Default reference level of each factor (the protocol's ``analysis.reference_levels`` overrides).
DEFAULT_REFERENCE = {"condition": "alone", "valence": "neutral"}

CODINGS = ("deviation", "treatment")


class Deviation:
    """Deviation ("simple") coding: each column is a level minus the reference level.

    Treatment dummies minus 1/k, so every column sums to zero over the levels:
    a coefficient is the difference between its level and the reference, and
    the other terms' coefficients are averages over this factor's levels (main
    effects, not simple effects at the reference), whatever the level names.

    Examples
    --------
    >>> Deviation().code_without_intercept(["alone", "group"]).matrix.tolist()
    [[-0.5], [0.5]]
    """

    def code_without_intercept(self, levels):
        from patsy import ContrastMatrix

        k = len(levels)
        m = np.eye(k)[:, 1:] - 1.0 / k
        return ContrastMatrix(m, [f"[{lv}-{levels[0]}]" for lv in levels[1:]])

    def code_with_intercept(self, levels):  # pragma: no cover - formulas always have an intercept
        from patsy import ContrastMatrix

        return ContrastMatrix(np.eye(len(levels)), [f"[{lv}]" for lv in levels])


def is_face_column(name: str) -> bool:
    """Whether a trial-table column is a facial measure (``face_excluded`` applies to it).

    Examples
    --------
    >>> is_face_column("AU12_peak"), is_face_column("t_both")
    (True, False)
    """
    base = name[:-5] if name.endswith("_peak") else name
    return base in fs.MEASURES or name in ("face_fraction",)


def face_source_counts(data: pd.DataFrame) -> dict:
    """Trials per face source (``face_source``; ``coaffect`` where the table has none).

    Examples
    --------
    >>> face_source_counts(pd.DataFrame({"face_source": ["openface", "coaffect", "openface"]}))
    {'coaffect': 1, 'openface': 2}
    """
    if "face_source" not in data.columns:
        return {"coaffect": int(len(data))} if len(data) else {}
    counts = data["face_source"].fillna("coaffect").astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items())}


def _usable_rows(trials: pd.DataFrame, used: list[str], facial: bool) -> tuple[pd.DataFrame, dict]:
    """Rows not excluded (nor face-excluded, for facial outcomes) with a value in every used column.

    Returns the rows and what was left out, counted apart: ``excluded``, ``face_excluded``,
    ``missing`` (column -> count among the rows not excluded; a row missing two is counted
    in both columns and once in ``missing_rows``).
    """
    excluded = (
        trials["excluded"].astype(bool) if "excluded" in trials.columns else pd.Series(False, trials.index)
    )
    face = (
        trials["face_excluded"].astype(bool) & ~excluded
        if facial and "face_excluded" in trials.columns
        else pd.Series(False, trials.index)
    )
    data = trials.loc[~(excluded | face)].copy()
    for c in used:
        if data[c].dtype == bool:
            data[c] = data[c].astype(float)
    na = data[used].isna()
    missing = {c: int(n) for c, n in na.sum().items() if n}
    left_out = {
        "excluded": int(excluded.sum()),
        "face_excluded": int(face.sum()),
        "missing": missing,
        "missing_rows": int(na.any(axis=1).sum()),
    }
    return data.loc[~na.any(axis=1)], left_out


def left_out_note(left_out: dict, n_total: int) -> str:
    """The trials a model left out, by reason, in words.

    Examples
    --------
    >>> left_out_note({"excluded": 12, "face_excluded": 40, "missing": {"AU12": 18}, "missing_rows": 18}, 288)
    '70 of 288 trials left out: 12 excluded (exclusion_reason), 40 without usable facial measures (face_exclusion_reason), 18 with a missing value (AU12: 18)'
    """
    parts = []
    if left_out["excluded"]:
        parts.append(f"{left_out['excluded']} excluded (exclusion_reason)")
    if left_out["face_excluded"]:
        parts.append(f"{left_out['face_excluded']} without usable facial measures (face_exclusion_reason)")
    if left_out["missing_rows"]:
        cols = ", ".join(f"{c}: {n}" for c, n in left_out["missing"].items())
        parts.append(f"{left_out['missing_rows']} with a missing value ({cols})")
    n = left_out["excluded"] + left_out["face_excluded"] + left_out["missing_rows"]
    return f"{n} of {n_total} trials left out: " + ", ".join(parts)


def _levels(values: pd.Series, reference: str | None) -> list[str]:
    levels = sorted(values.astype(str).unique())
    if reference in levels:
        levels.remove(reference)
        levels.insert(0, reference)
    return levels


def _random_structure(data: pd.DataFrame, rhs_names: set[str]) -> tuple[list[str], list[str]]:
    """The random terms the data identify, and the dropped ones with the reason in words."""
    random, dropped = [], []
    n_part = data["participant_id"].nunique()
    if n_part > 1 and data.groupby("participant_id").size().max() > 1:
        random.append("participant_id")
    else:
        dropped.append(f"{RANDOM_TERMS['participant_id']} dropped: one trial per participant")
    n_stim = data["stimulus_id"].nunique()
    has_valence = "valence" in data.columns and data["valence"].nunique() > 1
    per_level = (
        int(data.groupby("valence")["stimulus_id"].nunique().min())
        if has_valence and "valence" in rhs_names
        else n_stim
    )
    if n_stim < 2 or per_level < 2:
        why = (
            f"{per_level} clip per valence level: each clip's own level is its valence's mean"
            if n_stim >= 2
            else "one clip only"
        )
        dropped.append(f"{RANDOM_TERMS['stimulus_id']} dropped: {why}")
    else:
        random.append("stimulus_id")
    n_groups = data.loc[data["in_group"] > 0, "session_id"].nunique()
    if n_groups >= 2:
        random.append("session_id")
    elif n_groups == 1:
        dropped.append(
            f"{RANDOM_TERMS['session_id']} dropped: one group session, whose own level "
            "cannot be told apart from the group effect (the group effect is not generalisable)"
        )
    both = data.groupby("stimulus_id")["condition"].nunique()
    if data["condition"].nunique() > 1 and (both > 1).sum() >= 2:
        if per_level >= MIN_CLIPS_PER_LEVEL:
            random.append("stimulus_condition")
        else:
            dropped.append(
                f"{RANDOM_TERMS['stimulus_condition']} dropped: {per_level} clip(s) per "
                f"{'valence level' if 'valence' in rhs_names else 'condition'} "
                f"(fewer than {MIN_CLIPS_PER_LEVEL}) cannot separate the clip-by-condition "
                "variance from the residual"
            )
    if has_valence:
        cell = data.groupby(["participant_id", "valence"]).size()
        if data["valence"].nunique() > 1 and float(cell.median()) >= 2:
            random.append("participant_valence")
        else:
            dropped.append(
                f"{RANDOM_TERMS['participant_valence']} dropped: participants saw about one clip "
                "per valence level, so their own valence response is the residual"
            )
    if n_groups >= 2:
        # the moment a group shares on one clip (contagion): needs two or more members per
        # session x clip, else it is that member's residual
        cells = data.loc[data["in_group"] > 0].groupby(["session_id", "stimulus_id"]).size()
        if (cells >= 2).sum() >= 2:
            random.append("session_stimulus")
        else:
            dropped.append(
                f"{RANDOM_TERMS['session_stimulus']} dropped: fewer than two group session x clip "
                "cells with two or more members, so a group's shared response to a clip is the residual"
            )
    return random, dropped


def _nested_in(data: pd.DataFrame, inner: str, outer: str) -> bool:
    """Every level of ``inner`` occurs with one level of ``outer`` only (and ``outer`` varies)."""
    if inner not in data.columns or outer not in data.columns or data[outer].nunique() < 2:
        return False
    return bool((data.groupby(inner)[outer].nunique() <= 1).all())


def _not_estimable(X: pd.DataFrame, terms: dict, data: pd.DataFrame) -> str:
    """Which term makes the design rank-deficient, and why, in words.

    Terms are added in formula order; the first whose columns are a combination
    of the columns before it is the one named.
    """
    before: list[str] = []
    seen: list[str] = []
    for term, cols in terms.items():
        cand = before + cols
        if np.linalg.matrix_rank(X[cand].to_numpy()) < len(cand):
            factors = term.split(":")
            if len(factors) == 1:
                outer = [s for s in seen if ":" not in s and _nested_in(data, term, s)]
                if outer:
                    return f"{term} is nested in {outer[0]} (each {term} has one {outer[0]})"
                inner = [s for s in seen if ":" not in s and _nested_in(data, s, term)]
                if inner:
                    return f"{inner[0]} is nested in {term} (each {inner[0]} has one {term})"
            elif all(f in data.columns for f in factors):
                cells = data.groupby(factors).size()
                full = pd.MultiIndex.from_product([sorted(data[f].astype(str).unique()) for f in factors])
                empty = [":".join(map(str, c)) for c in full if c not in cells.index]
                if empty:
                    return f"{term} has no usable trials for {', '.join(empty[:3])}" + (
                        f" and {len(empty) - 3} more" if len(empty) > 3 else ""
                    )
            others = ", ".join(s for s in seen if s != "Intercept") or "the intercept"
            return f"{term} is a combination of the terms before it ({others})"
        before, seen = cand, [*seen, term]
    return f"design columns {', '.join(X.columns)} are collinear"


def model_data(
    trials: pd.DataFrame,
    formula: str,
    coding: str = "deviation",
    reference: dict | None = None,
    random: list[str] | None = None,
    mixed_sources: bool = False,
) -> ModelData:
    """Select the usable rows for ``formula`` and build its fixed-effect design.

    Parameters
    ----------
    trials : pandas.DataFrame
        A trial table (:func:`analysis.measures.trials.trial_table`) or any table with
        participant_id, session_id, condition, stimulus_id and the formula's columns.
    formula : str
        Fixed part, e.g. ``"AU12 ~ condition * valence"``.
    coding : {"deviation", "treatment"}
        Coding of the factors ``condition`` and ``valence`` (see :class:`Deviation`).
    reference : dict, optional
        Reference level per factor (default :data:`DEFAULT_REFERENCE`; valence
        falls back to its alphabetically first level).
    random : list of str, optional
        Random terms to fit (keys of :data:`RANDOM_TERMS`); default: every term
        of the full structure the data identify (the others are listed with the
        reason in ``dropped_random``).
    mixed_sources : bool
        Let one facial model use trials whose faces different tools scored (trial-table
        ``face_source``: coaffect, openface, pyfeat). Their units differ (each is a z-score
        against the baseline, but of a different measurement), so by default such a model is
        refused with the counts per source.

    Returns
    -------
    ModelData

    Raises
    ------
    AnalysisError
        Unknown column, constant outcome, or too few rows.

    Examples
    --------
    >>> md = model_data(trials, "AU12 ~ condition * valence")
    >>> md.random
    ['participant_id', 'session_id', 'session_stimulus']
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
        if name not in trials.columns and is_face_column(name):
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
    used = [n for n in names if n in trials.columns]
    facial = any(is_face_column(n) for n in names)
    data, left_out = _usable_rows(trials, used, facial)
    sources = face_source_counts(data) if facial else {}
    if len(sources) > 1 and not mixed_sources:
        raise AnalysisError(
            f"formula '{formula}': its facial measures come from {len(sources)} tools ("
            + ", ".join(f"{s} {n} trials" for s, n in sources.items())
            + "), whose units differ",
            hint="model one source at a time, or pass mixed_sources=True (coaffect stats/report "
            "--mixed-sources) to fit them together knowingly",
        )
    n_dropped = int(len(trials) - len(data))
    notes = [left_out_note(left_out, len(trials))] if n_dropped else []
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
    check_option("coding", coding, CODINGS, error=AnalysisError)
    data["in_group"] = (data["condition"] == "group").astype(float)
    data["stimulus_condition"] = data["stimulus_id"] + ":" + data["condition"]
    data["session_stimulus"] = data["session_id"] + ":" + data["stimulus_id"]
    if "valence" in data.columns:
        data["participant_valence"] = data["participant_id"] + ":" + data["valence"]
    data = data.reset_index(drop=True)
    ref = {**DEFAULT_REFERENCE, **(reference or {})}
    factors, used_ref = {}, {}
    for name in ("condition", "valence"):
        if name in rhs_names and name in data.columns:
            factors[name] = _levels(data[name], ref.get(name))
            used_ref[name] = factors[name][0]
    coded = rhs
    env: dict[str, object] = {"Deviation": Deviation}
    for name, levels in factors.items():
        kind = "Deviation" if coding == "deviation" else "Treatment"
        env[f"_lv_{name}"] = levels
        coded = re.sub(rf"(?<![\w.(]){name}(?![\w(])", f"C({name}, {kind}, levels=_lv_{name})", coded)
    try:
        X = patsy.dmatrix(coded, data, return_type="dataframe", eval_env=patsy.EvalEnvironment([env]))
    except patsy.PatsyError as exc:
        raise AnalysisError(f"formula '{formula}': {str(exc).splitlines()[0]}") from None
    design_info = X.design_info
    pretty = {}
    for col in X.columns:
        new = re.sub(r"C\((\w+), (?:Deviation|Treatment), levels=_lv_\w+\)", r"\1", col)
        pretty[col] = new
    X = X.rename(columns=pretty)
    terms = {
        re.sub(r"C\((\w+), (?:Deviation|Treatment), levels=_lv_\w+\)", r"\1", name): [
            pretty[c] for c in design_info.column_names[sl]
        ]
        for name, sl in design_info.term_name_slices.items()
    }
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise AnalysisError(
            f"formula '{formula}': fixed effects are not estimable: {_not_estimable(X, terms, data)}",
            hint="drop the term or the factor it is nested in, or use additive terms such as "
            "'condition + valence' when a combination of levels has no usable trials",
        )
    found, dropped = _random_structure(data, rhs_names)
    if random is not None:
        found = [r for r in found if r in random]
    return ModelData(
        formula,
        dv,
        data,
        X,
        found,
        n_dropped,
        notes,
        terms,
        coding,
        used_ref,
        dropped,
        factors,
        design_info,
        left_out,
        face_sources=sources,
    )
