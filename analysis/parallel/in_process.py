"""The executor's interface, and running its tasks in this process.

An :class:`Executor` runs independent tasks (a module-level function and its picklable
arguments): :meth:`Executor.map` returns results in input order; :meth:`Executor.submit`
and :meth:`Executor.as_completed` build small graphs, a task's arguments holding other
tasks' handles (in lists, tuples or dicts) that are replaced by their results. This
class runs them here, one after the other, with no Dask at all;
:class:`analysis.parallel.dask_cluster.DaskExecutor` runs the same calls on a Dask
cluster. :func:`analysis.parallel.executor.open_executor` picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from coaffect.formats.errors import AnalysisError

__all__ = ["ClusterLostError", "Done", "Executor", "PROGRESS_TOPIC", "TaskProgress"]

#: Dask event topic on which tasks report progress (see :class:`TaskProgress`).
PROGRESS_TOPIC = "coaffect-progress"


class ClusterLostError(AnalysisError):
    """The Dask scheduler went away mid-run (work already written is kept)."""


class Done(NamedTuple):
    """One finished task: its handle, its result, or the error it raised."""

    task: Any
    value: Any
    error: BaseException | None


class TaskProgress:
    """A tqdm-like ``update(n)`` for code running inside a Dask task.

    Counts are sent to the client (a Dask event, every ``every`` units and on
    :meth:`flush`), where :meth:`Executor.on_progress` hands them to the
    progress bar: the bar moves while a long chunk runs on a remote worker.

    Examples
    --------
    >>> TaskProgress.here() is None   # not inside a Dask task
    True
    """

    def __init__(self, worker, key, every: int = 25):
        self.worker, self.key, self.every, self.n = worker, key, every, 0

    @classmethod
    def here(cls, every: int = 25) -> TaskProgress | None:
        """A reporter for the Dask task running this code, or None outside one."""
        try:
            from distributed import get_worker

            worker = get_worker()
            return cls(worker, worker.get_current_task(), every)
        except (ImportError, ValueError):
            return None

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.n:
            self.worker.log_event(PROGRESS_TOPIC, {"key": self.key, "n": self.n})
            self.n = 0


class _Local:
    """Handle of a task run in this process (lazily, in submission order)."""

    __slots__ = ("func", "args", "label", "done", "value", "error")

    def __init__(self, func, args, label):
        self.func, self.args, self.label = func, args, label
        self.done, self.value, self.error = False, None, None


def _resolve(obj):
    """Replace handles inside (nested) lists, tuples and dicts by their values."""
    if isinstance(obj, _Local):
        _run_local(obj)
        if obj.error is not None:
            raise obj.error
        return obj.value
    if isinstance(obj, list):
        return [_resolve(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    return obj


def _run_local(task: _Local) -> None:
    if task.done:
        return
    try:
        args = _resolve(task.args)
        task.value = task.func(*args)
    except Exception as exc:  # handed to the caller through Done.error, as Dask does
        task.error = exc
    task.done = True
    task.args = None  # let inputs (chunk observations) be freed


class Executor:
    """Runs independent tasks in this process (the one-worker executor).

    Attributes
    ----------
    workers : int
        Tasks that can run at once (1 here; worker threads of the cluster for Dask).
    address : str or None
        Scheduler address (None in-process).
    dashboard : str or None
        Dask dashboard link of a local cluster.
    kind : str
        ``in-process``, ``local`` (a LocalCluster started here) or ``remote``.
    """

    kind = "in-process"

    def __init__(self, workers: int | None = 1) -> None:
        self.workers = 1
        self.address: str | None = None
        self.dashboard: str | None = None

    @property
    def in_process(self) -> bool:
        """True when tasks run in this process (progress objects may be passed to them)."""
        return self.kind == "in-process"

    def describe(self) -> str:
        """One line saying where tasks run.

        Examples
        --------
        >>> Executor().describe()
        'in this process (1 worker)'
        """
        return "in this process (1 worker)"

    def submit(self, func: Callable, *args, label: str | None = None, priority: int = 0):
        """Schedule ``func(*args)``; handles inside ``args`` are replaced by their results.

        ``priority``: among tasks ready to run, higher first (Dask only; here
        tasks run in submission order).

        Returns
        -------
        handle
            Pass it to :meth:`as_completed` or inside another task's arguments.
        """
        return _Local(func, args, label)

    def as_completed(self, tasks: Sequence) -> Iterator[Done]:
        """Yield a :class:`Done` per task as it finishes (here: in the given order).

        A task whose input task failed fails with the same error.
        """
        for task in tasks:
            _run_local(task)
            yield Done(task, task.value, task.error)

    def on_progress(self, callback: Callable[[Any, int], None] | None) -> None:
        """Call ``callback(task key, n)`` for progress that tasks report (:class:`TaskProgress`).

        In-process tasks take a progress object directly, so this is a no-op
        here; None unsubscribes.
        """

    def key(self, task) -> Any:
        """The key that :class:`TaskProgress` reports for ``task``."""
        return id(task)

    def run_on_workers(self, func: Callable, *args) -> dict:
        """``func(*args)`` once on every worker: ``{worker: result}`` (here: this process)."""
        return {"this process": func(*args)}

    def map(self, func: Callable, args: Iterable[Sequence[Any]], desc: str | None = None) -> list:
        """``[func(*a) for a in args]``, in parallel where there are workers, results in input order.

        Parameters
        ----------
        func : callable
            A module-level function (picklable).
        args : iterable of tuples
            Positional arguments of each task.
        desc : str, optional
            Label of a progress bar over tasks (none when omitted).

        Raises
        ------
        Exception
            The first error a task raised (the other tasks are cancelled).
        """
        tasks = [self.submit(func, *a, label=desc) for a in args]
        index = {id(t): k for k, t in enumerate(tasks)}
        out: list = [None] * len(tasks)
        bar = None
        if desc is not None:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), desc=desc, unit="task")
        try:
            for done in self.as_completed(tasks):
                if done.error is not None:
                    self.cancel(tasks)
                    raise done.error
                out[index[id(done.task)]] = done.value
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return out

    def cancel(self, tasks: Sequence) -> None:
        """Forget tasks: drop their results and do not run those not started (idempotent)."""
        for task in tasks:
            task.done, task.value, task.args = True, None, None

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
