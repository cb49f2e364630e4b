"""Statistics on trial tables: linear mixed models, hurdle models and mixed ANOVA.

* :func:`fit_mixed` - one formula, engine ``lme4`` (default when R is installed) or ``statsmodels``.
* :func:`fit_hurdle` - any vs amount of a zero-heavy duration such as ``t_both``.
* :func:`mixed_anova_table` - pingouin mixed ANOVA on participant (or session) means.
* :func:`run_stats` - every model of a trial table, as a :class:`StatsResult`;
  :func:`stats_for_study` builds the trial table first (what ``coaffect stats``
  runs; ``stats_for_dataset`` is its former name). :meth:`StatsResult.write` writes the tables.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
