"""Settings of face scoring: detection and tracking, and the per-face pipeline.

Plain data, apart from the machinery that uses them (:mod:`.track`,
:mod:`.pipeline`): the CLI reads its flags' defaults here, and a Dask worker
unpickles them, without importing OpenCV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from coaffect.formats.protocol_model import ANALYSIS_FACE_PX


@dataclass(frozen=True)
class TrackerSettings:
    """How faces are detected and tracked (part of the scoring settings hash).

    Attributes
    ----------
    min_face_px : float
        Smallest face width (px, full frame) that detection must find; sets the
        detection scale (``80 / min_face_px``).
    detect_every_s : float
        Seconds between HOG detections (tracking fills the frames in between).
    max_bridge_s : float
        A track not confirmed by a detection for this long ends.
    min_patch_ncc : float
        Normalised cross-correlation between the face patch in consecutive
        frames below which the track ends (the face is gone).
    detect_threshold : float
        dlib HOG score threshold for confirming an existing track.
    confirm_detections : int
        A track counts as a face only once this many detections at the
        detection scale matched it (the scheduled full-frame ones, or the
        quick re-check on a crop around a new face a quarter interval after
        it appeared), or one scored at least ``confirm_score``; unconfirmed
        tracks are dropped by the pipeline (false positives on clothing score
        about 0; small real faces also score 0.1-0.5, so score alone cannot tell).
    confirm_score : float
    """

    min_face_px: float = 60.0
    detect_every_s: float = 1.0
    max_bridge_s: float = 3.0
    min_patch_ncc: float = 0.3
    detect_threshold: float = 0.0
    confirm_detections: int = 2
    confirm_score: float = 0.5


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of the per-face pipeline (hashed into the scoring settings).

    Attributes
    ----------
    tracker : TrackerSettings
    step : int
        Score every ``step``-th frame (1 = every frame; others get NaN rows).
    encodings_per_track : int
        At most this many 128-d encodings per track, on detected frames.
    encode_every_s : float
        Minimum seconds between two encodings of one track.
    fer : bool
        Compute FER expression probabilities.
    rotate : int
        Degrees clockwise (0, 90, 180, 270) to turn each frame before faces
        are found: the camera's ``cameras[].rotate`` (:mod:`.orientation`).
        Boxes and landmarks are in the turned frame.
    analysis_face_px : float or None
        Common analysis resolution: every face is brought to this face-box
        width (px) before its landmarks are fitted
        (:func:`~.detect.fit_at_resolution`), so close-ups and wide shots give
        the landmark model the same pixels (:func:`~.pipeline.analysis_landmarks`);
        default :data:`ANALYSIS_FACE_PX` (60, the protocol's
        ``analysis.face_resolution_px``). None fits in the frame as it is.
    """

    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    step: int = 1
    encodings_per_track: int = 2
    encode_every_s: float = 2.0
    fer: bool = True
    rotate: int = 0
    analysis_face_px: float | None = ANALYSIS_FACE_PX

    def as_dict(self) -> dict:
        return asdict(self)
