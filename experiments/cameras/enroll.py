"""Enrollment: one face snapshot per participant, from the camera that sees the seat.

A camera lists the seats it sees from left to right; a wide camera's frame is
cut into equal vertical strips, one per seat, and a dedicated camera (one
seat) gives its whole frame. The snapshot is the newest recorded frame, read
from the camera's file, so enrollment needs no extra channel to the capture
process and shows exactly what was recorded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .mjpeg_store import camera_paths, last_frame_row, read_frame
from .source import CameraSpec


def seat_camera(specs: list[CameraSpec], seat: str) -> tuple[CameraSpec, int] | None:
    """The camera that sees ``seat`` best (fewest seats in view) and the seat's position.

    Examples
    --------
    >>> wide = CameraSpec("wide", file="w.avi", seats=("A", "B", "C"))
    >>> solo = CameraSpec("b", file="b.mp4", seats=("B",))
    >>> cam, pos = seat_camera([wide, solo], "B"); cam.name, pos
    ('b', 0)
    >>> cam, pos = seat_camera([wide, solo], "C"); cam.name, pos
    ('wide', 2)
    """
    seeing = [s for s in specs if seat in s.seats]
    if not seeing:
        return None
    best = min(seeing, key=lambda s: len(s.seats))
    return best, list(best.seats).index(seat)


def seat_slice(image: np.ndarray, position: int, n_seats: int) -> np.ndarray:
    """The vertical strip of ``image`` showing seat number ``position`` of ``n_seats``.

    Examples
    --------
    >>> seat_slice(np.zeros((270, 480, 3)), 1, 3).shape
    (270, 160, 3)
    """
    width = image.shape[1]
    left = round(width * position / n_seats)
    right = round(width * (position + 1) / n_seats)
    return image[:, left:right]


def newest_frame(session_dir: Path, name: str, timeout: float = 5.0) -> np.ndarray | None:
    """The newest frame camera ``name`` has written, waiting up to ``timeout`` s for one.

    Examples
    --------
    >>> newest_frame(ses, "wide").shape
    (512, 512, 3)
    """
    video, table = camera_paths(session_dir, name)
    deadline = time.monotonic() + timeout
    while True:
        row = last_frame_row(table)
        if row is not None:
            try:
                return read_frame(video, row)
            except ValueError:  # its row is flushed just before its bytes
                pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def enroll_participants(
    specs: list[CameraSpec],
    session_dir: Path,
    participants: dict[str, str],
    enroll_dir: Path,
    timeout: float = 5.0,
) -> dict[str, Path]:
    """Write ``<enroll_dir>/<participant_id>.png`` for every seated participant.

    Parameters
    ----------
    specs : list of CameraSpec
        Cameras that are recording.
    session_dir : Path
        Session folder holding their ``cam-<name>.mjpg`` files.
    participants : dict
        ``{seat_id: participant_id}``.
    enroll_dir : Path
        Output folder (created).
    timeout : float
        Seconds to wait for a camera's first frame.

    Returns
    -------
    dict
        ``{participant_id: Path}``; a participant whose seat no recording camera
        sees is left out.

    Examples
    --------
    One wide camera seeing seats A and B: each participant gets their half of its newest frame.

    >>> wide = CameraSpec("wide", file="wide.avi", seats=("A", "B"))
    >>> enroll_participants([wide], ses, {"A": "P01", "B": "P02"}, tmp / "enroll")
    {'P01': PosixPath('.../enroll/P01.png'), 'P02': PosixPath('.../enroll/P02.png')}
    """
    import cv2

    enroll_dir = Path(enroll_dir)
    enroll_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[str, np.ndarray | None] = {}
    out: dict[str, Path] = {}
    for seat, pid in participants.items():
        found = seat_camera(specs, seat)
        if found is None:
            continue
        spec, position = found
        if spec.name not in frames:
            frames[spec.name] = newest_frame(Path(session_dir), spec.name, timeout)
        image = frames[spec.name]
        if image is None:
            continue
        path = enroll_dir / f"{pid}.png"
        cv2.imwrite(str(path), seat_slice(image, position, len(spec.seats)))
        out[pid] = path
    return out
