"""What a protocol bundle holds: its file layout and the two JSON files that describe it.

::

    NAME.zip
      bundle.json              bundle manifest: format, who wrote it, sha256 + size of every file
      README.md                generated from the protocol
      requirements.json        coaffect/PsychoPy versions, display, seats, cameras, keys
      protocol/<id>.yaml       the protocol, byte for byte as written by its authors
      stimuli/manifest.yaml    manifest entries of its clips (where the protocol's
                               ``stimuli.manifest`` points, relative to protocol/)
      stimuli/<file>           clips, only with --with-stimuli and a redistributable licence
      texts/<name>.txt         consent, instructions and the other participant texts

Both JSON files are validated strictly (unknown fields refused).
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coaffect.formats.errors import BundleError
from coaffect.formats.validation_messages import model_fields_at

#: The bundle layout this coaffect writes and reads.
BUNDLE_FORMAT = 1
BUNDLE_JSON = "bundle.json"
REQUIREMENTS_JSON = "requirements.json"
README_MD = "README.md"
PROTOCOL_DIR = "protocol"
TEXTS_DIR = "texts"

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    """One file of the bundle."""

    sha256: Sha256
    size: Annotated[int, Field(ge=0)]


class StimulusEntry(_Strict):
    """One clip the protocol uses: shipped inside, or where to get it."""

    id: str
    included: bool
    file: str = Field(description="Path in the bundle (relative to the stimulus manifest).")
    sha256: Sha256
    licence: str
    source: str


class ProtocolEntry(_Strict):
    """The protocol inside the bundle."""

    path: str
    id: str
    version: str
    format_version: int
    sha256: Sha256


class BundleManifest(_Strict):
    """Contents of ``bundle.json``."""

    bundle_format: int
    written_by: dict[str, str] = Field(description="Package -> version that wrote the bundle.")
    created: str = Field(description="UTC time, ISO 8601.")
    protocol: ProtocolEntry
    stimulus_manifest: str
    stimuli: list[StimulusEntry]
    files: dict[str, FileEntry]


class CameraNeed(_Strict):
    """A camera the protocol records with."""

    name: str
    kind: str = Field(description="'device' or 'replay file'.")
    resolution: tuple[int, int]
    fps: float
    seats: list[str]
    required: bool


class Requirements(_Strict):
    """Contents of ``requirements.json``: what the receiving lab needs."""

    coaffect: str
    psychopy: Optional[str]
    protocol_format: int
    display_size: tuple[int, int]
    fullscreen: bool
    refresh_hz: Optional[float] = Field(
        None, description="Not fixed by the protocol; the measured refresh is stored in each session.json."
    )
    seats: int
    group_size: Optional[int]
    cameras: list[CameraNeed]
    keys: dict[str, dict[str, str]] = Field(description="Seat -> {happy: key, sad: key}.")
    font: Optional[str]


def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def parse_json_model(raw: bytes, model: type[BaseModel], where: str) -> BaseModel:
    """Parse JSON bytes strictly into ``model``.

    Parameters
    ----------
    raw : bytes
        The file's bytes (UTF-8).
    model : type
        ``BundleManifest`` or ``Requirements``.
    where : str
        ``bundle.zip:bundle.json``, for messages.

    Returns
    -------
    pydantic.BaseModel

    Raises
    ------
    BundleError
        On bad JSON, duplicate keys, unknown or missing fields.

    Examples
    --------
    >>> parse_json_model(b'{"sha256": "' + b'0' * 64 + b'", "size": 3}', FileEntry, "x").size
    3
    """
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(
            f"{where}: not valid JSON ({exc})", hint="the bundle is damaged; ask its authors for a new one"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                msg = f"unknown field (allowed: {', '.join(model_fields_at(model, err['loc'][:-1]))})"
            else:
                msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {loc}: {msg}")
        raise BundleError(
            lines[0],
            lines=lines,
            hint="the bundle was changed by hand or by another program; ask its authors for a new one",
        ) from None
