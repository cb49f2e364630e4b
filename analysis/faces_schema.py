"""Column names of the frame-level face table ``faces.parquet``.

This is the contract between face scoring (which writes the table) and the
statistics (which read it). The full description of every column (unit,
range, computation) is in ``docs/faces-table.md`` and in the JSON sidecar
written next to each table.
"""
from __future__ import annotations

#: Version of the faces table; stored in the Parquet metadata and the sidecar.
FACES_FORMAT_VERSION = 1

#: One row per camera frame x participant; these identify the row.
KEY_COLUMNS = ("session_id", "camera", "frame", "t", "participant_id")

#: Action-unit-like facial movements, z-scored against the participant's own baseline.
ACTION_UNITS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU12", "AU15",
                "AU20", "AU25", "AU26", "AU43", "AU45")

#: Composite facial-movement scores built from the action units.
COMPOSITES = ("happiness", "sadness", "surprise", "fear", "anger", "disgust")

#: Learned expression probabilities of the FER mini-Xception model (sum to 1 per face).
EMOTIONS = ("emo_angry", "emo_disgust", "emo_fear", "emo_happy", "emo_sad",
            "emo_surprise", "emo_neutral")

#: Face geometry and quality columns.
FACE_COLUMNS = ("face_found", "face_x", "face_y", "face_w", "face_h",
                "detection_confidence", "identity_confidence", "track_id")

MEASURES = ACTION_UNITS + COMPOSITES + EMOTIONS
