"""Per-trial and per-second measures: self-report, the trial table, time courses, coherence, synchrony, physiology.

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "self_report_measures": ".self_report",
        "ratings_wide": ".self_report",
        "SELF_REPORT_COLUMNS": ".self_report",
        "trial_table": ".trials",
        "write_trials": ".trials",
        "read_trials": ".trials",
        "ID_COLUMNS": ".trials",
        "clip_frames": ".trials",
        "button_state": ".trials",
        "timecourses": ".timecourse",
        "condition_timecourse": ".timecourse",
        "coherence_table": ".coherence",
        "CoherenceResult": ".coherence",
        "synchrony_test": ".synchrony",
        "synchrony_table": ".synchrony",
        "synchrony_summary": ".synchrony",
        "SynchronyTest": ".synchrony",
        "dataset_physio": ".physio",
        "physio_timecourse": ".physio",
        "plot_physio": ".physio",
    },
)
