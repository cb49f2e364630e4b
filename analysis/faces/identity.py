"""Who is who: face encodings, enrollment matching with the seat plan, clustering.

Identity is decided per *track* (a face followed over frames), so temporal
continuity comes for free: a track keeps one identity over its whole life.
Encodings (dlib ResNet, 128-d, about 115 ms each) are computed only on a few
detected frames per track. A track whose faces match no enrolled participant
within ``tolerance`` stays ``unknown``; it is never forced onto a participant.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from .detect import detect_faces, detection_scale, fit_landmarks, to_grey
from .models import face_encoder

#: Label of a face that matches no participant.
UNKNOWN = "unknown"

#: Encoding distance at which two faces count as the same person (face_recognition's default).
DEFAULT_TOLERANCE = 0.6


def face_encoding(bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """128-d dlib face encoding of the face with these 68 landmarks.

    Parameters
    ----------
    bgr : numpy.ndarray
        The frame (BGR as read by OpenCV, or grey).
    landmarks : numpy.ndarray
        (68, 2) landmarks of the face in that frame.

    Returns
    -------
    numpy.ndarray
        (128,) float vector; distances below about 0.6 mean the same person.

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> img = astronaut()[:, :, ::-1].copy()
    >>> g = to_grey(img)
    >>> box = detect_faces(g)[0][0]
    >>> face_encoding(img, fit_landmarks(g, box)).shape
    (128,)
    """
    import dlib

    rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB) if bgr.ndim == 2 else np.ascontiguousarray(bgr[:, :, 2::-1])
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks])
    return np.asarray(face_encoder().compute_face_descriptor(rgb, shape), dtype=float)


def face_chip(bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150x150 aligned RGB face chip dlib's encoder takes (cheap; encode later).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> img = astronaut()[:, :, ::-1].copy()
    >>> g = to_grey(img)
    >>> face_chip(img, fit_landmarks(g, detect_faces(g)[0][0])).shape
    (150, 150, 3)
    """
    import dlib

    rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB) if bgr.ndim == 2 else np.ascontiguousarray(bgr[:, :, 2::-1])
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks])
    return np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))


def encode_chips(chips) -> np.ndarray:
    """Mean 128-d encoding of several face chips of one person (:func:`face_chip`).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> img = astronaut()[:, :, ::-1].copy()
    >>> g = to_grey(img)
    >>> pts = fit_landmarks(g, detect_faces(g)[0][0])
    >>> bool(np.allclose(encode_chips([face_chip(img, pts)]), face_encoding(img, pts)))
    True
    """
    chips = [np.ascontiguousarray(c) for c in chips]
    enc = face_encoder().compute_face_descriptor(chips)
    return np.mean(np.asarray([np.asarray(e) for e in enc], dtype=float), axis=0)


def encode_image_faces(
    bgr: np.ndarray, min_face_px: float | None = None, analysis_px: float | None = None
) -> pd.DataFrame:
    """Find every face in a still image and encode it.

    Parameters
    ----------
    bgr : numpy.ndarray
        The image (BGR or grey).
    min_face_px : float, optional
        Smallest face width to find; default the larger of 40 px and 1/25 of
        the image's longer side, and if that finds nothing in a small image
        (enrollment snapshots are seat slices of a camera frame), 27 px.
    analysis_px : float, optional
        Common analysis resolution the landmarks are fitted at
        (:func:`~.detect.fit_at_resolution`); None (default) fits each face as
        it is in the image.

    Returns
    -------
    pandas.DataFrame
        One row per face: face_x, face_y, face_w, face_h (px), detection_confidence,
        and ``encoding`` (128-d array), ``landmarks`` ((68, 2) array).

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> len(encode_image_faces(astronaut()[:, :, ::-1].copy()))
    1
    """
    grey = to_grey(bgr)
    auto = min_face_px is None
    if auto:
        min_face_px = max(40.0, max(grey.shape) / 25.0)
    boxes, scores = detect_faces(grey, detection_scale(min_face_px))
    if auto and len(boxes) == 0 and max(grey.shape) <= 800:
        boxes, scores = detect_faces(grey, 3.0)
    rows = []
    for box, score in zip(boxes, scores):
        pts = fit_landmarks(grey, box, analysis_px)
        rows.append(
            {
                "face_x": box[0],
                "face_y": box[1],
                "face_w": box[2],
                "face_h": box[3],
                "detection_confidence": float(score),
                "encoding": face_encoding(bgr, pts),
                "landmarks": pts,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["face_x", "face_y", "face_w", "face_h", "detection_confidence", "encoding", "landmarks"],
    )


def enrollment_encodings(enroll_dir: Path, participant_ids) -> tuple[dict, list[str]]:
    """Encodings of each participant's enrollment snapshot ``enroll/<participant_id>.png``.

    Parameters
    ----------
    enroll_dir : Path
        The session's ``enroll/`` folder.
    participant_ids : iterable of str

    Returns
    -------
    encodings : dict
        participant_id -> (128,) encoding (participants without a usable photo are absent).
    notes : list of str
        What was missing or ambiguous (no file, no face, several faces: largest used).

    Examples
    --------
    >>> enrollment_encodings(Path("/nonexistent"), ["P01"])[1]
    ['P01: no enrollment snapshot; identity from the seat plan only']
    """
    encodings, notes = {}, []
    for pid in participant_ids:
        hits = sorted(Path(enroll_dir).glob(f"{pid}.*")) if Path(enroll_dir).is_dir() else []
        if not hits:
            notes.append(f"{pid}: no enrollment snapshot; identity from the seat plan only")
            continue
        img = cv2.imread(str(hits[0]))
        if img is None:
            raise AnalysisError(
                f"{hits[0]}: cannot read the enrollment image",
                hint="enrollment snapshots are PNG or JPEG files",
            )
        faces = encode_image_faces(img)
        if faces.empty:
            notes.append(f"{hits[0].name}: no face found; identity from the seat plan only")
            continue
        if len(faces) > 1:
            notes.append(f"{hits[0].name}: {len(faces)} faces; the largest is used")
        best = faces.iloc[int(np.argmax(faces["face_w"].to_numpy()))]
        encodings[pid] = best["encoding"]
    return encodings, notes


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def assign_tracks(
    tracks: pd.DataFrame,
    participants: list[str],
    seats: dict,
    camera_seats: list[str],
    enrollment: dict,
    tolerance: float = DEFAULT_TOLERANCE,
) -> pd.DataFrame:
    """Give each track a participant (or ``unknown``) from enrollment encodings and seats.

    Cost of track -> participant: the encoding distance to the participant's
    enrollment (must be <= ``tolerance``) plus 0.25 x the horizontal distance
    (fraction of frame width) between the track and the participant's seat slot.
    Without an enrollment encoding, a track is given to a participant only when
    it sits inside that seat's slot (cost 1 + distance, so encoding matches win).
    Assignment is greedy by cost, and one participant never gets two tracks
    that are visible at the same time.

    Parameters
    ----------
    tracks : pandas.DataFrame
        One row per track: track_id, first_frame, last_frame, x_center (0-1 of
        frame width), encoding (mean 128-d array or None).
    participants : list of str
        Participants this camera may see.
    seats : dict
        participant_id -> seat id.
    camera_seats : list of str
        Seats left to right in this camera's view (protocol ``cameras[].seats``).
    enrollment : dict
        participant_id -> encoding.
    tolerance : float

    Returns
    -------
    pandas.DataFrame
        track_id, participant_id (``unknown`` if none), identity_confidence (0-1).

    Examples
    --------
    >>> tr = pd.DataFrame({"track_id": [1, 2], "first_frame": [0, 0], "last_frame": [9, 9],
    ...                    "x_center": [0.2, 0.8], "encoding": [None, None]})
    >>> assign_tracks(tr, ["P1", "P2"], {"P1": "A", "P2": "B"}, ["A", "B"], {})["participant_id"].tolist()
    ['P1', 'P2']
    """
    n = max(len(camera_seats), 1)
    half_slot = 0.5 / n
    options = []
    for r in tracks.itertuples(index=False):
        for pid in participants:
            seat = seats.get(pid)
            seat_dist = (
                abs(r.x_center - (camera_seats.index(seat) + 0.5) / n) if seat in camera_seats else 1.0
            )
            enc = enrollment.get(pid)
            if enc is not None and r.encoding is not None:
                d = float(np.linalg.norm(np.asarray(r.encoding) - enc))
                if d <= tolerance:
                    options.append(
                        (d + 0.25 * seat_dist, r.track_id, pid, float(np.clip(1 - d / tolerance, 0, 1)))
                    )
            elif enc is None and seat_dist <= half_slot:
                options.append((1.0 + seat_dist, r.track_id, pid, float(0.5 * (1 - seat_dist / half_slot))))
    span = {r.track_id: (r.first_frame, r.last_frame) for r in tracks.itertuples(index=False)}
    chosen: dict = {}
    taken: dict[str, list] = {}
    for _cost, tid, pid, conf in sorted(options, key=lambda o: (o[0], o[1])):
        if tid in chosen:
            continue
        if any(_overlaps(span[tid], span[o]) for o in taken.get(pid, [])):
            continue
        chosen[tid] = (pid, conf)
        taken.setdefault(pid, []).append(tid)
    return pd.DataFrame(
        {
            "track_id": tracks["track_id"].to_numpy(),
            "participant_id": [chosen.get(t, (UNKNOWN, np.nan))[0] for t in tracks["track_id"]],
            "identity_confidence": [chosen.get(t, (UNKNOWN, np.nan))[1] for t in tracks["track_id"]],
        }
    )


def cluster_encodings(encodings, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Group face encodings by person (average-linkage clustering cut at ``tolerance``).

    Parameters
    ----------
    encodings : sequence of (128,) arrays

    Returns
    -------
    numpy.ndarray
        Integer cluster label per encoding, numbered 0, 1, ... in order of first appearance.

    Examples
    --------
    >>> e = np.zeros((3, 128)); e[2, 0] = 1.0
    >>> cluster_encodings(e).tolist()
    [0, 0, 1]
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.asarray(list(encodings), dtype=float).reshape(-1, 128)
    if len(x) == 0:
        return np.zeros(0, dtype=int)
    if len(x) == 1:
        return np.zeros(1, dtype=int)
    raw = fcluster(linkage(x, method="average", metric="euclidean"), t=tolerance, criterion="distance")
    order = {}
    for label in raw:
        order.setdefault(label, len(order))
    return np.array([order[label] for label in raw], dtype=int)


def label_tracks_by_cluster(tracks: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE) -> pd.DataFrame:
    """Label tracks without enrollment: same person -> same label ``face01``, ``face02``...

    Tracks are clustered on their mean encodings; labels are numbered left to
    right by the cluster's median horizontal position, so reruns give the same
    labels. Two tracks of one cluster visible at once keep separate labels
    (one person cannot be in two places).

    Parameters
    ----------
    tracks : pandas.DataFrame
        track_id, first_frame, last_frame, x_center, encoding (or None).

    Returns
    -------
    pandas.DataFrame
        track_id, participant_id, identity_confidence (1 - mean distance to the
        cluster centre / tolerance).

    Examples
    --------
    >>> e1, e2 = np.zeros(128), np.ones(128)
    >>> tr = pd.DataFrame({"track_id": [1, 2, 3], "first_frame": [0, 0, 20],
    ...     "last_frame": [10, 30, 30], "x_center": [0.2, 0.8, 0.25], "encoding": [e1, e2, e1]})
    >>> label_tracks_by_cluster(tr)["participant_id"].tolist()
    ['face01', 'face02', 'face01']
    """
    tracks = tracks.reset_index(drop=True)
    has = [i for i, e in enumerate(tracks["encoding"]) if e is not None]
    labels = np.full(len(tracks), -1)
    if has:
        labels[has] = cluster_encodings([tracks["encoding"][i] for i in has], tolerance)
    nxt = labels.max() + 1 if len(labels) else 0
    for i in range(len(tracks)):
        if labels[i] < 0:
            labels[i] = nxt
            nxt += 1
    # split clusters holding tracks visible at the same time: each track joins the
    # sub-group (of its cluster) nearest in x that it does not overlap in time
    first, last, xc = (tracks[c].to_numpy() for c in ("first_frame", "last_frame", "x_center"))
    for lab in sorted(set(labels.tolist())):
        groups: list[list[int]] = []
        for i in sorted(np.flatnonzero(labels == lab), key=lambda i: (first[i], i)):
            free = [
                g for g in groups if not any(_overlaps((first[i], last[i]), (first[k], last[k])) for k in g)
            ]
            if free:
                min(free, key=lambda g: abs(np.median(xc[g]) - xc[i])).append(i)
            else:
                groups.append([i])
        for g in groups[1:]:
            labels[g] = nxt
            nxt += 1
    xs = {lab: float(np.median(tracks["x_center"][labels == lab])) for lab in set(labels.tolist())}
    rank = {lab: k + 1 for k, lab in enumerate(sorted(xs, key=lambda lab: (xs[lab], lab)))}
    conf = []
    for i, lab in enumerate(labels):
        enc = tracks["encoding"][i]
        peers = [
            tracks["encoding"][k] for k in np.flatnonzero(labels == lab) if tracks["encoding"][k] is not None
        ]
        if enc is None or not peers:
            conf.append(np.nan)
            continue
        d = float(np.linalg.norm(np.asarray(enc) - np.mean(peers, axis=0)))
        conf.append(float(np.clip(1 - d / tolerance, 0, 1)))
    return pd.DataFrame(
        {
            "track_id": tracks["track_id"].to_numpy(),
            "participant_id": [f"face{rank[lab]:02d}" for lab in labels],
            "identity_confidence": conf,
        }
    )
