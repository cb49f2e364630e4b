"""The executor that runs heavy work on Dask (a local cluster, or an existing one by address).

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "open_executor": ".executor",
        "Executor": ".executor",
        "machine_cores": ".executor",
        "ClusterLostError": ".executor",
        "ProcessCluster": ".dask_processes",
    },
)
