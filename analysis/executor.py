"""One executor for heavy work: scoring chunks, per-session finishing, simulation replicates.

Every heavy job in :mod:`analysis` is a list of independent tasks (a function
and its picklable arguments: paths, frame ranges, seeds; never frames).
:func:`open_executor` gives an :class:`Executor` whose :meth:`Executor.map`
runs them and returns their results in input order.

This first version runs tasks in this process; the scale-out issue puts it on
Dask distributed (a local cluster by default, an existing one by address)
without changing this interface.

Examples
--------
>>> with open_executor(workers=1) as ex:
...     ex.map(pow, [(2, 3), (3, 2)])
[8, 9]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


class Executor:
    """Runs independent tasks and returns their results in input order."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def map(self, func: Callable, args: Iterable[Sequence[Any]], desc: str | None = None) -> list:
        """``[func(*a) for a in args]``, possibly in parallel, results in input order.

        Parameters
        ----------
        func : callable
            A module-level function (picklable).
        args : iterable of tuples
            Positional arguments of each task.
        desc : str, optional
            Label of the progress bar.
        """
        return [func(*a) for a in args]

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_executor(scheduler: Any = None, workers: int | None = None) -> Executor:
    """The executor for this run.

    Parameters
    ----------
    scheduler : str or dask.distributed.Client, optional
        Address of an existing cluster (``tcp://host:8786``) or a client.
    workers : int, optional
        Size of the local cluster (default: the machine's cores).
    """
    return Executor(workers)
