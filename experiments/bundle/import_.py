"""``coaffect protocol import``: verify a bundle, then install it atomically.

The bundle is unpacked into a hidden temporary folder inside the target
folder, checked completely, completed with the lab's own matching clips
(``--stimuli``), and only then renamed into place: one atomic ``rename`` on
the same file system. On any problem the temporary folder is deleted and
nothing else has been written.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from coaffect.formats.errors import BundleError

from .layout import BUNDLE_JSON, BundleManifest, parse_json_model
from .safe_zip import DEFAULT_LIMITS, Limits
from .verify import Findings, check_lab_stimuli, open_bundle

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ImportResult(Findings):
    """What :func:`import_bundle` installed."""

    folder: Path
    protocol: Path
    installed: bool
    missing_clips: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, one line each (parameters named as ```name```, for the CLI to map).

        Examples
        --------
        >>> r = ImportResult(Path("protocols/demo"), Path("protocols/demo/p.yaml"), True, ["clip03"])
        >>> for line in r.lines():
        ...     print(line)
        protocols/demo: installed; protocol: protocols/demo/p.yaml
          clips still needed: clip03 (import again with `stimuli_dir`, or copy them in and check the protocol)
        """
        out = [f"{self.folder}: {'installed' if self.installed else 'unchanged'}; protocol: {self.protocol}"]
        out += self.finding_lines()
        if self.missing_clips:
            out.append(
                f"  clips still needed: {', '.join(self.missing_clips)} "
                "(import again with `stimuli_dir`, or copy them in and check the protocol)"
            )
        return out


def _same_install(existing: Path, bm: BundleManifest) -> bool:
    try:
        old = parse_json_model((existing / BUNDLE_JSON).read_bytes(), BundleManifest, "installed")
    except Exception:
        return False
    keys = (bm.protocol.path, bm.stimulus_manifest)
    return (
        old.protocol.sha256 == bm.protocol.sha256
        and old.stimulus_manifest == bm.stimulus_manifest
        and all(old.files.get(k) == bm.files.get(k) for k in keys)
    )


def import_bundle(
    bundle_path: str | Path,
    into: str | Path,
    stimuli_dir: Optional[str | Path] = None,
    name: Optional[str] = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportResult:
    """Verify a bundle and install it as ``INTO/<protocol id>/``.

    Parameters
    ----------
    bundle_path : str or Path
        The zip from ``coaffect protocol pack``.
    into : str or Path
        An existing folder, usually ``protocols/``.
    stimuli_dir : str or Path, optional
        The lab's stimulus folder. Clips not shipped in the bundle are matched
        there (sha256, or duration and frame count for re-encoded copies) and
        copied into the installed folder, so that it runs as it is.
    name : str, optional
        Folder name to install under (default: the protocol id).
    limits : Limits
        Size limits for untrusted input.

    Returns
    -------
    ImportResult
        ``installed`` is False when an identical copy was already there.

    Raises
    ------
    BundleError, ProtocolError, ManifestError
        Nothing is installed; the temporary folder is removed.

    Examples
    --------
    >>> from experiments.bundle.pack import pack_bundle
    >>> bundle = pack_bundle("protocols/bittersweet-demo.yaml", tmp / "demo.zip").path
    >>> (tmp / "protocols").mkdir()
    >>> r = import_bundle(bundle, tmp / "protocols", stimuli_dir="stimuli")
    >>> r.protocol.relative_to(tmp).as_posix()
    'protocols/bittersweet-demo/protocol/bittersweet-demo.yaml'
    """
    into = Path(into)
    if not into.is_dir():
        raise BundleError(
            f"{into}: no such folder (got {str(into)!r}; allowed: an existing folder)",
            hint=f"create it first: mkdir -p {into}",
        )
    if name is not None and not _NAME.match(name):
        raise BundleError(
            f"--name: not a safe folder name (got {name!r}; allowed: letters, digits, "
            "'_', '.', '-', starting with a letter or digit)"
        )
    work = Path(tempfile.mkdtemp(prefix=".coaffect-import-", dir=into))
    try:
        stage = work / "bundle"
        stage.mkdir()
        opened = open_bundle(bundle_path, stage, limits)
        matches, notes, warnings = check_lab_stimuli(
            opened, Path(stimuli_dir) if stimuli_dir is not None else None
        )
        manifest_dir = posixpath.dirname(opened.bundle.stimulus_manifest)
        for m in matches:
            clip = opened.manifest.clip(m.clip_id)
            target = stage.joinpath(*posixpath.normpath(posixpath.join(manifest_dir, clip.file)).split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(m.path, target)
        p = opened.loaded.protocol
        dest = into / (name or p.id)
        protocol_path = dest / opened.bundle.protocol.path
        missing = [s.id for s in opened.bundle.stimuli if not s.included] if stimuli_dir is None else []
        if dest.exists() or dest.is_symlink():
            if _same_install(dest, opened.bundle):
                notes.append(f"{dest}: already installed (identical protocol)")
                return ImportResult(
                    dest, protocol_path, False, missing, notes=opened.notes + notes, warnings=warnings
                )
            raise BundleError(
                f"{dest}: already holds a different protocol (refusing to overwrite; got "
                f"{p.id} {p.version} with sha256 {opened.bundle.protocol.sha256[:12]}...)",
                hint=f"move {dest} away first, or import under another name with --name",
            )
        os.rename(stage, dest)  # atomic on one file system; fails if dest appeared meanwhile
        return ImportResult(dest, protocol_path, True, missing, notes=opened.notes + notes, warnings=warnings)
    finally:
        shutil.rmtree(work, ignore_errors=True)
