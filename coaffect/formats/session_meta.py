"""``session.json`` as a typed object: :class:`SessionMeta` reads, checks and writes it.

The runner creates one when a session starts and updates it as the session
goes (cameras, clips, sound, LSL...); the reader returns one for every session
folder. Keys this coaffect does not know (a newer writer's) are kept in
:attr:`SessionMeta.extra` and written back unchanged. Optional keys without a
value are left out of the file (absent and ``null`` mean the same to readers).

For code written against the earlier plain dict, a ``SessionMeta`` also reads
like a mapping of the JSON keys (``meta["condition"]``, ``meta.get("clips")``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import session_format as fmt
from .errors import SessionFormatError
from .tables import write_json_atomic


@dataclass
class SeatedParticipant:
    """One participant of a session and the seat they sat on."""

    participant_id: str
    seat: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "seat": self.seat}


@dataclass
class ProtocolRef:
    """Which protocol the session ran: id, version, sha256 of the file, where it came from."""

    id: str | None = None
    version: str | None = None
    sha256: str | None = None
    source: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


#: A damaged session.json: the runner never writes it like this.
DAMAGED_HINT = (
    "the runner never writes this, so the file was edited or damaged: fix that line "
    "(docs/session-format.md) or restore the session folder from its backup"
)


@dataclass
class SessionMeta:
    """The content of ``session.json`` (keys and meanings: docs/session-format.md).

    Attributes
    ----------
    session_id, condition, status : str
        ``status`` is running, complete or aborted.
    participants : list of SeatedParticipant
    protocol : ProtocolRef
    versions : dict
        Package versions of the recording machine.
    format_version : int
    clock, started_at, ended_at : str
    session_index, trial_order, trial_order_mode, seats, clock_zero_perf, simulate, seed, resumes
        Written by the runner when the session starts (see ``SESSION_JSON_RUNNER_KEYS``).
    display, keyboard, button_check, clips, abort_reason, responses, audio, lsl, cameras, experimenter_view
        Recorded while the session runs.
    extra : dict
        Keys this coaffect does not know, kept as they were.

    Examples
    --------
    >>> meta = SessionMeta("S01", "alone", [SeatedParticipant("P01", "A")], ProtocolRef(id="demo"))
    >>> meta.write(tmp / "session.json")
    >>> back = SessionMeta.read(tmp / "session.json")
    >>> back.participants[0].participant_id, back.status, back["condition"]
    ('P01', 'running', 'alone')
    """

    session_id: str
    condition: str
    participants: list[SeatedParticipant]
    protocol: ProtocolRef = field(default_factory=ProtocolRef)
    versions: dict[str, Any] = field(default_factory=dict)
    status: fmt.SessionStatus = "running"
    format_version: int = fmt.FORMAT_VERSION
    clock: str = fmt.CLOCK
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    session_index: int | None = None
    trial_order: list[str] | None = None
    trial_order_mode: str | None = None
    seats: list[Any] | None = None
    clock_zero_perf: float | None = None
    simulate: str | None = None
    seed: int | None = None
    resumes: list[dict[str, Any]] | None = None
    display: dict[str, Any] | None = None
    keyboard: dict[str, Any] | None = None
    button_check: str | None = None
    clips: dict[str, Any] | None = None
    abort_reason: str | None = None
    ended_at: str | None = None
    responses: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    lsl: dict[str, Any] | None = None
    cameras: Any = None
    experimenter_view: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # --- the JSON document -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``session.json`` (required keys first, then the rest)."""
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "session_id": self.session_id,
            "status": self.status,
            "clock": self.clock,
            "started_at": self.started_at,
            "condition": self.condition,
            "participants": [p.to_dict() for p in self.participants],
            "protocol": self.protocol.to_dict(),
            "versions": self.versions,
        }
        for f in fields(self):
            if f.name in out or f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str | Path = "session.json") -> SessionMeta:
        """Check a ``session.json`` object and type it.

        Raises
        ------
        SessionFormatError
            Missing keys, a newer format, an unknown status, participants that are not
            ``{participant_id, seat}`` objects.
        """
        if not isinstance(data, dict):
            raise SessionFormatError(f"{source}: not a JSON object", hint=DAMAGED_HINT)
        missing = [k for k in fmt.SESSION_JSON_KEYS if k not in data]
        if missing:
            raise SessionFormatError(f"{source}: missing key(s) {', '.join(missing)}", hint=DAMAGED_HINT)
        version = data["format_version"]
        if not isinstance(version, int):
            raise SessionFormatError(
                f"{source}: format_version: not a whole number (got {version!r})", hint=DAMAGED_HINT
            )
        if version > fmt.FORMAT_VERSION:
            raise SessionFormatError(
                f"{source}: session format {version} is newer "
                f"than this coaffect reads ({fmt.FORMAT_VERSION}); upgrade coaffect",
                hint="pip install --upgrade coaffect (the session was recorded by a newer version)",
            )
        if data["status"] not in fmt.SESSION_STATUSES:
            raise SessionFormatError(
                f"{source}: status '{data['status']}' is not one of {', '.join(fmt.SESSION_STATUSES)}",
                hint=DAMAGED_HINT,
            )
        people = data["participants"]
        if not isinstance(people, list) or not all(
            isinstance(p, dict) and isinstance(p.get("participant_id"), str) for p in people
        ):
            raise SessionFormatError(
                f"{source}: participants: expected a list of {{participant_id, seat}} objects",
                hint=DAMAGED_HINT,
            )
        proto = data["protocol"] if isinstance(data["protocol"], dict) else {}
        known = {f.name for f in fields(cls)} - {"extra", "participants", "protocol"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(
            participants=[SeatedParticipant(str(p["participant_id"]), p.get("seat")) for p in people],
            protocol=ProtocolRef(**{k: proto.get(k) for k in ("id", "version", "sha256", "source", "file")}),
            extra={k: v for k, v in data.items() if k not in known and k not in ("participants", "protocol")},
            **values,
        )

    @classmethod
    def read(cls, path: str | Path) -> SessionMeta:
        """Read and check a ``session.json`` file (see :meth:`from_dict`)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SessionFormatError(
                f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})", hint=DAMAGED_HINT
            ) from None
        return cls.from_dict(data, path)

    def write(self, path: str | Path) -> None:
        """Replace ``path`` with this object as JSON, atomically (write, fsync, rename)."""
        write_json_atomic(Path(path), self.to_dict())

    def update(self, **values: Any) -> None:
        """Set keys: known ones as attributes, others in :attr:`extra`.

        Examples
        --------
        >>> meta = SessionMeta("S01", "alone", [SeatedParticipant("P01")])
        >>> meta.update(button_check="passed", lab_note="fire alarm at 10:05")
        >>> meta.button_check, meta.extra
        ('passed', {'lab_note': 'fire alarm at 10:05'})
        """
        names = {f.name for f in fields(self)} - {"extra"}
        for key, value in values.items():
            if key in names:
                setattr(self, key, value)
            else:
                self.extra[key] = value

    @property
    def participant_ids(self) -> list[str]:
        """Participant ids in seat order."""
        return [p.participant_id for p in self.participants]

    # --- read like the JSON mapping (code written against the plain dict) ---------------

    def __getitem__(self, key: str) -> Any:
        doc = self.to_dict()
        if key in doc:
            return doc[key]
        if key in {f.name for f in fields(self)} - {"extra"}:
            return None  # an optional key without a value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value of ``key``, or ``default`` when it has none."""
        value = self.to_dict().get(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())
