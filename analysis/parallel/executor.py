"""One executor for heavy work: scoring chunks, per-session finishing, simulation replicates.

Every heavy job in :mod:`analysis` is a set of independent tasks (a module-level
function and its picklable arguments: paths, frame ranges, seeds; never
frames). :func:`open_executor` gives an :class:`Executor` that runs them:

- one worker: in this process, one task after the other (no Dask at all);
- ``workers=N`` (default: the machine's cores): a Dask ``LocalCluster`` of N
  single-threaded worker processes (dlib and the tflite models hold the GIL,
  so threads would not help); its dashboard address is announced;
- ``scheduler="tcp://host:8786"`` (or the ``COAFFECT_SCHEDULER`` environment
  variable, or a ``dask.distributed.Client``): an existing Dask cluster.

:meth:`Executor.map` returns results in input order. :meth:`Executor.submit`
and :meth:`Executor.as_completed` build small graphs: a task's arguments may
hold other tasks' handles (in lists, tuples or dicts), replaced by their
results on the worker that runs it, so results travel between workers and
never through the scheduler or this process.

Faults: a worker that dies (killed, out of memory) is replaced by Dask, which
reruns the tasks it held on other workers; a task that killed
``distributed.scheduler.allowed-failures`` workers in a row fails with
:class:`AnalysisError`. A lost scheduler raises :class:`ClusterLostError`.

Examples
--------
>>> with open_executor(workers=1) as ex:
...     ex.map(pow, [(2, 3), (3, 2)])
[8, 9]
>>> with open_executor(workers=1) as ex:
...     a = ex.submit(pow, 2, 3)
...     b = ex.submit(sum, [a, 1])
...     [(d.value, d.error) for d in ex.as_completed([b])]
[(9, None)]
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from coaffect.formats.errors import AnalysisError

from .dask_cluster import SCHEDULER_ENV, local_cluster, remote_cluster
from .in_process import Executor

__all__ = ["announce", "dashboard_line", "machine_cores", "open_executor"]


def machine_cores() -> int:
    """Cores this process may use (cgroup and affinity aware, as Dask counts them).

    Examples
    --------
    >>> machine_cores() >= 1
    True
    """
    try:
        from dask.system import CPU_COUNT

        return max(1, int(CPU_COUNT))
    except ImportError:  # pragma: no cover - dask is a pinned dependency
        return max(1, len(os.sched_getaffinity(0)))


def announce(line: str) -> None:
    """Log a line about the cluster (INFO on ``analysis.parallel.executor``; the CLI shows it on stderr).

    In a notebook, ``logging.basicConfig(level="INFO", format="%(message)s")`` shows it too.
    """
    logging.getLogger(__name__).info(line)


def dashboard_line(link: str | None) -> str:
    """Where the Dask dashboard is, or why there is none.

    Examples
    --------
    >>> dashboard_line(None)
    'Dask dashboard: none'
    """
    if not link:
        return "Dask dashboard: none"
    if importlib.util.find_spec("bokeh") is None:
        return (
            f"Dask dashboard: {link} (bokeh is not installed, so that page has no plots; pip install bokeh)"
        )
    return f"Dask dashboard: {link}"


def open_executor(
    scheduler: Any = None,
    workers: int | None = None,
    say: Callable[[str], None] | None = announce,
) -> Executor:
    """The executor for this run.

    Parameters
    ----------
    scheduler : str or dask.distributed.Client, optional
        Address of an existing cluster (``tcp://host:8786``) or a client. Default:
        the ``COAFFECT_SCHEDULER`` environment variable (unless ``workers`` is
        given), else a local cluster.
    workers : int, optional
        Size of the local cluster (default: the machine's cores); 1 runs tasks
        in this process. Ignored with a scheduler (its workers are what they are).
    say : callable, optional
        Receives one line on where tasks run and the dashboard address
        (default: :func:`announce`, an INFO log record; None: silent).

    Returns
    -------
    Executor
        A context manager; closing it stops a local cluster it started.

    Raises
    ------
    AnalysisError
        ``workers`` below 1, or no scheduler (or no worker) answers at the address.

    Examples
    --------
    >>> with open_executor(workers=1, say=None) as ex:
    ...     ex.describe()
    'in this process (1 worker)'
    """
    if workers is not None and int(workers) < 1:
        raise AnalysisError(f"workers: must be at least 1 (got {workers})", field="workers")
    if scheduler is None and workers is None and os.environ.get(SCHEDULER_ENV, "").strip():
        scheduler = os.environ[SCHEDULER_ENV].strip()
    if scheduler is None:
        n = int(workers) if workers is not None else machine_cores()
        if n == 1:
            ex = Executor(1)
        else:
            ex = local_cluster(n)
            if say is not None:
                say(dashboard_line(ex.dashboard))
        if say is not None:
            say(f"workers: {ex.describe()}")
        return ex
    ex = remote_cluster(scheduler)
    if say is not None:
        say(f"workers: {ex.describe()}")
    return ex
