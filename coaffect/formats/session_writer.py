"""Write a session folder as the session happens (format: :mod:`coaffect.formats.session_format`).

Every row is written and flushed the moment it is appended, so a crash or
``kill -9`` loses nothing already appended (the kernel keeps flushed bytes);
``fsync`` runs at most once per second so a power cut loses at most about a
second. ``session.json`` is replaced atomically (write, fsync, rename), so it is
always either the old or the new version, never half written.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

from coaffect.formats import session_format as fmt
from coaffect.formats.errors import SessionSetupError
from coaffect.formats.session_meta import SessionMeta
from coaffect.formats.tables import write_json_atomic

#: Refuse to start a session with less free space than this on the output disk.
MIN_FREE_BYTES = 500 * 1024 * 1024


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return fmt.NA
    if isinstance(value, float):
        return repr(round(value, 6))
    text = str(value)
    if any(ch in text for ch in "\t\n\r"):
        text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text


class TableWriter:
    """Append-only TSV table: header once, then one flushed line per row."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = list(columns)
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            _repair_partial_last_line(path)
        self._fh = open(path, "a", encoding="utf-8", newline="\n")
        if not exists:
            self._fh.write("\t".join(self.columns) + "\n")
            self._fh.flush()
        self._last_sync = time.monotonic()

    def append(self, row: dict) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        self._fh.write("\t".join(_cell(row.get(c)) for c in self.columns) + "\n")
        self._fh.flush()
        now = time.monotonic()
        if now - self._last_sync >= 1.0:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def _repair_partial_last_line(path: Path) -> None:
    """After a crash the last line may be cut; drop it so appends start on a new line."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def check_output_dir(dataset_dir: Path, need_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail early (exit 2) if the dataset folder cannot be written or is almost full."""
    probe_dir = dataset_dir
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not os.access(probe_dir, os.W_OK):
        raise SessionSetupError(
            f"{dataset_dir}: output folder is not writable",
            hint="choose another `output` folder or fix its permissions",
            field="output",
        )
    free = shutil.disk_usage(probe_dir).free
    if free < need_bytes:
        raise SessionSetupError(
            f"{dataset_dir}: only {free / 1e6:.0f} MB free on the output disk "
            f"(need at least {need_bytes / 1e6:.0f} MB)",
            hint="free some space or choose another `output` folder",
            field="output",
        )


class SessionWriter:
    """Writes one ``ses-<id>`` folder of a dataset.

    Parameters
    ----------
    dataset_dir : Path
        The dataset folder (created if needed).
    session_id : str
        Alphanumeric session label.
    resume : bool
        Open an existing session folder and append to it; otherwise the folder
        must not exist yet.

    Examples
    --------
    >>> from coaffect.formats.session_meta import SeatedParticipant
    >>> meta = SessionMeta("S01", "alone", [SeatedParticipant("P01", "A")])
    >>> w = SessionWriter.create(tmp / "data", "S01", meta)
    >>> w.append("buttons.tsv", {"t": 1.5, "action": "down", "participant_id": "P01",
    ...                          "seat": "A", "button": "happy", "key": "f"})
    >>> w.finish("complete")
    >>> (tmp / "data" / "ses-S01" / "buttons.tsv").read_text().splitlines()[1].split()
    ['1.5', 'down', 'P01', 'A', 'happy', 'f']
    """

    def __init__(self, dataset_dir: Path, session_id: str, *, resume: bool = False):
        self.dataset_dir = Path(dataset_dir)
        self.session_id = session_id
        self.dir = self.dataset_dir / fmt.session_dirname(session_id)
        if not resume and self.dir.exists():
            raise SessionSetupError(
                f"{self.dir}: session folder already exists",
                hint="use another `session_id`, or `resume` to continue it",
                field="session_id",
            )
        if resume and not (self.dir / "session.json").exists():
            raise SessionSetupError(f"{self.dir}: no session.json here; nothing to resume", field="resume")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tables: dict[str, TableWriter] = {}
        self.meta: SessionMeta = (
            SessionMeta.read(self.dir / "session.json") if resume else SessionMeta(session_id, "", [])
        )

    @classmethod
    def create(cls, dataset_dir: Path, session_id: str, meta: Union[SessionMeta, dict]) -> SessionWriter:
        """Create a new session folder with ``session.json`` in status ``running``.

        ``meta`` is a :class:`~coaffect.formats.session_meta.SessionMeta`, or a dict of its
        JSON keys (condition, participants, protocol, versions, ...).
        """
        if not fmt.valid_session_id(session_id):
            raise SessionSetupError(
                f"session_id: '{session_id}' must be letters and digits only", field="session_id"
            )
        writer = cls(dataset_dir, session_id)
        if isinstance(meta, dict):
            meta = SessionMeta.from_dict(
                {
                    "format_version": fmt.FORMAT_VERSION,
                    "session_id": session_id,
                    "status": "running",
                    "clock": fmt.CLOCK,
                    "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    **meta,
                }
            )
        meta.update(session_id=session_id, status="running")
        writer.meta = meta
        meta.write(writer.dir / "session.json")
        writer._write_dataset_description()
        return writer

    def table(self, filename: str) -> TableWriter:
        """The (lazily opened) writer of one table."""
        if filename not in self._tables:
            spec = fmt.TABLES.get(filename)
            if spec is None:
                raise KeyError(f"unknown session table {filename}")
            self._tables[filename] = TableWriter(self.dir / filename, spec.names)
            sidecar = (self.dir / filename).with_suffix(".json")
            if not sidecar.exists():
                write_json_atomic(sidecar, fmt.sidecar(spec))
        return self._tables[filename]

    def append(self, filename: str, row: dict) -> None:
        """Append one row to a table and flush it."""
        self.table(filename).append(row)

    def update(self, **fields: Any) -> None:
        """Set keys of ``session.json`` (:meth:`SessionMeta.update`) and rewrite it atomically."""
        self.meta.update(**fields)
        self.meta.write(self.dir / "session.json")

    def add_participants(self, rows: list[dict]) -> None:
        """Append participants to the dataset-level ``participants.tsv``."""
        path = self.dataset_dir / fmt.PARTICIPANTS.filename
        writer = TableWriter(path, fmt.PARTICIPANTS.names)
        try:
            for row in rows:
                writer.append(row)
        finally:
            writer.close()
        sidecar = path.with_suffix(".json")
        if not sidecar.exists():
            write_json_atomic(sidecar, fmt.sidecar(fmt.PARTICIPANTS))

    def finish(self, status: fmt.SessionStatus, **fields: Any) -> None:
        """Close every table and set the final status."""
        if status not in fmt.SESSION_STATUSES:
            raise ValueError(status)
        self.close()
        self.update(
            status=status, ended_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields
        )

    def close(self) -> None:
        for table in self._tables.values():
            table.close()
        self._tables.clear()

    def _write_dataset_description(self) -> None:
        path = self.dataset_dir / "dataset_description.json"
        if path.exists():
            return
        variables = sorted({c.name for spec in fmt.TABLES.values() for c in spec.columns})
        write_json_atomic(
            path,
            {
                "@context": "https://schema.org/",
                "@type": "Dataset",
                "name": f"coaffect dataset {self.dataset_dir.name}",
                "description": "Group-vs-alone emotion study recorded with coaffect.",
                "schemaVersion": "Psych-DS 0.1.0",
                "coaffect_format_version": fmt.FORMAT_VERSION,
                "variableMeasured": variables,
            },
        )


def read_participant_ids(dataset_dir: Path) -> set[str]:
    """Participant ids already used in a dataset (to refuse re-use)."""
    path = Path(dataset_dir) / fmt.PARTICIPANTS.filename
    if not path.exists():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return {line.split("\t", 1)[0] for line in lines if line.strip()}
