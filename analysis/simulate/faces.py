"""Synthetic faces with known expressions: a real photo animated by landmark warps.

A real face photograph (default ``skimage.data.astronaut()``, shipped with
scikit-image) is animated by moving its 68 landmarks as prescribed action-unit
intensities say (0 = neutral, 1 = strong) and warping the image piecewise
affinely (Delaunay triangles of the landmarks plus fixed anchors around the
face). The result is a video with ground truth: tests check that the scorer
recovers the injected intensities, and the demo uses the group version as its
camera feed on a machine without the shared media.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import write_tsv

#: Action units the generator can inject.
SYNTHETIC_UNITS = ("AU01", "AU02", "AU04", "AU12", "AU15", "AU26", "AU45")

# iBUG-68 points the units move on the subject's right side (image left) and their mirror
# twins on the left side; the midline points (8 chin, 57 and 66 lower lip) have none.
_MIRROR = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 4: 12, 5: 11, 6: 10, 7: 9}
_MIRROR |= {48: 54, 49: 53, 59: 55, 60: 64, 61: 63, 67: 65, 58: 56}


def _both_sides(moves: dict) -> dict:
    """One side's moves and their mirror images (dx negated): every unit moves both sides alike."""
    return {**moves, **{_MIRROR[i]: (-dx, dy) for i, (dx, dy) in moves.items() if i in _MIRROR}}


# landmark index -> (dx, dy) per unit intensity, in inter-ocular distances (y down, x to the
# subject's left = image right). Each unit moves only the points FACS describes.
_JAW_DROP = dict(zip(range(4, 9), (0.3, 0.6, 0.8, 0.95, 1)))  # share of the chin's drop, points 4-8
_MOVES = {
    "AU01": _both_sides({21: (0, -0.13), 20: (0, -0.08), 19: (0, -0.03)}),
    "AU02": _both_sides({17: (0, -0.13), 18: (0, -0.10), 19: (0, -0.05)}),
    "AU04": _both_sides({17: (0, 0.04), 18: (0, 0.06), 19: (0.02, 0.08), 20: (0.04, 0.09), 21: (0.06, 0.10)}),
    "AU12": _both_sides(
        {48: (-0.09, -0.11), 60: (-0.07, -0.09), 49: (-0.04, -0.06), 59: (-0.05, -0.05)}
        | {61: (-0.02, -0.03), 67: (-0.02, -0.02)}
    ),
    "AU15": _both_sides({48: (0.01, 0.10), 60: (0.01, 0.08), 49: (0, 0.04), 59: (0, 0.05)}),
    "AU26": _both_sides(
        {i: (0, 0.22 * w) for i, w in _JAW_DROP.items()}
        | {58: (0, 0.20), 57: (0, 0.22), 59: (0, 0.12), 67: (0, 0.18), 66: (0, 0.20)}
    ),
    "AU45": {},  # filled per face: upper lids down to the lower lids
}


def base_face(image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The photo (BGR) and its 68 landmarks.

    Parameters
    ----------
    image : numpy.ndarray, optional
        A BGR photo with one clear frontal face; default the astronaut photo.

    Examples
    --------
    >>> img, pts = base_face()
    >>> img.shape, pts.shape
    ((512, 512, 3), (68, 2))
    """
    from ..faces.detect import detect_faces, fit_landmarks, to_grey

    if image is None:
        from skimage.data import astronaut

        image = np.ascontiguousarray(astronaut()[:, :, ::-1])
    grey = to_grey(image)
    boxes, scores = detect_faces(grey, 1.0)
    if len(boxes) == 0:
        boxes, scores = detect_faces(grey, 2.0)
    if len(boxes) == 0:
        raise AnalysisError(
            "no face found in the photo to animate",
            hint="give a photo with one clear frontal face at least 40 px wide",
        )
    best = int(np.argmax(boxes[:, 2]))
    return image, fit_landmarks(grey, boxes[best])


def displaced_landmarks(points: np.ndarray, intensities: dict) -> np.ndarray:
    """Landmarks moved by action-unit intensities (0 = neutral, 1 = strong).

    Examples
    --------
    >>> pts = base_face()[1]
    >>> moved = displaced_landmarks(pts, {"AU12": 1.0})
    >>> bool(moved[48, 1] < pts[48, 1])   # lip corner pulled up
    True
    """
    pts = np.asarray(points, dtype=float)
    left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
    d = right - left
    iod = float(np.hypot(*d))
    ex, ey = d / iod, np.array([-d[1], d[0]]) / iod  # face axes in the image
    out = pts.copy()
    for au, a in intensities.items():
        a = float(a)
        if a == 0:
            continue
        if au == "AU45":
            for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
                out[up] += 0.9 * a * (pts[low] - pts[up])
            continue
        for i, (dx, dy) in _MOVES[au].items():
            out[i] += a * iod * (dx * ex + dy * ey)
    return out


def _anchors(points: np.ndarray, shape) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    c, r = (lo + hi) / 2, (hi - lo) * 0.9
    ring = [c + r * np.array([np.cos(a), np.sin(a)]) for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
    h, w = shape[:2]
    corners = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
    return np.vstack([np.clip(ring, 0, [w - 1, h - 1]), corners]).astype(float)


def warp_face(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp moving landmarks ``src`` to ``dst`` (anchors fixed).

    Examples
    --------
    >>> img, pts = base_face()
    >>> warp_face(img, pts, pts).shape
    (512, 512, 3)
    """
    from scipy.spatial import Delaunay

    anchors = _anchors(src, image.shape)
    s = np.vstack([src, anchors]).astype(np.float32)
    t = np.vstack([dst, anchors]).astype(np.float32)
    out = image.copy()
    h, w = image.shape[:2]
    for tri in Delaunay(s[:-4]).simplices:  # the ring encloses the face; corners not needed
        st, dt = s[tri], t[tri]
        if np.allclose(st, dt):
            continue
        x0, y0 = np.floor(dt.min(axis=0)).astype(int)
        x1, y1 = np.ceil(dt.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        m = cv2.getAffineTransform(st, dt - np.float32([x0, y0]))
        patch = cv2.warpAffine(
            image, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(dt - [x0, y0]).astype(np.int32), 1, lineType=cv2.LINE_8)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


def _bump(t, start, rise, hold, fall):
    up = np.clip((t - start) / rise, 0, 1)
    down = np.clip(1 - (t - start - rise - hold) / fall, 0, 1)
    return np.minimum(up, down)


def au_schedule(n_frames: int, fps: float = 15.0, offset_s: float = 0.0) -> pd.DataFrame:
    """A default expression schedule: smile onset/offset, brow raise, frown, jaw drop, blinks.

    Intensities are 0 (neutral) to 1 (strong). The first 1.5 s are neutral
    (a baseline). ``offset_s`` shifts every event, so faces in a group video differ.

    Returns
    -------
    pandas.DataFrame
        frame, t (s), and one column per unit of :data:`SYNTHETIC_UNITS`.

    Examples
    --------
    >>> s = au_schedule(150, 15)
    >>> float(s["AU12"].max()), float(s.loc[s["t"] < 1.5, SYNTHETIC_UNITS].to_numpy().max())
    (1.0, 0.0)
    """
    t = np.arange(n_frames) / float(fps)
    period = max(n_frames / float(fps), 1e-9)
    u = (t - offset_s - 1.5) % max(period - 1.5, 1e-9) + 1.5 if offset_s else t
    u = np.where(t < 1.5, 0.0, u)
    span = max(period - 1.5, 1.0)
    f = lambda a, b: 1.5 + span * a  # noqa: E731  (event times as fractions of the active span)
    sched = {
        "AU12": _bump(u, f(0.0, 0), 0.12 * span, 0.14 * span, 0.12 * span),
        "AU01": _bump(u, f(0.42, 0), 0.06 * span, 0.08 * span, 0.06 * span),
        "AU02": _bump(u, f(0.42, 0), 0.06 * span, 0.08 * span, 0.06 * span) * 0.8,
        "AU04": _bump(u, f(0.66, 0), 0.05 * span, 0.06 * span, 0.05 * span),
        "AU15": _bump(u, f(0.66, 0), 0.05 * span, 0.06 * span, 0.05 * span) * 0.8,
        "AU26": _bump(u, f(0.86, 0), 0.04 * span, 0.04 * span, 0.04 * span),
        "AU45": np.maximum(
            _bump(u, f(0.38, 0), 0.02 * span, 0.0, 0.02 * span),
            _bump(u, f(0.62, 0), 0.02 * span, 0.0, 0.02 * span),
        ),
    }
    out = pd.DataFrame({"frame": np.arange(n_frames), "t": t})
    for au in SYNTHETIC_UNITS:
        out[au] = np.round(np.where(t < 1.5, 0.0, sched[au]), 4)
    return out


def bittersweet_schedule(n_frames: int, fps: float = 15.0) -> pd.DataFrame:
    """A mixed-expression schedule: smile alone, brows alone, then both at once.

    After 1.5 s of neutral baseline the active span is cut in thirds, each with
    one plateau: ``smile`` (AU12), ``brows`` (AU01 + AU04, the oblique "sad"
    brow) and ``bittersweet`` (AU12 with AU01 + AU04). The ``phase`` column
    names the plateau each frame belongs to (``baseline`` / ``rest`` otherwise).

    Returns
    -------
    pandas.DataFrame
        frame, t, phase, and one column per unit of :data:`SYNTHETIC_UNITS`.

    Examples
    --------
    >>> s = bittersweet_schedule(150, 15)
    >>> s.groupby("phase")[["AU12", "AU01", "AU04"]].max().loc[["smile", "brows", "bittersweet"]].values.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    t = np.arange(n_frames) / float(fps)
    span = max(t[-1] - 1.5, 1.0) / 3 if n_frames else 1.0
    out = pd.DataFrame({"frame": np.arange(n_frames), "t": t, "phase": "rest"})
    for au in SYNTHETIC_UNITS:
        out[au] = 0.0
    for k, (phase, units) in enumerate(
        (("smile", ("AU12",)), ("brows", ("AU01", "AU04")), ("bittersweet", ("AU12", "AU01", "AU04")))
    ):
        start = 1.5 + k * span
        level = _bump(t, start, 0.25 * span, 0.5 * span, 0.25 * span)
        for au in units:
            out[au] = np.maximum(out[au], np.round(level, 4))
        out.loc[level >= 1.0, "phase"] = phase
    out.loc[t < 1.5, "phase"] = "baseline"
    return out


def _writer(path: Path, fps: float, size) -> cv2.VideoWriter:
    fourcc = {".avi": "MJPG", ".mp4": "mp4v"}.get(path.suffix.lower())
    if fourcc is None:
        raise AnalysisError(f"{path}: video extension '{path.suffix}' not supported (allowed: .avi, .mp4)")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))
    if not writer.isOpened():
        raise AnalysisError(f"{path}: OpenCV cannot write this video")
    return writer


def write_synthetic_video(
    path,
    schedule: pd.DataFrame | None = None,
    fps: float = 15.0,
    n_frames: int = 90,
    image: np.ndarray | None = None,
) -> pd.DataFrame:
    """Animate one face with a known schedule; write the video and ``<stem>_truth.tsv``.

    Parameters
    ----------
    path : str or Path
        Output video (.avi MJPG or .mp4 mp4v).
    schedule : pandas.DataFrame, optional
        From :func:`au_schedule` (default: ``au_schedule(n_frames, fps)``).
    image : numpy.ndarray, optional
        BGR photo to animate (default: the astronaut).

    Returns
    -------
    pandas.DataFrame
        The ground truth (also written as TSV next to the video).

    Examples
    --------
    >>> truth = write_synthetic_video(tmp / "face.avi", n_frames=3)
    >>> truth.shape, sorted(p.name for p in tmp.iterdir())
    ((3, 9), ['face.avi', 'face_truth.tsv'])
    """
    path = Path(path)
    schedule = au_schedule(n_frames, fps) if schedule is None else schedule
    img, pts = base_face(image)
    writer = _writer(path, fps, (img.shape[1], img.shape[0]))
    try:
        for row in schedule[list(SYNTHETIC_UNITS)].itertuples(index=False):
            intens = dict(zip(SYNTHETIC_UNITS, row))
            writer.write(warp_face(img, pts, displaced_landmarks(pts, intens)))
    finally:
        writer.release()
    write_tsv(schedule, path.with_name(path.stem + "_truth.tsv"))
    return schedule


def write_group_video(
    path,
    n_faces: int = 3,
    fps: float = 15.0,
    duration_s: float = 10.0,
    size=(640, 480),
    image: np.ndarray | None = None,
    shown=None,
) -> pd.DataFrame:
    """A "group camera": ``n_faces`` animated faces side by side, each with its own schedule.

    Face k (0 = leftmost) runs :func:`au_schedule` shifted by k x 1.7 s, so the
    faces differ. All faces come from the same photo, so identity in this video
    can only come from the seat plan (left to right), not from encodings.
    ``shown`` (0-based places, default all) leaves the other places empty: the
    same room with empty seats, e.g. ``shown=[0]`` for an alone participant on
    the leftmost seat.

    Returns
    -------
    pandas.DataFrame
        Ground truth: face (1-based, left to right), frame, t, and the unit columns;
        also written as ``<stem>_truth.tsv``.

    Examples
    --------
    >>> truth = write_group_video(tmp / "wide.avi", n_faces=3, duration_s=0.2)
    >>> sorted(truth["face"].unique().tolist())
    [1, 2, 3]
    """
    if n_faces < 1:
        raise AnalysisError(f"n_faces must be at least 1 (got {n_faces})")
    path = Path(path)
    width, height = int(size[0]), int(size[1])
    n_frames = max(1, int(round(duration_s * fps)))
    img, pts = base_face(image)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    c = (lo + hi) / 2
    # head and neck only: clothing badges and logos give HOG false positives
    img = img.copy()
    img[int(hi[1] + 0.45 * (hi[1] - lo[1])) :] = 60
    tile_w = width // n_faces
    face_w = float(hi[0] - lo[0])
    # a face about 0.45 of the tile wide (at least ~85 px for 3 faces in 640 px)
    zoom = min(0.45 * tile_w / face_w, 0.55 * height / float(hi[1] - lo[1]))
    places = sorted(set(range(n_faces) if shown is None else shown))
    if not places or not set(places) <= set(range(n_faces)):
        raise AnalysisError(f"shown: must name places 0..{n_faces - 1} (got {shown})", field="shown")
    schedules = {k: au_schedule(n_frames, fps, offset_s=1.7 * k) for k in places}
    writer = _writer(path, fps, (width, height))
    try:
        for f in range(n_frames):
            canvas = np.full((height, width, 3), 60, np.uint8)
            for k, sched in schedules.items():
                intens = dict(zip(SYNTHETIC_UNITS, sched.loc[f, list(SYNTHETIC_UNITS)]))
                warped = warp_face(img, pts, displaced_landmarks(pts, intens))
                m = np.array(
                    [[zoom, 0, tile_w * (k + 0.5) - zoom * c[0]], [0, zoom, height * 0.45 - zoom * c[1]]]
                )
                m[0, 2] -= tile_w * k
                tile = cv2.warpAffine(
                    warped,
                    m,
                    (tile_w, height),
                    flags=cv2.INTER_AREA,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(60, 60, 60),
                )
                canvas[:, k * tile_w : (k + 1) * tile_w] = tile
            writer.write(canvas)
    finally:
        writer.release()
    truth = pd.concat([s.assign(face=k + 1) for k, s in schedules.items()], ignore_index=True)
    truth = truth[["face", "frame", "t", *SYNTHETIC_UNITS]]
    write_tsv(truth, path.with_name(path.stem + "_truth.tsv"))
    return truth
