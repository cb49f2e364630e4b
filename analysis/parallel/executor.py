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
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from coaffect.formats.errors import AnalysisError

#: Environment variable naming an existing scheduler (same as ``--scheduler``).
SCHEDULER_ENV = "COAFFECT_SCHEDULER"

#: Dask event topic on which tasks report progress (see :class:`TaskProgress`).
PROGRESS_TOPIC = "coaffect-progress"

#: Seconds to wait for a remote scheduler, then for its first worker.
CONNECT_TIMEOUT_S = 20.0
WORKER_WAIT_S = 60.0
#: Seconds the first look at a scheduler address may take (connect, then its greeting).
PROBE_TIMEOUT_S = 3.0


class ClusterLostError(AnalysisError):
    """The Dask scheduler went away mid-run (work already written is kept)."""


class Done(NamedTuple):
    """One finished task: its handle, its result, or the error it raised."""

    task: Any
    value: Any
    error: BaseException | None


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


class DaskExecutor(Executor):
    """Runs tasks on a Dask distributed cluster (local or remote)."""

    def __init__(self, client, kind: str, cluster=None) -> None:
        self.client = client
        self.kind = kind
        self._cluster = cluster
        self.address = client.scheduler.address
        self.dashboard = client.dashboard_link if cluster is not None else None
        info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
        self.workers = max(1, sum(w["nthreads"] for w in info["workers"].values()))
        self._closed = False
        self._cancelled: set = set()

    def describe(self) -> str:
        n = len(self.client.scheduler_info(**_all_workers(self.client))["workers"])
        where = "local Dask cluster" if self.kind == "local" else f"Dask cluster at {self.address}"
        return f"{where} ({n} worker processes, {self.workers} threads)"

    def submit(self, func: Callable, *args, label: str | None = None, priority: int = 0):
        import uuid

        name = getattr(func, "__name__", "task").strip("_")
        key = f"{name}-{label}-{uuid.uuid4().hex[:8]}" if label else f"{name}-{uuid.uuid4().hex}"
        return self.client.submit(func, *args, key=key, pure=False, priority=priority)

    def as_completed(self, tasks: Sequence) -> Iterator[Done]:
        from distributed import as_completed

        for fut in as_completed(list(tasks), loop=self.client.loop):
            if fut.status == "finished":
                try:
                    value = fut.result()
                except Exception as exc:  # lost between 'finished' and fetching its result
                    raise self._lost(exc) from None
                yield Done(fut, value, None)
            elif fut.status == "error":
                yield Done(fut, None, _task_error(fut.exception()))
            elif fut.key not in self._cancelled:  # cancelled, not by us: the scheduler went away
                raise self._lost(None)

    def _lost(self, exc) -> ClusterLostError:
        detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return ClusterLostError(
            f"lost the Dask scheduler at {self.address} mid-run{detail}",
            hint="results already written are kept; start the scheduler (and workers) again "
            "and rerun the same command to resume",
        )

    def run_on_workers(self, func: Callable, *args) -> dict:
        return self.client.run(func, *args)

    def on_progress(self, callback: Callable[[Any, int], None] | None) -> None:
        if callback is None:
            try:
                self.client.unsubscribe_topic(PROGRESS_TOPIC)
            except (ValueError, Exception):  # never subscribed, or the cluster is gone
                pass
            return
        self.client.subscribe_topic(
            PROGRESS_TOPIC, lambda event: callback(event[1]["key"], int(event[1]["n"]))
        )

    def key(self, task) -> Any:
        return task.key

    def cancel(self, tasks: Sequence) -> None:
        self._cancelled.update(t.key for t in tasks)
        try:
            self.client.cancel(list(tasks))
        except Exception:  # the cluster may already be gone; nothing to cancel then
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.kind == "client":
            return  # the caller's client: theirs to close
        try:
            self.client.close(timeout=10)
        except Exception:  # a lost scheduler cannot be said goodbye to
            pass
        if self._cluster is not None:
            self._cluster.close(timeout=20)


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _all_workers(client) -> dict:
    return {"n_workers": -1} if _takes_n_workers(client) else {}


def _task_error(exc: BaseException) -> BaseException:
    """Dask's KilledWorker as a one-line AnalysisError; task errors unchanged."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        return exc
    if isinstance(exc, KilledWorker):
        return AnalysisError(
            f"task {exc.task} was running on {exc.allowed_failures + 1} workers that died "
            f"(last {getattr(exc.last_worker, 'address', exc.last_worker)}): not retried again",
            hint="a worker running out of memory is the usual cause; see the worker logs, "
            "give workers more memory or use fewer workers per node",
        )
    return exc


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
            ex = _local_cluster(n)
            if say is not None:
                say(dashboard_line(ex.dashboard))
        if say is not None:
            say(f"workers: {ex.describe()}")
        return ex
    ex = _remote(scheduler)
    if say is not None:
        say(f"workers: {ex.describe()}")
    return ex


def _local_cluster(n: int) -> DaskExecutor:
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        # a busy 8787 (another cluster on this machine) is replaced by a free port; the
        # address in use is printed ("Dask dashboard: ..."), so Dask's warning is only noise
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            silence_logs=logging.CRITICAL,  # task errors reach the caller; no worker log lines
            dashboard_address=":8787",
        )
    try:
        client = Client(cluster, set_as_default=False)
    except Exception:
        cluster.close()
        raise
    return DaskExecutor(client, "local", cluster)


def _greeting(data: bytes) -> dict | None:
    """The handshake a Dask server sends first on a TCP connection, or None if ``data`` is not one.

    Its wire format (distributed's TCP comm): total length and frame count as
    little-endian uint64, each frame's length, then one msgpack frame with the
    server's ``python`` version and ``pickle-protocol``.

    Examples
    --------
    >>> import msgpack, struct
    >>> body = msgpack.dumps({"compression": None, "python": (3, 11, 7), "pickle-protocol": 5})
    >>> frame = struct.pack("<QQ", 1, len(body)) + body
    >>> _greeting(struct.pack("<Q", len(frame)) + frame)["pickle-protocol"]
    5
    >>> _greeting(b"HTTP/1.0 400 Bad Request") is None
    True
    """
    import struct

    import msgpack

    if len(data) < 24:
        return None
    total, nframes = struct.unpack_from("<QQ", data)
    if nframes != 1 or total != len(data) - 8:
        return None
    (length,) = struct.unpack_from("<Q", data, 16)
    try:
        info = msgpack.loads(data[24 : 24 + length])
    except Exception:
        return None
    return info if isinstance(info, dict) and {"python", "pickle-protocol"} <= set(info) else None


def probe_scheduler(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Check within ``timeout`` seconds that a Dask server answers at a ``tcp://`` address.

    Looks before the Dask client does: something else on that port (a web server,
    another program) made the client wait 40 s and end with a traceback, because
    it read that program's bytes as a message of exabytes.

    Raises
    ------
    AnalysisError
        One line naming the address: nothing listens there, or what listens is
        not a Dask scheduler.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        return  # tls://, inproc://, ...: the client's own checks
    hint = f"start one with `dask scheduler` (it prints its address), or fix `scheduler` / {SCHEDULER_ENV}"
    try:
        sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    except OSError as exc:
        why = "connection refused" if isinstance(exc, ConnectionRefusedError) else type(exc).__name__
        raise AnalysisError(f"{address}: no Dask scheduler answers there ({why})", hint=hint) from None
    data = b""
    try:
        sock.settimeout(timeout)
        while True:  # the greeting comes at once, in one or two reads
            chunk = sock.recv(4096)
            data += chunk
            if not chunk or _greeting(data) is not None or len(data) > 65536:
                break
    except OSError:
        pass
    finally:
        sock.close()
    if _greeting(data) is None:
        said = f"it sent {data[:24]!r}" if data else f"it said nothing within {timeout:g} s"
        raise AnalysisError(
            f"{address}: something answers there, but it is not a Dask scheduler ({said})", hint=hint
        )


def _remote(scheduler) -> DaskExecutor:
    from distributed import Client

    if isinstance(scheduler, Client):
        return DaskExecutor(scheduler, "client")
    address = str(scheduler)
    if "://" not in address:
        address = f"tcp://{address}"
    probe_scheduler(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise AnalysisError(
            f"{address}: no Dask scheduler answers there ({type(exc).__name__})",
            hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
            f"or fix `scheduler` / {SCHEDULER_ENV}",
        ) from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError):
        client.close()
        raise AnalysisError(
            f"{address}: the scheduler has no workers after {WORKER_WAIT_S:.0f} s",
            hint=f"start `dask worker {address} --nthreads 1` on each node",
        ) from None
    return DaskExecutor(client, "remote")
