"""``python -m coaffect.cli.format_doc [FILE]``: regenerate the column tables of docs/session-format.md.

A maintainer's command (not a ``coaffect`` verb): the tables are written from
:mod:`coaffect.formats.session_format` by :func:`coaffect.formats.session_format_doc.update_doc`;
``tests/test_session_format.py`` fails when the committed document differs.
"""

from __future__ import annotations

import sys

from coaffect.formats.session_format_doc import update_doc


def main(argv: list[str] | None = None) -> int:
    """Rewrite the column blocks of ``docs/session-format.md`` (or the given file).

    Examples
    --------
    >>> import shutil
    >>> doc = shutil.copy("docs/session-format.md", tmp / "session-format.md")
    >>> main([str(doc)])
    /.../session-format.md is up to date
    0
    """
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "docs/session-format.md"
    print(f"updated {path}" if update_doc(path) else f"{path} is up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
