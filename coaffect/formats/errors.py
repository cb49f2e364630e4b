"""One exception family for coaffect.

The command line turns every :class:`CoaffectError` into one clear line (plus an
optional hint) and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CoaffectError(Exception):
    """Base class for errors caused by the user's input or environment.

    Parameters
    ----------
    message : str
        One line saying what is wrong, ideally ``FILE:LINE:COL: field: problem``.
    hint : str, optional
        What to do about it.
    lines : list of str, optional
        Several problems at once (e.g. every problem in a protocol); the CLI
        prints one per line.
    field : str, optional
        The parameter (or protocol field) the message is about, in library terms
        (``session_id``, ``min_face_px``). The message then starts with
        ``"<field>: "``; other parameters it names are written in backticks
        (```resume```). The command line shows both as its flags
        (``--session-id``, ``--resume``), so the library never speaks in flags.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        lines: list[str] | None = None,
        field: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.lines = list(lines) if lines else [message]
        self.field = field

    def __str__(self) -> str:  # pragma: no cover - trivial
        return "\n".join(self.lines)


class ProtocolError(CoaffectError):
    """A protocol file is unreadable or invalid."""


class ManifestError(CoaffectError):
    """The stimulus manifest or a stimulus file is wrong."""


class SessionFormatError(CoaffectError):
    """A session folder does not follow the documented format."""


class SessionSetupError(CoaffectError):
    """A session cannot start (participants, output folder, disk...)."""


class HardwareError(CoaffectError):
    """A display, keyboard or camera is missing or failed."""


class AnalysisError(CoaffectError):
    """Analysis input is missing or inconsistent."""


class BundleError(CoaffectError):
    """A protocol bundle is broken or unsafe."""


class CoaffectDeprecationWarning(FutureWarning):
    """A parameter the user passed is deprecated (the CLI shows it as a one-line note)."""


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
