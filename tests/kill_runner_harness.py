"""Kill a two-camera runner at random moments; reap what it leaves behind (run by a test).

Usage: ``python kill_runner_harness.py JSON`` with JSON keys ``root`` (project),
``videos`` (two files replayed as cameras ``a`` and ``b``), ``out`` (a folder:
one ``kill-NN`` session folder per kill), ``seed``, ``kills``.

Each round starts a runner process (a :class:`CameraSet` of two cameras,
polled every 20 ms as ``coaffect run`` does; in the restart phase only, it
kills its own camera ``a`` once to exercise a restart) and SIGKILLs it at a
random moment of one of three phases, in turn: during start-up (after
``starting``), while recording (after ``started``) and during a restart
(after ``crashing``). Even rounds use the parent-death signal and the
watchdog, odd rounds the watchdog alone (``CameraSet.parent_death_signal =
0``), so each guard is checked by itself.

This process is a child subreaper (``PR_SET_CHILD_SUBREAPER``): the processes
of a killed runner become its children, so it reaps each one by pid and knows
when it ended. Prints one JSON line per kill: the phase, the runner's last
line before the kill, the kill time on the session clock and, per process
left behind, its kind (``capture`` or ``resource_tracker``), how long after
the kill it ended (``null``: still alive after 5 s, then killed) and its exit
code (negative: the signal that ended it).
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

RUNNER = """
import json, os, signal, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
from experiments.cameras import CameraSet, CameraSpec
CameraSet.parent_death_signal = args["pdeathsig"]
a, b = args["videos"]
specs = [CameraSpec("a", file=a, loop=True, seats=("A",)), CameraSpec("b", file=b, loop=True, seats=("B",))]
cams = CameraSet(specs, Path(args["out"]), args["clock_zero"])
print("starting", flush=True)
cams.start()
print("started", flush=True)
end = time.monotonic() + args["crash_after"]
while time.monotonic() < end:
    cams.poll(); time.sleep(0.02)
os.kill(cams.pids()["a"], signal.SIGKILL)
print("crashing", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:
    cams.poll(); time.sleep(0.02)
cams.stop()
"""
PHASES = (("startup", "starting", 1.2), ("recording", "started", 1.0), ("restart", "crashing", 0.8))
REAP_LIMIT = 5.0
#: ``crash_after`` outside the restart phase: later than any kill, so the runner never crashes a camera
NO_CRASH_S = 600.0
_PR_SET_CHILD_SUBREAPER = 36


def _kinds(pid: int) -> dict[int, str]:
    """``capture`` or ``resource_tracker`` of each live descendant of ``pid``, by its command line."""
    kinds = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            kinds[child.pid] = (
                "resource_tracker" if "resource_tracker" in " ".join(child.cmdline()) else "capture"
            )
        except psutil.Error:
            pass
    return kinds


def _reap_orphans(t_kill: float, kinds: dict[int, str]) -> list[dict]:
    """Wait for every child of this process; note when each ended (s after the kill).

    ``kinds``: the runner's descendants as seen just before the kill. A process that has
    already ended when it is first listed here is a zombie whose command line cannot be
    read (the resource tracker often is: it exits 0 as soon as its runner's pipe closes),
    so its kind comes from that earlier look.
    """
    seen: dict[int, dict] = {}
    deadline = t_kill + REAP_LIMIT
    while True:
        for child in psutil.Process().children():
            if child.pid not in seen:
                try:
                    cmd = " ".join(child.cmdline())
                except psutil.Error:
                    cmd = ""  # a zombie already: it ended
                kind = kinds.get(child.pid) or (
                    "resource_tracker" if "resource_tracker" in cmd else "capture"
                )
                seen[child.pid] = {"pid": child.pid, "kind": kind, "ended_after": None, "exit": None}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return list(seen.values())
            if pid == 0:
                break
            seen.setdefault(pid, {"pid": pid, "kind": kinds.get(pid, "capture"), "ended_after": None})
            seen[pid]["ended_after"] = round(time.perf_counter() - t_kill, 4)
            seen[pid]["exit"] = os.waitstatus_to_exitcode(status)
        if time.perf_counter() > deadline:
            for pid, info in seen.items():
                if info["ended_after"] is None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    except (ProcessLookupError, ChildProcessError):
                        pass
            return list(seen.values())
        time.sleep(0.005)


def one_kill(k: int, cfg: dict, rng: random.Random) -> dict:
    phase, marker, window = PHASES[k % len(PHASES)]
    out = Path(cfg["out"]) / f"kill-{k:02d}"
    clock_zero = time.perf_counter()
    args = {
        "root": cfg["root"],
        "videos": cfg["videos"],
        "out": str(out),
        "clock_zero": clock_zero,
        "pdeathsig": int(signal.SIGKILL) if k % 2 == 0 else 0,
        # only the restart phase crashes camera ``a``: a crash inside another phase's kill
        # window would end ``a`` by the runner's own SIGKILL (its ``crashing`` line not yet
        # read), which is not a guard ending it
        "crash_after": round(rng.uniform(0.3, 1.0), 3) if phase == "restart" else NO_CRASH_S,
    }
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(args)], stdout=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    got = threading.Event()

    def read() -> None:
        for line in runner.stdout:
            lines.append(line.strip())
            if line.strip() == marker:
                got.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not got.wait(60):
        runner.kill()
        raise SystemExit(f"kill {k}: the runner never printed {marker!r} (printed {lines})")
    delay = round(rng.uniform(0.0, window), 3)
    time.sleep(delay)
    last = lines[-1]
    kinds = _kinds(runner.pid)
    runner.send_signal(signal.SIGKILL)
    t_kill = time.perf_counter()
    runner.wait()
    processes = _reap_orphans(t_kill, kinds)
    reader.join(5)
    return {
        "kill": k,
        "phase": phase,
        "delay": delay,
        "last_line": last,
        "pdeathsig": args["pdeathsig"],
        "t_kill": round(t_kill - clock_zero, 6),
        "session_dir": str(out),
        "processes": processes,
    }


def main() -> int:
    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("cannot become a child subreaper (not Linux?)")
    rng = random.Random(cfg["seed"])
    for k in range(cfg["kills"]):
        print(json.dumps(one_kill(k, cfg, rng)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
