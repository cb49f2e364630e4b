"""Keep the column tables in ``docs/session-format.md`` generated from :mod:`.session_format`.

The document holds one block per table between ``<!-- columns: NAME -->`` and
``<!-- end columns -->``. ``python -m coaffect.cli.format_doc`` rewrites
those blocks in place; a test fails when they differ from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

from coaffect.formats import session_format as fmt

#: Every table documented, by the name used in the markers.
SPECS = {
    spec.filename: spec
    for spec in (
        fmt.EVENTS,
        fmt.BUTTONS,
        fmt.RATINGS,
        fmt.FLIPS,
        fmt.CAMERA_FRAMES,
        fmt.PHYSIO,
        fmt.PARTICIPANTS,
        fmt.SIMULATED_KEYS,
    )
}

_BLOCK = re.compile(r"(<!-- columns: (?P<name>\S+) -->\n)(?P<body>.*?)(<!-- end columns -->)", re.S)


def markdown_table(spec: fmt.TableSpec) -> str:
    """The Markdown table of one session table's columns.

    Parameters
    ----------
    spec : TableSpec
        From :mod:`coaffect.formats.session_format`.

    Returns
    -------
    str
        Header, separator and one row per column (name, type, unit, required,
        description), ending with a newline.

    Examples
    --------
    >>> print(markdown_table(fmt.CAMERA_FRAMES).splitlines()[2])
    | `frame` | int |  | yes | 0-based index of the frame in cam-<name> video. |
    """
    rows = ["| column | type | unit | required | description |", "|---|---|---|---|---|"]
    for c in spec.columns:
        desc = c.description.replace("|", "\\|")
        rows.append(
            f"| `{c.name}` | {c.kind} | {c.unit} | {'yes' if c.required else 'no (n/a allowed)'} | {desc} |"
        )
    return "\n".join(rows) + "\n"


_KEYS_BLOCK = re.compile(r"(<!-- session-json: runner -->\n)(?P<body>.*?)(<!-- end session-json -->)", re.S)


def runner_keys_table() -> str:
    """Markdown table of the optional ``session.json`` keys the runner adds.

    Examples
    --------
    >>> runner_keys_table().splitlines()[0]
    '| key | meaning |'
    """
    keys = getattr(fmt, "SESSION_JSON_RUNNER_KEYS", {})
    rows = ["| key | meaning |", "|---|---|"]
    rows += [f"| `{k}` | {v.replace('|', chr(92) + '|')} |" for k, v in keys.items()]
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every column block regenerated.

    Examples
    --------
    >>> render("<!-- columns: flips.tsv -->\\nold\\n<!-- end columns -->").count("| `t` |")
    1
    """

    def repl(m: re.Match) -> str:
        spec = SPECS.get(m.group("name"))
        if spec is None:
            raise KeyError(f"unknown table '{m.group('name')}' in a columns marker")
        return m.group(1) + markdown_table(spec) + m.group(4)

    text = _BLOCK.sub(repl, text)
    return _KEYS_BLOCK.sub(lambda m: m.group(1) + runner_keys_table() + m.group(3), text)


def documented_tables(text: str) -> list[str]:
    """Names of the tables that have a column block in ``text``.

    Examples
    --------
    >>> documented_tables("<!-- columns: buttons.tsv -->\\nx\\n<!-- end columns -->")
    ['buttons.tsv']
    """
    return [m.group("name") for m in _BLOCK.finditer(text)]


def update_doc(path: str | Path = "docs/session-format.md") -> bool:
    """Rewrite the column blocks of ``path`` from the code; True if the file changed.

    Examples
    --------
    >>> import shutil
    >>> update_doc(shutil.copy("docs/session-format.md", tmp / "session-format.md"))
    False
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
