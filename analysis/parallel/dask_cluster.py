"""The Dask side of :func:`analysis.parallel.executor.open_executor`: a local cluster or a remote one.

:class:`DaskExecutor` runs an :class:`~analysis.parallel.in_process.Executor`'s calls on a
Dask distributed cluster: :func:`local_cluster` starts one of single-threaded worker
processes on this machine; :func:`remote_cluster` connects to a running scheduler, after
:func:`probe_scheduler` has checked within seconds that a Dask scheduler answers at the
address. Dask itself is imported only inside these functions, when work goes to it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from coaffect.formats.errors import AnalysisError

from .in_process import PROGRESS_TOPIC, ClusterLostError, Done, Executor

__all__ = ["DaskExecutor", "SCHEDULER_ENV", "local_cluster", "probe_scheduler", "remote_cluster"]

#: Environment variable naming an existing scheduler (same as ``--scheduler``).
SCHEDULER_ENV = "COAFFECT_SCHEDULER"

#: Seconds to wait for a remote scheduler, then for its first worker.
CONNECT_TIMEOUT_S = 20.0
WORKER_WAIT_S = 60.0
#: Seconds the first look at a scheduler address may take (connect, then its greeting).
PROBE_TIMEOUT_S = 3.0


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


def local_cluster(n: int) -> DaskExecutor:
    """Start a local Dask cluster of ``n`` single-threaded worker processes and connect to it."""
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


def remote_cluster(scheduler) -> DaskExecutor:
    """Connect to a running scheduler (an address or a ``dask.distributed.Client``) once a worker is there."""
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
