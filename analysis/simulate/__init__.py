"""Simulated studies with known effects: session folders, trial tables, synthetic faces, power.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
