"""Other tools' outputs: OpenFace and py-feat tables read into the faces schema, and agreement
with OpenFace.

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
