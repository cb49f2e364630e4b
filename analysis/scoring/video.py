"""Score plain videos and still images (no session): faces labelled face01, face02... left to right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.faces_schema import ACTION_UNITS
from coaffect.formats.protocol_model import ANALYSIS_FACE_PX

from ..expression.fer_model import FER_CLASSES
from ..expression.geometry import head_pose, landmark_action_units
from ..faces.identity import label_tracks_by_cluster
from ..faces.observe import observe_video
from ..faces.table import faces_table, score_summary
from .camera_checks import orientation_note
from .score import Scored, ScoreSettings, settings_dict


def score_video(
    path,
    settings: ScoreSettings | None = None,
    start: int = 0,
    stop: int | None = None,
    progress=None,
    jobs: int = 1,
) -> Scored:
    """Score a plain video (no session): faces clustered into face01, face02... left to right.

    Parameters
    ----------
    path : str or Path
        Any video OpenCV reads.
    settings : ScoreSettings, optional
    start, stop : int
        Frame range to score (default: the whole video).
    progress : bool or tqdm-like, optional
        True: a progress bar over the video's frames; or a bar to update.
    jobs : int
        Processes for this one video (contiguous chunks scored in parallel and
        stitched; same table as with one process, see :mod:`analysis.faces.chunks`).

    Returns
    -------
    Scored
        ``faces``: one row per frame x face label (columns of :data:`ALL_COLUMNS`);
        with no face at all, one ``face01`` row per frame, all NaN. ``summary``:
        frames, faces found fraction, minimum face size, settings hash, AU
        correlation matrix, quality-flag counts...

    Examples
    --------
    >>> faces, summary = score_video(shared / "edge/no_face.mp4", stop=4)
    >>> len(faces), summary["faces_found_fraction"]
    (4, 0.0)
    >>> faces, summary = score_video(clip)  # 3 frames of one face
    >>> faces["face_found"].tolist(), faces["participant_id"].unique().tolist()
    ([True, True, True], ['face01'])
    """
    settings = settings or ScoreSettings()
    jobs = ScoreSettings.check_jobs(jobs)
    path = Path(path)
    settings = _still_settings(path, settings)
    if progress is True:
        with _frame_bar(path, start, stop) as bar:
            return score_video(path, settings, start, stop, bar, jobs)
    obs = observe_video(
        path, settings.pipeline, start, stop, encode="auto", progress=progress or None, jobs=jobs
    )
    identity = label_tracks_by_cluster(obs.tracks, settings.tolerance)
    participants = sorted(set(identity["participant_id"])) or ["face01"]
    faces, notes = faces_table(obs, identity, participants, path.stem, "video")
    turned = orientation_note("video", path, obs, None, settings.pipeline.rotate)
    if turned:
        notes["orientation_warnings"] = [turned]
    return Scored(
        faces,
        score_summary(
            faces,
            {"video": obs.info},
            settings.settings_hash(),
            settings_dict(settings),
            notes=[],
            extra=notes,
        ),
    )


def _frame_bar(path: Path, start: int = 0, stop: int | None = None):
    """A tqdm bar over the frames of a video (its length as OpenCV reports it; unknown: no total)."""
    import cv2
    from tqdm.auto import tqdm

    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    total = (min(n, stop) if stop is not None else n) - start if n else None
    return tqdm(total=total if total and total > 0 else None, desc=path.name, unit="frame")


#: File types OpenCV opens as a one-frame "video" (scored like score_image).
STILL_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _still_settings(path: Path, settings: ScoreSettings) -> ScoreSettings:
    """For a still image: find faces as :func:`score_image` does (same size limit, one detection).

    A one-frame "video" has no second frame to confirm a face with, and
    score_image looks for faces down to 40 px or 1/25 of the image's longer
    side; without this, ``score --video photo.jpg`` missed faces
    ``score_image`` found (detection4.jpg: 2 of 3).

    Examples
    --------
    >>> _still_settings(Path("clip.mp4"), ScoreSettings()) == ScoreSettings()
    True
    """
    if path.suffix.lower() not in STILL_SUFFIXES:
        return settings
    from dataclasses import replace

    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    longer = 2 * max(img.shape) if img is not None else 0
    tracker = settings.pipeline.tracker
    still = replace(
        tracker, confirm_detections=1, min_face_px=min(tracker.min_face_px, max(40.0, longer / 25.0))
    )
    return replace(settings, pipeline=replace(settings.pipeline, tracker=still))


def score_image(
    path, min_face_px: float | None = None, analysis_face_px: float | None = ANALYSIS_FACE_PX
) -> pd.DataFrame:
    """Score every face in one still image.

    A still has no baseline, so the action-unit columns hold the raw geometric
    measures (face-frame units, see docs/faces-table.md), not z-scores; the
    emo_ columns are FER probabilities.

    Parameters
    ----------
    path : str or Path
        An image OpenCV reads (jpg, png...).
    min_face_px : float, optional
        Smallest face width to find (default: 40 px or 1/25 of the longer side).
    analysis_face_px : float or None
        Common analysis resolution (face width, px) the landmarks are fitted
        at, as in :func:`score_video` (default 60); None: as in the image.

    Returns
    -------
    pandas.DataFrame
        One row per face, left to right: face, face_x, face_y, face_w, face_h,
        detection_confidence, AU01...AU45 (raw), yaw, pitch, roll (deg),
        emo_angry...emo_neutral.

    Examples
    --------
    >>> faces = score_image(shared / "single/single_face.jpg")
    >>> faces["emo_happy"].round(2).tolist()
    [0.98]
    """
    import cv2

    from ..expression.fer_model import expression_probabilities
    from ..faces.detect import to_grey
    from ..faces.identity import encode_image_faces

    img = cv2.imread(str(path))
    if img is None:
        raise AnalysisError(
            f"{path}: cannot read this image",
            hint="give a JPEG or PNG file" if Path(path).exists() else "check the path",
        )
    found = (
        encode_image_faces(img, min_face_px, analysis_face_px).sort_values("face_x").reset_index(drop=True)
    )
    grey = to_grey(img)
    lms = np.stack(found["landmarks"].to_list()) if len(found) else np.zeros((0, 68, 2))
    aus = landmark_action_units(lms)[list(ACTION_UNITS)]
    probs = [expression_probabilities(grey, p) for p in lms]
    emo = pd.DataFrame(probs, columns=list(FER_CLASSES)) if probs else pd.DataFrame(columns=list(FER_CLASSES))
    base = found[["face_x", "face_y", "face_w", "face_h", "detection_confidence"]].astype(float)
    base.insert(0, "face", np.arange(1, len(found) + 1))
    return pd.concat([base, aus, head_pose(lms), emo], axis=1)
