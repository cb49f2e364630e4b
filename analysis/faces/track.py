"""Sparse detection plus landmark tracking: every face, every frame, cheaply.

HOG detection (about 50-300 ms a frame) runs on the full frame only every
``detect_every_s`` seconds; a new, not yet confirmed face is re-checked sooner
on a crop around it (a few ms). In between, each face is tracked by re-fitting its 68 landmarks
(about 1.5-3 ms) inside a box derived from its landmarks in the previous
frame. A track survives missed detections (turned heads) for up to
``max_bridge_s`` seconds, and ends at once when the tracked patch stops
looking like the previous frame's (the face left) or the box leaves the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .detect import HOG_WINDOW_PX, box_from_landmarks, detect_faces, detection_scale, fit_landmarks, iou
from .settings import TrackerSettings


@dataclass
class Track:
    """One face followed over frames."""

    track_id: int
    landmarks: np.ndarray
    box: np.ndarray
    det_score: float
    last_detected: int
    first_frame: int
    patch: np.ndarray | None = None
    detected_now: bool = True
    n_detected: int = 1
    n_full: int = 1
    best_score: float = -np.inf
    history: list = field(default_factory=list)


def _patch(grey: np.ndarray, box: np.ndarray, size: int = 24) -> np.ndarray | None:
    x, y, w, h = box
    x0, y0 = int(max(0, x)), int(max(0, y))
    x1, y1 = int(min(grey.shape[1], x + w)), int(min(grey.shape[0], y + h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    p = cv2.resize(grey[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    p -= p.mean()
    sd = p.std()
    return p / sd if sd > 1e-6 else p


def _inside_fraction(box: np.ndarray, shape) -> float:
    x, y, w, h = box
    ix = max(0.0, min(shape[1], x + w) - max(0.0, x))
    iy = max(0.0, min(shape[0], y + h) - max(0.0, y))
    return ix * iy / max(w * h, 1e-9)


class FaceTracker:
    """Follow every face through a video, frame by frame.

    Parameters
    ----------
    fps : float
        Frame rate of the video (turns the settings' seconds into frames).
    settings : TrackerSettings

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> from analysis.faces.detect import to_grey
    >>> tracker = FaceTracker(fps=25)
    >>> g = to_grey(astronaut()[:, :, ::-1])
    >>> [t.track_id for t in tracker.update(0, g)]
    [1]
    >>> [round(t.box[2]) > 60 for t in tracker.update(1, g)]
    [True]
    """

    def __init__(self, fps: float, settings: TrackerSettings | None = None):
        self.settings = settings or TrackerSettings()
        fps = float(fps) if fps and fps > 0 else 25.0
        self.detect_every = max(1, int(round(self.settings.detect_every_s * fps)))
        self.max_bridge = max(1, int(round(self.settings.max_bridge_s * fps)))
        self.scale = detection_scale(self.settings.min_face_px)
        self.tracks: list[Track] = []
        self._next_id = 1
        self.n_detections_run = 0
        self.n_local_detections = 0
        self.confirmed_ids: dict[int, bool] = {}
        self._recheck_at = -1
        self.min_width: dict[int, float] = {}

    def _follow(self, track: Track, grey: np.ndarray) -> bool:
        box = box_from_landmarks(track.landmarks)
        if _inside_fraction(box, grey.shape) < 0.6:
            return False
        pts = fit_landmarks(grey, box)
        new_box = box_from_landmarks(pts)
        patch = _patch(grey, new_box)
        if patch is None:
            return False
        if track.patch is not None and float((patch * track.patch).mean()) < self.settings.min_patch_ncc:
            return False
        track.landmarks, track.box, track.patch = pts, new_box, patch
        return True

    def update(self, frame: int, grey: np.ndarray) -> list[Track]:
        """Process one frame; return the tracks visible in it (with fresh landmarks).

        Parameters
        ----------
        frame : int
            0-based frame index (decides when detection runs).
        grey : numpy.ndarray
            The frame, 8-bit grey.

        Returns
        -------
        list of Track
            Visible faces; ``detected_now`` says whether HOG confirmed it in this frame.
        """
        alive = []
        for tr in self.tracks:
            tr.detected_now = False
            if frame - tr.last_detected > self.max_bridge:
                continue
            if self._follow(tr, grey):
                alive.append(tr)
        self.tracks = alive
        scheduled = frame % self.detect_every == 0
        if scheduled or frame == self._recheck_at:
            if scheduled:
                self._detect(frame, grey)
            else:
                self._detect_near_unconfirmed(frame, grey)
            if any(not self.confirmed(t) for t in self.tracks):
                # a new, unconfirmed face: look again soon rather than a full interval later
                self._recheck_at = frame + max(1, self.detect_every // 4)
        self._drop_duplicates()
        for tr in self.tracks:
            self.confirmed_ids[tr.track_id] = self.confirmed_ids.get(tr.track_id, False) or self.confirmed(tr)
        return list(self.tracks)

    @property
    def smallest_detected_px(self) -> float:
        """Width (px) of the smallest detection that belonged to a confirmed face."""
        widths = [w for t, w in self.min_width.items() if self.confirmed_ids.get(t)]
        return float(min(widths)) if widths else float("nan")

    def _detect(self, frame: int, grey: np.ndarray) -> None:
        self.n_detections_run += 1
        boxes, scores = detect_faces(grey, self.scale, self.settings.detect_threshold)
        pairs = sorted(
            ((iou(b, tr.box), i, j) for i, b in enumerate(boxes) for j, tr in enumerate(self.tracks)),
            reverse=True,
        )
        used_d, used_t = set(), set()
        for overlap, i, j in pairs:
            if overlap < 0.3 or i in used_d or j in used_t:
                continue
            used_d.add(i)
            used_t.add(j)
            self._confirm(self.tracks[j], grey, boxes[i], scores[i], frame)
        for j, tr in enumerate(self.tracks):
            if j not in used_t and self.confirmed(tr):
                self._verify_upright(tr, grey, frame)
        for i, b in enumerate(boxes):
            if i in used_d:
                continue
            pts = fit_landmarks(grey, b)
            tr = Track(self._next_id, pts, box_from_landmarks(pts), float(scores[i]), frame, frame)
            tr.patch = _patch(grey, tr.box)
            tr.best_score = float(scores[i])
            self._next_id += 1
            self.tracks.append(tr)
            self._note_size(tr, b)

    def _detect_near_unconfirmed(self, frame: int, grey: np.ndarray) -> None:
        """Re-run detection, at the detection scale, only around unconfirmed tracks.

        A recheck exists to confirm (or not) a new face quickly; HOG is local,
        so a crop with half a face of margin gives the same detection and score
        there as the full frame, for a few ms instead of 100-300 ms. New faces
        elsewhere wait for the next scheduled full-frame detection.
        """
        height, width = grey.shape[:2]
        for tr in self.tracks:
            if self.confirmed(tr):
                continue
            x, y, w, h = tr.box
            margin = max(0.6 * max(w, h), HOG_WINDOW_PX / self.scale)
            x0, y0 = int(max(0, x - margin)), int(max(0, y - margin))
            x1, y1 = int(min(width, x + w + margin)), int(min(height, y + h + margin))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            boxes, scores = detect_faces(
                np.ascontiguousarray(grey[y0:y1, x0:x1]), self.scale, self.settings.detect_threshold
            )
            self.n_local_detections += 1
            if not len(boxes):
                continue
            boxes[:, :2] += (x0, y0)
            overlaps = [iou(b, tr.box) for b in boxes]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= 0.3:
                self._confirm(tr, grey, boxes[best], scores[best], frame)

    def _verify_upright(self, tr: Track, grey: np.ndarray, frame: int) -> None:
        """Re-detect a tracked face in a crop rotated so its eyes are level.

        HOG misses tilted heads (head roll); undoing the roll measured from the
        tracked landmarks lets a cheap detection on a small crop confirm the
        track (about 5 ms instead of a rotated full-frame detection).
        """
        pts = tr.landmarks
        left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
        angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
        side = float(tr.box[2])
        if side < 8:
            return
        out = 3 * HOG_WINDOW_PX
        zoom = (HOG_WINDOW_PX + 20) / side
        cx, cy = tr.box[0] + side / 2, tr.box[1] + side / 2
        # Landmarks fitted in an upright box under-estimate roll: try around it.
        for extra in (0.0, -20.0, 20.0, -35.0, 35.0):
            m = cv2.getRotationMatrix2D((float(cx), float(cy)), -(angle + extra), zoom)
            m[:, 2] += (out / 2 - cx, out / 2 - cy)
            crop = cv2.warpAffine(grey, m, (out, out), flags=cv2.INTER_LINEAR)
            boxes, scores = detect_faces(crop, 1.0, self.settings.detect_threshold)
            for b, s in zip(boxes, scores):
                bc = b[:2] + b[2:] / 2
                if np.hypot(*(bc - out / 2)) < 0.6 * (HOG_WINDOW_PX + 20):
                    inv = cv2.invertAffineTransform(m)
                    crop_pts = fit_landmarks(crop, b)
                    tr.landmarks = crop_pts @ inv[:, :2].T + inv[:, 2]
                    tr.box = box_from_landmarks(tr.landmarks)
                    tr.patch = _patch(grey, tr.box)
                    tr.det_score = float(s)
                    tr.last_detected = frame
                    tr.detected_now = True
                    tr.n_detected += 1
                    return

    def _confirm(self, tr: Track, grey, box, score, frame) -> None:
        if iou(box, tr.box) < 0.7:  # tracked landmarks far from the detection: re-anchor
            tr.landmarks = fit_landmarks(grey, box)
            tr.box = box_from_landmarks(tr.landmarks)
            tr.patch = _patch(grey, tr.box)
        tr.det_score = float(score)
        tr.best_score = max(tr.best_score, float(score))
        tr.last_detected = frame
        tr.detected_now = True
        tr.n_detected += 1
        tr.n_full += 1
        self._note_size(tr, box)

    def confirmed(self, tr: Track) -> bool:
        """Whether a track has been confirmed as a face (see ``confirm_detections``)."""
        return tr.n_full >= self.settings.confirm_detections or tr.best_score >= self.settings.confirm_score

    def _note_size(self, tr: Track, box) -> None:
        self.min_width[tr.track_id] = min(self.min_width.get(tr.track_id, np.inf), float(box[2]))

    def _drop_duplicates(self) -> None:
        """Two tracks on one face (boxes overlapping, or centres within a third of a
        face width): keep the older one."""
        keep: list[Track] = []
        for tr in sorted(self.tracks, key=lambda t: t.track_id):
            c = tr.box[:2] + tr.box[2:] / 2
            if any(
                iou(tr.box, k.box) > 0.5
                or np.hypot(*(c - k.box[:2] - k.box[2:] / 2)) < 0.33 * min(tr.box[2], k.box[2])
                for k in keep
            ):
                continue
            keep.append(tr)
        self.tracks = keep
