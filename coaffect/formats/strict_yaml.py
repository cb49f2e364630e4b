"""Safe YAML loading that remembers where every value came from.

Protocols and manifests come from other labs, so they are untrusted input:
only ``yaml.SafeLoader`` constructs values, duplicate keys and anchors/aliases
(the vehicle of "billion laughs" expansion bombs) are refused, and each value's
line and column are kept so that validation errors can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import CoaffectError

Path_ = tuple  # a location inside the document: ("seats", 0, "buttons")


@dataclass
class YamlProblem:
    """One problem found while reading YAML (1-based line and column)."""

    line: int
    col: int
    message: str


class YamlReadError(Exception):
    """Raised with every problem found; callers wrap it in their own error."""

    def __init__(self, problems: list[YamlProblem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML alias not allowed; anchors (&name) and aliases (*name) are refused in "
                f"shared files, write the value out in full (got '*{event.anchor}')",
                event.start_mark,
            )
        return super().compose_node(parent, index)


@dataclass
class LocatedYaml:
    """Parsed YAML data plus the position of every node."""

    data: Any
    positions: dict[tuple, tuple[int, int]]
    key_positions: dict[tuple, tuple[int, int]]

    def where(self, loc: tuple) -> tuple[int, int]:
        """Line and column (1-based) of ``loc`` or of its nearest present parent."""
        loc = tuple(loc)
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.positions:
                return self.positions[loc[:n]]
        return (1, 1)

    def where_key(self, loc: tuple) -> tuple[int, int]:
        """Position of the mapping key at ``loc`` (falls back to :meth:`where`)."""
        return self.key_positions.get(tuple(loc)) or self.where(loc)


def _walk(node: Node, path: tuple, positions: dict, key_positions: dict, problems: list[YamlProblem]) -> None:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = _dotted(path + (key,))
                problems.append(
                    YamlProblem(
                        line,
                        key_node.start_mark.column + 1,
                        f"{where}: duplicate key; keep only one (got '{key}' again; first given "
                        f"on line {seen[key]})",
                    )
                )
                continue
            seen[key] = line
            key_positions[path + (key,)] = (line, key_node.start_mark.column + 1)
            _walk(value_node, path + (key,), positions, key_positions, problems)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), positions, key_positions, problems)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain_syntax(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's message plus, for the puzzling ones, what usually causes it."""
    problem = exc.problem or ""
    text = f"{exc.context}, {problem}" if exc.context else problem
    if problem.startswith("YAML"):
        return problem
    why = ""
    if "'\\t'" in problem or "'\t'" in problem:
        why = "YAML is indented with spaces, not tabs; replace the tab"
    elif "mapping values are not allowed" in problem:
        why = "check this line's indentation against the line above, or put a value containing ': ' in quotes"
    elif exc.context and "flow sequence" in exc.context and exc.context_mark:
        why = f"the '[' on line {exc.context_mark.line + 1} is not closed, or a value in it needs quotes"
    elif exc.context and "flow mapping" in exc.context and exc.context_mark:
        why = (
            f"the '{{' on line {exc.context_mark.line + 1} is not closed, or a value in it "
            "needs quotes, e.g. one containing '?' or ':'"
        )
    elif "expected a single document" in (exc.context or "") + problem:
        why = "a protocol is one document; remove the '---' line and what follows"
    elif "found character" in problem and "cannot start any token" in problem:
        why = "put the value in quotes"
    elif "expected <block end>" in problem:
        why = "check this line's indentation against the lines above"
    elif "could not find expected ':'" in problem:
        why = "a 'name: value' line is broken, or a quote is not closed"
    return f"YAML syntax error: {text}" + (f" ({why})" if why else "")


def load_located(text: str) -> LocatedYaml:
    """Parse one YAML document safely, keeping node positions.

    Parameters
    ----------
    text : str
        The YAML document.

    Returns
    -------
    LocatedYaml
        ``data`` (plain dicts, lists and scalars) and the position of each path.

    Raises
    ------
    YamlReadError
        On syntax errors, tags such as ``!!python/object``, aliases, duplicate
        keys, or more than one document.

    Examples
    --------
    >>> doc = load_located("a:\\n  b: 1\\n")
    >>> doc.data, doc.where(("a", "b"))
    ({'a': {'b': 1}}, (2, 6))
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LocatedYaml(None, {(): (1, 1)}, {})
        positions: dict = {}
        key_positions: dict = {}
        problems: list[YamlProblem] = []
        _walk(node, (), positions, key_positions, problems)
        if problems:
            raise YamlReadError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or str(exc)
        if "could not determine a constructor" in what:
            tag = what.split("tag", 1)[-1].strip(" '").replace("tag:yaml.org,2002:", "!!")
            what = f"YAML tag not allowed; only plain values are read, remove the tag (got {tag})"
        elif exc.problem:
            what = _explain_syntax(exc)
        raise YamlReadError([YamlProblem(line, col, what)]) from None
    except yaml.YAMLError as exc:
        raise YamlReadError([YamlProblem(1, 1, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    return LocatedYaml(data, positions, key_positions)


def read_located(path: str | Path) -> LocatedYaml:
    """Read a YAML file as UTF-8 and parse it with :func:`load_located`."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlReadError(
            [
                YamlProblem(
                    line,
                    col,
                    f"file is not UTF-8 text; save it as UTF-8 in your editor "
                    f"(got byte 0x{raw[exc.start]:02x})",
                )
            ]
        ) from None
    return load_located(text)


def read_located_or_raise(
    path: str | Path, error: type[CoaffectError], label: str | None = None, hint: str | None = None
) -> LocatedYaml:
    r""":func:`read_located`, its problems raised as ``error`` with one ``LABEL:LINE:COL: problem`` line each.

    ``error`` is a :class:`~coaffect.formats.errors.CoaffectError` subclass (ProtocolError,
    ManifestError, BundleError); ``label`` names the file in the lines (default its path).

    Examples
    --------
    >>> from coaffect.formats.errors import ManifestError
    >>> _ = (tmp / "m.yaml").write_bytes(b"clips: [a\xff]")
    >>> read_located_or_raise(tmp / "m.yaml", ManifestError, label="m.yaml")
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.ManifestError: m.yaml:1:10: file is not UTF-8 text; save it as UTF-8 in your editor (got byte 0xff)
    """
    try:
        return read_located(path)
    except YamlReadError as exc:
        where = str(path) if label is None else label
        lines = [f"{where}:{p.line}:{p.col}: {p.message}" for p in exc.problems]
        raise error(lines[0], lines=lines, hint=hint) from None
