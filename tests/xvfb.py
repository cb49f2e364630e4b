"""Private virtual X servers for the tests: one per pytest process, one per test that needs its own.

``Xvfb -displayfd`` picks a free display number itself (it takes the number's
lock file atomically) and writes it to a pipe, so servers started at the same
moment by parallel workers, other test runs or ``xvfb-run -a`` never share
one. ``setpriv --pdeathsig`` (util-linux) ends the server with the process that
started it, even after a ``kill -9``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

#: The screen every test display has (as ``make test`` always had).
SCREEN = ("-screen", "0", "1280x1024x24")


def start_xvfb(*screens: str, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Start ``Xvfb`` with ``screens`` (default :data:`SCREEN`); return it and its ``DISPLAY``.

    Examples
    --------
    >>> server, display = start_xvfb("+xinerama", *SCREEN, "-screen", "1", "800x600x24")
    >>> display.startswith(":"), server.poll() is None
    (True, True)
    >>> stop_xvfb(server); server.returncode is not None
    True
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("Xvfb is not installed; scripts/setup.sh installs it")
    read_end, write_end = os.pipe()
    guard = ["setpriv", "--pdeathsig", "TERM", "--"] if ends_with_this_process() else []
    cmd = [*guard, xvfb, "-displayfd", str(write_end), *(screens or SCREEN), "-nolisten", "tcp"]
    server = subprocess.Popen(
        cmd, pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(write_end)
    number = b""
    deadline = time.monotonic() + timeout
    try:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            if not select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            chunk = os.read(read_end, 16)  # Xvfb writes "N\n" once it accepts connections
            if not chunk:
                break
            number += chunk
    finally:
        os.close(read_end)
    if not number.strip().isdigit():
        server.kill()
        server.wait()
        raise RuntimeError(f"Xvfb did not start (exit {server.poll()}): {' '.join(cmd)}")
    return server, f":{number.decode().strip()}"


def ends_with_this_process() -> bool:
    """Whether :func:`start_xvfb`'s servers end with the process that started them (``setpriv``)."""
    return shutil.which("setpriv") is not None


def stop_xvfb(server: subprocess.Popen) -> None:
    """End a server from :func:`start_xvfb` (idempotent)."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
