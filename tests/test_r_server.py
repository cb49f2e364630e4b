"""The long-lived R server: same answers as a one-shot Rscript, no state between scripts, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from analysis.stats import r_server
from analysis.stats.mixed_lme4 import run_rscript
from coaffect.formats.errors import AnalysisError
from tests.conftest import IN_CI, require_tool

ROOT = Path(__file__).resolve().parents[1]
ECHO = "a <- commandArgs(TRUE); writeLines(as.character({}), a[length(a)])"


def run(code: str, timeout: float = 60) -> list[str]:
    """Lines the R code's value (written to the output file) has."""
    return run_rscript(ECHO.format(code), {}, "out.txt", timeout, "test").splitlines()


def gone(pid: int) -> bool:
    """Ended (a zombie waiting for a parent that never reaps counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(autouse=True)
def fresh_servers(monkeypatch):
    require_tool("Rscript")
    monkeypatch.delenv(r_server.ENV, raising=False)
    r_server.close_all()
    yield
    r_server.close_all()


# Runs in a process of its own that execs R without address-space randomisation: R's own
# floating point then repeats to the last bit (with it, the alignment of R's heap buffers
# changes some sums' rounding: two one-shot glmer fits can differ by ~1e-8)
_SAME_TEXT = """
import ctypes, json, os, re, sys
if ctypes.CDLL(None, use_errno=True).personality(0x0040000) == -1:  # ADDR_NO_RANDOMIZE
    print(json.dumps({"skip": os.strerror(ctypes.get_errno())})); sys.exit()
from analysis.simulate.study import SimulationSpec
from analysis.simulate.trials import simulate_trials
from analysis.stats import batch, fit_mixed, mixed_lme4, r_server

texts = []
real = mixed_lme4.run_rscript
def keep(*args):
    text = real(*args)
    texts.append(re.sub(r'"seconds":\\[[^\\]]*\\]', '"seconds":[]', text))  # R's clock
    return text
mixed_lme4.run_rscript = batch.run_rscript = keep

one = SimulationSpec(n_alone=8, n_group_sessions=4, n_clips=4, valences=("positive",))
two = SimulationSpec(n_alone=8, n_group_sessions=4, n_clips=4, valences=("positive", "negative"))
out = {}
for mode in ("0", "1"):
    os.environ[r_server.ENV] = mode
    texts.clear()
    fit_mixed(simulate_trials(two, seed=1), "AU12 ~ condition * valence", engine="lme4")
    fit_mixed(simulate_trials(one, seed=3), "AU12 ~ condition", engine="lme4", n_boot=20)
    fit_mixed(simulate_trials(two, seed=2), "n_switches ~ condition", random=["participant_id"])
    batch.group_effect_batch([simulate_trials(two, seed=s) for s in (1, 2)])
    out[mode] = {"texts": list(texts), "servers": [(s.pid, s.requests) for s in r_server.servers()]}
print(json.dumps(out))
"""


def test_server_and_one_shot_rscript_write_the_same_text():
    """lmer with Satterthwaite tests, a seeded bootMer, a glmer with likelihood-ratio tests and a
    batch: the text R writes is the same through a server as through one Rscript per call."""
    proc = subprocess.run(
        [sys.executable, "-c", _SAME_TEXT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    if "skip" in out:
        why = f"cannot turn address-space randomisation off: {out['skip']}"
        if IN_CI:
            pytest.fail(why + " (Linux allows it; CI runs on Linux)")
        pytest.skip(why)
    oneshot, server = out["0"], out["1"]
    assert oneshot["servers"] == [] and len(server["servers"]) == 1
    assert server["servers"][0][1] == len(server["texts"]) >= 6  # every call went to the server
    assert sum('"boot":{"names"' in t for t in oneshot["texts"]) == 1  # the bootstrap ran (seeded)
    for a, b in zip(oneshot["texts"], server["texts"], strict=True):
        assert a == b


def test_a_second_script_reuses_the_server_whose_libraries_are_loaded():
    first = run('c(Sys.getpid(), paste("lme4" %in% loadedNamespaces(), "package:lme4" %in% search()))')
    (server,) = r_server.servers()
    second = run("Sys.getpid()")
    assert r_server.servers() == [server] and server.alive()
    assert server.requests == 2  # one server, started once: its packages were loaded once
    assert server.packages == ["lme4", "lmerTest", "jsonlite", "pbkrtest"]
    # each script ran in a child of its own; lme4 was loaded before it started, not attached
    assert len({server.pid, int(first[0]), int(second[0])}) == 3
    assert first[1] == "TRUE FALSE"


def test_nothing_a_script_changes_reaches_the_next_one():
    run(
        "{options(coaffect.flag = 'set'); leaked <<- 1; set.seed(7); library(splines); "
        "Sys.setenv(COAFFECT_LEAK = 'yes'); assign('commandArgs', function(...) 'x', globalenv()); 1}"
    )
    state = run(
        "c(getOption('coaffect.flag', 'unset'), exists('leaked'), exists('.Random.seed', globalenv()), "
        "'package:splines' %in% search(), Sys.getenv('COAFFECT_LEAK', 'unset'), length(a))"
    )
    assert state == ["unset", "FALSE", "FALSE", "FALSE", "unset", "1"]
    (server,) = r_server.servers()
    assert server.requests == 2
    # unseeded, two scripts draw different numbers (as two Rscript runs do)
    assert run("runif(1)") != run("runif(1)")


def test_a_timeout_kills_the_server_and_its_child_and_the_next_call_starts_another(tmp_path):
    run("1")
    (server,) = r_server.servers()
    pid_file = tmp_path / "child.pid"
    with pytest.raises(AnalysisError, match="R did not finish within 3 s"):
        run(f"{{writeLines(as.character(Sys.getpid()), '{pid_file}'); Sys.sleep(120)}}", timeout=3)
    assert r_server.servers() == []  # the killed server left the pool
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(server.pid) and gone(child), "R outlived the timeout"
    assert run("1") == ["1"]
    (new,) = r_server.servers()
    assert new.pid != server.pid and new.requests == 1


def test_a_changed_environment_gets_a_server_started_with_it(monkeypatch, tmp_path):
    """R reads environment variables (R_LIBS, TZ, ...) and its working folder at start: a server
    started before they changed is not used (and is ended)."""
    assert run("Sys.getenv('COAFFECT_TEST_VAR', 'unset')") == ["unset"]
    (first,) = r_server.servers()
    monkeypatch.setenv("COAFFECT_TEST_VAR", "set")
    assert run("Sys.getenv('COAFFECT_TEST_VAR', 'unset')") == ["set"]
    monkeypatch.chdir(tmp_path)
    assert run("getwd()") == [str(tmp_path)]
    assert len(r_server.servers()) == 1 and first not in r_server.servers() and not first.alive()


def test_without_a_server_the_script_runs_in_a_one_shot_rscript(monkeypatch):
    monkeypatch.setattr(r_server, "SERVER_R", "quit(status = 1)")  # a server that cannot start
    assert run("commandArgs()[5]")[0].startswith("--file=") and r_server.servers() == []


# Kills its parent when that is a server; run one-shot (the parent is then Python), it just answers
_KILLS_ITS_SERVER = """{
  ppid <- scan("/proc/self/stat", what = "", quiet = TRUE)[4]
  cmd <- readBin(sprintf("/proc/%s/cmdline", ppid), "raw", 1e5)
  server <- grepl("coaffect-r-server", rawToChar(cmd[cmd != as.raw(0)]))
  if (server) { tools::pskill(as.integer(ppid), tools::SIGKILL); Sys.sleep(30) }
  if (server) "server" else "one-shot"
}"""


def test_a_server_that_dies_during_a_script_leaves_it_to_a_one_shot_rscript():
    assert run(_KILLS_ITS_SERVER, timeout=20) == ["one-shot"]
    assert r_server.servers() == []


class Stop(Exception):
    pass


def test_an_exception_in_the_wait_kills_the_server_and_its_script(tmp_path):
    """Ctrl+C or a stop signal while R works: the script does not go on running behind it."""

    def stop(signum, frame):
        raise Stop

    old = signal.signal(signal.SIGUSR1, stop)
    pid_file = tmp_path / "child.pid"
    run("1")
    (server,) = r_server.servers()
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        with pytest.raises(Stop):
            run(f"{{writeLines(as.character(Sys.getpid()), '{pid_file}'); Sys.sleep(120)}}")
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, old)
    deadline = time.monotonic() + 10
    while not gone(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(server.pid) and gone(int(pid_file.read_text()))
    assert r_server.servers() == []


def test_a_killed_server_is_replaced():
    run("1")
    (first,) = r_server.servers()
    os.kill(first.pid, signal.SIGKILL)
    psutil.Process(first.pid).wait(10)  # ended (still our child: Popen reaps it)
    assert run("2") == ["2"]
    (second,) = r_server.servers()
    assert second.pid != first.pid and second.requests == 1  # a new server ran it, not a one-shot Rscript
    assert not first.alive()


def test_a_forked_process_starts_its_own_server():
    run("1")
    (parent_server,) = r_server.servers()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fit, report its server, end without pytest's exit handlers
        try:
            run("2")
            info = [(s.pid, psutil.Process(s.pid).ppid()) for s in r_server.servers()]
            os.write(write, json.dumps({"servers": info, "me": os.getpid()}).encode())
            r_server.close_all()
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        got = json.loads(f.read() or "{}")
    os.waitpid(pid, 0)
    assert got["servers"] and len(got["servers"]) == 1
    child_server, its_parent = got["servers"][0]
    assert child_server != parent_server.pid and its_parent == got["me"]
    # the parent's server was left alone and still serves the parent
    assert run("3") == ["3"] and r_server.servers() == [parent_server] and parent_server.requests == 2


def test_concurrent_calls_each_get_a_server(tmp_path):
    """Two scripts that each wait for the other's file finish only if they run at once: one on
    the idle server, the other on a server started for it."""
    run("0")
    (idle,) = r_server.servers()
    results: dict[str, list[str]] = {}

    def call(me: str, other: str) -> None:
        code = (
            f"{{file.create('{tmp_path / me}'); t <- Sys.time(); "
            f"while (!file.exists('{tmp_path / other}') && difftime(Sys.time(), t, units = 'secs') < 20) Sys.sleep(0.05); "
            f"file.exists('{tmp_path / other}')}}"
        )
        results[me] = run(code)

    threads = [threading.Thread(target=call, args=p) for p in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": ["TRUE"], "b": ["TRUE"]}
    assert len(r_server.servers()) == 2 and sorted(s.requests for s in r_server.servers()) == [1, 2]
    assert idle in r_server.servers()


@pytest.mark.parametrize("server", ["1", "0"])
def test_a_missing_package_names_the_packages_to_install(server, monkeypatch):
    """A package the server cannot load does not stop it; the script's library() call fails
    with R's message, which run_rscript turns into the install hint (one-shot alike)."""
    monkeypatch.setenv(r_server.ENV, server)
    monkeypatch.setattr(r_server, "PRELOAD", (*r_server.PRELOAD, "coaffectNoSuchPackage"))
    with pytest.raises(AnalysisError, match="there is no package called .coaffectNoSuchPackage") as exc:
        run_rscript("library(coaffectNoSuchPackage)", {}, "out.txt", 60, "test")
    assert "r-cran-lme4" in exc.value.hint
    assert str(exc.value).endswith("Execution halted")
    if server == "1":
        (s,) = r_server.servers()
        assert s.requests == 1 and "coaffectNoSuchPackage" not in s.packages and "lme4" in s.packages
    else:
        assert r_server.servers() == []


def test_an_r_error_reads_as_rscripts():
    with pytest.raises(AnalysisError) as exc:
        run_rscript("f <- function() stop('no good'); f()", {}, "out.txt", 60, "test")
    assert str(exc.value) == "test: R failed: Error in f() : no good | Execution halted"
    assert exc.value.hint == "use `engine` statsmodels"
    # a script that ends without writing its output is a failure too, with R's messages
    with pytest.raises(AnalysisError, match=r"R failed: said so$"):
        run_rscript("message('said so')", {}, "out.txt", 60, "test")
