"""Simulated studies with known effects: session folders, trial tables, synthetic faces, power.

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "SimulationSpec": ".study",
        "simulate_study": ".study",
        "simulate_trials": ".trials",
        "power_analysis": ".power",
        "power_table": ".power",
        "PowerResult": ".power",
        "power_figure": ".power",
        "write_synthetic_video": ".faces",
        "write_group_video": ".faces",
    },
)
