"""Checks made before the window opens: every bad input stops here with exit 2.

:func:`prepare_session` validates the protocol, stimuli, participants, session
folder and output disk, and returns a :class:`SessionPlan`. It writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from coaffect.formats import session_format as fmt
from coaffect.formats.checks import check_option
from coaffect.formats.errors import SessionSetupError
from coaffect.formats.manifest import Manifest, load_manifest
from coaffect.formats.protocol import LoadedProtocol, load_protocol
from coaffect.formats.session_meta import SessionMeta
from coaffect.formats.session_writer import check_output_dir, read_participant_ids

from ..stimulus_files import verify_stimuli
from .trial_order import trial_order


@dataclass
class SessionPlan:
    """Everything a session needs, checked, before anything is written."""

    loaded: LoadedProtocol
    manifest: Manifest
    condition: str
    participants: list[str]
    seats: list[str]  # seat id per participant, same order
    session_id: str
    dataset_dir: Path
    order: list[str]
    session_index: int
    resume: bool = False
    meta: Optional[SessionMeta] = None  # session.json when resuming

    @property
    def session_dir(self) -> Path:
        return self.dataset_dir / fmt.session_dirname(self.session_id)

    def seat_of(self) -> dict[str, str]:
        """participant_id -> seat id."""
        return dict(zip(self.participants, self.seats))


def _resume_plan(lp: LoadedProtocol, sdir: Path, protocol, condition, participants) -> SessionPlan:
    """The plan of an interrupted session, from its session.json (which must match the inputs)."""
    if not (sdir / "session.json").is_file():
        raise SessionSetupError(
            f"{sdir}: not a session folder (no session.json)",
            hint="`resume` takes a ses-<id> folder",
            field="resume",
        )
    try:
        raw = json.loads((sdir / "session.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raw = None  # SessionMeta.read says where
    if isinstance(raw, dict) and raw.get("status") == "complete":  # said first: the likeliest slip
        raise SessionSetupError(f"{sdir}: session is already complete; nothing to resume")
    meta = SessionMeta.read(sdir / "session.json")
    if meta.protocol.sha256 != lp.sha256:
        raise SessionSetupError(
            f"{protocol}: protocol differs from the one the session ran "
            f"(sha256 {(meta.protocol.sha256 or '?')[:12]}...)",
            hint=f"resume with the frozen copy: {sdir / 'protocol.yaml'}",
        )
    saved = meta.participant_ids
    if condition and condition != meta.condition:
        raise SessionSetupError(
            f"condition: {condition} differs from the session's '{meta.condition}'",
            hint="omit `condition` when resuming",
            field="condition",
        )
    if participants and list(participants) != saved:
        raise SessionSetupError(
            f"participants: {','.join(participants)} differ from the session's {','.join(saved)}",
            hint="omit `participants` when resuming",
            field="participants",
        )
    order = list(meta.trial_order or [])
    return SessionPlan(
        lp,
        verify_clips(lp, order),
        meta.condition,
        saved,
        [str(x.seat) for x in meta.participants],
        meta.session_id,
        sdir.resolve().parent,
        order,
        int(meta.session_index or 0),
        resume=True,
        meta=meta,
    )


def _check_participants(participants: list[str], condition: str, seats: list[str]) -> None:
    """Ids that are valid, unique (also in case) and fit the condition and the seats."""

    def bad(message: str, hint: str | None = None) -> SessionSetupError:
        return SessionSetupError(f"participants: {message}", hint=hint, field="participants")

    if not participants:
        raise bad("give at least one participant id, e.g. P01")
    wrong = [x for x in participants if not fmt.valid_participant_id(x)]
    if wrong:
        raise bad(f"'{wrong[0]}' is not a valid id (letters and digits only, e.g. P01)")
    dup = sorted({x for x in participants if participants.count(x) > 1})
    if dup:
        raise bad(f"{', '.join(dup)} given twice")
    folded = [x.casefold() for x in participants]
    same = [x for x, f in zip(participants, folded) if folded.count(f) > 1]
    if same:  # M05 and m05 collide on case-insensitive disks and in most people's reading
        raise bad(
            f"{' and '.join(same)} differ only in upper/lower case",
            "give every participant an id that differs in more than case",
        )
    if len(participants) > len(seats):
        raise bad(
            f"{len(participants)} participants but the protocol has only {len(seats)} seats "
            f"({', '.join(seats)})",
            "give at most one participant per seat",
        )
    if condition == "alone" and len(participants) != 1:
        raise bad(f"the alone condition has 1 participant (got {len(participants)})")
    if condition == "group" and len(participants) < 2:
        raise bad(f"a group session needs at least 2 participants (got {len(participants)})")


def verify_clips(lp: LoadedProtocol, clip_ids: list[str]) -> Manifest:
    """Check every clip file against the manifest (missing, changed sha256, unreadable).

    Raises
    ------
    ManifestError
        One line per bad clip, from :func:`experiments.stimulus_files.verify_stimuli`.
    """
    manifest = load_manifest(lp.manifest_path)
    verify_stimuli(manifest, clip_ids, progress=False)
    return manifest


def default_session_id() -> str:
    """A session id from the local time, e.g. ``20261128T154233``."""
    return datetime.now().strftime("%Y%m%dT%H%M%S")


def prepare_session(
    protocol: str | Path,
    condition: Optional[str],
    participants: Optional[list[str]],
    *,
    session_id: Optional[str] = None,
    output: str | Path = "data",
    resume: Optional[str | Path] = None,
    check_disk: bool = True,
) -> SessionPlan:
    """Validate every input of a session and plan it; writes nothing.

    Parameters
    ----------
    protocol : path
        Protocol YAML.
    condition : {'alone', 'group'}
        Ignored (taken from session.json) when resuming, but must match if given.
    participants : list of str
        Pseudonyms, one per seat in protocol order.
    session_id : str, optional
        Default: the local date and time.
    output : path
        Dataset folder.
    resume : path, optional
        An existing ``ses-<id>`` folder to continue.

    Returns
    -------
    SessionPlan

    Raises
    ------
    CoaffectError
        ProtocolError, ManifestError or SessionSetupError with one line each.

    Examples
    --------
    >>> plan = prepare_session("protocols/bittersweet-demo.yaml", "group",
    ...                        ["P01", "P02", "P03"], session_id="S01", output=tmp / "data")
    >>> plan.seats, plan.session_id
    (['A', 'B', 'C'], 'S01')
    """
    lp = load_protocol(protocol)
    p = lp.protocol
    if resume is not None:
        return _resume_plan(lp, Path(resume), protocol, condition, participants)
    if condition is None:
        raise SessionSetupError("condition: required (alone or group)", field="condition")
    check_option(
        "condition",
        condition,
        p.conditions,
        error=SessionSetupError,
        hint=f"{lp.path} runs only these conditions (its 'conditions' field)",
    )
    participants = [x.strip() for x in (participants or []) if x.strip()]
    _check_participants(participants, condition, [s.id for s in p.seats])
    session_id = session_id or default_session_id()
    if not fmt.valid_session_id(session_id):
        raise SessionSetupError(
            f"session_id: '{session_id}' must be letters and digits only", field="session_id"
        )
    dataset = Path(output)
    sdir = dataset / fmt.session_dirname(session_id)
    if sdir.exists():
        raise SessionSetupError(
            f"{sdir}: session folder already exists",
            hint="use another `session_id`, or `resume` to continue it",
        )
    used = read_participant_ids(dataset) if dataset.is_dir() else set()
    used_folded = {str(u).casefold(): str(u) for u in used}
    reused = [x for x in participants if x.casefold() in used_folded]
    if reused:
        known = used_folded[reused[0].casefold()]
        same = "" if known == reused[0] else f" (as '{known}': ids differing only in case are the same)"
        raise SessionSetupError(
            f"{dataset / fmt.PARTICIPANTS.filename}: participant id '{reused[0]}' is already in this "
            f"dataset{same}",
            hint="participant ids must be unique in a dataset; use a new pseudonym",
        )
    if check_disk:
        check_output_dir(dataset)
    manifest = verify_clips(lp, list(p.stimuli.clips) + ([p.baseline.clip] if p.baseline.clip else []))
    index = len([d for d in dataset.glob("ses-*") if d.is_dir()]) if dataset.is_dir() else 0
    order = trial_order(p.stimuli.clips, p.trial_order.mode, index, p.trial_order.seed)
    seats = [s.id for s in p.seats[: len(participants)]]
    return SessionPlan(
        lp, manifest, condition, participants, seats, session_id, dataset.resolve(), order, index
    )
