"""A Dask cluster of separate processes on this machine: ``dask scheduler`` plus ``dask worker``\\s.

What a real cluster runs on each node, started here on the loopback interface:
for tests and benchmarks (faults need real processes to kill), and to try a
cluster set-up before a lab's department cluster. Worker processes import
this checkout's code through ``PYTHONPATH``.

Examples
--------
Not run as a doctest: it starts Dask scheduler and worker processes (seconds; tests/test_scale_out.py).

>>> with ProcessCluster(n_workers=2) as cluster:        # doctest: +SKIP
...     score_dataset("data", scheduler=cluster.address)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coaffect.formats.errors import AnalysisError

#: The folder that holds the ``analysis`` package (put on workers' PYTHONPATH).
CODE_ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    paths = [str(CODE_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.pop("COAFFECT_SCHEDULER", None)
    return env


class ProcessCluster:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes on 127.0.0.1.

    Parameters
    ----------
    n_workers : int
        Worker processes (one thread each; each under its nanny, which
        restarts it if it dies, as on a cluster node).
    wrap : list of str, optional
        Command prefix for the workers (e.g. ``["unshare", "--mount", ...]``).
    start_timeout : float
        Seconds to wait for the scheduler and the workers.

    Attributes
    ----------
    address : str
        The scheduler's ``tcp://127.0.0.1:PORT``.
    """

    def __init__(self, n_workers: int = 2, wrap: list[str] | None = None, start_timeout: float = 90.0):
        self.n_workers = n_workers
        self.wrap = list(wrap or [])
        self.start_timeout = start_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="coaffect-dask-")
        self.scheduler_file = Path(self._tmp.name) / "scheduler.json"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""

    def _log(self, name: str):
        return open(Path(self._tmp.name) / f"{name}.log", "ab")

    def start_scheduler(self) -> str:
        """Start (or restart) the scheduler; returns its address."""
        self.scheduler_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--no-dashboard", "--scheduler-file", str(self.scheduler_file)]
        self.scheduler = subprocess.Popen(
            cmd, env=_env(), stdout=self._log("scheduler"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.start_timeout
        while not self.scheduler_file.exists():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise AnalysisError(f"dask scheduler did not start (log in {self._tmp.name})")
            time.sleep(0.1)
        import json

        for _ in range(50):
            try:
                self.address = json.loads(self.scheduler_file.read_text())["address"]
                break
            except (ValueError, KeyError):
                time.sleep(0.1)
        return self.address

    def start_workers(self, n: int | None = None, wrap: list[str] | None = None) -> list[subprocess.Popen]:
        """Start ``n`` more worker processes (each with its nanny) and wait until they joined."""
        n = self.n_workers if n is None else n
        new = []
        for _ in range(n):
            k = len(self.workers)
            cmd = [
                *(self.wrap if wrap is None else wrap),
                sys.executable,
                "-m",
                "dask",
                "worker",
                self.address,
            ]
            cmd += ["--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1", "--name", f"w{k}"]
            cmd += ["--no-dashboard", "--local-directory", self._tmp.name, "--death-timeout", "60"]
            proc = subprocess.Popen(cmd, env=_env(), stdout=self._log(f"worker{k}"), stderr=subprocess.STDOUT)
            self.workers.append(proc)
            new.append(proc)
        self.wait_for_workers(len([w for w in self.workers if w.poll() is None]))
        return new

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=self.start_timeout, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=self.start_timeout)

    def worker_pids(self) -> dict:
        """``{worker address: pid of the worker process}`` (not its nanny)."""
        from distributed import Client

        with Client(self.address, timeout=self.start_timeout, set_as_default=False) as client:
            return client.run(os.getpid)

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler (a crashed head node)."""
        if self.scheduler is not None and self.scheduler.poll() is None:
            self.scheduler.send_signal(signal.SIGKILL)
            self.scheduler.wait(10)

    def log(self, name: str) -> str:
        """Text of a process log (``scheduler``, ``worker0``...)."""
        path = Path(self._tmp.name) / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> ProcessCluster:
        try:
            self.start_scheduler()
            self.start_workers()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every process started here (workers first)."""
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._tmp.cleanup()

    def __exit__(self, *exc) -> None:
        self.close()
