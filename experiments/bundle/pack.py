"""``coaffect protocol pack``: write a protocol bundle another lab can verify and import."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from coaffect.formats.errors import BundleError, ManifestError
from coaffect.formats.manifest import Clip, load_manifest
from coaffect.formats.protocol import load_protocol

from ..stimulus_files import sha256_file
from .describe import build_readme, build_requirements
from .layout import (
    BUNDLE_FORMAT,
    BUNDLE_JSON,
    PROTOCOL_DIR,
    README_MD,
    REQUIREMENTS_JSON,
    TEXTS_DIR,
    BundleManifest,
    FileEntry,
    ProtocolEntry,
    StimulusEntry,
)
from .migrate import installed_coaffect_version

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # same bytes for the same inputs (except bundle.json)
_RESERVED_TOP = {BUNDLE_JSON, README_MD, REQUIREMENTS_JSON, TEXTS_DIR}


@dataclass
class PackResult:
    """What :func:`pack_bundle` wrote."""

    path: Path
    files: int
    included: list[str] = field(default_factory=list)
    not_included: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _inside(rel: str) -> bool:
    return not (rel.startswith("../") or rel == ".." or rel.startswith("/"))


def _clip_bundle_file(clip: Clip, manifest_dir: str, taken: set[str]) -> str:
    """Clip path relative to the manifest, kept if it stays inside the bundle."""
    rel = clip.file.replace("\\", "/")
    full = posixpath.normpath(posixpath.join(manifest_dir, rel))
    if (
        not rel.startswith("/")
        and _inside(full)
        and full.split("/")[0] not in _RESERVED_TOP
        and full not in taken
    ):
        return rel
    return f"clips/{clip.id}{Path(rel).suffix}"


def _check_camera_files(lp) -> None:
    """Refuse a replayed camera file whose path would leave the bundle (verify refuses those).

    Replay files are never shipped; a path that stays inside the bundle layout
    (e.g. ``../stimuli/feeds/wide.avi``) is kept as written and simply absent.
    """
    for i, cam in enumerate(lp.protocol.cameras):
        ref = (cam.file or "").replace("\\", "/")
        if cam.file is None or (
            not ref.startswith("/") and _inside(posixpath.normpath(posixpath.join(PROTOCOL_DIR, ref)))
        ):
            continue
        raise BundleError(
            f"{lp.path}: cameras[{i}].file: a replayed camera file outside the protocol's project "
            f"cannot be named in a bundle (got {cam.file!r}; allowed: 'device:' or a relative path "
            "such as '../stimuli/feeds/wide.avi')",
            hint=f"bundles never ship replay files: give camera '{cam.name}' its 'device:' for the "
            f"study and replay a file at run time with 'coaffect run --camera-file {cam.name}=FILE'",
        )


def pack_bundle(protocol_path: str | Path, output: str | Path, with_stimuli: bool = False) -> PackResult:
    """Write a protocol bundle (a zip) for another lab.

    Parameters
    ----------
    protocol_path : str or Path
        A protocol that passes ``coaffect protocol check`` (its manifest included).
    output : str or Path
        The zip to write (replaced atomically if it exists).
    with_stimuli : bool
        Ship the clip files whose manifest entry says ``redistributable: true``
        (each is checked against its manifest sha256 first). Other clips are
        described (licence, source, checksums) but not shipped.

    Returns
    -------
    PackResult
        The bundle path, number of files, and which clips were shipped.

    Raises
    ------
    ProtocolError, ManifestError, BundleError
        If the protocol does not pass its check, a clip file changed since the
        manifest was written, or the manifest path or a camera's replay file
        path cannot be expressed inside a bundle (``verify`` would refuse it).

    Examples
    --------
    >>> r = pack_bundle("protocols/bittersweet-demo.yaml", tmp / "demo.zip")
    >>> r.not_included  # placeholder clips travel only with --with-stimuli
    ['demo-positive', 'demo-negative', 'demo-bittersweet']
    """
    output = Path(output)
    lp = load_protocol(protocol_path)
    p = lp.protocol
    manifest = load_manifest(lp.manifest_path)
    protocol_rel = f"{PROTOCOL_DIR}/{p.id}.yaml"
    ref = p.stimuli.manifest.replace("\\", "/")
    manifest_rel = posixpath.normpath(posixpath.join(PROTOCOL_DIR, ref))
    if (
        ref.startswith("/")
        or not _inside(manifest_rel)
        or manifest_rel == protocol_rel
        or manifest_rel.split("/")[0] in _RESERVED_TOP
    ):
        raise BundleError(
            f"{lp.path}: stimuli.manifest: cannot be placed inside a bundle (got {ref!r}; "
            "allowed: a relative path such as '../stimuli/manifest.yaml')",
            hint="keep the manifest next to the protocols folder, as in a coaffect project",
        )
    manifest_dir = posixpath.dirname(manifest_rel)
    _check_camera_files(lp)

    ids = list(p.stimuli.clips) + ([p.baseline.clip] if p.baseline.clip else [])
    clips = [manifest.clip(i) for i in dict.fromkeys(ids)]
    members: dict[str, Path | bytes] = {protocol_rel: lp.path.read_bytes()}
    taken = {protocol_rel, manifest_rel}
    stimuli: list[StimulusEntry] = []
    bundled_clips = []
    result = PackResult(output, 0)
    for clip in clips:
        rel = _clip_bundle_file(clip, manifest_dir, taken)
        full = posixpath.normpath(posixpath.join(manifest_dir, rel))
        taken.add(full)
        ship = with_stimuli and clip.redistributable
        if ship:
            src = manifest.clip_path(clip.id)
            if not src.is_file():
                raise ManifestError(
                    f"{manifest.path}: {clip.id}: file {clip.file} is missing",
                    hint="restore the clip or run 'coaffect stimuli scan'",
                )
            actual = sha256_file(src)
            if actual != clip.sha256:
                raise ManifestError(
                    f"{manifest.path}: {clip.id}: sha256: file {clip.file} changed since the "
                    f"manifest was written (got {actual[:12]}...; manifest says {clip.sha256[:12]}...)",
                    hint="run 'coaffect stimuli scan' if the new file is intended",
                )
            members[full] = src
            result.included.append(clip.id)
        else:
            result.not_included.append(clip.id)
            if with_stimuli:
                result.messages.append(
                    f"{clip.id}: not shipped (licence {clip.licence} is not "
                    f"marked redistributable); the bundle names its source"
                )
        stimuli.append(
            StimulusEntry(
                id=clip.id,
                included=ship,
                file=rel,
                sha256=clip.sha256,
                licence=clip.licence,
                source=clip.source,
            )
        )
        bundled_clips.append(clip.model_copy(update={"file": rel}))
    manifest_data = {"format_version": 1, "clips": [c.model_dump(mode="json") for c in bundled_clips]}
    members[manifest_rel] = (
        "# Manifest entries of the clips used by protocol "
        f"{p.id} {p.version}\n" + yaml.safe_dump(manifest_data, sort_keys=False, allow_unicode=True)
    ).encode()
    for name, text in p.texts.model_dump().items():
        if isinstance(text, str) and text and name != "font":
            members[f"{TEXTS_DIR}/{name}.txt"] = text.encode("utf-8")
    req = build_requirements(p)
    members[REQUIREMENTS_JSON] = (req.model_dump_json(indent=2) + "\n").encode()
    members[README_MD] = build_readme(p, req, clips, stimuli, protocol_rel, output.name).encode()

    files: dict[str, FileEntry] = {}
    for name, content in members.items():
        if isinstance(content, bytes):
            files[name] = FileEntry(sha256=hashlib.sha256(content).hexdigest(), size=len(content))
        else:
            files[name] = FileEntry(sha256=sha256_file(content), size=content.stat().st_size)
    bundle = BundleManifest(
        bundle_format=BUNDLE_FORMAT,
        written_by={"coaffect": installed_coaffect_version()},
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        protocol=ProtocolEntry(
            path=protocol_rel, id=p.id, version=p.version, format_version=p.format_version, sha256=lp.sha256
        ),
        stimulus_manifest=manifest_rel,
        stimuli=stimuli,
        files=files,
    )
    members = {
        BUNDLE_JSON: (
            json.dumps(bundle.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        ).encode(),
        **members,
    }
    _write_zip(output, members)
    result.files = len(members)
    return result


def _write_zip(output: Path, members: dict[str, Path | bytes]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, content in members.items():
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.create_system = 3
                info.external_attr = 0o100644 << 16
                if isinstance(content, bytes):
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, content)
                else:  # video: already compressed
                    info.compress_type = zipfile.ZIP_STORED
                    info.file_size = content.stat().st_size
                    with open(content, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
