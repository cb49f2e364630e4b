"""Reading a dataset for analysis: sessions, frozen protocols, stimulus tags, faces tables.

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "load_study": ".load",
        "Study": ".load",
        "SessionData": ".load",
        "as_study": ".load",
        "read_faces": ".load",
        "measure_columns": ".load",
    },
)
