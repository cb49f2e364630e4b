"""Flags whose type and default are the library's own, so a default changed there is the CLI's too."""

from __future__ import annotations


def add_default_argument(parser, flag: str, default, what: str, dest: str | None = None) -> None:
    """Add ``flag`` typed and defaulted by the library's ``default``; the help says the default.

    ``default`` None adds an optional float whose absence keeps the library's
    own rule (the help text ``what`` should say which).

    Examples
    --------
    >>> from argparse import ArgumentParser
    >>> from analysis.faces.settings import PipelineSettings
    >>> parser = ArgumentParser()
    >>> add_default_argument(parser, "--step", PipelineSettings.step, "score every Nth frame")
    >>> parser.parse_args(["--step", "5"]).step, parser.get_default("step")
    (5, 1)
    >>> [a.help for a in parser._actions if a.dest == "step"]
    ['score every Nth frame (default 1)']
    """
    named = {"dest": dest} if dest else {}
    if default is None:
        parser.add_argument(flag, type=float, default=None, help=what, **named)
        return
    kind = int if isinstance(default, int) else float
    parser.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:g})", **named)
