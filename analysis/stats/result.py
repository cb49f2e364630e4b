"""The engine-independent result of a mixed model fit (pingouin-style tidy tables)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

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
        }
