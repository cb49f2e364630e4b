"""One long-lived R per Python process: each script runs in a forked child, libraries already loaded.

Starting ``Rscript`` and loading lme4 + lmerTest takes 1.5-4 s, longer than
most fits. A server (``Rscript --vanilla`` running :data:`SERVER_R`) loads the
namespaces of lme4, lmerTest, jsonlite and pbkrtest once, then reads one
request per line on its stdin: it forks (``parallel::mcparallel``) and the
child evaluates the script in its global environment, as ``Rscript`` would,
with ``commandArgs()`` returning the request's arguments, R's messages and its
error in ``stderr.txt`` of the request's folder. The child's exit discards
whatever the script changed (options, RNG state, attached packages, globals),
so every script starts from the same state and computes what a one-shot
``Rscript`` computes.

Servers belong to the process that started them (a forked Python process
starts its own), one per concurrent caller (a thread takes an idle server or
starts one), and serve only calls with the environment variables and working
folder they started with. A timeout kills the server's process group (its
running child too); a server that died is replaced at the next call; at exit
each server's stdin is closed, which ends it (so does this process's death).
:func:`run` returns ``None`` when no server could run the script (none
starts, or it died meanwhile): :func:`~analysis.stats.mixed_lme4.run_rscript`
then runs a one-shot ``Rscript``. ``COAFFECT_R_SERVER=0`` always does.
"""

from __future__ import annotations

import atexit
import itertools
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

#: Environment variable: ``0`` runs every R script in a one-shot ``Rscript`` (no server).
ENV = "COAFFECT_R_SERVER"

#: First word of every line a server writes for this module (other output is ignored).
TAG = "coaffect-r-server"

#: Seconds a server may take to load its packages before the call runs one-shot instead.
START_TIMEOUT_S = 120.0

#: Namespaces loaded once by the server (pbkrtest: every lme4 fit asks for it).
PRELOAD = ("lme4", "lmerTest", "jsonlite", "pbkrtest")

#: The server's R code, a Python %-format (``%(preload)s``: :data:`PRELOAD`; ``%(tag)s``: :data:`TAG`;
#: R's own ``%`` must be written ``%%``). It is one expression: R has read all of it when it is ready.
SERVER_R = r"""
local({
  for (p in c(%(preload)s))
    try(suppressWarnings(suppressPackageStartupMessages(loadNamespace(p))), silent = TRUE)
  loadNamespace("parallel")
  loaded <- intersect(c(%(preload)s), loadedNamespaces())
  front <- commandArgs()
  front <- front[!startsWith(front, "--file=") & front != "--args"]
  run <- function(script, args, errfile) {
    # in the forked child: the script at top level of the global environment, as Rscript runs it
    err <- file(errfile, open = "wt")
    sink(err, type = "message")
    full <- c(front, paste0("--file=", script), "--args", args)
    assign("commandArgs", function(trailingOnly = FALSE) if (trailingOnly) args else full,
           envir = globalenv())
    status <- tryCatch({
      for (expr in parse(file = script, keep.source = FALSE)) eval(expr, globalenv())
      0L
    }, error = function(e) {
      call <- conditionCall(e)
      msg <- conditionMessage(e)
      if (is.null(call) || identical(call, quote(eval(expr, globalenv())))) {
        cat("Error: ", msg, "\n", sep = "", file = stderr())
      } else {
        cat("Error in ", paste(deparse(call, nlines = 1L), collapse = ""), " : ", msg, "\n",
            sep = "", file = stderr())
      }
      cat("Execution halted\n", file = stderr())
      1L
    })
    sink(type = "message")
    close(err)
    status
  }
  input <- file("stdin", open = "r")
  n <- 0L
  cat("%(tag)s ready", Sys.getpid(), loaded, "\n")
  flush(stdout())
  repeat {
    line <- readLines(input, n = 1L)
    if (length(line) == 0L) break
    f <- strsplit(line, "\t", fixed = TRUE)[[1L]]
    n <- n + 1L
    job <- parallel::mcparallel(run(f[3L], f[-(1:3)], file.path(f[2L], "stderr.txt")), silent = TRUE)
    res <- suppressWarnings(parallel::mccollect(job, wait = TRUE))[[1L]]
    status <- if (is.integer(res) && length(res) == 1L) res else -1L
    cat("%(tag)s", f[1L], status, n, "\n")
    flush(stdout())
  }
})
"""


class ServerGone(Exception):
    """The server ended (or never started) before it answered."""


class Server:
    """One R server process and its pipes; used by one thread at a time.

    Parameters
    ----------
    exe : str
        The ``Rscript`` to run.
    key : tuple
        What the server started with (``Rscript``, working folder, environment).

    Raises
    ------
    ServerGone
        R ended or did not print its ready line within :data:`START_TIMEOUT_S`.
    """

    _ids = itertools.count(1)

    def __init__(self, exe: str, key: tuple) -> None:
        self.key = key
        self.requests = 0
        self.busy = True
        self._buf = b""
        with tempfile.NamedTemporaryFile("w", prefix="coaffect-r-server-", suffix=".R", delete=False) as f:
            f.write(SERVER_R % {"preload": ", ".join(f'"{p}"' for p in PRELOAD), "tag": TAG})
        try:
            # a session of its own: a timeout kills the whole group (the forked child too), and
            # signals to this process's group (Ctrl+C) leave it alone; it ends when stdin closes
            self.proc = subprocess.Popen(
                [exe, "--vanilla", f.name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            words = self._read_line(time.monotonic() + START_TIMEOUT_S)
        except BaseException as e:  # Ctrl+C too: no R is left behind
            if hasattr(self, "proc"):
                self.kill()
            if isinstance(e, (OSError, ServerGone)):  # TimeoutError is an OSError
                raise ServerGone("the R server did not start") from None
            raise
        finally:
            os.unlink(f.name)  # R has read it (one expression)
        self.pid = self.proc.pid
        self.packages = words[3:]

    def _read_line(self, deadline: float) -> list[str]:
        """Words of the next line of ours on the server's stdout."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                words = line.decode(errors="replace").split()
                if words[:1] == [TAG]:
                    return words
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ServerGone("the R server ended")
            self._buf += chunk

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, folder: Path, script: Path, args: list[str], timeout: float) -> int:
        """Run ``script`` in a forked child; its status (0: done, 1: an R error, -1: the child died).

        Raises
        ------
        TimeoutError
            Not done within ``timeout`` s: the server and its child were killed.
        ServerGone
            The server ended first.
        """
        assert self.proc.stdin is not None
        rid = str(next(self._ids))
        try:
            self.proc.stdin.write("\t".join([rid, str(folder), str(script), *args]).encode() + b"\n")
            self.proc.stdin.flush()
            while True:
                words = self._read_line(time.monotonic() + timeout)
                if words[1:2] == [rid]:
                    break
        except TimeoutError:  # an OSError: caught before the clause below
            self.kill()
            raise
        except (OSError, ServerGone):
            self.kill()  # its child too: it must not write after a one-shot rerun
            raise ServerGone("the R server ended") from None
        except BaseException:  # Ctrl+C, a stop signal: the script must not go on running
            self.kill()
            raise
        self.requests = int(words[3])
        return int(words[2])

    def kill(self) -> None:
        """SIGKILL the server's process group (its running child too) and reap the server."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._close_pipes()

    def close(self, wait: float = 2.0) -> None:
        """End the server: closing its stdin ends R's loop; killed if it has not ended in ``wait`` s."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


_lock = threading.Lock()
#: The servers of each process (a forked child finds its parent's here and leaves them alone).
_pools: dict[int, list[Server]] = {}


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it


os.register_at_fork(after_in_child=_after_fork_in_child)


def enabled() -> bool:
    """Whether scripts go to a server (``COAFFECT_R_SERVER`` is not ``0``)."""
    return os.environ.get(ENV, "1").strip() != "0"


def _key(exe: str) -> tuple:
    # pytest names the running test in PYTEST_CURRENT_TEST; R never reads it
    env = tuple(sorted((k, v) for k, v in os.environ.items() if not k.startswith("PYTEST_")))
    return (exe, os.getcwd(), env)


def _take(exe: str) -> Server | None:
    """An idle server started like this call would start R (else a new one; None: none starts)."""
    key = _key(exe)
    stale = []
    with _lock:
        pool = _pools.setdefault(os.getpid(), [])
        found = None
        for s in list(pool):
            if s.busy:
                continue
            if not s.alive() or s.key != key:
                pool.remove(s)
                stale.append(s)
            elif found is None:
                found = s
        if found is not None:
            found.busy = True
    for s in stale:
        if s.alive():
            s.close(wait=0.5)
        else:
            s.kill()  # a child it left may still run
    if found is not None:
        return found
    try:
        server = Server(exe, key)
    except ServerGone:
        return None
    with _lock:
        _pools.setdefault(os.getpid(), []).append(server)
    return server


def _give_back(server: Server) -> None:
    with _lock:
        pool = _pools.get(os.getpid(), [])
        if server.alive():
            server.busy = False
        elif server in pool:
            pool.remove(server)


def run(exe: str, folder: Path, script: Path, args: list[str], timeout: float) -> int | None:
    """Run an R script in a forked child of this process's R server.

    Parameters
    ----------
    exe : str
        ``Rscript``.
    folder : Path
        The call's temporary folder; R's messages and error go to its ``stderr.txt``.
    script : Path
        The R file.
    args : list of str
        What the script's ``commandArgs(trailingOnly = TRUE)`` returns.
    timeout : float
        Seconds before the server and its child are killed.

    Returns
    -------
    int or None
        The child's status (0: the script ended; 1: an R error, in ``stderr.txt``;
        -1: the child died), or None when no server ran it (run it one-shot).

    Raises
    ------
    TimeoutError
        The script did not end within ``timeout`` s (the server was killed).
    """
    if any(c in str(p) for p in [folder, script, *args] for c in "\t\n"):
        return None  # the request is one tab-separated line
    server = _take(exe)
    if server is None:
        return None
    try:
        return server.run(folder, script, args, timeout)
    except ServerGone:
        return None
    finally:
        _give_back(server)


def servers() -> list[Server]:
    """This process's servers (for tests and diagnostics)."""
    with _lock:
        return list(_pools.get(os.getpid(), []))


def close_all() -> None:
    """End this process's idle servers (at exit; busy ones are killed)."""
    with _lock:
        pool = _pools.pop(os.getpid(), [])
    for s in pool:
        if s.busy:
            s.kill()
        else:
            s.close()


atexit.register(close_all)
