"""One way to write a table, and one place for the derivative paths.

Every TSV coaffect writes goes through :func:`write_tsv`: tab-separated, ``n/a``
for missing values (BIDS), floats to 10 significant digits, yes/no values as
``TRUE``/``FALSE`` (what R's ``read.delim`` reads as logical; pandas reads them
too), columns in a stated order, and optionally a JSON sidecar describing the columns. Every path
under ``<dataset>/derivatives/coaffect`` comes from :func:`derivatives_dir`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pandas as pd

#: Where coaffect's outputs live inside a dataset (BIDS derivatives).
DERIVATIVES = Path("derivatives") / "coaffect"

#: Written for a missing value in every TSV (BIDS convention).
NA = "n/a"


def derivatives_dir(dataset_dir, session_id: Optional[str] = None, *parts: str) -> Path:
    """``<dataset>/derivatives/coaffect[/ses-<id>][/parts...]``.

    Examples
    --------
    >>> derivatives_dir("data").as_posix()
    'data/derivatives/coaffect'
    >>> derivatives_dir("data", "S01", "faces.parquet").as_posix()
    'data/derivatives/coaffect/ses-S01/faces.parquet'
    >>> derivatives_dir("data", None, "stats").as_posix()
    'data/derivatives/coaffect/stats'
    """
    path = Path(dataset_dir) / DERIVATIVES
    if session_id is not None:
        path = path / f"ses-{session_id}"
    return path.joinpath(*parts)


def write_tsv(
    table: pd.DataFrame, path, columns: Optional[Sequence[str]] = None, sidecar: Optional[dict] = None
) -> Path:
    """Write ``table`` as a BIDS-style TSV (atomically), with an optional JSON sidecar.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows to write; its index is not written.
    path : str or Path
        Target ``.tsv`` file; its folder is created.
    columns : sequence of str, optional
        Column order (columns not named follow in their own order).
    sidecar : dict, optional
        Column descriptions, written to ``<path stem>.json``.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "t.tsv"
    >>> _ = write_tsv(pd.DataFrame({"b": [1.0, None], "a": ["x", "y"], "ok": [True, None]}), out, columns=["a"])
    >>> print(out.read_text(), end="")
    a	b	ok
    x	1	TRUE
    y	n/a	n/a
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if columns is not None:
        first = [c for c in columns if c in table.columns]
        table = table[first + [c for c in table.columns if c not in first]]
    table = _logical_as_r(table)
    tmp = path.with_name(path.name + ".tmp")
    table.to_csv(tmp, sep="\t", index=False, na_rep=NA, float_format="%.10g")
    os.replace(tmp, path)
    if sidecar is not None:
        side = path.with_suffix(".json")
        side.write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically (write, fsync, rename): old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _logical_as_r(table: pd.DataFrame) -> pd.DataFrame:
    """Yes/no columns (bool, or only True/False and missing) as ``TRUE``/``FALSE`` text."""
    out = table
    for col in table.columns:
        values = table[col]
        if pd.api.types.is_bool_dtype(values):
            logical = True
        elif values.dtype == object:
            present = values.dropna()
            logical = len(present) > 0 and all(isinstance(v, bool) for v in present)
        else:
            logical = False
        if logical:
            if out is table:
                out = table.copy()
            out[col] = values.map({True: "TRUE", False: "FALSE"})
    return out
