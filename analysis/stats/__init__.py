"""Statistics on trial tables: linear mixed models and mixed ANOVA.

* :func:`fit_mixed` - one formula, engine ``statsmodels`` (default) or ``lme4``.
* :func:`mixed_anova_table` - pingouin mixed ANOVA on participant means.
* :func:`run_stats` - every model of a dataset, tables written to
  ``derivatives/coaffect/stats/`` (what ``coaffect stats`` runs).
"""

from __future__ import annotations

from .anova import mixed_anova_table, participant_means
from .model_data import ModelData, model_data
from .result import FIXED_COLUMNS, MixedModelResult
from .run import StatsOutput, fit_mixed, run_stats, stats_for_dataset

__all__ = [
    "fit_mixed",
    "run_stats",
    "stats_for_dataset",
    "StatsOutput",
    "mixed_anova_table",
    "participant_means",
    "model_data",
    "ModelData",
    "MixedModelResult",
    "FIXED_COLUMNS",
]
