"""The stimulus manifest (``stimuli/manifest.yaml``): typed model and loading.

Pure module (no hardware). Scanning and verifying clip files lives in
:mod:`experiments.stimulus_files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coaffect.formats.errors import ManifestError, did_you_mean
from coaffect.formats.strict_yaml import read_located, read_located_or_raise
from coaffect.formats.validation_messages import model_fields_at, pydantic_lines

FORMAT_VERSION = 1
VALENCES = ("positive", "negative", "bittersweet", "neutral")


class Clip(BaseModel):
    """One stimulus clip."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
    file: str = Field(description="Path relative to the manifest's folder.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    duration: Annotated[float, Field(gt=0)] = Field(description="Seconds.")
    fps: Annotated[float, Field(gt=0)]
    frame_count: Annotated[int, Field(gt=0)]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    audio: bool
    tags: dict[str, str] = Field(
        default_factory=dict, description="Free tags; 'valence' is one of " + ", ".join(VALENCES)
    )
    licence: str = Field(description="SPDX id or licence text, e.g. 'CC-BY-4.0'.")
    source: str = Field(description="Where the clip comes from (URL, citation, generator).")
    redistributable: bool = Field(False, description="May be shipped inside protocol bundles.")

    @field_validator("tags")
    @classmethod
    def _valence(cls, v):
        val = v.get("valence")
        if val is not None and val not in VALENCES:
            raise ValueError(
                f"valence '{val}' is not one of {', '.join(VALENCES)}{did_you_mean(val, VALENCES)}"
            )
        return v


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1]
    clips: list[Clip]


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest and its location."""

    path: Path
    clips: tuple[Clip, ...]

    def ids(self) -> list[str]:
        return [c.id for c in self.clips]

    def clip(self, clip_id: str) -> Clip:
        for c in self.clips:
            if c.id == clip_id:
                return c
        raise ManifestError(f"{self.path}: no clip '{clip_id}'{did_you_mean(clip_id, self.ids())}")

    def clip_path(self, clip_id: str) -> Path:
        """Absolute path of a clip's file."""
        return (self.path.parent / self.clip(clip_id).file).resolve()


def load_manifest(path: str | Path) -> Manifest:
    """Load and validate a stimulus manifest.

    Parameters
    ----------
    path : str or Path
        ``manifest.yaml``.

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        ``FILE:LINE:COL: field: problem`` for each problem.

    Examples
    --------
    >>> m = load_manifest("stimuli/manifest.yaml")
    >>> m.clip("demo-positive").tags["valence"]
    'positive'
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file", hint="run 'coaffect stimuli scan' to create it")
    doc = read_located_or_raise(path, ManifestError)
    try:
        model = ManifestModel.model_validate(doc.data)
    except ValidationError as exc:
        lines = pydantic_lines(exc, doc, str(path), lambda loc: model_fields_at(ManifestModel, loc))
        raise ManifestError(lines[0], lines=lines) from None
    ids = [c.id for c in model.clips]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ManifestError(f"{path}: clip id(s) listed twice: {', '.join(dup)}")
    return Manifest(path.resolve(), tuple(model.clips))


def missing_clip_files(manifest: Manifest, clip_ids) -> list[str]:
    """One ``MANIFEST:LINE:COL: clips[i].file: ...`` line per listed clip whose file is absent.

    Only existence is checked (fast, before every study); ``coaffect stimuli
    verify`` also checks checksums and decodes the videos.

    Parameters
    ----------
    manifest : Manifest
    clip_ids : iterable of str
        The clips a protocol uses (ids not in the manifest are ignored here).

    Returns
    -------
    list of str
        Empty when every file is there.

    Examples
    --------
    >>> m = load_manifest("stimuli/manifest.yaml")
    >>> missing_clip_files(m, ["demo-positive"])
    []
    >>> import shutil; _ = shutil.copy("stimuli/manifest.yaml", tmp)
    >>> print(missing_clip_files(load_manifest(tmp / "manifest.yaml"), ["demo-positive"])[0])
    /.../manifest.yaml:...: clips[2].file: ...
    """
    wanted = set(clip_ids)
    doc = read_located(manifest.path)
    out = []
    for i, clip in enumerate(manifest.clips):
        path = manifest.path.parent / clip.file
        if clip.id in wanted and not path.is_file():
            line, col = doc.where(("clips", i, "file"))
            out.append(
                f"{manifest.path}:{line}:{col}: clips[{i}].file: clip '{clip.id}': file "
                f"{clip.file} is missing (looked in {path.parent})"
            )
    return out
