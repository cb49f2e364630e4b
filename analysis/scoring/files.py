"""A scored session's files: ``faces.parquet``, its sidecar, ``score_summary.json``.

Each file is written under a unique temporary name and renamed into place, and
the summary goes last: its presence, with the settings hash of the run, is what
marks a session finished (:func:`is_scored`), so an interrupted run, or a Dask
task rerun after its worker was lost, never leaves a half session that counts.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats.faces_schema import FACES_FORMAT_VERSION, OPTIONAL_COLUMN_DOCS, column_docs


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)`` on a unique temporary name next to ``path``, fsync, rename into place.

    Examples
    --------
    >>> atomic_write(tmp / "a.txt", lambda p: p.write_text("done"))
    >>> (tmp / "a.txt").read_text(), [p.name for p in tmp.glob(".a.txt*")]
    ('done', [])
    """
    # a unique temporary name: a task rerun after its worker was lost may race the original
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_scores(out_dir, faces: pd.DataFrame, summary: dict) -> Path:
    """Write faces.parquet, its JSON sidecar and score_summary.json (each atomically).

    The summary is written last: its presence with a matching settings hash
    marks a finished session (an interrupted run leaves none and is redone).

    Returns
    -------
    Path
        The faces.parquet written.

    Examples
    --------
    >>> from analysis.scoring.video import score_video
    >>> faces, summary = score_video(clip)
    >>> path = write_scores(tmp / "derivatives/coaffect/ses-S01", faces, summary)
    >>> sorted(p.name for p in path.parent.iterdir())
    ['faces.json', 'faces.parquet', 'score_summary.json']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "score_summary.json"
    if summary_path.exists():
        summary_path.unlink()
    table = pa.Table.from_pandas(faces, preserve_index=False)
    table = table.replace_schema_metadata(
        {
            **(table.schema.metadata or {}),
            b"coaffect_faces_format": str(FACES_FORMAT_VERSION).encode(),
            b"coaffect_settings_hash": summary["settings_hash"].encode(),
        }
    )
    parquet = out / "faces.parquet"
    atomic_write(parquet, lambda p: pq.write_table(table, p))
    optional = {c: d for c, d in OPTIONAL_COLUMN_DOCS.items() if c in faces.columns}
    sidecar = {"format_version": FACES_FORMAT_VERSION, "columns": {**column_docs(), **optional}}
    for name, data in (("faces.json", sidecar), ("score_summary.json", summary)):
        atomic_write(
            out / name, lambda p, d=data: p.write_text(json.dumps(d, indent=2, default=_json) + "\n")
        )
    return parquet


def _json(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    return str(o)


def protocol_scoring_key(protocol) -> dict:
    """The settings of a session's frozen protocol that change its faces table.

    Parameters
    ----------
    protocol : coaffect.formats.protocol_model.Protocol

    Returns
    -------
    dict
        ``face_resolution_px`` (``analysis.face_resolution_px``) and each camera's ``rotate``.

    Examples
    --------
    >>> from coaffect.formats.protocol import load_protocol
    >>> protocol_scoring_key(load_protocol("protocols/bittersweet-demo.yaml").protocol)
    {'face_resolution_px': 60.0, 'rotate': {'wide': 0}}
    """
    return {
        "face_resolution_px": protocol.analysis.face_resolution_px,
        "rotate": {cam.name: cam.rotate for cam in protocol.cameras},
    }


def is_scored(out_dir, settings, session_dir=None) -> bool:
    """True if ``out_dir`` holds a finished scoring with these settings.

    Parameters
    ----------
    out_dir : str or Path
        The session's derivatives folder.
    settings : analysis.scoring.score.ScoreSettings
        The run's settings (compared by :meth:`~analysis.scoring.score.ScoreSettings.settings_hash`).
    session_dir : str or Path, optional
        The session folder: its frozen protocol's camera rotation and analysis face
        resolution count too (:func:`protocol_scoring_key`).

    Examples
    --------
    >>> from analysis.scoring.score import ScoreSettings
    >>> is_scored(Path("/nonexistent"), ScoreSettings())
    False
    """
    path = Path(out_dir) / "score_summary.json"
    if not path.exists() or not (Path(out_dir) / "faces.parquet").exists():
        return False
    key = None
    if session_dir is not None and (Path(session_dir) / "protocol.yaml").exists():
        from coaffect.formats.protocol import load_protocol

        key = protocol_scoring_key(
            load_protocol(Path(session_dir) / "protocol.yaml", check_manifest=False).protocol
        )
    try:
        return json.loads(path.read_text())["settings_hash"] == settings.settings_hash(key)
    except (json.JSONDecodeError, KeyError):
        return False
