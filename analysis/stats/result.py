"""The engine-independent result of a mixed model fit (pingouin-style tidy tables)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: The pre-stated rule for singular fits (Matuschek et al. 2017), recorded in every _info.json.
SIMPLIFICATION_RULE = (
    "Start from the maximal structure the design identifies (terms it cannot identify are "
    "dropped before fitting, each with its reason). If the fit is singular, drop the random "
    "term with the smallest variance, the most complex first on ties (participant:valence, "
    "stimulus:condition, session, stimulus, participant), refit, and repeat until the fit "
    "is not singular or one random term is left; fixed effects are never changed."
)

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
        }
