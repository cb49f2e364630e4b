"""Probe stimulus clips, and keep ``stimuli/manifest.yaml`` in step with the files.

:func:`scan_stimuli` measures every clip under a folder (ffprobe for streams,
frame count and duration; OpenCV to prove a frame decodes) and writes the
manifest, keeping what people wrote by hand (id, tags, licence, source,
redistributable). :func:`verify_stimuli` checks the files against the manifest
and reports each problem as one ``FILE:LINE:COL: clips[i].field: ...`` line.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional

from coaffect.formats.errors import ManifestError

#: File endings treated as stimulus clips by :func:`scan_stimuli`.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")

#: Folders skipped by default: camera replay feeds are not stimuli.
DEFAULT_EXCLUDE = ("feeds/*", "*/feeds/*")

#: Manifest fields measured from the file (everything else is hand-written).
MEASURED_FIELDS = ("sha256", "duration", "fps", "frame_count", "width", "height", "audio")

#: What a new clip gets for the hand-written fields until someone fills them in.
UNKNOWN = "UNKNOWN - fill in"

_HEADER = """\
# coaffect stimulus manifest (format_version 1); see docs/stimuli.md.
# 'coaffect stimuli scan' rewrites the measured fields (sha256, duration, fps,
# frame_count, width, height, audio) and keeps id, tags, licence, source and
# redistributable as written here. 'coaffect stimuli verify' checks the files.
"""


@dataclass(frozen=True)
class ClipProbe:
    """What a clip file measures as (the manifest's measured fields)."""

    sha256: str
    duration: float
    fps: float
    frame_count: int
    width: int
    height: int
    audio: bool

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in MEASURED_FIELDS}


@dataclass
class ScanResult:
    """What :func:`scan_stimuli` did."""

    manifest: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # kept in the manifest, file gone
    needs_metadata: list[str] = field(default_factory=list)  # licence/source to fill in


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks.

    Examples
    --------
    >>> sha256_file("stimuli/demo/demo-positive.mp4")[:12]
    'ef16286b948d'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise ManifestError(
            "ffprobe: program not found; it measures stimulus clips",
            hint="install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg) or run scripts/setup.sh",
        )
    cmd = [
        exe,
        "-v",
        "error",
        "-count_packets",
        "-show_entries",
        "stream=codec_type,width,height,avg_frame_rate,r_frame_rate,nb_read_packets,duration:format=duration",
        "-of",
        "json",
        str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["ffprobe failed"])[-1]
        raise _Unreadable(msg.replace(str(path) + ": ", ""))
    return json.loads(proc.stdout)


class _Unreadable(Exception):
    pass


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value) if value > 0 else 0.0


def _decode_first_frame(path: Path) -> tuple[int, int]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise _Unreadable("OpenCV cannot open it")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise _Unreadable("OpenCV cannot decode its first frame")
        return frame.shape[1], frame.shape[0]
    finally:
        cap.release()


def probe_clip(path: str | Path) -> ClipProbe:
    """Measure one clip file.

    Parameters
    ----------
    path : str or Path
        A video file.

    Returns
    -------
    ClipProbe
        sha256, duration (s), fps, frame_count, width, height (px), audio.

    Raises
    ------
    ManifestError
        If the file is missing, has no video stream, or cannot be decoded.

    Examples
    --------
    >>> p = probe_clip("stimuli/demo/demo-positive.mp4")
    >>> p.frame_count, p.fps, (p.width, p.height), p.audio
    (240, 30.0, (640, 360), False)
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such file")
    try:
        info = _ffprobe(path)
        video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
        if not video:
            raise _Unreadable("no video stream")
        v = video[0]
        fps = _rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate"))
        frames = int(v.get("nb_read_packets") or 0)
        duration = float(v.get("duration") or info.get("format", {}).get("duration") or 0)
        if frames <= 0 or fps <= 0:
            raise _Unreadable("no video frames found")
        if duration <= 0:
            duration = frames / fps
        width, height = _decode_first_frame(path)
    except _Unreadable as exc:
        raise ManifestError(
            f"{path}: unreadable video ({exc})",
            hint="re-encode it, e.g. ffmpeg -i IN -c:v mpeg4 -q:v 3 OUT.mp4",
        ) from None
    return ClipProbe(
        sha256=sha256_file(path),
        duration=round(duration, 4),
        fps=round(fps, 4),
        frame_count=frames,
        width=width,
        height=height,
        audio=any(s.get("codec_type") == "audio" for s in info.get("streams", [])),
    )


def _clip_id(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem)
    base = re.sub(r"-{2,}", "-", base).strip("-._")[:60] or "clip"
    if not base[0].isalnum():
        base = "c" + base
    cid, n = base, 2
    while cid in taken:
        cid, n = f"{base}-{n}", n + 1
    return cid


def find_clips(directory: str | Path, exclude: tuple[str, ...] = DEFAULT_EXCLUDE) -> list[Path]:
    """Video files under ``directory`` (recursive), sorted, skipping hidden and excluded ones.

    Examples
    --------
    >>> [p.name for p in find_clips("stimuli")]
    ['demo-bittersweet.mp4', 'demo-negative.mp4', 'demo-positive.mp4']
    """
    directory = Path(directory)
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if (
            p.is_file()
            and p.suffix.lower() in VIDEO_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(directory).parts)
            and not any(fnmatch.fnmatch(rel, pat) for pat in exclude)
        ):
            out.append(p)
    return out


def _read_existing(manifest: Path) -> list[dict]:
    if not manifest.exists():
        return []
    from coaffect.formats.manifest import load_manifest

    # validate first so a broken hand edit is reported, not overwritten
    return [c.model_dump() for c in load_manifest(manifest).clips]


def _write_manifest(manifest: Path, clips: list[dict]) -> None:
    import yaml

    from coaffect.formats.manifest import FORMAT_VERSION

    text = _HEADER + yaml.safe_dump(
        {"format_version": FORMAT_VERSION, "clips": clips}, sort_keys=False, allow_unicode=True, width=100
    )
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(manifest)


def scan_stimuli(
    directory: str | Path,
    manifest: Optional[str | Path] = None,
    *,
    new_clip_fields: Optional[dict[str, dict]] = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
    progress: bool = True,
) -> ScanResult:
    """Probe every clip under ``directory`` and write or update the manifest.

    Parameters
    ----------
    directory : str or Path
        Folder searched recursively for video files (see :data:`VIDEO_SUFFIXES`).
    manifest : str or Path, optional
        Manifest to write (default: ``directory/manifest.yaml``). Clip paths in
        it are relative to its folder.
    new_clip_fields : dict, optional
        Hand-written fields (tags, licence, source, redistributable) for clips
        not yet in the manifest, keyed by file name; used by ``make-demo``.
    exclude : tuple of str
        Glob patterns (relative to ``directory``) to skip.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    ScanResult
        Ids added, updated, unchanged, missing (file gone, entry kept), and
        those whose licence or source still needs filling in.

    Raises
    ------
    ManifestError
        If the existing manifest is invalid or a clip cannot be read.

    Examples
    --------
    >>> import shutil
    >>> folder = shutil.copytree("stimuli", tmp / "stimuli")
    >>> r = scan_stimuli(folder, folder / "manifest.yaml", progress=False)
    >>> r.unchanged
    ['demo-bittersweet', 'demo-negative', 'demo-positive']
    """
    from tqdm import tqdm

    directory = Path(directory)
    if not directory.is_dir():
        raise ManifestError(f"{directory}: no such folder", hint="give the folder holding the clips")
    manifest = Path(manifest) if manifest else directory / "manifest.yaml"
    base = manifest.resolve().parent
    existing = _read_existing(manifest)
    by_file = {(base / c["file"]).resolve(): c for c in existing}
    taken = {c["id"] for c in existing}
    result = ScanResult(manifest)
    clips = [dict(c) for c in existing]
    files = find_clips(directory, exclude)
    for path in tqdm(files, desc="probing clips", unit="clip", disable=None if progress else True):
        probe = probe_clip(path).as_dict()
        old = by_file.get(path.resolve())
        if old is not None:
            entry = next(c for c in clips if c["id"] == old["id"])
            changed = any(entry[k] != v for k, v in probe.items())
            entry.update(probe)
            (result.updated if changed else result.unchanged).append(entry["id"])
        else:
            try:
                rel = path.resolve().relative_to(base).as_posix()
            except ValueError:
                raise ManifestError(
                    f"{path}: clip lies outside the manifest's folder {base}",
                    hint="keep clips in the manifest's folder or below it",
                ) from None
            cid = _clip_id(path.stem, taken)
            taken.add(cid)
            extra = dict((new_clip_fields or {}).get(path.name, {}))
            entry = {
                "id": cid,
                "file": rel,
                **probe,
                "tags": extra.pop("tags", {}),
                "licence": extra.pop("licence", UNKNOWN),
                "source": extra.pop("source", UNKNOWN),
                "redistributable": extra.pop("redistributable", False),
                **extra,
            }
            clips.append(entry)
            result.added.append(cid)
    result.missing = [c["id"] for c in clips if not (base / c["file"]).is_file()]
    result.needs_metadata = [c["id"] for c in clips if UNKNOWN in (c["licence"], c["source"])]
    from coaffect.formats.manifest import Clip

    clips = [Clip.model_validate(c).model_dump() for c in clips]  # same field order everywhere
    manifest.parent.mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest, clips)
    return result


def verify_stimuli(manifest, clip_ids: Optional[list[str]] = None, progress: bool = True) -> list[str]:
    """Check every clip file against the manifest.

    Parameters
    ----------
    manifest : str, Path or Manifest
        The manifest file (``stimuli/manifest.yaml``) or a loaded
        :class:`~coaffect.formats.manifest.Manifest`.
    clip_ids : list of str, optional
        Check only these clips (e.g. those of one protocol); default: all.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of str
        One line per clip that is fine (``id: ok (file, 8.0 s, 240 frames)``).

    Raises
    ------
    ManifestError
        With one line per problem, ``MANIFEST:LINE:COL: clips[i].field: what is
        wrong``: missing file, changed sha256, unreadable video, or duration,
        frame count, fps or size that differ from the manifest.

    Examples
    --------
    >>> verify_stimuli("stimuli/manifest.yaml", progress=False)[0]
    'demo-bittersweet: ok (demo/demo-bittersweet.mp4, 8 s, 240 frames, 640x360)'
    """
    from tqdm import tqdm

    from coaffect.formats.manifest import Manifest, load_manifest
    from coaffect.formats.strict_yaml import read_located

    if isinstance(manifest, Manifest):
        m, mname = manifest, str(manifest.path)
    else:
        m, mname = load_manifest(manifest), str(manifest)
    doc = read_located(m.path)
    if clip_ids is not None:
        for cid in clip_ids:
            m.clip(cid)  # unknown id: ManifestError with did-you-mean
    wanted = None if clip_ids is None else set(clip_ids)
    ok_lines: list[str] = []
    problems: list[str] = []

    def add(i: int, fld: str, msg: str) -> None:
        line, col = doc.where(("clips", i, fld))
        problems.append(f"{mname}:{line}:{col}: clips[{i}].{fld}: {msg}")

    for i, clip in enumerate(
        tqdm(m.clips, desc="verifying clips", unit="clip", disable=None if progress else True)
    ):
        if wanted is not None and clip.id not in wanted:
            continue
        path = m.path.parent / clip.file
        if not path.is_file():
            add(i, "file", f"clip '{clip.id}': file {clip.file} is missing (looked in {path.parent})")
            continue
        digest = sha256_file(path)
        if digest != clip.sha256:
            add(
                i,
                "sha256",
                f"clip '{clip.id}': file {clip.file} has changed since it was scanned "
                f"(checksum {digest[:12]}..., manifest has {clip.sha256[:12]}...)",
            )
        try:
            probe = probe_clip(path)
        except ManifestError as exc:
            add(i, "file", f"clip '{clip.id}': {exc.message.split(': ', 1)[-1]}")
            continue
        before = len(problems)
        if probe.frame_count != clip.frame_count:
            add(
                i,
                "frame_count",
                f"clip '{clip.id}': file has {probe.frame_count} frames (manifest says {clip.frame_count})",
            )
        if abs(probe.duration - clip.duration) > max(0.05, 1.0 / clip.fps):
            add(
                i,
                "duration",
                f"clip '{clip.id}': file lasts {probe.duration:g} s (manifest says {clip.duration:g} s)",
            )
        if abs(probe.fps - clip.fps) > 0.01:
            add(i, "fps", f"clip '{clip.id}': file runs at {probe.fps:g} fps (manifest says {clip.fps:g})")
        if (probe.width, probe.height) != (clip.width, clip.height):
            add(
                i,
                "width",
                f"clip '{clip.id}': file is {probe.width}x{probe.height} "
                f"(manifest says {clip.width}x{clip.height})",
            )
        if digest == clip.sha256 and len(problems) == before:
            ok_lines.append(
                f"{clip.id}: ok ({clip.file}, {clip.duration:g} s, "
                f"{clip.frame_count} frames, {clip.width}x{clip.height})"
            )
    if problems:
        raise ManifestError(
            problems[0],
            lines=problems,
            hint="if a clip was changed on purpose, run 'coaffect stimuli scan' "
            "to record it; otherwise restore the original file",
        )
    return ok_lines
