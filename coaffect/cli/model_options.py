"""Flags that ``coaffect stats`` and ``coaffect report`` share for fitting models."""

from __future__ import annotations


def add_model_arguments(parser) -> None:
    """``--mixed-sources`` and ``--boot`` (the library's ``mixed_sources`` and ``n_boot``)."""
    parser.add_argument(
        "--mixed-sources",
        action="store_true",
        help="fit facial models whose trials were scored by different tools (coaffect, openface, "
        "pyfeat) together; refused by default, as their units differ",
    )
    parser.add_argument(
        "--boot",
        type=int,
        default=200,
        help="parametric bootstrap draws for effect-size CIs (default 200; 0: none)",
    )
