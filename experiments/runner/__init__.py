"""The session runner: PsychoPy presentation with continuous dual-button self-reports.

:func:`run_session` is the entry point (``coaffect run`` wraps it). Importing
this package does not import PsychoPy; the window and keyboard open inside
``run_session``.
"""

from __future__ import annotations

from .preflight import SessionPlan, prepare_session
from .session import SessionResult, run_session

__all__ = ["run_session", "prepare_session", "SessionPlan", "SessionResult"]
