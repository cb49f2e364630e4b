"""Cameras mounted sideways or upside down: turn frames, and notice when faces only appear turned.

dlib's HOG detector finds upright faces only (within about +-30 deg of
roll), so a phone filming in portrait on its side or a camera mounted upside
down gives "faces found in 0% of frames" with no hint why. The protocol's
``cameras[].rotate`` (0, 90, 180, 270 degrees clockwise) turns every frame
before faces are found (:func:`rotate_image`; the recording stays as
filmed). :func:`check_orientation` looks at the first seconds of a video,
or at single images such as rig-check's previews, at each of the four turns,
and :func:`orientation_advice` says what to set when faces are found only in
a turned frame.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .detect import detect_faces, detection_scale, to_grey

#: The turns tried (degrees clockwise), the protocol's ``cameras[].rotate`` values.
ROTATIONS = (0, 90, 180, 270)

_CV_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def rotate_image(img: np.ndarray, degrees: int) -> np.ndarray:
    """The frame turned ``degrees`` clockwise (0, 90, 180 or 270).

    Examples
    --------
    >>> img = np.zeros((2, 3), np.uint8); img[0, 2] = 9     # top right
    >>> rotate_image(img, 90).shape, int(rotate_image(img, 90)[2, 1])   # now bottom right
    ((3, 2), 9)
    """
    degrees = int(degrees) % 360
    if degrees == 0:
        return img
    if degrees not in _CV_ROTATE:
        raise ValueError(f"rotate must be 0, 90, 180 or 270 (got {degrees})")
    return cv2.rotate(img, _CV_ROTATE[degrees])


class OrientationCheck(NamedTuple):
    """What :func:`check_orientation` found.

    Attributes
    ----------
    images : int
        Images looked at.
    faces_by_rotation : dict
        Degrees clockwise (relative to the frames as given) -> images with at least one face.
    best : int
        The turn that found faces in the most images (0 on a tie with 0, or when none found any).
    """

    images: int
    faces_by_rotation: dict
    best: int


def check_orientation(images, min_face_px: float = 60.0) -> OrientationCheck:
    """Try the four turns of each image and count the images with a face at each.

    Parameters
    ----------
    images : iterable of numpy.ndarray
        BGR or grey frames (a few, e.g. one every half second of the first seconds).
    min_face_px : float
        Smallest face to look for (as ``coaffect score --min-face-px``).

    Returns
    -------
    OrientationCheck

    Examples
    --------
    >>> from skimage.data import astronaut
    >>> sideways = rotate_image(astronaut()[:, :, ::-1], 270)       # filmed with the camera on its side
    >>> check_orientation([sideways]).best
    90
    """
    counts = dict.fromkeys(ROTATIONS, 0)
    n = 0
    for img in images:
        grey = to_grey(img)
        n += 1
        for deg in ROTATIONS:
            turned = rotate_image(grey, deg)
            scale = min(1.0, detection_scale(min_face_px))
            boxes, _ = detect_faces(turned, scale=scale)
            counts[deg] += int(len(boxes) > 0)
    best = max(ROTATIONS, key=lambda d: (counts[d], d == 0))
    if counts[best] == counts[0]:
        best = 0
    return OrientationCheck(n, counts, best)


def first_seconds(path, seconds: float = 5.0, every_s: float = 0.5, frame_table=None) -> list:
    """Frames from the first ``seconds`` of a video, one every ``every_s`` (for :func:`check_orientation`).

    Examples
    --------
    >>> len(first_seconds("../shared/data/single/single_face.mp4", 1.0, 0.5))
    2
    """
    from .frames import VideoRange, open_range

    video = VideoRange.of(path, frame_table=frame_table)
    cap, fps, _n, _ = open_range(video.part(0, 1), 1)
    if cap is not None:
        cap.release()
    step = max(1, int(round(every_s * fps)))
    stop = max(1, int(round(seconds * fps)))
    cap, _fps, _n, frames = open_range(video.part(0, stop), step)
    try:
        return [img for _i, img, scored in frames if scored and img is not None]
    finally:
        if cap is not None:
            cap.release()


def orientation_advice(camera: str, check: OrientationCheck, rotate: int = 0) -> str | None:
    """A message when faces are found only in a turned frame, else None.

    Parameters
    ----------
    camera : str
        Camera name (``cam-<name>``).
    check : OrientationCheck
        Of frames already turned by ``rotate``.
    rotate : int
        The protocol's current ``cameras[].rotate``.

    Examples
    --------
    >>> c = OrientationCheck(10, {0: 0, 90: 9, 180: 0, 270: 0}, 90)
    >>> print(orientation_advice("wide", c))
    cam-wide: no face found as filmed, but faces in 9 of 10 frames when turned 90 deg clockwise: the camera is probably mounted sideways; set 'rotate: 90' for this camera in the protocol (cameras[].rotate), then score again ('coaffect score --force')
    """
    if check.best == 0 or check.faces_by_rotation.get(0, 0) > 0:
        return None
    total = (int(rotate) + check.best) % 360
    return (
        f"cam-{camera}: no face found as filmed, but faces in {check.faces_by_rotation[check.best]} of "
        f"{check.images} frames when turned {check.best} deg clockwise: the camera is probably mounted "
        f"{'upside down' if check.best == 180 else 'sideways'}; set 'rotate: {total}' for this camera in "
        "the protocol (cameras[].rotate), then score again ('coaffect score --force')"
    )


def image_orientation_advice(camera: str, image_path, rotate: int = 0) -> str | None:
    """:func:`orientation_advice` for one saved frame (rig-check's ``rig-check-<camera>.png``).

    Examples
    --------
    >>> image_orientation_advice("wide", "/nonexistent.png") is None
    True
    """
    img = cv2.imread(str(image_path))
    if img is None:
        return None
    return orientation_advice(camera, check_orientation([rotate_image(img, rotate)]), rotate)
