"""Scoring the faces of sessions and videos, and the scored files (uses faces/ and expression/).

``analysis.score`` (in :mod:`.run`) scores a dataset, a session or a video in one call;
the module :mod:`.score` holds the per-session and per-dataset functions.

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "ScoreRun": ".run",
        "score_dataset": ".score",
        "score_session": ".score",
        "Scored": ".score",
        "ScoreSettings": ".score",
        "score_video": ".video",
        "score_image": ".video",
        "write_scores": ".files",
        "is_scored": ".files",
    },
)
