"""Find the receiving lab's copy of each clip and say whether it is the same clip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from coaffect.formats.manifest import Clip, load_manifest

from ..stimulus_files import sha256_file

Status = Literal["checksum", "re-encoded", "different", "missing"]


@dataclass(frozen=True)
class ClipMatch:
    """How a lab's clip compares with the bundle's manifest entry."""

    clip_id: str
    status: Status
    path: Optional[Path]
    detail: str


def probe_video(path: Path) -> tuple[float, int, float]:
    """Duration (s), frame count and fps of a video file, read with OpenCV.

    Examples
    --------
    >>> probe_video(Path("stimuli/demo/demo-positive.mp4"))
    (...)
    """
    import cv2  # local: only verify with --stimuli needs it

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0.0, 0, 0.0
        frames = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
    finally:
        cap.release()
    return (frames / fps if fps else 0.0), frames, fps


def _candidates(clip: Clip, stimuli_dir: Path) -> list[Path]:
    out: list[Path] = []
    own = stimuli_dir / "manifest.yaml"
    if own.is_file():
        try:
            lab = load_manifest(own)
            if clip.id in lab.ids():
                out.append(lab.clip_path(clip.id))
        except Exception:  # the lab's manifest is their business; fall back to names
            pass
    out.append(stimuli_dir / clip.file)
    name = Path(clip.file).name
    out.extend(sorted(p for p in stimuli_dir.rglob(name) if p.is_file()))
    seen, unique = set(), []
    for p in out:
        key = p.resolve()
        if key not in seen and p.is_file():
            seen.add(key)
            unique.append(p)
    return unique


def match_clip(clip: Clip, stimuli_dir: Path) -> ClipMatch:
    """Compare the lab's copy of one clip with its manifest entry.

    A clip matches by sha256; otherwise a file with the same frame count (+-1)
    and duration (within one frame) is taken as a re-encoded copy (a warning).

    Parameters
    ----------
    clip : Clip
        The bundle's manifest entry.
    stimuli_dir : Path
        The lab's stimulus folder (its own ``manifest.yaml`` is used if present,
        then the same relative path, then any file of the same name below it).

    Returns
    -------
    ClipMatch

    Examples
    --------
    >>> from coaffect.formats.manifest import load_manifest
    >>> clip = load_manifest("stimuli/manifest.yaml").clip("demo-positive")
    >>> m = match_clip(clip, Path("stimuli"))
    >>> m.status
    'checksum'
    """
    found = _candidates(clip, Path(stimuli_dir))
    if not found:
        return ClipMatch(
            clip.id,
            "missing",
            None,
            f"no file for '{clip.id}' ({clip.file}) in {stimuli_dir}; source: {clip.source}",
        )
    details = []
    for path in found:
        if sha256_file(path) == clip.sha256:
            return ClipMatch(clip.id, "checksum", path, f"{path}: same sha256")
    for path in found:
        duration, frames, _ = probe_video(path)
        if abs(frames - clip.frame_count) <= 1 and abs(duration - clip.duration) <= 1.0 / clip.fps + 1e-3:
            return ClipMatch(
                clip.id,
                "re-encoded",
                path,
                f"{path}: different file but same frame count ({frames}) and duration "
                f"({duration:.3f} s); a re-encoded copy: colours and timing may differ "
                "slightly",
            )
        details.append(f"{path}: {frames} frames, {duration:.3f} s")
    return ClipMatch(
        clip.id,
        "different",
        found[0],
        f"'{clip.id}' does not match (expected sha256 {clip.sha256[:12]}..., "
        f"{clip.frame_count} frames, {clip.duration:g} s; got " + "; ".join(details) + ")",
    )
