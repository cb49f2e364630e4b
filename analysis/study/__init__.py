"""Reading a dataset for analysis: sessions, frozen protocols, stimulus tags, faces tables.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
