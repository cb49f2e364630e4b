"""Options ``coaffect run`` and ``rig-check`` share: ``--camera-file NAME=PATH`` and ``--simulate [MODE]``."""

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


def add_simulate_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--simulate [inprocess|xdotool]`` (bare: ``inprocess``) to rehearse ``what`` without people."""
    from experiments.runner.simulated import SIMULATE_MODES

    parser.add_argument(
        "--simulate",
        nargs="?",
        const=SIMULATE_MODES[0],
        choices=SIMULATE_MODES,
        help=f"{what} with simulated participants: key events made in-process (default) "
        "or injected as real X key events with xdotool",
    )
