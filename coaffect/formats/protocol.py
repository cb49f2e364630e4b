"""The study protocol: loading and validation (the model is in :mod:`.protocol_model`).

A protocol is one YAML file (see ``docs/protocol.md``). This module is pure: it
imports no hardware and is shared by the runner and the analysis. It re-exports
the model's classes, so ``from coaffect.formats.protocol import Protocol`` works.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from coaffect.formats.errors import ProtocolError, did_you_mean
from coaffect.formats.protocol_model import (
    FORMAT_VERSION,
    Analysis,
    Audio,
    Baseline,
    ButtonCodes,
    Buttons,
    Camera,
    Color,
    Condition,
    Display,
    LoadedProtocol,
    Lsl,
    LslStream,
    Protocol,
    RatingItem,
    Ratings,
    ResponseDevice,
    Seat,
    Slug,
    Stimuli,
    Texts,
    TrialOrder,
)
from coaffect.formats.strict_yaml import LocatedYaml, read_located_or_raise
from coaffect.formats.validation_messages import model_fields_at, pydantic_lines

__all__ = [
    "Analysis",
    "Audio",
    "Baseline",
    "ButtonCodes",
    "Buttons",
    "Camera",
    "Color",
    "Condition",
    "Display",
    "FORMAT_VERSION",
    "LoadedProtocol",
    "check_protocol",
    "protocol_summary",
    "Lsl",
    "LslStream",
    "Protocol",
    "RatingItem",
    "Ratings",
    "ResponseDevice",
    "Seat",
    "Slug",
    "Stimuli",
    "Texts",
    "TrialOrder",
    "load_protocol",
    "protocol_json_schema",
    "validate_protocol_data",
]


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _pydantic_lines(exc: ValidationError, doc: LocatedYaml, fname: str) -> list[str]:
    return pydantic_lines(exc, doc, fname, lambda loc: model_fields_at(Protocol, loc))


def _allowed_ids(got: str, ids: set) -> str:
    ordered = sorted(ids)
    listed = ", ".join(ordered[:8]) + (", ..." if len(ordered) > 8 else "")
    return f"; allowed: {listed}{did_you_mean(got, ordered)}"


def _cross_checks(p: Protocol, doc: LocatedYaml, fname: str, clip_ids: Optional[set]) -> list[str]:
    out: list[str] = []

    def add(loc: tuple, msg: str) -> None:
        line, col = doc.where(loc)
        out.append(f"{fname}:{line}:{col}: {_dotted(loc)}: {msg}")

    used: dict[str, tuple] = {}
    loc: tuple[str | int, ...]
    for i, seat in enumerate(p.seats):
        for button in ("happy", "sad"):
            key = getattr(seat.buttons, button)
            loc = ("seats", i, "buttons", button)
            if key in used:
                add(
                    loc,
                    f"key already used by {_dotted(used[key])}; every button needs its own key (got '{key}')",
                )
            else:
                used[key] = loc
    seat_ids = [s.id for s in p.seats]
    for i, sid in enumerate(seat_ids):
        if sid in seat_ids[:i]:
            add(("seats", i, "id"), f"seat id used twice; give every seat its own id (got '{sid}')")
    if not p.conditions:
        add(
            ("conditions",),
            "no condition given (got an empty mapping; allowed: alone, group, e.g. alone: {participants: 1})",
        )
    for name, cond in p.conditions.items():
        loc = ("conditions", name, "participants")
        if name == "alone" and cond.participants != 1:
            add(loc, f"the alone condition has exactly 1 participant (got {cond.participants}; allowed: 1)")
        if name == "group" and cond.participants < 2:
            add(
                loc,
                f"a group has at least 2 participants (got {cond.participants}; allowed: 2..{len(p.seats)})",
            )
        if cond.participants > len(p.seats):
            add(
                loc,
                f"more participants than seats; add seats or lower the number "
                f"(got {cond.participants}; the protocol has {len(p.seats)} seats)",
            )
    for c, cam in enumerate(p.cameras):
        for s, sid in enumerate(cam.seats):
            if sid not in seat_ids:
                add(
                    ("cameras", c, "seats", s),
                    f"unknown seat (got '{sid}'; allowed: {', '.join(seat_ids)}"
                    f"{did_you_mean(sid, seat_ids)})",
                )
        for cname, layout in cam.condition_seats.items():
            if cname not in p.conditions:
                add(
                    ("cameras", c, "condition_seats", cname),
                    f"condition not in this protocol (got '{cname}'; allowed: {', '.join(p.conditions)})",
                )
            for s, sid in enumerate(layout):
                if sid not in seat_ids:
                    add(
                        ("cameras", c, "condition_seats", cname, s),
                        f"unknown seat (got '{sid}'; allowed: {', '.join(seat_ids)}"
                        f"{did_you_mean(sid, seat_ids)})",
                    )
    cameras = [c.name for c in p.cameras]
    for c, cam_name in enumerate(cameras):
        if cam_name in cameras[:c]:
            add(("cameras", c, "name"), f"camera name used twice (got '{cam_name}')")
    if clip_ids is not None:
        for i, clip in enumerate(p.stimuli.clips):
            if clip not in clip_ids:
                add(
                    ("stimuli", "clips", i),
                    f"stimulus not in the manifest "
                    f"{p.stimuli.manifest} (got '{clip}'{_allowed_ids(clip, clip_ids)})",
                )
        if p.baseline.clip and p.baseline.clip not in clip_ids:
            add(
                ("baseline", "clip"),
                f"stimulus not in the manifest {p.stimuli.manifest} "
                f"(got '{p.baseline.clip}'{_allowed_ids(p.baseline.clip, clip_ids)})",
            )
    start, end = p.analysis.baseline_window
    if start >= p.baseline.duration or (end is not None and end > p.baseline.duration):
        add(
            ("analysis", "baseline_window"),
            f"window lies outside the {p.baseline.duration:g} s baseline (got [{start:g}, "
            f"{'null' if end is None else format(end, 'g')}]; allowed: start < "
            f"{p.baseline.duration:g}, end <= {p.baseline.duration:g})",
        )
    return out


def validate_protocol_data(
    doc: LocatedYaml, fname: str, clip_ids: Optional[set] = None
) -> tuple[Optional[Protocol], list[str]]:
    """Validate parsed YAML; return the protocol (or None) and problem lines."""
    if not isinstance(doc.data, dict):
        got = {type(None): "an empty file", list: "a list", str: "a single line of text"}.get(
            type(doc.data), f"a single {type(doc.data).__name__} value"
        )
        line, col = doc.where(())
        return None, [
            f"{fname}:{line}:{col}: (top level): a protocol is a mapping of "
            f"'field: value' lines, starting with format_version: {FORMAT_VERSION} "
            f"(got {got})"
        ]
    fv = doc.data.get("format_version")
    if isinstance(fv, int) and not isinstance(fv, bool) and fv > FORMAT_VERSION:
        line, col = doc.where(("format_version",))
        return None, [
            f"{fname}:{line}:{col}: format_version: written for a newer coaffect; "
            f"upgrade coaffect to read it (got {fv}; allowed: {FORMAT_VERSION})"
        ]
    if isinstance(fv, int) and fv < 1:
        line, col = doc.where(("format_version",))
        return None, [
            f"{fname}:{line}:{col}: format_version: must be 1 or more (got {fv}; allowed: {FORMAT_VERSION})"
        ]
    try:
        p = Protocol.model_validate(doc.data)
    except ValidationError as exc:
        return None, _pydantic_lines(exc, doc, fname)
    return p, _cross_checks(p, doc, fname, clip_ids)


def load_protocol(path: str | Path, check_manifest: bool = True) -> LoadedProtocol:
    """Load and validate a protocol file.

    Parameters
    ----------
    path : str or Path
        The protocol YAML file.
    check_manifest : bool
        Also check that every stimulus id is in the protocol's manifest.

    Returns
    -------
    LoadedProtocol
        The typed protocol, its path and its sha256.

    Raises
    ------
    ProtocolError
        With one line per problem, ``FILE:LINE:COL: field.path: what is wrong``.

    Examples
    --------
    >>> lp = load_protocol("protocols/bittersweet-demo.yaml")
    >>> lp.protocol.conditions["group"].participants
    3
    """
    path = Path(path)
    fname = str(path)
    if not path.is_file():
        raise ProtocolError(f"{fname}: no such protocol file", hint="check the path")
    raw = path.read_bytes()
    doc = read_located_or_raise(path, ProtocolError, fname)
    clip_ids = None
    protocol, lines = validate_protocol_data(doc, fname)
    if protocol is not None and check_manifest:
        manifest_path = path.parent / protocol.stimuli.manifest
        from coaffect.formats.manifest import load_manifest  # local: manifest imports protocol helpers

        try:
            clip_ids = set(load_manifest(manifest_path).ids())
        except Exception as exc:  # manifest problems are reported against the protocol
            line, col = doc.where(("stimuli", "manifest"))
            msg = getattr(exc, "message", str(exc))
            lines.append(f"{fname}:{line}:{col}: stimuli.manifest: cannot read manifest ({msg})")
        else:
            lines = _cross_checks(protocol, doc, fname, clip_ids)
    if lines or protocol is None:
        raise ProtocolError(lines[0] if lines else f"{fname}: not a protocol", lines=lines)
    return LoadedProtocol(protocol, path.resolve(), hashlib.sha256(raw).hexdigest())


def check_protocol(path: str | Path, manifest: bool = True, files: bool = True) -> LoadedProtocol:
    """Everything ``coaffect protocol check`` checks: the protocol, its stimulus ids, its clip files.

    Parameters
    ----------
    path : str or Path
        The protocol YAML file.
    manifest : bool
        Check that every stimulus id is in the protocol's manifest.
    files : bool
        Check that the manifest's clip files the protocol uses exist (needs ``manifest``).

    Returns
    -------
    LoadedProtocol

    Raises
    ------
    ProtocolError, ManifestError
        One line per problem, ``FILE:LINE:COL: field: what is wrong``.

    Examples
    --------
    >>> lp = check_protocol("protocols/bittersweet-demo.yaml")
    >>> protocol_summary(lp)
    'bittersweet-demo 1.0.0, 3 clips, 3 seats, conditions: alone, group'
    """
    from .errors import ManifestError
    from .manifest import load_manifest, missing_clip_files

    lp = load_protocol(path, check_manifest=manifest)
    if manifest and files:
        p = lp.protocol
        used = list(p.stimuli.clips) + ([p.baseline.clip] if p.baseline.clip else [])
        lines = missing_clip_files(load_manifest(lp.manifest_path), used)
        if lines:
            raise ManifestError(
                lines[0],
                lines=lines,
                hint="put the clip files back, or run 'coaffect stimuli scan' if they moved; "
                "or skip this check (`files`)",
            )
    return lp


def protocol_summary(lp: LoadedProtocol) -> str:
    """One line: id, version, numbers of clips and seats, conditions."""
    p = lp.protocol
    return (
        f"{p.id} {p.version}, {len(p.stimuli.clips)} clips, "
        f"{len(p.seats)} seats, conditions: {', '.join(p.conditions)}"
    )


def protocol_json_schema() -> dict:
    """JSON Schema of the protocol format, for editors and other tools."""
    schema = Protocol.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://coaffect.org/schema/protocol-v{FORMAT_VERSION}.json"
    return schema
