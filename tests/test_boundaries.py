"""Package boundaries: ``analysis`` works without PsychoPy; the CLI imports nothing heavy.

Each check runs in a fresh interpreter so that modules other tests imported
cannot hide a violation. PsychoPy, psychtoolbox and pyglet are made
unimportable there (as on an analyst's laptop without them), and every
``analysis`` submodule found by ``pkgutil`` is imported, so modules added
later are covered too.
"""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("psychopy", "psychtoolbox", "pyglet")

_BLOCKER = """
import importlib.abc, json, pkgutil, sys, traceback
FORBIDDEN = {forbidden!r}
attempts = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            attempts.append(name)
            raise ImportError(f"{{name}} is blocked: analysis must work without PsychoPy")
        return None

sys.meta_path.insert(0, Block())
"""

_IMPORT_ALL = (
    _BLOCKER
    + """
import analysis, coaffect.formats.session_reader, coaffect.formats.protocol
failed = {{}}
names = ["analysis"]
for info in pkgutil.walk_packages(analysis.__path__, "analysis.", onerror=lambda n: None):
    names.append(info.name)
    try:
        __import__(info.name)
    except Exception:
        failed[info.name] = traceback.format_exc(limit=-3)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
print(json.dumps({{"names": names, "failed": failed, "attempts": attempts, "loaded": loaded}}))
"""
)


def _run(code: str, cwd) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_analysis_imports_without_psychopy(root):
    result = _run(_IMPORT_ALL.format(forbidden=FORBIDDEN), root)
    assert "analysis.faces.pipeline" in result["names"]  # the walk really found submodules
    assert result["failed"] == {}, "\n".join(f"{k}:\n{v}" for k, v in result["failed"].items())
    assert result["attempts"] == [], f"analysis tried to import {result['attempts']}"
    assert result["loaded"] == []


def test_front_door_is_cheap_and_every_public_name_resolves_without_psychopy(root):
    """``import analysis`` loads no pandas; every name of it and of its subpackages imports."""
    code = (
        _BLOCKER.format(forbidden=FORBIDDEN)
        + """
import analysis
light = "pandas" not in sys.modules and "cv2" not in sys.modules
packages = ["analysis"] + ["analysis." + p for p in
            ("study", "scoring", "measures", "stats", "simulate", "interop", "parallel")]
missing = []
for name in packages:
    mod = __import__(name, fromlist=["x"])
    for public in mod.__all__:
        try:
            getattr(mod, public)
        except Exception as exc:
            missing.append(f"{name}.{public}: {exc!r}")
print(json.dumps({"light": light, "n": len(analysis.__all__), "missing": missing, "attempts": attempts}))
"""
    )
    result = _run(code, root)
    assert result["light"], "import analysis loaded pandas or OpenCV"
    assert result["n"] >= 35 and result["missing"] == [], result["missing"]
    assert result["attempts"] == []


def test_cli_parser_imports_nothing_heavy(root):
    """Building the parser imports every verb module; none may pull in PsychoPy."""
    code = (
        _BLOCKER.format(forbidden=FORBIDDEN)
        + """
from coaffect.cli import VERBS, build_parser
parser = build_parser()
verbs = sorted(parser._subparsers._group_actions[0].choices)
print(json.dumps({"verbs": verbs, "attempts": attempts}))
"""
    )
    result = _run(code, root)
    assert result["attempts"] == []
    assert {"protocol", "stimuli"} <= set(result["verbs"])


def test_coaffect_help(root):
    exe = root / ".venv" / "bin" / "coaffect"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "coaffect.cli"]
    proc = subprocess.run(cmd + ["--help"], capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: coaffect")
    assert "stimuli" in proc.stdout and "protocol" in proc.stdout
    assert "Example: coaffect protocol check protocols/bittersweet-demo.yaml" in proc.stdout
    proc = subprocess.run(cmd + ["stimuli", "--help"], capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 0
    assert "coaffect stimuli verify --manifest stimuli/manifest.yaml" in proc.stdout
