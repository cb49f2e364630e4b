"""Camera recording on the session clock (see ``docs/cameras.md``).

The runner uses one call::

    cams = open_cameras(loaded_protocol, session_dir, clock_zero)
    cams.enroll({seat_id: participant_id}, session_dir / "enroll")
    rows = cams.poll()        # events.tsv rows for camera gaps
    summary = cams.stop()     # session.json["cameras"]

Each camera records in its own process (:mod:`.capture_process`) to
``cam-<name>.mjpg`` plus ``cam-<name>_frames.tsv``; backends are
:mod:`.opencv_device` and :mod:`.file_replay`. Importing this package imports
no OpenCV; the capture processes do.
"""

from __future__ import annotations

from pathlib import Path

from .recorder import CameraSet
from .source import CameraSpec

__all__ = ["open_cameras", "camera_specs", "CameraSet", "CameraSpec"]


def camera_specs(
    loaded_protocol, overrides: dict | None = None, condition: str | None = None
) -> list[CameraSpec]:
    """The protocol's cameras as :class:`CameraSpec`, file paths resolved.

    Parameters
    ----------
    loaded_protocol : coaffect.formats.protocol.LoadedProtocol
        The protocol; file paths are relative to its file.
    overrides : dict, optional
        ``{camera_name: video_path}``: replay this file instead (the camera
        becomes file-backed).
    condition : str, optional
        The session's condition: a camera's seats are its ``condition_seats``
        for it when given (enrollment cuts the frame by that layout).

    Examples
    --------
    >>> from coaffect.formats.protocol import load_protocol
    >>> lp = load_protocol("protocols/bittersweet-demo.yaml")
    >>> [(s.name, s.kind, s.seats) for s in camera_specs(lp, condition="alone")]
    [('wide', 'file', ('A', 'B', 'C'))]
    """
    from coaffect.formats.errors import HardwareError, did_you_mean

    overrides = dict(overrides or {})
    cams = loaded_protocol.protocol.cameras
    names = [c.name for c in cams]
    for name in overrides:
        if name not in names:
            raise HardwareError(
                f"camera override '{name}': no camera of that name in "
                f"{loaded_protocol.path.name}{did_you_mean(name, names)} "
                f"(cameras: {', '.join(names) or 'none'})"
            )
    specs = []
    for cam in cams:
        file = overrides.get(cam.name)
        if file is not None:
            file = str(Path(file).resolve())
        elif cam.file is not None:
            file = str(loaded_protocol.resolve(cam.file))
        specs.append(
            CameraSpec(
                name=cam.name,
                device=None if file else cam.device,
                file=file,
                loop=cam.loop,
                resolution=tuple(cam.resolution),
                fps=float(cam.fps),
                seats=tuple(cam.seats_in(condition)),
                required=cam.required,
            )
        )
    return specs


def open_cameras(
    loaded_protocol,
    session_dir,
    clock_zero: float,
    overrides: dict | None = None,
    allow_missing: bool = False,
    condition: str | None = None,
) -> CameraSet:
    """Start recording every camera of the protocol; return the running :class:`CameraSet`.

    Parameters
    ----------
    loaded_protocol : coaffect.formats.protocol.LoadedProtocol
        Cameras come from ``loaded_protocol.protocol.cameras``.
    session_dir : str or Path
        The ``ses-<id>`` folder; videos and frame tables are written there.
    clock_zero : float
        The ``time.perf_counter()`` value that is t = 0 of the session clock.
    overrides : dict, optional
        ``{camera_name: video_path}`` replacing a camera's source by a file.
    allow_missing : bool
        Start even when a camera with ``required: true`` cannot be opened.
    condition : str, optional
        The session's condition (selects each camera's seat layout).

    Returns
    -------
    CameraSet
        Recording; every camera has written its first frame (or is missing).

    Raises
    ------
    HardwareError
        One line per required camera that cannot be opened, naming it and its
        device or file.

    Examples
    --------
    Not run as a doctest: it starts a capture process per camera (seconds;
    tests/test_cameras_cli.py).

    >>> cams = open_cameras(lp, ses_dir, clock_zero)   # doctest: +SKIP
    >>> cams.enroll({"A": "P01"}, ses_dir / "enroll")   # doctest: +SKIP
    {'P01': PosixPath('.../enroll/P01.png')}
    >>> cams.stop()["wide"]["status"]                   # doctest: +SKIP
    'ok'
    """
    return CameraSet(
        camera_specs(loaded_protocol, overrides, condition),
        Path(session_dir),
        clock_zero,
        allow_missing=allow_missing,
    ).start()
