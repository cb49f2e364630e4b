"""``coaffect protocol diff``: what differs between two versions of a protocol, in words."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Optional

from coaffect.formats.manifest import Clip, load_manifest
from coaffect.formats.protocol import Protocol

from .migrate import load_protocol_migrating
from .verify import open_bundle


def _load_side(path: Path, tmp: Path) -> tuple[Protocol, Optional[dict[str, Clip]], list[str]]:
    if path.suffix.lower() == ".zip" or (path.is_file() and zipfile.is_zipfile(path)):
        opened = open_bundle(path, tmp)
        clips = {c.id: c for c in opened.manifest.clips}
        return opened.loaded.protocol, clips, opened.notes
    loaded, notes, _ = load_protocol_migrating(path, check_manifest=False)
    try:
        clips = {c.id: c for c in load_manifest(loaded.manifest_path).clips}
    except Exception:  # a diff still works without the clips' details
        clips = None
    return loaded.protocol, clips, notes


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:37] + "...")
    return repr(value) if isinstance(value, str) else str(value)


def _fields(section: str, a: dict, b: dict, unit: dict[str, str] | None = None) -> list[str]:
    out = []
    unit = unit or {}
    for key in dict.fromkeys([*a, *b]):
        if a.get(key) != b.get(key):
            u = unit.get(key, "")
            out.append(f"{section} {key} changed: {_fmt(a.get(key))}{u} -> {_fmt(b.get(key))}{u}")
    return out


def _keyed(kind: str, old: dict, new: dict, added, changed) -> list[str]:
    """``<kind> added: ...``, ``<kind> removed: ...`` and ``changed(key, old, new)`` lines for two keyed sets.

    Examples
    --------
    >>> _keyed("seat", {"A": 1}, {"B": 2}, lambda k, y: f"{k} ({y})", lambda k, x, y: [])
    ['seat removed: A', 'seat added: B (2)']
    """
    out: list[str] = []
    for key in dict.fromkeys([*old, *new]):
        x, y = old.get(key), new.get(key)
        if x is None:
            out.append(f"{kind} added: {added(key, y)}")
        elif y is None:
            out.append(f"{kind} removed: {key}")
        else:
            out += changed(key, x, y)
    return out


def diff_protocol_models(
    a: Protocol,
    b: Protocol,
    clips_a: Optional[dict[str, Clip]] = None,
    clips_b: Optional[dict[str, Clip]] = None,
) -> list[str]:
    """Differences between two protocols, one sentence each.

    Parameters
    ----------
    a, b : Protocol
        The old and the new version.
    clips_a, clips_b : dict of str to Clip, optional
        Their manifests' clips, to report clips whose file or duration changed.

    Returns
    -------
    list of str
        Empty when the two protocols are the same.

    Examples
    --------
    >>> from coaffect.formats.protocol import load_protocol
    >>> p = load_protocol("protocols/bittersweet-demo.yaml", check_manifest=False).protocol
    >>> q = p.model_copy(update={"iti": 3.0})
    >>> diff_protocol_models(p, q)
    ['pause between clips (iti) changed: 1 s -> 3 s']
    """
    out: list[str] = []
    for key in ("id", "version", "title", "format_version"):
        if getattr(a, key) != getattr(b, key):
            out.append(f"{key} changed: {_fmt(getattr(a, key))} -> {_fmt(getattr(b, key))}")
    if a.authors != b.authors:
        out.append(f"authors changed: {', '.join(a.authors)} -> {', '.join(b.authors)}")
    if a.description != b.description:
        out.append("description changed")

    ca, cb = list(a.stimuli.clips), list(b.stimuli.clips)
    added = [c for c in cb if c not in ca]
    removed = [c for c in ca if c not in cb]
    if added:
        out.append(f"clips added: {', '.join(added)}")
    if removed:
        out.append(f"clips removed: {', '.join(removed)}")
    common_a = [c for c in ca if c in cb]
    common_b = [c for c in cb if c in ca]
    if common_a != common_b:
        out.append(f"clip order changed: {', '.join(common_a)} -> {', '.join(common_b)}")
    if clips_a and clips_b:
        for cid in common_b:
            x, y = clips_a.get(cid), clips_b.get(cid)
            if x is None or y is None:
                continue
            if x.sha256 != y.sha256:
                extra = (
                    f" (duration {x.duration:g} s -> {y.duration:g} s)" if x.duration != y.duration else ""
                )
                out.append(f"clip {cid} is a different file{extra}")
    if a.stimuli.manifest != b.stimuli.manifest:
        out.append(f"stimulus manifest changed: {a.stimuli.manifest} -> {b.stimuli.manifest}")

    out += _fields("clip order", a.trial_order.model_dump(), b.trial_order.model_dump())
    out += _fields("baseline", a.baseline.model_dump(), b.baseline.model_dump(), {"duration": " s"})
    if a.iti != b.iti:
        out.append(f"pause between clips (iti) changed: {_fmt(a.iti)} s -> {_fmt(b.iti)} s")

    def conditions(cond, x, y):
        return [f"{cond} condition: participants {x.participants} -> {y.participants}"] * (
            x.participants != y.participants
        )

    def seats(sid, x, y):
        keys = [
            f"seat {sid} {button} key changed: {getattr(x.buttons, button)} -> {getattr(y.buttons, button)}"
            for button in ("happy", "sad")
            if getattr(x.buttons, button) != getattr(y.buttons, button)
        ]
        return keys + [f"seat {sid} label changed: {_fmt(x.label)} -> {_fmt(y.label)}"] * (x.label != y.label)

    out += _keyed(
        "condition",
        a.conditions,
        b.conditions,
        lambda c, y: f"{c} ({y.participants} participants)",
        conditions,
    )
    out += _keyed(
        "seat",
        {s.id: s for s in a.seats},
        {s.id: s for s in b.seats},
        lambda sid, y: f"{sid} (happy={y.buttons.happy}, sad={y.buttons.sad})",
        seats,
    )

    ra, rb = a.ratings, b.ratings
    out += _fields(
        "ratings",
        {"mode": ra.mode, "timeout": ra.timeout},
        {"mode": rb.mode, "timeout": rb.timeout},
        {"timeout": " s"},
    )
    items_a = {i.id: i for i in ra.items}
    items_b = {i.id: i for i in rb.items}

    def items(iid, x, y):
        scale = [f"rating {iid} scale changed: {x.low}-{x.high} -> {y.low}-{y.high}"]
        return scale * ((x.low, x.high) != (y.low, y.high)) + _fields(
            f"rating {iid}",
            x.model_dump(exclude={"id", "low", "high"}),
            y.model_dump(exclude={"id", "low", "high"}),
        )

    out += _keyed("rating", items_a, items_b, lambda iid, y: f"{iid} ({y.low}-{y.high}, {y.prompt!r})", items)
    if list(items_a) != list(items_b) and set(items_a) == set(items_b):
        out.append(f"rating order changed: {', '.join(items_a)} -> {', '.join(items_b)}")

    out += _keyed(
        "camera",
        {c.name: c for c in a.cameras},
        {c.name: c for c in b.cameras},
        lambda name, y: f"{name} (seats {', '.join(y.seats)})",
        lambda name, x, y: _fields(
            f"camera {name}", x.model_dump(exclude={"name"}), y.model_dump(exclude={"name"}), {"fps": " fps"}
        ),
    )

    out += _fields("display", a.display.model_dump(), b.display.model_dump())
    ta, tb = a.texts.model_dump(), b.texts.model_dump()
    for key in ta:
        if ta[key] != tb[key]:
            out.append(
                f"{key.replace('_', ' ')} text changed"
                if key != "font"
                else f"font changed: {_fmt(ta[key])} -> {_fmt(tb[key])}"
            )
    out += _fields("analysis", a.analysis.model_dump(), b.analysis.model_dump())
    return out


def diff_protocols(a: str | Path, b: str | Path) -> tuple[list[str], list[str]]:
    """What differs between two protocols, each a YAML file or a bundle.

    Parameters
    ----------
    a, b : str or Path
        Old and new version: protocol files (``.yaml``) or bundles (``.zip``;
        checked like ``verify`` first). Older formats are migrated in memory.

    Returns
    -------
    differences : list of str
        One sentence per difference; empty when they are the same.
    notes : list of str
        Migration messages and the like.

    Examples
    --------
    >>> new = Path("protocols/bittersweet-demo.yaml").read_text().replace("happy: a,", "happy: q,", 1)
    >>> _ = (tmp / "new.yaml").write_text(new)
    >>> diffs, notes = diff_protocols("protocols/bittersweet-demo.yaml", tmp / "new.yaml")
    >>> diffs
    ['seat A happy key changed: a -> q']
    """
    with tempfile.TemporaryDirectory(prefix="coaffect-diff-") as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        pa, clips_a, notes_a = _load_side(Path(a), Path(tmp) / "a")
        pb, clips_b, notes_b = _load_side(Path(b), Path(tmp) / "b")
    return diff_protocol_models(pa, pb, clips_a, clips_b), notes_a + notes_b
