"""The session-folder format: file names, columns, units (see docs/session-format.md).

This module is the single source of truth for the format shared by the runner
(which writes it) and the analysis (which reads it). It is pure: no hardware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

#: Version of the session-folder format written by this coaffect.
FORMAT_VERSION = 1

#: The session clock: seconds from ``time.perf_counter()`` at session start.
CLOCK = "perf_counter seconds since session start (monotonic, system-wide on Linux)"

#: A session's ``status`` in session.json.
SessionStatus = Literal["running", "complete", "aborted"]
SESSION_STATUSES: tuple[SessionStatus, ...] = get_args(SessionStatus)
NA = "n/a"  # BIDS spelling of a missing value in TSV files


@dataclass(frozen=True)
class Column:
    """One column of a session table."""

    name: str
    kind: str  # "float", "int", "str"
    unit: str
    description: str
    required: bool = True  # False: may be "n/a"


@dataclass(frozen=True)
class TableSpec:
    """One TSV table of a session folder."""

    filename: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# Columns that mean the same in several tables: one definition each.
_TRIAL = Column("trial", "int", "", "1-based trial number.")
_SEAT = Column("seat", "str", "", "Seat id from the protocol.")
_KEY_ACTION = Column("action", "str", "", "down or up.")

#: Every ``trial_type`` of events.tsv.
EVENT_TYPES = (
    "consent",
    "instructions",
    "button_check",
    "button_check_skipped",
    "baseline",
    "clip",
    "rating",
    "iti",
    "enrollment",
    "end",
    "abort",
    "resume",
    "camera_gap",
    "clip_audio",  # the clip's sound stream started (onset on the session clock)
    "pause",  # the experimenter's P
    "clip_start",  # a trial's clip showed its first frame (written then; detail attempt=N)
    "clip_interrupted",  # the session stopped during that clip (written at the stop)
)

#: How a trial's clip attempt ended, by the row that closes its ``clip_start`` row.
CLIP_ENDINGS = {"clip": "complete", "clip_interrupted": "interrupted"}

EVENTS = TableSpec(
    "events.tsv",
    "Every phase of the session, one row written when it ends; a trial's clip also gets a "
    "clip_start row the moment its first frame shows, so an attempt cut short by a stop "
    "(clip_interrupted row) or a kill (no closing row) is still in the table.",
    (
        Column("onset", "float", "s", "Start on the session clock (flip that showed it)."),
        Column("duration", "float", "s", "Length; offset = onset + duration (flip after the last frame)."),
        Column("trial_type", "str", "", ", ".join(EVENT_TYPES) + "."),
        Column("trial", "int", "", "1-based trial number; n/a outside trials.", required=False),
        Column("stimulus_id", "str", "", "Manifest id of the clip shown; n/a otherwise.", required=False),
        Column("detail", "str", "", "Free text, e.g. frames shown/dropped for clips.", required=False),
    ),
)

BUTTONS = TableSpec(
    "buttons.tsv",
    "Every raw key down and key up of a participant button, "
    "in every phase; hold intervals are rebuilt from these rows.",
    (
        Column("t", "float", "s", "Time of the key event on the session clock."),
        _KEY_ACTION,
        Column("participant_id", "str", "", "Pseudonym of the participant on that seat."),
        _SEAT,
        Column("button", "str", "", "happy or sad."),
        Column("key", "str", "", "Key name (PsychoPy)."),
    ),
)

RATINGS = TableSpec(
    "ratings.tsv",
    "Post-clip ratings, one row per participant x item x trial.",
    (
        _TRIAL,
        Column("stimulus_id", "str", "", "Clip that was rated."),
        Column("participant_id", "str", "", "Pseudonym."),
        Column("item", "str", "", "Rating item id from the protocol."),
        Column("value", "int", "scale points", "Chosen value; n/a if the rating timed out.", required=False),
        Column(
            "rt", "float", "s", "From rating-screen onset to confirmation; n/a on time-out.", required=False
        ),
        Column("onset", "float", "s", "Rating-screen onset on the session clock."),
    ),
)

FLIPS = TableSpec(
    "flips.tsv",
    "One row per screen flip while a clip plays (dropped-frame audit).",
    (
        Column("t", "float", "s", "Flip time on the session clock."),
        _TRIAL,
        Column("stimulus_id", "str", "", "Clip playing."),
        Column(
            "frame",
            "int",
            "",
            "Index of the movie frame on screen (0-based); n/a before the first.",
            required=False,
        ),
        Column("pts", "float", "s", "Presentation time stamp of that movie frame.", required=False),
    ),
)

CAMERA_FRAMES = TableSpec(
    "cam-{name}_frames.tsv",
    "One row per camera frame written to the video.",
    (
        Column("frame", "int", "", "0-based index of the frame in cam-<name> video."),
        Column("t", "float", "s", "Capture time on the session clock."),
        Column(
            "byte_offset",
            "int",
            "bytes",
            "Where the frame's JPEG starts in the cam-<name>.mjpg "
            "file (random access: read byte_length bytes from here and decode).",
        ),
        Column("byte_length", "int", "bytes", "Length of the frame's JPEG."),
        Column(
            "source_frame",
            "int",
            "",
            "File-backed cameras: 0-based frame index in the replayed file; n/a for real devices.",
            required=False,
        ),
    ),
)

#: Container of camera videos: raw MJPEG (concatenated JPEG images); see docs/cameras.md.
CAMERA_EXT = "mjpg"

PARTICIPANTS = TableSpec(
    "participants.tsv",
    "Dataset level: one row per participant.",
    (
        Column("participant_id", "str", "", "Pseudonym, unique in the dataset."),
        Column("condition", "str", "", "alone or group."),
        Column("session_id", "str", "", "Session the participant took part in."),
        _SEAT,
    ),
)

# --- issue 13: physiology recorded from LSL streams ---
PHYSIO = TableSpec(
    "physio-{name}.tsv",
    "One row per sample of an LSL stream named in the protocol (lsl.record), with a JSON "
    "sidecar physio-<name>.json giving the stream's type, rate, channels and the clock mapping.",
    (
        Column(
            "t",
            "float",
            "s",
            "Sample time on the session clock: lsl_time + time_correction - lsl_minus_perf - "
            "clock_zero_perf (terms in the sidecar).",
        ),
        Column("lsl_time", "float", "s", "The sender's LSL timestamp, as received."),
        Column("<channel>", "float", "stream's unit", "One column per channel, named by its LSL label."),
    ),
)


def physio_filename(name: str) -> str:
    """Table of LSL stream ``name``: ``physio-<name>.tsv``."""
    return f"physio-{name}.tsv"


# --- end issue 13 ---

TABLES = {t.filename: t for t in (EVENTS, BUTTONS, RATINGS, FLIPS, PARTICIPANTS)}

#: Keys that session.json always has.
SESSION_JSON_KEYS = (
    "format_version",
    "session_id",
    "status",
    "condition",
    "participants",
    "protocol",
    "clock",
    "started_at",
    "versions",
)

#: Keys the session runner adds to session.json (optional for readers).
SESSION_JSON_RUNNER_KEYS = {
    "session_index": "0-based number of the session in its dataset (picks the Latin-square row).",
    "trial_order": "Clip ids in the order this session shows them.",
    "trial_order_mode": "fixed, random or latin_square (from the protocol).",
    "seats": "Seats used: id, label, happy and sad key.",
    "clock_zero_perf": "time.perf_counter() value that is t=0 of the session clock.",
    "simulate": "null, 'inprocess' or 'xdotool' (simulated participants).",
    "seed": "Seed of the simulated participants.",
    "display": "Window size, fullscreen, screen number, X display.",
    "keyboard": "Key backend (ptb), devices, measured GetSecs - perf_counter offset (s).",
    "button_check": "passed or skipped.",
    "clips": "Per trial: flips, frames_shown, dropped, repeated, max_frame_s, duration_s, attempt; "
    "an interrupted attempt has 'interrupted' (the reason), and a trial's earlier attempts are "
    "kept under 'earlier_attempts' (their flips are in flips.tsv too).",
    "resumes": "One entry per --resume: session time, next trial, whether the clock was re-based.",
    "abort_reason": "experimenter; 'terminated (SIGTERM)'; 'interrupted (Ctrl-C, SIGINT)'; "
    "'disk full'; 'display closed'; or 'error: ...' (the error that stopped the session).",
    "ended_at": "UTC time the session ended.",
    "responses": "Per seat on its own device: kind, port or index, timestamps (box or host).",
    "audio": "Clip sound: play (on/off), volume, device, SDL driver; clips with audio played silent.",
    "lsl": "Published stream names, LSL - perf_counter offset, recorded physio streams.",
}

#: Extra file of simulated sessions: every planned/injected key action (runner's audit).
SIMULATED_KEYS = TableSpec(
    "simulated_keys.tsv",
    "Simulated sessions only (--simulate): every planned key action and when it was sent. "
    "Written at the end of the session.",
    (
        Column("t_planned", "float", "s", "Session time the simulated participant planned the action for."),
        Column(
            "t_sent", "float", "s", "Session time just before the action was sent (in-process or xdotool)."
        ),
        Column("t_sent_end", "float", "s", "Session time just after it was sent."),
        _KEY_ACTION,
        Column("key", "str", "", "Key name."),
        Column("seat", "str", "", "Seat id; empty for experimenter keys.", required=False),
        Column("button", "str", "", "happy or sad; empty for experimenter keys.", required=False),
    ),
)
SIMULATED_KEYS_FILE = SIMULATED_KEYS.filename


def event_row(
    onset: float,
    duration: float,
    trial_type: str,
    *,
    trial: int | None = None,
    stimulus_id: str | None = None,
    detail: str | None = None,
) -> dict:
    """One ``events.tsv`` row: the one place rows of that table are built.

    Raises
    ------
    ValueError
        An unknown ``trial_type`` (a programming error: every caller passes a constant).

    Examples
    --------
    >>> event_row(12.5, 1.0, "clip", trial=1, stimulus_id="c1")
    {'onset': 12.5, 'duration': 1.0, 'trial_type': 'clip', 'trial': 1, 'stimulus_id': 'c1', 'detail': None}
    >>> event_row(1.0, 0.0, "coffee")
    Traceback (most recent call last):
    ...
    ValueError: events.tsv: unknown trial_type 'coffee'
    """
    if trial_type not in EVENT_TYPES:
        raise ValueError(f"events.tsv: unknown trial_type '{trial_type}'")
    return {
        "onset": onset,
        "duration": duration,
        "trial_type": trial_type,
        "trial": trial,
        "stimulus_id": stimulus_id,
        "detail": detail,
    }


_SESSION_ID = re.compile(r"^[A-Za-z0-9]+$")
_PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9]+$")


def session_dirname(session_id: str) -> str:
    """Folder name of a session: ``ses-<id>``."""
    return f"ses-{session_id}"


def camera_files(name: str, ext: str = CAMERA_EXT) -> tuple[str, str]:
    """Video and frame-table file names of camera ``name``.

    Examples
    --------
    >>> camera_files("wide")
    ('cam-wide.mjpg', 'cam-wide_frames.tsv')
    """
    return f"cam-{name}.{ext}", f"cam-{name}_frames.tsv"


def valid_session_id(session_id: str) -> bool:
    """BIDS labels are alphanumeric."""
    return bool(_SESSION_ID.match(session_id))


def valid_participant_id(pid: str) -> bool:
    """BIDS labels are alphanumeric (pseudonyms such as P01)."""
    return bool(_PARTICIPANT_ID.match(pid))


def sidecar(spec: TableSpec) -> dict:
    """BIDS-style JSON sidecar describing the columns of ``spec``."""
    return {
        c.name: {"Description": c.description, **({"Units": c.unit} if c.unit else {})} for c in spec.columns
    }
