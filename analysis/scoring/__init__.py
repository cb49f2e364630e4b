"""Scoring the faces of sessions and videos, and the scored files (uses faces/ and expression/).

``analysis.score`` (in :mod:`.run`) scores a dataset, a session or a video in one call;
the module :mod:`.score` holds the per-session and per-dataset functions.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
