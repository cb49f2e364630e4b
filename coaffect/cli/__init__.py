"""The ``coaffect`` command: one verb per job, each a thin wrapper over a library function.

Each verb lives in its own module exposing ``HELP`` (one line), ``EXAMPLE``,
``add_arguments(parser)`` and ``run(args) -> int`` (and ``FLAGS`` where a library
parameter's flag is not ``--<name>``). Modules import nothing heavy
at import time, so ``coaffect score`` works where PsychoPy is not installed.

The library speaks in its own terms: an error names the parameter
(``CoaffectError.field``, other parameters in backticks) and messages go to the
``coaffect``, ``experiments`` and ``analysis`` loggers. Here, and only here,
parameters become flags (``session_id`` -> ``--session-id``, read from the
verb's own parser) and log records become lines on stderr.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import importlib.util
import logging
import re
import sys
import warnings

from coaffect.formats.errors import CoaffectDeprecationWarning, CoaffectError

#: verb -> module implementing it
VERBS = {
    "demo": "coaffect.cli.demo",
    "protocol": "coaffect.cli.protocol",
    "stimuli": "coaffect.cli.stimuli",
    "run": "coaffect.cli.run",
    "rig-check": "coaffect.cli.rig_check",
    "devices": "coaffect.cli.devices",
    "score": "coaffect.cli.score",
    "import-faces": "coaffect.cli.import_faces",
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
        p.set_defaults(run_verb=module.run)
    return parser


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Parameter (argparse ``dest``) -> the flag a user types, for a parser and its sub-parsers.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--session-id")
    >>> _ = p.add_argument("--clips", dest="n_clips")
    >>> flag_names(p)["session_id"], flag_names(p)["n_clips"]
    ('--session-id', '--clips')
    """
    out: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out = {**flag_names(sub), **out}
        elif action.option_strings and action.dest != "help":
            out[action.dest] = max(action.option_strings, key=len)
    return out


def in_cli_terms(text: str, flags: dict[str, str], field: str | None = None) -> str:
    """A library message with its parameters as flags: the leading ``field:`` and every ```name```.

    Examples
    --------
    >>> flags = {"session_id": "--session-id", "resume": "--resume"}
    >>> in_cli_terms("session_id: 'a b' must be letters and digits only", flags, "session_id")
    "--session-id: 'a b' must be letters and digits only"
    >>> in_cli_terms("use another `session_id`, or `resume` to continue it", flags)
    'use another --session-id, or --resume to continue it'
    """
    if field and text.startswith(f"{field}:") and field in flags:
        text = flags[field] + text[len(field) :]
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(1)), text)


def report_error(exc: CoaffectError, flags: dict[str, str] | None = None) -> None:
    """Print a user error as one line per problem, plus a hint (parameters shown as flags)."""
    flags = flags or {}
    for line in exc.lines:
        line = in_cli_terms(line, flags, exc.field)
        print(line if ":" in line.split(" ", 1)[0] else f"coaffect: error: {line}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {in_cli_terms(exc.hint, flags)}", file=sys.stderr)


class _Stderr(logging.Handler):
    """Log records as plain lines on whatever ``sys.stderr`` is now (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed stderr must not end the run
            self.handleError(record)


#: The loggers of the three packages; the CLI prints their INFO and above on stderr.
LOGGERS = ("coaffect", "experiments", "analysis")


def show_library_messages() -> None:
    """Send the packages' log records to stderr as bare lines (once per process)."""
    for name in LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(h, _Stderr) for h in log.handlers):
            log.addHandler(_Stderr())
        log.setLevel(logging.INFO)


def _verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(verb)
    return None


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
    if not getattr(args, "run_verb", None):
        parser.print_help()
        return 2
    verb = _verb_parser(parser, args.verb)
    flags = flag_names(verb) if verb is not None else {}
    flags.update(getattr(sys.modules[args.run_verb.__module__], "FLAGS", {}))
    show_library_messages()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CoaffectDeprecationWarning):
            print(f"coaffect {args.verb}: {in_cli_terms(str(message), flags)}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    shown = warnings.showwarning
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            warnings.simplefilter("always", CoaffectDeprecationWarning)
            code = int(args.run_verb(args) or 0)
    except CoaffectError as exc:
        report_error(exc, flags)
        return exc.exit_code
    except KeyboardInterrupt:
        print("coaffect: interrupted", file=sys.stderr)
        return 130
    if argv is None and getattr(sys.modules[args.run_verb.__module__], "EXIT_WITHOUT_TEARDOWN", False):
        exit_without_teardown(code)
    return code


def exit_without_teardown(code: int) -> None:
    """End the process now, once a verb has closed every file it wrote.

    PsychoPy's movie decoder, pyglet and PortAudio keep C threads that can
    segfault while the interpreter tears down modules (seen as exit status
    -11 after a session that was already complete, or aborted cleanly by
    SIGTERM). The session folder is finished before the verb returns, so
    the status a shell or a batch system sees must be the verb's own, not
    a crash in the teardown: flush what is buffered and leave with
    :func:`os._exit`. Only console runs of verbs that set
    ``EXIT_WITHOUT_TEARDOWN`` do this; ``main([...])`` in a test returns.
    """
    import multiprocessing
    import os

    # what multiprocessing's own exit handler does, which os._exit skips: a child still being
    # spawned (a camera opening when SIGTERM came) would otherwise read a closed pipe and print
    # a traceback
    for child in multiprocessing.active_children():
        if child.daemon:
            child.terminate()
    for child in multiprocessing.active_children():
        child.join(2.0)
    logging.shutdown()
    flush = getattr(sys.modules.get("psychopy.logging"), "flush", None)
    if flush is not None:
        flush()  # its own atexit hook, skipped by os._exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
