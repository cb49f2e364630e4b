"""The layer order, checked statically on every module's imports (after MNE's test_import_nesting).

Layers, bottom up (``docs/architecture.md``):

1. ``coaffect`` and ``coaffect.formats``: the shared contract; import nothing of the project
   above them.
2. ``experiments`` (runner side) and ``analysis`` (offline side): each imports only layer 1
   and itself, never the other.
3. ``coaffect.cli`` and ``coaffect.demo``: may import everything.

Every ``import`` counts, at module level or inside a function: a function-level import is
still a dependency, and the usual way a circle hides. The module graph must also have no
cycle. The runtime side (``analysis`` loads without PsychoPy) is in ``test_boundaries.py``.

Two more rules keep the layers honest:

* Only the CLI layer talks to the terminal: no ``argparse`` and no ``print()`` below it
  (libraries return results and log; the CLI prints and maps parameters to flags).
* No module reaches into another's private names: no ``from x import _y`` across modules,
  and no ``obj._y`` where ``_y`` is defined in another project module only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("coaffect", "experiments", "analysis")

#: layer of a module -> the layers it may import (by module-name prefix, longest first)
LAYERS = {
    "coaffect.cli": ("coaffect", "experiments", "analysis"),
    "coaffect.demo": ("coaffect", "experiments", "analysis"),
    "coaffect.formats": ("coaffect.formats",),
    "coaffect": ("coaffect.formats",),
    "experiments": ("coaffect.formats", "experiments"),
    "analysis": ("coaffect.formats", "analysis"),
}


def _layer(module: str) -> str:
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    raise KeyError(module)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the three packages: dotted name -> file."""
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def from_module(node: ast.ImportFrom, name: str, is_pkg: bool) -> str:
    """The absolute module a ``from ... import`` in module ``name`` reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported project module) for every import in the file, any depth."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = from_module(node, name, is_pkg)
            # "from pkg import submodule" depends on the submodule itself
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                found.append((node.lineno, target))
    return found


def import_graph(root: Path = ROOT) -> dict[str, list[tuple[int, str]]]:
    mods = project_modules(root)
    return {name: imports_of(path, name, set(mods)) for name, path in mods.items()}


def layer_violations(graph: dict) -> list[str]:
    problems = []
    for name, edges in graph.items():
        allowed = LAYERS[_layer(name)]
        for line, target in edges:
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                problems.append(
                    f"{name.replace('.', '/')}.py:{line}: imports {target} "
                    f"(layer {_layer(name)} may import only {', '.join(allowed)})"
                )
    return problems


def import_cycles(graph: dict) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or self-loops."""
    index, low, stack, on, out = {}, {}, [], set(), []
    edges = {n: sorted({t for _, t in e if t in graph and t != n}) for n, e in graph.items()}

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


#: Layers that may parse arguments and print.
CLI_LAYERS = ("coaffect.cli", "coaffect.demo")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _parse_all(root: Path) -> dict[str, tuple[str, ast.Module]]:
    """Module name -> (its file relative to ``root``, its syntax tree)."""
    return {
        n: (p.relative_to(root).as_posix(), ast.parse(p.read_text(), str(p)))
        for n, p in project_modules(root).items()
    }


def terminal_below_cli(root: Path = ROOT) -> list[str]:
    """``argparse`` imports and ``print()`` calls outside the CLI layer, as FILE:LINE: problem."""
    problems = []
    for name, (where, tree) in _parse_all(root).items():
        if _layer(name) in CLI_LAYERS:
            continue
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            if any(m.split(".")[0] == "argparse" for m in mods):
                problems.append(
                    f"{where}:{node.lineno}: imports argparse (only the CLI layer parses arguments)"
                )
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                problems.append(f"{where}:{node.lineno}: calls print() (return or log it; the CLI prints)")
    return problems


def private_reaches(root: Path = ROOT) -> list[str]:
    """Cross-module uses of ``_private`` names: imports, and attributes defined in another module only."""
    trees = _parse_all(root)
    known = set(trees)
    defined: dict[str, set[str]] = {}
    for name, (_, tree) in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                new = [node.name]
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                new = [node.id]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                new = [node.attr]
            else:
                continue
            for x in filter(_is_private, new):
                defined.setdefault(x, set()).add(name)
    problems = []
    for name, (where, tree) in trees.items():
        is_pkg = where.endswith("__init__.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = from_module(node, name, is_pkg)
                for a in node.names:
                    if _is_private(a.name) and mod in known and mod != name:
                        problems.append(f"{where}:{node.lineno}: imports {a.name} from {mod}")
            elif isinstance(node, ast.Attribute) and _is_private(node.attr):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                owners = defined.get(node.attr, set())
                if owners and name not in owners:
                    problems.append(
                        f"{where}:{node.lineno}: uses {ast.unparse(node)} (private to {', '.join(sorted(owners))})"
                    )
    return problems


def test_graph_sees_the_project():
    graph = import_graph()
    assert {
        "coaffect.formats.protocol",
        "experiments.runner.session",
        "analysis.stats.run",
        "coaffect.cli",
    } <= set(graph)
    # the walk reads function-level imports too (coaffect.cli.score imports analysis.scoring.score lazily)
    assert any(t == "analysis.scoring.score" for _, t in graph["coaffect.cli.score"])


def test_no_upward_or_sideways_imports():
    assert layer_violations(import_graph()) == []


def test_no_import_cycles():
    assert import_cycles(import_graph()) == []


def test_only_the_cli_parses_arguments_and_prints():
    assert terminal_below_cli() == []


def test_no_module_uses_another_modules_private_names():
    assert private_reaches() == []


@pytest.mark.parametrize(
    "bad, expect",
    [
        ("from analysis.measures.trials import trial_table\n", "imports analysis.measures.trials"),
        ("def f():\n    from experiments.runner import run_session\n", "imports experiments.runner"),
    ],
)
def test_checker_catches_a_planted_upward_import(tmp_path, bad, expect):
    """The checker fails on a planted violation, at module level or inside a function."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "coaffect" / "formats").mkdir()
    (tmp_path / "coaffect" / "formats" / "__init__.py").write_text("")
    (tmp_path / "coaffect" / "formats" / "protocol.py").write_text(bad)
    (tmp_path / "analysis" / "trials.py").write_text("")
    (tmp_path / "experiments" / "runner.py").write_text("")
    mods = project_modules(tmp_path)
    graph = {n: imports_of(p, n, set(mods)) for n, p in mods.items()}
    problems = layer_violations(graph)
    assert len(problems) == 1 and expect in problems[0], problems
    assert problems[0].startswith("coaffect/formats/protocol.py:")


def test_checker_catches_a_planted_cycle(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "analysis" / "a.py").write_text("from . import b\n")
    (tmp_path / "analysis" / "b.py").write_text("def f():\n    from .a import x\n")
    mods = project_modules(tmp_path)
    graph = {n: imports_of(p, n, set(mods)) for n, p in mods.items()}
    assert import_cycles(graph) == [["analysis.a", "analysis.b"]]


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A tiny copy of the three packages with ``files`` (path -> code) planted in it."""
    for pkg in (*PACKAGES, "coaffect/cli", "coaffect/formats"):
        (tmp_path / pkg).mkdir(parents=True, exist_ok=True)
        (tmp_path / pkg / "__init__.py").write_text("")
    for path, code in files.items():
        (tmp_path / path).write_text(code)
    return tmp_path


@pytest.mark.parametrize(
    "path, code, expect",
    [
        ("analysis/checks.py", "import argparse\n", "analysis/checks.py:1: imports argparse"),
        ("analysis/checks.py", "def f():\n    from argparse import ArgumentParser\n", "analysis/checks.py:2"),
        ("experiments/say.py", "def f(x):\n    print(x)\n", "experiments/say.py:2: calls print()"),
        ("coaffect/formats/say.py", "print('hi')\n", "coaffect/formats/say.py:1: calls print()"),
    ],
)
def test_checker_catches_planted_argparse_and_print(tmp_path, path, code, expect):
    root = _tree(tmp_path, {path: code, "coaffect/cli/verb.py": "import argparse\nprint('fine here')\n"})
    problems = terminal_below_cli(root)
    assert len(problems) == 1 and problems[0].startswith(expect), problems


@pytest.mark.parametrize(
    "files, expect",
    [
        (
            {"analysis/a.py": "_SECRET = 1\n", "analysis/b.py": "from .a import _SECRET\n"},
            "analysis/b.py:1: imports _SECRET from analysis.a",
        ),
        (
            {"analysis/a.py": "_SECRET = 1\n", "coaffect/cli/c.py": "from analysis.a import _SECRET\n"},
            "coaffect/cli/c.py:1: imports _SECRET from analysis.a",
        ),
        (
            {
                "analysis/a.py": "class T:\n    def __init__(self):\n        self._widths = {}\n",
                "analysis/b.py": "def f(tracker):\n    return tracker._widths\n",
            },
            "analysis/b.py:2: uses tracker._widths (private to analysis.a)",
        ),
    ],
)
def test_checker_catches_a_planted_private_reach(tmp_path, files, expect):
    ok = {"analysis/c.py": "import os\n_OWN = 1\ndef f(w):\n    os._exit(_OWN)\n    return w._getFrame()\n"}
    problems = private_reaches(_tree(tmp_path, {**files, **ok}))
    assert problems == [expect], problems
