"""Read and validate session folders written by the runner.

The reader checks every table against :mod:`coaffect.formats.session_format` and
says which file, row and column is wrong. A last line cut short by a crash is
not a row: it is reported in :attr:`Session.notes`, never silently used.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from coaffect.formats import session_format as fmt
from coaffect.formats.errors import SessionFormatError
from coaffect.formats.session_meta import DAMAGED_HINT, SessionMeta


@dataclass
class Session:
    """One session folder, validated.

    Attributes
    ----------
    path : Path
        The ``ses-<id>`` folder.
    meta : SessionMeta
        ``session.json``, typed.
    events, buttons, ratings, flips : pandas.DataFrame
        The tables of the same names (empty with the right columns if absent).
    cameras : dict of str to pandas.DataFrame
        ``cam-<name>_frames.tsv`` per camera name.
    notes : list of str
        Things the reader noticed (e.g. a cut last line after a crash).
    physio : dict of str to pandas.DataFrame
        ``physio-<name>.tsv`` per recorded LSL stream: ``t`` (session clock),
        ``lsl_time`` and one float column per channel.
    """

    path: Path
    meta: SessionMeta
    events: pd.DataFrame
    buttons: pd.DataFrame
    ratings: pd.DataFrame
    flips: pd.DataFrame
    cameras: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    physio: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def session_id(self) -> str:
        return self.meta.session_id

    @property
    def status(self) -> fmt.SessionStatus:
        return self.meta.status

    def camera_video(self, name: str) -> Path | None:
        """Path of camera ``name``'s video file, if present."""
        hits = sorted(p for p in self.path.glob(f"cam-{name}.*") if not p.name.endswith(".tsv"))
        return hits[0] if hits else None

    def intervals(self) -> pd.DataFrame:
        """Hold intervals rebuilt from raw key events (see :func:`button_intervals`)."""
        return button_intervals(self.buttons, end_time=_session_end(self))


def _session_end(session: Session) -> float | None:
    times = [df[col].max() for df, col in ((session.events, "onset"), (session.buttons, "t")) if len(df)]
    if len(session.events):
        times.append((session.events["onset"] + session.events["duration"]).max())
    return float(max(times)) if times else None


_DTYPES = {"float": "float64", "int": "Int64", "str": "string"}


def _damaged(message: str) -> SessionFormatError:
    return SessionFormatError(message, hint=DAMAGED_HINT)


def read_table(path: Path, spec: fmt.TableSpec, notes: list[str] | None = None) -> pd.DataFrame:
    """Read one TSV table and check its columns and values.

    Parameters
    ----------
    path : Path
        The TSV file.
    spec : TableSpec
        Its expected columns (from :mod:`coaffect.formats.session_format`).
    notes : list, optional
        Receives a note when a crash left the last line incomplete.

    Returns
    -------
    pandas.DataFrame
        Columns as in ``spec``, typed (float, nullable Int64, string).

    Raises
    ------
    SessionFormatError
        ``FILE:ROW:COL: column 'x': problem (got ...)``, naming the first wrong
        cell (ROW counts the header as line 1; COL is the 1-based column).
    """
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        if notes is not None:
            notes.append(f"{path.name}: last line was incomplete (session interrupted); ignored")
        raw = raw[:cut]
    text = raw.decode("utf-8")
    lines = text.splitlines()
    if not lines:
        raise _damaged(f"{path}:1: empty file, expected header {' '.join(spec.names)}")
    header = lines[0].split("\t")
    missing = [c for c in spec.names if c not in header]
    if missing:
        raise _damaged(f"{path}:1: missing column(s) {', '.join(missing)} (header has {', '.join(header)})")
    for i, line in enumerate(lines[1:], start=2):
        if line.count("\t") != len(header) - 1:
            raise _damaged(
                f"{path}:{i}: expected {len(header)} tab-separated values, got {line.count(chr(9)) + 1}"
            )
    df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    out = {}
    for col in spec.columns:
        values = df[col.name]
        where = f"{header.index(col.name) + 1}: column '{col.name}'"
        is_na = values == fmt.NA
        if col.required and is_na.any():
            row = int(np.flatnonzero(is_na.to_numpy())[0]) + 2
            raise _damaged(f"{path}:{row}:{where}: value required (got 'n/a')")
        if col.kind in ("float", "int"):
            numbers = pd.to_numeric(values.where(~is_na), errors="coerce")
            bad = numbers.isna() & ~is_na
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise _damaged(f"{path}:{row + 2}:{where}: not a number (got '{values.iloc[row]}')")
            if col.kind == "int":
                frac = numbers.notna() & (numbers % 1 != 0)
                if frac.any():
                    row = int(np.flatnonzero(frac.to_numpy())[0])
                    raise _damaged(f"{path}:{row + 2}:{where}: not a whole number (got '{values.iloc[row]}')")
            out[col.name] = numbers.astype(_DTYPES[col.kind])
        else:
            out[col.name] = values.where(~is_na, pd.NA).astype("string")
    extra = [c for c in header if c not in spec.names]
    result = pd.DataFrame(out, index=range(len(df)))
    for c in extra:  # keep extra columns as text; newer writers may add some
        result[c] = df[c].astype("string")
    return result


def _empty(spec: fmt.TableSpec) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=_DTYPES[c.kind]) for c in spec.columns})


def read_session_meta(path: str | Path) -> SessionMeta:
    """``session.json`` of a session folder, checked (keys, format version, status) and typed.

    Cheap enough to check every session of a dataset before heavy work starts.

    Raises
    ------
    SessionFormatError
        No, invalid or incomplete ``session.json``, or one from a newer format.

    Examples
    --------
    >>> read_session_meta(tmp)
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.SessionFormatError: /...: no session.json; is this a session folder (ses-<id>)?
    """
    path = Path(path)
    meta_path = path / "session.json"
    if not meta_path.exists():
        raise SessionFormatError(f"{path}: no session.json; is this a session folder (ses-<id>)?")
    return SessionMeta.read(meta_path)


def read_session(path: str | Path) -> Session:
    """Read one session folder.

    Parameters
    ----------
    path : str or Path
        A ``ses-<id>`` folder.

    Returns
    -------
    Session
        Metadata and validated tables.

    Raises
    ------
    SessionFormatError
        If ``session.json`` or a table is missing columns or holds bad values.

    Examples
    --------
    >>> from coaffect.formats.session_writer import SessionWriter
    >>> meta = {"condition": "alone", "participants": [{"participant_id": "P01", "seat": "A"}]}
    >>> w = SessionWriter.create(tmp, "S01", {**meta, "protocol": {}, "versions": {}})
    >>> for t, action in [(1.5, "down"), (2.25, "up")]:
    ...     w.append("buttons.tsv", {"t": t, "action": action, "participant_id": "P01",
    ...                              "seat": "A", "button": "happy", "key": "f"})
    >>> w.finish("complete")
    >>> s = read_session(tmp / "ses-S01")
    >>> s.status, s.intervals()[["button", "onset", "duration"]].values.tolist()
    ('complete', [['happy', 1.5, 0.75]])
    """
    path = Path(path)
    meta = read_session_meta(path)
    notes: list[str] = []
    tables = {}
    for spec in (fmt.EVENTS, fmt.BUTTONS, fmt.RATINGS, fmt.FLIPS):
        p = path / spec.filename
        tables[spec.filename] = read_table(p, spec, notes) if p.exists() else _empty(spec)
    cameras = {}
    for p in sorted(path.glob("cam-*_frames.tsv")):
        name = p.name[len("cam-") : -len("_frames.tsv")]
        cameras[name] = read_table(p, fmt.CAMERA_FRAMES, notes)
    physio = {}
    for p in sorted(path.glob("physio-*.tsv")):
        physio[p.name[len("physio-") : -len(".tsv")]] = read_physio(p, notes)
    if meta.status == "running":
        notes.append("session.json says 'running': the session crashed or is still recording")
    return Session(
        path,
        meta,
        tables["events.tsv"],
        tables["buttons.tsv"],
        tables["ratings.tsv"],
        tables["flips.tsv"],
        cameras,
        notes,
        physio,
    )


def read_physio(path: Path, notes: list[str] | None = None) -> pd.DataFrame:
    """Read one ``physio-<name>.tsv`` (columns t, lsl_time, then one per channel; all float).

    Raises
    ------
    SessionFormatError
        If ``t`` or ``lsl_time`` is missing or a value is not a number.
    """
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        if notes is not None:
            notes.append(f"{path.name}: last line cut short (crash while writing); ignored")
    table = pd.read_csv(io.StringIO(text), sep="\t", keep_default_na=False, na_values=[fmt.NA])
    for col in ("t", "lsl_time"):
        if col not in table.columns:
            raise SessionFormatError(f"{path}: missing column '{col}'")
    for col in table.columns:
        converted = pd.to_numeric(table[col], errors="coerce")
        bad = converted.isna() & table[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise SessionFormatError(
                f"{path}:{row}: column '{col}': not a number ({table[col][bad].iloc[0]!r})"
            )
        table[col] = converted.astype(float)
    return table


def read_dataset(path: str | Path) -> list[Session]:
    """Read every ``ses-*`` folder of a dataset, in name order."""
    path = Path(path)
    folders = sorted(p for p in path.glob("ses-*") if p.is_dir())
    if not folders:
        raise SessionFormatError(
            f"{path}: no ses-* folders; is this a coaffect dataset?",
            hint="give the dataset folder that 'coaffect run --output' wrote (it holds ses-<id> folders)",
        )
    return [read_session(p) for p in folders]


def read_participants(path: str | Path) -> pd.DataFrame:
    """The dataset's ``participants.tsv``."""
    p = Path(path) / fmt.PARTICIPANTS.filename
    if not p.exists():
        raise _damaged(f"{p}: missing; every dataset has a participants.tsv")
    return read_table(p, fmt.PARTICIPANTS)


def _attempt_number(detail) -> int | None:
    import re

    m = re.search(r"attempt=(\d+)", str(detail or ""))
    return int(m.group(1)) if m else None


def clip_attempts(events: pd.DataFrame) -> pd.DataFrame:
    """Every attempt at showing a trial's clip, and how it ended.

    A ``clip_start`` row is written when the clip's first frame shows; the
    attempt is closed by its ``clip`` row (complete) or ``clip_interrupted`` row
    (the session stopped during it). A ``clip_start`` with neither was cut by a
    kill or power loss (``killed``). Folders written before ``clip_start``
    existed have ``clip`` rows only: each is a complete attempt.

    Parameters
    ----------
    events : pandas.DataFrame
        ``events.tsv`` (:attr:`Session.events`).

    Returns
    -------
    pandas.DataFrame
        trial, stimulus_id, attempt, onset, offset (NaN when killed), status
        (complete, interrupted, killed), in onset order.

    Examples
    --------
    >>> ev = pd.DataFrame({"onset": [5.0, 5.0, 20.0, 20.0], "duration": [0.0, 3.1, 0.0, 10.0],
    ...     "trial_type": ["clip_start", "clip_interrupted", "clip_start", "clip"],
    ...     "trial": [1, 1, 1, 1], "stimulus_id": ["c1"] * 4,
    ...     "detail": ["attempt=1", "attempt=1; interrupted: terminated (SIGTERM)", "attempt=2", "attempt=2"]})
    >>> clip_attempts(ev)[["trial", "attempt", "offset", "status"]].values.tolist()
    [[1, 1, 8.1, 'interrupted'], [1, 2, 30.0, 'complete']]
    """
    cols = ["trial", "stimulus_id", "attempt", "onset", "offset", "status"]
    rows: list[dict] = []
    open_: dict = {}  # (trial, attempt) -> row of a clip_start not yet closed
    legacy: dict = {}  # trial -> complete attempts seen without clip_start
    kinds = ("clip_start", *fmt.CLIP_ENDINGS)
    for r in events[events["trial_type"].isin(kinds)].sort_values("onset", kind="stable").itertuples():
        if pd.isna(r.trial):
            continue
        trial, attempt = int(r.trial), _attempt_number(r.detail)
        if r.trial_type == "clip_start":
            row = {"trial": trial, "stimulus_id": r.stimulus_id, "attempt": attempt or 1}
            row.update(onset=float(r.onset), offset=np.nan, status="killed")
            open_[(trial, row["attempt"])] = row
            rows.append(row)
            continue
        key = (trial, attempt or 1)
        row = open_.pop(key, None)
        if row is None:  # written before clip_start rows existed
            legacy[trial] = legacy.get(trial, 0) + 1
            row = {"trial": trial, "stimulus_id": r.stimulus_id, "attempt": attempt or legacy[trial]}
            row["onset"] = float(r.onset)
            rows.append(row)
        row["offset"] = float(r.onset) + float(r.duration)
        row["status"] = fmt.CLIP_ENDINGS[r.trial_type]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"trial": "int64", "attempt": "int64", "onset": "float64", "offset": "float64"})


def button_intervals(buttons: pd.DataFrame, end_time: float | None = None) -> pd.DataFrame:
    """Rebuild hold intervals from raw key-down/key-up events.

    Each down is paired with the next up of the same participant and button,
    whatever phase either falls in, so a key held across a clip's end, a
    rating screen or two trials yields one interval. A repeated down while
    held (auto-repeat) is ignored; an up without a down is ignored. A key still
    held at the end of the recording is closed at ``end_time`` and flagged.

    Parameters
    ----------
    buttons : pandas.DataFrame
        ``buttons.tsv`` rows: t, action, participant_id, seat, button, key.
    end_time : float, optional
        Where to close keys still held (default: the last event time).

    Returns
    -------
    pandas.DataFrame
        participant_id, seat, button, onset, offset, duration (s), and
        ``closed`` (False if the release was never recorded).

    Examples
    --------
    >>> raw = pd.DataFrame({"t": [1.0, 2.5], "action": ["down", "up"],
    ...     "participant_id": ["P01"] * 2, "seat": ["A"] * 2,
    ...     "button": ["happy"] * 2, "key": ["a"] * 2})
    >>> button_intervals(raw)[["onset", "offset", "duration"]].values.tolist()
    [[1.0, 2.5, 1.5]]
    """
    cols = ["participant_id", "seat", "button", "onset", "offset", "duration", "closed"]
    if buttons.empty:
        return pd.DataFrame(
            {
                c: pd.Series(
                    dtype="float64"
                    if c in ("onset", "offset", "duration")
                    else ("bool" if c == "closed" else "string")
                )
                for c in cols
            }
        )
    ordered = buttons.sort_values("t", kind="stable")
    last_t = float(ordered["t"].max()) if end_time is None else max(end_time, float(ordered["t"].max()))
    open_: dict[tuple, tuple[float, str]] = {}
    rows = []
    for t, action, pid, seat, button in ordered[
        ["t", "action", "participant_id", "seat", "button"]
    ].itertuples(index=False):
        key = (pid, button)
        if action == "down":
            if key not in open_:
                open_[key] = (float(t), seat)
        elif action == "up" and key in open_:
            onset, seat0 = open_.pop(key)
            rows.append((pid, seat0, button, onset, float(t), True))
    for (pid, button), (onset, seat) in open_.items():
        rows.append((pid, seat, button, onset, last_t, False))
    out = pd.DataFrame(rows, columns=["participant_id", "seat", "button", "onset", "offset", "closed"])
    out["duration"] = out["offset"] - out["onset"]
    out = out.sort_values(["onset", "participant_id", "button"], kind="stable").reset_index(drop=True)
    return out[cols]
