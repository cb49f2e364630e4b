"""coaffect's offline analysis, from scored faces to the report, in one namespace.

>>> import analysis as ca
>>> study = ca.load_study(sim)
>>> trials = ca.trial_table(study)
>>> result = ca.fit_mixed(trials, "t_both ~ condition + valence", engine="statsmodels")
>>> result.fixed["term"].tolist()[:2]
['Intercept', 'condition[group-alone]']

Every verb an analyst needs is a name here (``ca.<TAB>`` lists them); they
return tables or named results whose ``write(folder)`` writes them. The
folders below show the path the data take (``docs/architecture.md``):

====================  =============================================================
``study``             read a dataset: :func:`load_study`
``scoring``           faces tables from the videos: :func:`score`, :func:`score_video`
``faces``, ``expression``  the per-frame face pipeline and its measures
``measures``          per trial and per second: :func:`trial_table`, :func:`timecourses`,
                      :func:`coherence_table`, :func:`synchrony_test`
``stats``             :func:`fit_mixed`, :func:`fit_hurdle`, :func:`run_stats`,
                      :func:`mixed_anova_table`
``report``            :func:`analyse_study`, :func:`build_report`
``simulate``          :func:`simulate_study`, :func:`simulate_trials`, :func:`power_analysis`
``interop``           :func:`read_openface`, :func:`read_pyfeat`, :func:`validate_faces`
``parallel``          :func:`open_executor` (Dask)
====================  =============================================================

Names are imported on first use, so ``import analysis`` is cheap (and never
imports PsychoPy); a walk-through is ``docs/python-api.md``.
"""

from .public import exports

__all__, __getattr__, __dir__ = exports(__name__)
