"""The engine-independent result of a mixed model fit (pingouin-style tidy tables)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from coaffect.formats.tables import write_tsv

#: The pre-stated rule for singular fits (Matuschek et al. 2017), recorded in every _info.json.
SIMPLIFICATION_RULE = (
    "Start from the maximal structure the design identifies (terms it cannot identify are "
    "dropped before fitting, each with its reason). If the fit is singular, drop the random "
    "term with the smallest variance, the most complex first on ties (participant:valence, "
    "session:stimulus, stimulus:condition, session, stimulus, participant; every term whose SD is "
    "below 1e-4 of the residual SD is at zero, and terms at zero tie), refit, and repeat until the fit "
    "is not singular or one random term is left; fixed effects are never changed."
)

#: A random term is at zero when its SD is below this share of the residual SD (of 1 where a
#: GLMM has none): lme4's ``isSingular`` tolerance. Terms at zero tie in the simplification rule
#: whatever their exact estimates, which differ between engines and runs by rounding.
SINGULAR_SD_RATIO = 1e-4

#: Columns of :attr:`MixedModelResult.fixed`.
FIXED_COLUMNS = ("term", "estimate", "se", "df", "stat", "p_val", "ci_low", "ci_high")


@dataclass
class MixedModelResult:
    """One fitted linear mixed model.

    Attributes
    ----------
    engine : str
        ``statsmodels`` or ``lme4``.
    formula : str
        Fixed part as given.
    full_formula : str
        Fixed and random parts in lme4 notation.
    fixed : pandas.DataFrame
        term, estimate, se, df (inf for statsmodels' z tests; Satterthwaite
        for lme4), stat (z or t), p_val, ci_low, ci_high (95%).
    random : pandas.DataFrame
        component (participant_id, stimulus_id, session_id, residual),
        variance, sd.
    n : dict
        N per level: participants, sessions, group_sessions, stimuli, observations.
    converged : bool
    warnings : list of str
    test : str
        ``z (Wald)`` or ``t (Satterthwaite)``.
    seconds : float
        Time of the fit itself.
    notes : list of str
        Rows left out and similar remarks.
    loglik : float
        REML log-likelihood at the estimates (comparable between engines).
    singular : bool
        A variance component sits on its boundary (lme4's ``isSingular``; for
        statsmodels an SD below 1e-4 of the residual SD).
    omnibus : pandas.DataFrame
        Type III omnibus tests per fixed term: term, F, df1, df2, p_val.
    emms : pandas.DataFrame
        Estimated marginal means: factor, level, estimate, se, df, ci_low, ci_high.
    effect_sizes : pandas.DataFrame
        measure, value, note (R2 marginal/conditional, ICCs, standardised group effect, TOST).
    simplification : list of str
        The random terms dropped before or after fitting, each with its reason, in order.
    versions : dict
        Engine and package versions.
    verdict : str
        ``NOT INTERPRETABLE: ...`` when the design cannot support a test of condition
        (those p-values are then blank), else empty.
    coding : str
        ``deviation`` or ``treatment``.
    reference : dict
        Reference level of every factor in the model (first level of its coding).
    contrast_matrices : dict
        Factor -> ``{"levels": [...], "columns": {coefficient: [value per level]}}``: the
        coding as R's ``contrasts()`` would be set to refit the model.
    left_out : dict
        Trials not used and why: ``excluded``, ``face_excluded`` and ``missing``
        (outcome or predictor missing, per column), counted apart.
    n_by_condition : dict
        Condition -> (participants, trials) the model used.
    face_sources : dict
        Facial outcomes: which tool scored the faces (trial table ``face_source``) -> trials used.
    boot : pandas.DataFrame or None
        Parametric bootstrap draws (one row each) of the fixed effects and variance
        components, behind the effect sizes' CIs (lme4 only).
    """

    engine: str
    formula: str
    full_formula: str
    fixed: pd.DataFrame
    random: pd.DataFrame
    n: dict
    converged: bool
    warnings: list[str] = field(default_factory=list)
    test: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    loglik: float = float("nan")
    singular: bool = False
    tests: dict = field(default_factory=dict)
    omnibus: pd.DataFrame | None = None
    emms: pd.DataFrame | None = None
    effect_sizes: pd.DataFrame | None = None
    simplification: list[str] = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    verdict: str = ""
    vcov: object = None
    family: str = "gaussian"
    coding: str = "deviation"
    reference: dict = field(default_factory=dict)
    contrast_matrices: dict = field(default_factory=dict)
    left_out: dict = field(default_factory=dict)
    boot: pd.DataFrame | None = None
    n_by_condition: dict = field(default_factory=dict)
    face_sources: dict = field(default_factory=dict)

    def n_table(self) -> pd.DataFrame:
        """N per level as a two-column table (level, n)."""
        return pd.DataFrame({"level": list(self.n), "n": list(self.n.values())})

    def info(self) -> dict:
        """Everything but the tables, for JSON."""
        return {
            "engine": self.engine,
            "formula": self.formula,
            "full_formula": self.full_formula,
            "n": self.n,
            "converged": self.converged,
            "warnings": self.warnings,
            "test": self.test,
            "seconds": round(self.seconds, 4),
            "notes": self.notes,
            "reml_loglik": self.loglik,
            "singular": self.singular,
            "simplification_rule": SIMPLIFICATION_RULE,
            "simplification": self.simplification,
            "verdict": self.verdict,
            "versions": self.versions,
            "family": self.family,
            "coding": self.coding,
            "reference_levels": self.reference,
            "contrasts": self.contrast_matrices,
            "left_out": self.left_out,
            "n_by_condition": {
                c: {"participants": p, "trials": t} for c, (p, t) in self.n_by_condition.items()
            },
            "face_sources": self.face_sources,
        }

    def write(self, stem: str | Path, info: dict[str, Any] | None = None) -> list[Path]:
        """Write ``<stem>_fixed.tsv``, ``_random.tsv``, ``_omnibus.tsv``, ``_emms.tsv``,
        ``_effect_sizes.tsv`` and ``_info.json`` (:meth:`info` plus ``info``).

        Returns
        -------
        list of Path
            The files written.
        """
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("fixed", "random", "omnibus", "emms", "effect_sizes"):
            table = getattr(self, name)
            if table is not None:
                written.append(write_tsv(table, stem.with_name(f"{stem.name}_{name}.tsv")))
        path = stem.with_name(f"{stem.name}_info.json")
        path.write_text(json.dumps({**self.info(), **(info or {})}, indent=2, default=str))
        return [*written, path]


#: Warnings that say something about a dependency's code, not about the model (e.g. pingouin
#: calling a pandas method pandas will remove): left out of results, which report the fit.
LIBRARY_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    """``Category: first line`` of each caught warning, dependencies' deprecations left out, no repeats.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("overflow in exp", RuntimeWarning)
    ...     warnings.warn("inplace is deprecated", DeprecationWarning)
    >>> warning_lines(caught)
    ['RuntimeWarning: overflow in exp']
    """
    out: list[str] = []
    for w in caught:
        if issubclass(w.category, LIBRARY_DEPRECATIONS):
            continue
        line = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if line not in out:
            out.append(line)
    return out
