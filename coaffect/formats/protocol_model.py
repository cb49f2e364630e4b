"""The study protocol's typed model (pydantic): every section and field of the YAML file.

Loading, cross-field checks and messages are in :mod:`coaffect.formats.protocol`,
which re-exports these names. Pure: no hardware; shared by the runner and the analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coaffect.formats.errors import did_you_mean
from coaffect.formats.keys import RESERVED_KEYS, VALID_KEYS, key_suggestion

#: The protocol format this version of coaffect writes and reads.
FORMAT_VERSION = 1

#: Default common analysis resolution (face-box width, px) every face is brought
#: to before the landmarks the units are measured on are fitted: the smallest face
#: scoring analyses by default (``--min-face-px`` 60), so a close-up and a wide-shot
#: face reach the landmark model through the same pixels (docs/faces-table.md,
#: bench/invariance.py).
ANALYSIS_FACE_PX = 60.0

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Color = Union[str, tuple[float, float, float]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class Texts(_Strict):
    """Texts shown to participants, in any language (UTF-8)."""

    consent: str = Field(description="Shown first; the experimenter presses space to go on.")
    instructions: str = Field(description="How to use the two buttons.")
    button_check: str = Field(
        "Seat {seat}: press and hold your {button} button, then release it.",
        description="Button-check prompt; {seat} and {button} are filled in.",
    )
    baseline: str = Field(
        "Please relax and look at the cross.", description="Shown just before the baseline period."
    )
    rating_intro: str = Field(
        "Please rate the clip you just saw.", description="Heading of the rating screen."
    )
    rating_help: str = Field(
        "tap HAPPY = right, tap SAD = left, press BOTH = confirm",
        description="How to answer, shown under the rating scales.",
    )
    end: str = Field("Thank you! The session is over.", description="Final screen.")
    happy_button: str = Field(
        "HAPPY", description="Name of the happy button, filled into {button} of button_check."
    )
    sad_button: str = Field(
        "SAD", description="Name of the sad button, filled into {button} of button_check."
    )
    button_check_ok: str = Field(
        "OK - now release it", description="Button check: shown once the button is seen held down."
    )
    rating_done: str = Field("OK", description="Rating screen: shown beside a confirmed rating.")
    font: Optional[str] = Field(
        None,
        description="Font family for all texts (e.g. 'Noto Sans CJK JP' for Japanese); default: system font.",
    )


class Display(_Strict):
    """The participants' screen."""

    size: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] = Field(
        (1024, 768), description="Window size in pixels, [width, height]."
    )
    fullscreen: bool = False
    screen: Annotated[int, Field(ge=0)] = Field(0, description="Screen number for the window.")
    background: Color = Field("black", description="Colour name, hex '#rrggbb' or [r, g, b] in -1..1.")
    text_height: Annotated[float, Field(gt=0)] = Field(28, description="Text height in pixels.")

    @field_validator("background", mode="before")
    @classmethod
    def _color_kind(cls, v):
        if not isinstance(v, (str, list, tuple)):
            raise ValueError(
                f"not a colour (got {v!r}; allowed: a name such as 'black', '#rrggbb', or [r, g, b] in -1..1)"
            )
        return v

    @field_validator("background")
    @classmethod
    def _color(cls, v):
        if isinstance(v, tuple):
            if not all(-1 <= c <= 1 for c in v):
                raise ValueError(
                    f"RGB components must lie in -1..1 (got {list(v)}; "
                    "allowed: e.g. [1, 0, 0] for red, or a name or '#rrggbb')"
                )
        elif not (re.fullmatch(r"#[0-9a-fA-F]{6}", v) or re.fullmatch(r"[a-zA-Z]+", v)):
            raise ValueError(
                f"not a colour (got {v!r}; allowed: a name such as 'black', '#rrggbb', or [r, g, b] in -1..1)"
            )
        return v


class Stimuli(_Strict):
    """Which clips the study shows."""

    manifest: str = Field(
        "../stimuli/manifest.yaml", description="Stimulus manifest, relative to the protocol file."
    )
    clips: list[Slug] = Field(min_length=1, description="Stimulus ids from the manifest.")

    @field_validator("clips")
    @classmethod
    def _unique(cls, v):
        dup = sorted({c for c in v if v.count(c) > 1})
        if dup:
            raise ValueError(f"clip listed twice; list each clip once (got {', '.join(dup)} twice)")
        return v


class TrialOrder(_Strict):
    """How the clips are ordered in each session.

    ``fixed``: as listed. ``random``: shuffled per session, reproducibly from
    ``seed`` and the session's number. ``latin_square``: a balanced (Williams)
    Latin square; session *k* takes row *k* mod the number of rows.
    """

    mode: Literal["fixed", "random", "latin_square"] = "fixed"
    seed: Optional[int] = Field(None, description="Required for mode 'random'.")

    @model_validator(mode="after")
    def _seed(self):
        if self.mode == "random" and self.seed is None:
            raise ValueError("mode 'random' needs a seed (an integer) so orders can be reproduced")
        return self


class Baseline(_Strict):
    """The neutral reference period before the first clip."""

    duration: Annotated[float, Field(gt=0, le=600)] = Field(description="Seconds.")
    kind: Literal["fixation", "clip"] = "fixation"
    clip: Optional[Slug] = Field(None, description="Stimulus id when kind is 'clip'.")

    @model_validator(mode="after")
    def _clip(self):
        if self.kind == "clip" and not self.clip:
            raise ValueError("kind 'clip' needs a clip id (add clip: <stimulus id>)")
        if self.kind == "fixation" and self.clip:
            raise ValueError("clip given but kind is 'fixation'; set kind: clip")
        return self


class Condition(_Strict):
    """A viewing condition: how many people watch together."""

    participants: Annotated[int, Field(ge=1, le=16)]


class Buttons(_Strict):
    """A seat's two buttons, as key names."""

    happy: str
    sad: str

    @field_validator("happy", "sad")
    @classmethod
    def _key(cls, v):
        if v in RESERVED_KEYS:
            raise ValueError(f"key reserved for aborting the session; choose another key (got '{v}')")
        if v not in VALID_KEYS:
            raise ValueError(
                f"unknown key name (got '{v}'; allowed: a-z, 0-9, num_0..num_9, "
                f"f1..f12, space, left, right, ... see docs/protocol.md"
                f"{_key_hint(v)})"
            )
        return v


def _key_hint(v: str) -> str:
    alias = key_suggestion(v)
    return f"; did you mean '{alias}'?" if alias else did_you_mean(v, VALID_KEYS)


# --- issue 13: lab hardware (sound, response devices, LSL); defaults keep old protocols valid ---
class ButtonCodes(_Strict):
    """What a serial box sends when one button goes down and up (one line each)."""

    down: str = Field(min_length=1, max_length=32)
    up: str = Field(min_length=1, max_length=32)


class ResponseDevice(_Strict):
    """Where a seat's two buttons come from (see docs/protocol.md, response devices)."""

    kind: Literal["keyboard", "ptb_keyboard", "serial", "xid"] = Field(
        "keyboard",
        description="keyboard: the shared keyboard; ptb_keyboard: one keyboard by Psychtoolbox "
        "index (coaffect devices); serial: a serial button box; xid: a Cedrus XID box (pyxid2).",
    )
    index: Optional[Annotated[int, Field(ge=0)]] = Field(
        None, description="ptb_keyboard: device index; xid: box number (0 = first)."
    )
    port: Optional[str] = Field(None, description="serial: port, e.g. /dev/ttyUSB0 or COM3.")
    baud: Annotated[int, Field(gt=0)] = 115200
    codes: Optional[dict[Literal["happy", "sad"], ButtonCodes]] = Field(
        None, description="serial: the line the box sends per button and action."
    )
    timestamps: Literal["host", "box"] = Field(
        "host",
        description="serial: 'box' if each line carries the box's own time in ms after the code "
        "('H 123456'); 'host' uses the time the line arrived.",
    )

    @model_validator(mode="after")
    def _complete(self):
        if self.kind == "ptb_keyboard" and self.index is None:
            raise ValueError("kind ptb_keyboard needs 'index' (list them with coaffect devices)")
        if self.kind == "serial" and (not self.port or not self.codes or len(self.codes) != 2):
            raise ValueError("kind serial needs 'port' and 'codes' for happy and sad")
        return self


class Audio(_Strict):
    """Clip sound."""

    play: Literal["on", "off"] = Field("off", description="on: clips play their audio track.")
    volume: Annotated[float, Field(ge=0, le=1)] = Field(1.0, description="0..1.")
    device: Optional[str] = Field(None, description="Output device (PulseAudio sink name); default sink.")

    @field_validator("play", mode="before")
    @classmethod
    def _onoff(cls, v):
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


class LslStream(_Strict):
    """An LSL stream recorded into physio-<name>.tsv."""

    name: Slug = Field(description="LSL stream name (also the table name).")
    type: Optional[str] = Field(None, description="LSL stream type to match as well, e.g. PPG.")
    source_id: Optional[str] = Field(
        None,
        description="LSL source_id to match as well (a device's serial number): tells apart two "
        "streams of one name on the network.",
    )
    required: bool = Field(True, description="Stop before the session if it is not found.")
    timeout: Annotated[float, Field(gt=0, le=60)] = Field(5.0, description="Seconds to look for it.")


class Lsl(_Strict):
    """Lab Streaming Layer: markers and button states out, physiology in."""

    publish: bool = Field(False, description="Publish the marker and button-state streams.")
    record: list[LslStream] = Field(default_factory=list)


# --- end issue 13 block ---


class Seat(_Strict):
    """One place in the room."""

    id: Slug
    buttons: Buttons
    label: Optional[str] = Field(None, description="Where the seat is, e.g. 'left'.")
    response: ResponseDevice = ResponseDevice()  # issue 13


class RatingItem(_Strict):
    """One post-clip rating scale."""

    id: Slug
    prompt: str
    low: int = 0
    high: int = 9
    low_label: str = ""
    high_label: str = ""

    @model_validator(mode="after")
    def _range(self):
        if self.high <= self.low:
            raise ValueError(f"high must be greater than low (got low {self.low}, high {self.high})")
        return self


class Ratings(_Strict):
    """Post-clip ratings."""

    mode: Literal["simultaneous", "in_turn"] = Field(
        "simultaneous", description="All seats rate at once on their own buttons, or one by one."
    )
    timeout: Annotated[float, Field(gt=0)] = Field(
        60, description="Seconds before a rating is recorded as missing."
    )
    items: list[RatingItem] = Field(default_factory=list)

    @field_validator("items")
    @classmethod
    def _unique(cls, v):
        ids = [i.id for i in v]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"rating id used twice (got {', '.join(dup)} twice)")
        return v


class Camera(_Strict):
    """A camera: a real device, or a video file replayed as if it were one."""

    name: Slug
    device: Optional[Union[Annotated[int, Field(ge=0)], str]] = Field(
        None, description="Device index or /dev/video* path."
    )
    file: Optional[str] = Field(
        None, description="Video file replayed at its own rate (relative to the protocol file)."
    )
    loop: bool = Field(False, description="Replay the file in a loop.")
    resolution: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] = (640, 480)
    fps: Annotated[float, Field(gt=0, le=240)] = 30
    seats: list[Slug] = Field(min_length=1, description="Seats this camera sees, left to right.")
    required: bool = Field(True, description="Stop before the session if it cannot be opened.")
    rotate: Literal[0, 90, 180, 270] = Field(
        0,
        description="Degrees clockwise to turn this camera's frames before faces are found "
        "(a camera mounted sideways or upside down); the recording itself is kept as filmed.",
    )
    condition_seats: dict[Literal["alone", "group"], Annotated[list[Slug], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="Seats this camera sees in one condition when they differ from 'seats', "
        "left to right (e.g. {alone: [A]}: an alone participant sits in the middle of the frame).",
    )

    def seats_in(self, condition: Optional[str]) -> list[str]:
        """Seats in view, left to right, in ``condition`` (``seats`` unless overridden).

        Examples
        --------
        >>> cam = Camera(name="wide", device=0, seats=["A", "B"], condition_seats={"alone": ["A"]})
        >>> cam.seats_in("alone"), cam.seats_in("group"), cam.seats_in(None)
        (['A'], ['A', 'B'], ['A', 'B'])
        """
        layouts: dict[str, list[str]] = {str(k): list(v) for k, v in self.condition_seats.items()}
        return list(layouts.get(condition or "", self.seats))

    @model_validator(mode="after")
    def _source(self):
        if (self.device is None) == (self.file is None):
            raise ValueError(
                "give exactly one of 'device' or 'file' (got "
                + ("both" if self.device is not None else "neither")
                + ")"
            )
        return self


class Analysis(_Strict):
    """Analysis settings that travel with the protocol."""

    baseline_window: tuple[Annotated[float, Field(ge=0)], Optional[float]] = Field(
        (1.0, None),
        description="[start, end] in seconds from baseline onset used as the "
        "neutral reference; end defaults to the end of the baseline.",
    )
    simultaneity_threshold: Annotated[float, Field(ge=0)] = Field(
        0.5, description="Seconds of both buttons held for a clip to count as mixed."
    )
    coherence_lag: Optional[Annotated[float, Field(ge=-5, le=10)]] = Field(
        None,
        description="Face-after-button lag in seconds (negative: face before button); "
        "default: chosen per button pair by leave-one-session-out cross-validation over -5..+5 s.",
    )
    min_face_fraction: Annotated[float, Field(ge=0, le=1)] = Field(
        0.5, description="Trials with a smaller share of frames with a face are excluded."
    )
    # issue 10: face_quality flags that leave frames out of trial means (faces_schema.QUALITY_FLAGS)
    exclude_quality: list[Literal["pose", "occlusion", "identity", "motion_blur"]] = Field(
        default_factory=list,
        description="Frames whose face_quality has any of these flags are left out of the trial's "
        "facial means and peaks (they are counted either way).",
    )
    exclude_doubtful_identity: bool = Field(
        True,
        description="Leave frames whose identity confidence is below the documented threshold "
        "(face_quality 'identity') out of the facial measures; they are counted either way.",
    )
    face_resolution_px: Optional[Annotated[float, Field(ge=20, le=1000)]] = Field(
        ANALYSIS_FACE_PX,
        description="Common analysis resolution: every face is brought to this face width (px) "
        "before its landmarks are fitted, so close-ups and wide shots (alone and group cameras) "
        "are measured through the same pixels; null fits each face at the size it was filmed.",
    )
    models: list[str] = Field(
        default_factory=lambda: ["AU12 ~ condition * valence"],
        description="Mixed-model formulas (fixed part).",
    )
    reference_levels: dict[str, str] = Field(
        default_factory=lambda: {"condition": "alone"},
        description="Reference level of each factor for the deviation coding of the mixed "
        "models (each coefficient is a level minus this one), e.g. {condition: alone, valence: neutral}.",
    )

    @field_validator("baseline_window", mode="before")
    @classmethod
    def _window(cls, v):
        if isinstance(v, (list, tuple)) and len(v) == 2:
            start, end = v
            if end is not None and start is not None and end <= start:
                raise ValueError(f"end must be after start (got [{start}, {end}])")
        return v


class Protocol(_Strict):
    """A complete study protocol."""

    format_version: int = Field(description=f"Protocol format; this coaffect writes {FORMAT_VERSION}.")
    id: Slug
    version: str = Field(description="The protocol's own version, e.g. '1.0.0'.")
    title: str
    authors: list[str] = Field(min_length=1)
    description: str = ""
    texts: Texts
    display: Display = Display()
    stimuli: Stimuli
    trial_order: TrialOrder = TrialOrder()
    baseline: Baseline
    iti: Annotated[float, Field(ge=0, le=120)] = Field(2.0, description="Seconds between trials.")
    conditions: dict[Literal["alone", "group"], Condition]
    seats: list[Seat] = Field(min_length=1)
    ratings: Ratings = Ratings()
    cameras: list[Camera] = Field(default_factory=list)
    analysis: Analysis = Analysis()
    audio: Audio = Audio()  # issue 13
    lsl: Lsl = Lsl()  # issue 13

    def seat(self, seat_id: str) -> Seat:
        """The seat with this id."""
        for s in self.seats:
            if s.id == seat_id:
                return s
        raise KeyError(seat_id)


@dataclass(frozen=True)
class LoadedProtocol:
    """A validated protocol with the file it came from."""

    protocol: Protocol
    path: Path
    sha256: str

    def resolve(self, relative: str) -> Path:
        """A path written in the protocol, resolved against the protocol's folder."""
        p = Path(relative)
        return p if p.is_absolute() else (self.path.parent / p).resolve()

    @property
    def manifest_path(self) -> Path:
        return self.resolve(self.protocol.stimuli.manifest)
