"""The ``coaffect`` command: one verb per job, each a thin wrapper over a library function.

Each verb lives in its own module exposing ``HELP`` (one line), ``EXAMPLE``,
``add_arguments(parser)`` and ``run(args) -> int``. Modules import nothing heavy
at import time, so ``coaffect score`` works where PsychoPy is not installed.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import importlib.util
import sys

from coaffect.formats.errors import CoaffectError

#: verb -> module implementing it
VERBS = {
    "demo": "coaffect.cli.demo",
    "protocol": "coaffect.cli.protocol",
    "stimuli": "coaffect.cli.stimuli",
    "run": "coaffect.cli.run",
    "rig-check": "coaffect.cli.rig_check",
    "devices": "coaffect.cli.devices",
    "score": "coaffect.cli.score",
    "validate-faces": "coaffect.cli.validate_faces",
    "simulate-study": "coaffect.cli.simulate",
    "stats": "coaffect.cli.stats",
    "power": "coaffect.cli.power",
    "report": "coaffect.cli.report",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coaffect",
        description="Run and analyse group-vs-alone emotion studies.",
        epilog="Example: coaffect protocol check protocols/bittersweet-demo.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module_name in VERBS.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            verb,
            help=module.HELP,
            description=module.HELP,
            epilog=f"Example:\n  {module.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def report_error(exc: CoaffectError) -> None:
    """Print a user error as one line per problem, plus a hint."""
    for line in exc.lines:
        print(line if ":" in line.split(" ", 1)[0] else f"coaffect: error: {line}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coaffect`` console command; returns the exit status."""
    # a crash inside a C library (video, OpenGL, HID) then prints every thread's
    # Python stack instead of dying silently; the session folder is kept either way
    if not faulthandler.is_enabled():
        try:
            faulthandler.enable()
        except (AttributeError, ValueError, OSError):  # stderr replaced by one without a file descriptor
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CoaffectError as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("coaffect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
