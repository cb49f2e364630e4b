"""``coaffect protocol verify``: check a bundle's integrity, its protocol and the lab's clips.

Everything is unpacked into a temporary folder only after :mod:`.safe_zip`
has passed every member; the protocol is then checked exactly as
``coaffect protocol check`` does, against the bundle's own manifest entries.
"""

from __future__ import annotations

import posixpath
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from coaffect.formats.errors import BundleError, CoaffectError
from coaffect.formats.manifest import Manifest, load_manifest
from coaffect.formats.protocol import LoadedProtocol
from coaffect.formats.strict_yaml import read_located_or_raise

from .layout import (
    BUNDLE_FORMAT,
    BUNDLE_JSON,
    REQUIREMENTS_JSON,
    TEXTS_DIR,
    BundleManifest,
    Requirements,
    parse_json_model,
)
from .migrate import dump_migrated, installed_coaffect_version, load_protocol_migrating
from .safe_zip import DEFAULT_LIMITS, Limits, check_members, extract_member, read_member
from .stimuli_match import ClipMatch, match_clip

_HINT = "the bundle was changed after it was packed, or damaged; ask its authors for a new one"


@dataclass
class OpenedBundle:
    """A bundle unpacked into ``root`` after passing every check."""

    root: Path
    bundle: BundleManifest
    loaded: LoadedProtocol
    manifest: Manifest
    requirements: Requirements
    migrated: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class Findings:
    """Notes and warnings of a bundle step, given by keyword (errors are raised, not reported)."""

    notes: list[str] = field(default_factory=list, kw_only=True)
    warnings: list[str] = field(default_factory=list, kw_only=True)

    def finding_lines(self) -> list[str]:
        """The notes, then the warnings, one indented line each.

        Examples
        --------
        >>> Findings(notes=["migrated from 1.0"], warnings=["clip a.mp4 differs"]).finding_lines()
        ['  migrated from 1.0', '  warning: clip a.mp4 differs']
        """
        return [f"  {n}" for n in self.notes] + [f"  warning: {w}" for w in self.warnings]


@dataclass
class VerifyReport(Findings):
    """What :func:`verify_bundle` found."""

    bundle: Path
    protocol_id: str
    protocol_version: str
    files: int
    matches: list[ClipMatch] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, one line each."""
        what = f"{self.protocol_id} {self.protocol_version}, {self.files} files, all checksums match"
        return [f"{self.bundle}: ok ({what})", *self.finding_lines()]


def _relabel(exc: CoaffectError, root: Path, label: str) -> CoaffectError:
    """Name files as ``NAME.zip:path`` instead of the temporary folder."""
    prefix = str(root.resolve()) + "/"

    def fix(text: str) -> str:
        return text.replace(prefix, f"{label}:")

    return type(exc)(fix(exc.message), hint=exc.hint, lines=[fix(x) for x in exc.lines])


def open_bundle(bundle_path: str | Path, root: Path, limits: Limits = DEFAULT_LIMITS) -> OpenedBundle:
    """Check a bundle and unpack it into an empty folder.

    Parameters
    ----------
    bundle_path : str or Path
        The zip.
    root : Path
        An empty folder that receives the files (a temporary folder: on any
        error, the caller deletes it).
    limits : Limits
        Size limits for untrusted input.

    Returns
    -------
    OpenedBundle

    Raises
    ------
    BundleError, ProtocolError, ManifestError
        One clear line for the first problem that makes the bundle unusable.

    Examples
    --------
    >>> from experiments.bundle.pack import pack_bundle
    >>> bundle = pack_bundle("protocols/bittersweet-demo.yaml", tmp / "demo.zip").path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ob = open_bundle(bundle, Path(d))
    ...     ob.loaded.protocol.id
    'bittersweet-demo'
    """
    bundle_path = Path(bundle_path)
    label = bundle_path.name
    if not bundle_path.is_file():
        raise BundleError(f"{bundle_path}: no such bundle file", hint="check the path")
    try:
        zf = zipfile.ZipFile(bundle_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(
            f"{bundle_path}: not a protocol bundle (not a readable zip file: {exc})",
            hint="bundles are written by 'coaffect protocol pack'",
        ) from None
    with zf:
        infos = {i.filename: i for i in check_members(zf, label, limits)}
        if BUNDLE_JSON not in infos:
            raise BundleError(
                f"{label}: {BUNDLE_JSON}: missing; this zip is not a protocol bundle",
                hint="bundles are written by 'coaffect protocol pack'",
            )
        raw_bm = read_member(zf, infos[BUNDLE_JSON], label, limits.max_text_bytes)
        bm = parse_json_model(raw_bm, BundleManifest, f"{label}:{BUNDLE_JSON}")
        if bm.bundle_format != BUNDLE_FORMAT:
            writer = bm.written_by.get("coaffect", "an unknown version")
            newer = bm.bundle_format > BUNDLE_FORMAT
            raise BundleError(
                f"{label}:{BUNDLE_JSON}: bundle_format: bundle format {bm.bundle_format} is "
                f"{'newer' if newer else 'older'} than this coaffect {installed_coaffect_version()} "
                f"reads (got {bm.bundle_format}; allowed: {BUNDLE_FORMAT}); it was written by coaffect {writer}",
                hint=f"install coaffect {writer} or later to read it"
                if newer
                else "ask the authors to pack it again with a current coaffect",
            )
        _check_listing(bm, infos, label, limits)
        for name, info in infos.items():
            if name == BUNDLE_JSON:
                continue
            sha = extract_member(zf, info, root, label, limits)
            want = bm.files[name].sha256
            if sha != want:
                raise BundleError(
                    f"{label}: {name}: checksum mismatch: the file was changed after "
                    f"packing (got sha256 {sha[:12]}...; bundle.json says {want[:12]}...)",
                    hint=_HINT,
                )
    (root / BUNDLE_JSON).write_bytes(raw_bm)  # the installed copy keeps its provenance
    try:
        return _check_contents(bm, root, label)
    except CoaffectError as exc:
        raise _relabel(exc, root, label) from None


def _check_listing(bm: BundleManifest, infos: dict, label: str, limits: Limits) -> None:
    present = set(infos) - {BUNDLE_JSON}
    for name in sorted(present - set(bm.files)):
        raise BundleError(
            f"{label}: {name}: file is not listed in bundle.json (allowed: only the "
            "files the bundle manifest lists with their sha256)",
            hint=_HINT,
        )
    for name in sorted(set(bm.files) - present):
        raise BundleError(f"{label}: {name}: listed in bundle.json but missing from the bundle", hint=_HINT)
    manifest_dir = posixpath.dirname(bm.stimulus_manifest)
    clip_files = {posixpath.normpath(posixpath.join(manifest_dir, s.file)) for s in bm.stimuli if s.included}
    for name in (bm.protocol.path, bm.stimulus_manifest, REQUIREMENTS_JSON):
        if name not in bm.files:
            raise BundleError(f"{label}:{BUNDLE_JSON}: {name} is named but not listed in files", hint=_HINT)
    if bm.files[bm.protocol.path].sha256 != bm.protocol.sha256:
        raise BundleError(
            f"{label}:{BUNDLE_JSON}: protocol.sha256: does not match the sha256 "
            f"listed for {bm.protocol.path}",
            hint=_HINT,
        )
    for s in bm.stimuli:
        full = posixpath.normpath(posixpath.join(manifest_dir, s.file))
        if s.included and full not in bm.files:
            raise BundleError(
                f"{label}: {full}: stimulus '{s.id}' is marked as included but the file is not in the bundle",
                hint=_HINT,
            )
    for name, info in infos.items():
        entry = bm.files.get(name)
        if entry is not None and entry.size != info.file_size:
            raise BundleError(
                f"{label}: {name}: size in the zip ({info.file_size} bytes) differs "
                f"from bundle.json ({entry.size} bytes)",
                hint=_HINT,
            )
        if name not in clip_files and info.file_size > limits.max_text_bytes:
            raise BundleError(
                f"{label}: {name}: member is too large for a text file (got "
                f"{info.file_size} bytes; allowed at most {limits.max_text_bytes})",
                hint=_HINT,
            )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _check_contents(bm: BundleManifest, root: Path, label: str) -> OpenedBundle:
    protocol_file = root / bm.protocol.path
    doc = read_located_or_raise(
        protocol_file,
        BundleError,
        f"{label}:{bm.protocol.path}",
        hint="YAML in a bundle must be plain values",
    )
    data = doc.data if isinstance(doc.data, dict) else {}
    refs = [
        (
            ("stimuli", "manifest"),
            (data.get("stimuli") or {}).get("manifest") if isinstance(data.get("stimuli"), dict) else None,
        )
    ]
    for i, cam in enumerate(data.get("cameras") or []):
        if isinstance(cam, dict) and isinstance(cam.get("file"), str):
            refs.append((("cameras", i, "file"), cam["file"]))
    for loc, ref in refs:
        if isinstance(ref, str) and (
            Path(ref).is_absolute() or "\\" in ref or not _inside(protocol_file.parent / ref, root)
        ):
            line, col = doc.where(loc)
            dotted = ".".join(f"[{x}]" if isinstance(x, int) else x for x in loc).replace(".[", "[")
            raise BundleError(
                f"{label}:{bm.protocol.path}:{line}:{col}: {dotted}: path leaves the "
                f"bundle folder (got {ref!r}; allowed: a relative path inside the bundle)",
                hint="a bundle's protocol may only refer to files inside the bundle",
            )
    writer = bm.written_by.get("coaffect")
    loaded, messages, migrated = load_protocol_migrating(protocol_file, True, writer)
    manifest_path = loaded.manifest_path
    if manifest_path != (root / bm.stimulus_manifest).resolve():
        raise BundleError(
            f"{label}:{bm.protocol.path}: stimuli.manifest: points to "
            f"{manifest_path.relative_to(root.resolve())}, not to the bundle's "
            f"manifest {bm.stimulus_manifest}",
            hint=_HINT,
        )
    if migrated is not None:
        protocol_file.write_text(
            dump_migrated(
                migrated,
                "\n".join(
                    ["Migrated by coaffect " + installed_coaffect_version() + " on import:"]
                    + [m.split(": ", 2)[-1] for m in messages]
                ),
            ),
            encoding="utf-8",
        )
    manifest = load_manifest(manifest_path)
    p = loaded.protocol
    entries = {s.id: s for s in bm.stimuli}
    needed = list(dict.fromkeys(list(p.stimuli.clips) + ([p.baseline.clip] if p.baseline.clip else [])))
    for clip_id in needed:
        if clip_id not in entries:
            raise BundleError(
                f"{label}:{BUNDLE_JSON}: stimuli: clip '{clip_id}' of the protocol is not described",
                hint=_HINT,
            )
        clip, entry = manifest.clip(clip_id), entries[clip_id]
        if (
            Path(clip.file).is_absolute()
            or "\\" in clip.file
            or not _inside(manifest_path.parent / clip.file, root)
        ):
            raise BundleError(
                f"{label}: {bm.stimulus_manifest}: clip '{clip_id}': file: path leaves "
                f"the bundle folder (got {clip.file!r}; allowed: a relative path inside "
                "the bundle)",
                hint=_HINT,
            )
        if (clip.sha256, clip.file) != (entry.sha256, entry.file):
            raise BundleError(
                f"{label}:{BUNDLE_JSON}: stimuli: clip '{clip_id}' differs between "
                f"bundle.json and {bm.stimulus_manifest}",
                hint=_HINT,
            )
        if entry.included:
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(bm.stimulus_manifest), clip.file))
            if bm.files[rel].sha256 != clip.sha256:
                raise BundleError(
                    f"{label}: {rel}: clip '{clip_id}' does not match its manifest "
                    f"sha256 (got {bm.files[rel].sha256[:12]}...; manifest says "
                    f"{clip.sha256[:12]}...)",
                    hint=_HINT,
                )
    req = parse_json_model(
        (root / REQUIREMENTS_JSON).read_bytes(), Requirements, f"{label}:{REQUIREMENTS_JSON}"
    )
    for name, text in p.texts.model_dump().items():
        f = root / TEXTS_DIR / f"{name}.txt"
        if f.is_file() and f.read_text(encoding="utf-8") != text:
            raise BundleError(
                f"{label}: {TEXTS_DIR}/{name}.txt: differs from the protocol's texts.{name}", hint=_HINT
            )
    notes = [m.replace(str(root.resolve()) + "/", f"{label}:") for m in messages]
    mine = installed_coaffect_version()
    if req.coaffect != mine:
        notes.append(f"packed with coaffect {req.coaffect}; this is coaffect {mine}")
    return OpenedBundle(root, bm, loaded, manifest, req, migrated is not None, notes)


def check_lab_stimuli(
    opened: OpenedBundle, stimuli_dir: Optional[Path]
) -> tuple[list[ClipMatch], list[str], list[str]]:
    """Match the clips not shipped in the bundle against the lab's folder.

    Parameters
    ----------
    opened : OpenedBundle
        From :func:`open_bundle`.
    stimuli_dir : Path or None
        The lab's stimulus folder; None only lists what is missing.

    Returns
    -------
    matches : list of ClipMatch
    notes, warnings : list of str

    Raises
    ------
    BundleError
        If a clip is missing from ``stimuli_dir`` or does not match.

    Examples
    --------
    >>> from experiments.bundle.pack import pack_bundle
    >>> bundle = pack_bundle("protocols/bittersweet-demo.yaml", tmp / "demo.zip").path
    >>> opened = open_bundle(bundle, tmp / "opened")
    >>> matches, notes, warnings = check_lab_stimuli(opened, Path("stimuli"))
    >>> [m.status for m in matches], warnings
    (['checksum', 'checksum', 'checksum'], [])
    """
    notes: list[str] = []
    warnings: list[str] = []
    matches: list[ClipMatch] = []
    outside = [s for s in opened.bundle.stimuli if not s.included]
    if stimuli_dir is None:
        if outside:
            notes.append(
                f"{len(outside)} clip(s) not in the bundle: "
                + ", ".join(f"{s.id} (source: {s.source})" for s in outside)
                + "; check your copies with --stimuli DIR"
            )
        return matches, notes, warnings
    stimuli_dir = Path(stimuli_dir)
    if not stimuli_dir.is_dir():
        raise BundleError(f"{stimuli_dir}: no such stimulus folder", hint="check the --stimuli path")
    problems = []
    for s in outside:
        m = match_clip(opened.manifest.clip(s.id), stimuli_dir)
        matches.append(m)
        if m.status == "checksum":
            notes.append(f"{s.id}: {m.detail}")
        elif m.status == "re-encoded":
            warnings.append(f"{s.id}: {m.detail}")
        elif m.status == "missing":
            problems.append(f"missing stimulus '{s.id}': {m.detail}")
        else:
            problems.append(f"stimulus {m.detail}")
    if problems:
        raise BundleError(
            problems[0],
            lines=problems,
            hint="get the clips from their source (see the bundle's README) and point --stimuli at them",
        )
    return matches, notes, warnings


def verify_bundle(
    bundle_path: str | Path, stimuli_dir: Optional[str | Path] = None, limits: Limits = DEFAULT_LIMITS
) -> VerifyReport:
    """Check a bundle completely, writing only into a temporary folder.

    Parameters
    ----------
    bundle_path : str or Path
        The zip from ``coaffect protocol pack``.
    stimuli_dir : str or Path, optional
        The receiving lab's stimulus folder; each clip not shipped in the
        bundle must be there, matching by sha256 (or, re-encoded, by duration
        and frame count: a warning).
    limits : Limits
        Size limits for untrusted input.

    Returns
    -------
    VerifyReport

    Raises
    ------
    BundleError, ProtocolError, ManifestError
        At the first problem, as one line plus a hint.

    Examples
    --------
    >>> from experiments.bundle.pack import pack_bundle
    >>> bundle = pack_bundle("protocols/bittersweet-demo.yaml", tmp / "demo.zip").path
    >>> report = verify_bundle(bundle, stimuli_dir="stimuli")
    >>> print(report.lines()[0])
    /.../demo.zip: ok (bittersweet-demo 1.0.0, ... files, all checksums match)
    """
    with tempfile.TemporaryDirectory(prefix="coaffect-verify-") as tmp:
        opened = open_bundle(bundle_path, Path(tmp), limits)
        matches, notes, warnings = check_lab_stimuli(
            opened, Path(stimuli_dir) if stimuli_dir is not None else None
        )
        return VerifyReport(
            Path(bundle_path),
            opened.loaded.protocol.id,
            opened.loaded.protocol.version,
            len(opened.bundle.files) + 1,
            matches,
            notes=opened.notes + notes,
            warnings=warnings,
        )
