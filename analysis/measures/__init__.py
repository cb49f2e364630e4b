"""Per-trial and per-second measures: self-report, the trial table, time courses, coherence,
synchrony, physiology.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
