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


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported project module) for every import in the file, any depth."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
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
