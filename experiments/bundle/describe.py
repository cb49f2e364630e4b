"""What a bundle tells the receiving lab: requirements and a README, generated from the protocol."""

from __future__ import annotations

import importlib.metadata
from typing import Optional

from coaffect.formats.manifest import Clip
from coaffect.formats.protocol import FORMAT_VERSION, Protocol

from .layout import CameraNeed, Requirements, StimulusEntry
from .migrate import installed_coaffect_version


def _dist_version(name: str) -> Optional[str]:
    # read from the installed metadata: importing psychopy would open a display
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_requirements(p: Protocol) -> Requirements:
    """What the receiving lab needs to run the protocol.

    Parameters
    ----------
    p : Protocol
        A validated protocol.

    Returns
    -------
    Requirements
        coaffect and PsychoPy versions (from installed package metadata;
        PsychoPy is never imported), display, seats, cameras and keys.

    Examples
    --------
    >>> from coaffect.formats.protocol import load_protocol
    >>> lp = load_protocol("protocols/bittersweet-demo.yaml", check_manifest=False)
    >>> r = build_requirements(lp.protocol)
    >>> r.seats, r.group_size, r.keys["A"]
    (3, 3, {'happy': 'a', 'sad': 'z'})
    """
    group = p.conditions.get("group")
    return Requirements(
        coaffect=installed_coaffect_version(),
        psychopy=_dist_version("psychopy"),
        protocol_format=FORMAT_VERSION,
        display_size=tuple(p.display.size),
        fullscreen=p.display.fullscreen,
        refresh_hz=None,
        seats=len(p.seats),
        group_size=group.participants if group else None,
        cameras=[
            CameraNeed(
                name=c.name,
                kind="device" if c.file is None else "replay file",
                resolution=tuple(c.resolution),
                fps=c.fps,
                seats=list(c.seats),
                required=c.required,
            )
            for c in p.cameras
        ],
        keys={s.id: {"happy": s.buttons.happy, "sad": s.buttons.sad} for s in p.seats},
        font=p.texts.font,
    )


def build_readme(
    p: Protocol,
    req: Requirements,
    clips: list[Clip],
    stimuli: list[StimulusEntry],
    protocol_path: str,
    bundle_name: str,
) -> str:
    """A README (Markdown) that lets another lab check, import and run the protocol.

    Parameters
    ----------
    p : Protocol
        The protocol.
    req : Requirements
        From :func:`build_requirements`.
    clips : list of Clip
        Manifest entries of the protocol's clips, in protocol order.
    stimuli : list of StimulusEntry
        Whether each clip is inside the bundle, and where it comes from.
    protocol_path : str
        Path of the protocol inside the bundle.
    bundle_name : str
        File name of the bundle.

    Returns
    -------
    str

    Examples
    --------
    >>> from coaffect.formats.protocol import load_protocol
    >>> lp = load_protocol("protocols/bittersweet-demo.yaml", check_manifest=False)
    >>> text = build_readme(lp.protocol, build_requirements(lp.protocol), [], [],
    ...                     "protocol/bittersweet-demo.yaml", "demo.zip")
    >>> text.splitlines()[0]
    '# Bittersweet demo - watching alone or together (bittersweet-demo 1.0.0)'
    """
    included = {s.id: s for s in stimuli}
    out = [f"# {p.title} ({p.id} {p.version})", "", f"Authors: {', '.join(p.authors)}", ""]
    if p.description:
        out += [p.description.strip(), ""]
    out += [
        "## Design",
        "",
        "- Conditions: "
        + ", ".join(
            f"{k} ({v.participants} participant{'s' if v.participants > 1 else ''})"
            for k, v in p.conditions.items()
        ),
        f"- Clip order: {p.trial_order.mode}"
        + (f" (seed {p.trial_order.seed})" if p.trial_order.seed is not None else ""),
        f"- Baseline: {p.baseline.duration:g} s {p.baseline.kind}"
        + (f" ({p.baseline.clip})" if p.baseline.clip else ""),
        f"- Pause between clips: {p.iti:g} s",
        f"- Ratings after each clip ({p.ratings.mode}, timeout {p.ratings.timeout:g} s): "
        + (", ".join(f"{i.id} {i.low}-{i.high}" for i in p.ratings.items) or "none"),
        "",
        "## Stimuli",
        "",
        "| id | duration (s) | fps | frames | size | licence | in bundle | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in clips:
        s = included.get(c.id)
        out.append(
            f"| {c.id} | {c.duration:g} | {c.fps:g} | {c.frame_count} | {c.width}x{c.height} "
            f"| {c.licence} | {'yes' if s and s.included else 'no'} | {c.source} |"
        )
    missing = [s for s in stimuli if not s.included]
    if missing:
        out += [
            "",
            "Clips marked 'no' are not shipped (their licence does not allow it, or the "
            "bundle was packed without --with-stimuli). Obtain them from the source above; "
            "`coaffect protocol verify` checks your copies by sha256 (or, for re-encoded "
            "copies, by duration and frame count).",
        ]
    out += [
        "",
        "## Requirements",
        "",
        f"- coaffect {req.coaffect} (protocol format {req.protocol_format}), "
        f"PsychoPy {req.psychopy or 'not recorded'}",
        f"- Display {req.display_size[0]}x{req.display_size[1]} px"
        f"{', full screen' if req.fullscreen else ', windowed'}" + (f", font {req.font}" if req.font else ""),
        f"- {req.seats} seat(s); keys: "
        + "; ".join(f"{seat}: happy={k['happy']} sad={k['sad']}" for seat, k in req.keys.items()),
        f"- {len(req.cameras)} camera(s)"
        + (
            ": "
            + "; ".join(
                f"{c.name} ({c.kind}, {c.resolution[0]}x{c.resolution[1]} at {c.fps:g} fps, "
                f"seats {', '.join(c.seats)})"
                for c in req.cameras
            )
            if req.cameras
            else ""
        ),
        "",
        "## How to use this bundle",
        "",
        "```",
        f"coaffect protocol verify {bundle_name} --stimuli /path/to/your/stimuli",
        f"coaffect protocol import {bundle_name} --into protocols/ --stimuli /path/to/your/stimuli",
        f"coaffect protocol check protocols/{p.id}/{protocol_path}",
        "```",
        "",
        "Every file's sha256 is listed in bundle.json. The participant texts are in texts/.",
        "",
    ]
    return "\n".join(out)
