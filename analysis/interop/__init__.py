"""Other tools' outputs: OpenFace and py-feat tables read into the faces schema, and agreement with OpenFace.

Names are imported on first use (:mod:`analysis.lazy`).
"""

from __future__ import annotations

from ..lazy import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "read_openface": ".readers",
        "read_pyfeat": ".readers",
        "FaceValidation": ".agreement",
        "validate_faces": ".agreement",
        "formulas_on_openface_landmarks": ".agreement",
        "compare_to_openface": ".agreement",
    },
)
