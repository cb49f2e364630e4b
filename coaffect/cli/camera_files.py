"""``--camera-file NAME=PATH``: replay a video file as a camera (``coaffect run`` and ``rig-check``)."""

from __future__ import annotations

import argparse


def camera_file(text: str) -> tuple[str, str]:
    """``NAME=PATH`` as ``(name, path)``.

    Examples
    --------
    >>> camera_file("wide=clip.mp4")
    ('wide', 'clip.mp4')
    >>> camera_file("clip.mp4")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected NAME=PATH (got 'clip.mp4')
    """
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (got '{text}')")
    return name, path


def add_camera_file_argument(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--camera-file NAME=PATH`` (collected in ``args.camera_file``)."""
    parser.add_argument(
        "--camera-file",
        action="append",
        type=camera_file,
        default=[],
        metavar="NAME=PATH",
        help="replay a video file as camera NAME",
    )
