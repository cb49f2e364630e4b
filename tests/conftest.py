"""Shared fixtures: paths, the shared real-media folder, the virtual display."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COAFFECT_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def root() -> Path:
    """The project root."""
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real face media. Skipped where absent, but required under CI."""
    if not (SHARED_DATA / "README.md").exists():
        if IN_CI:
            pytest.fail(f"shared media missing at {SHARED_DATA} (always present in CI)")
        pytest.skip(f"shared media not found at {SHARED_DATA}; set COAFFECT_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def display() -> str:
    """An X display (the test command runs under xvfb-run)."""
    disp = os.environ.get("DISPLAY")
    if not disp:
        if IN_CI:
            pytest.fail("no DISPLAY: run the tests with 'make test' (xvfb-run)")
        pytest.skip("no DISPLAY; run under xvfb-run (make test)")
    return disp


def require_tool(name: str) -> str:
    """Path of a system tool; skip (fail in CI) where it is not installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; scripts/setup.sh installs it")
        pytest.skip(f"{name} not installed")
    return path


def require_module(name: str):
    """Import a module the set-up installs; skip where absent, fail under CI=true."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} cannot be imported ({exc}); requirements/*.txt installs it")
        pytest.skip(f"{name} not importable: {exc}")


def require_root(reason: str) -> None:
    """Skip a test that needs root (mount a tmpfs) where not root; fail under CI=true (root there)."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail(f"{reason}: CI runs as root")
        pytest.skip(f"{reason}: needs root")
