"""Clip sound in a session: settings, the output check before the window, silent-clip warnings.

ffpyplayer (PsychoPy's movie decoder) plays a clip's audio through SDL, in sync
with the picture by its own audio clock (``sync='audio'``). On Linux SDL is
pointed at PulseAudio (``SDL_AUDIODRIVER=pulseaudio``) and, when the protocol
names an output device, at that sink (``PULSE_SINK``). Silence is volume 0:
PsychoPy 2026.2 opens the audio stream of an ffpyplayer movie even with
``noAudio=True``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from coaffect.formats.errors import HardwareError

from .sink import default_sink, sink_names


@dataclass
class AudioPlan:
    """What the session does with clip sound."""

    play: bool
    volume: float
    device: Optional[str]
    #: clip ids that have an audio track but play silent (``audio: off`` or volume 0)
    silenced: list = field(default_factory=list)
    #: seconds each clip's sound starts before its first frame: the output latency measured
    #: on this computer (``coaffect rig-check``), given as ``--audio-latency-ms``
    lead_s: float = 0.0
    #: the PulseAudio sink the sound goes to (found by :func:`check_output`)
    sink: Optional[str] = None

    @property
    def movie_volume(self) -> float:
        return self.volume if self.play else 0.0

    def warnings(self) -> list[str]:
        """One line per clip with sound that will play silent."""
        return [
            f"warning: clip {c} has an audio track but plays silent "
            f"(protocol audio: {'on, volume 0' if self.play else 'off'})"
            for c in self.silenced
        ]

    def describe(self) -> dict:
        return {
            "play": "on" if self.play else "off",
            "volume": self.volume,
            "device": self.device,
            "sdl_audiodriver": os.environ.get("SDL_AUDIODRIVER"),
            "silenced_clips": self.silenced,
            "sink": self.sink,
            "lead_ms": round(1000 * self.lead_s, 2) if self.movie_volume > 0 else 0.0,
        }

    def console_line(self) -> Optional[str]:
        """The one line a session prints about its sound (None when it plays none).

        Examples
        --------
        >>> AudioPlan(True, 0.8, None, lead_s=0.03).console_line()
        'sound: on, volume 0.8, output default PulseAudio sink; sound starts 30.0 ms before the picture'
        """
        if self.movie_volume <= 0:
            return None
        out = f"output {self.sink or self.device or 'default PulseAudio sink'}"
        lead = (
            f"sound starts {1000 * self.lead_s:.1f} ms before the picture"
            if self.lead_s
            else "no output latency compensation (--audio-latency-ms)"
        )
        return f"sound: on, volume {self.volume:g}, {out}; {lead}"


def plan_audio(protocol, manifest, clip_ids, latency_ms: float = 0.0) -> AudioPlan:
    """The session's audio plan from the protocol's ``audio`` block and the manifest.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> p = NS(audio=NS(play="off", volume=1.0, device=None))
    >>> m = NS(clip=lambda c: NS(audio=c == "loud"))
    >>> plan_audio(p, m, ["loud", "mute"]).warnings()
    ['warning: clip loud has an audio track but plays silent (protocol audio: off)']
    """
    a = protocol.audio
    play = a.play == "on"
    silent = not play or a.volume <= 0
    silenced = [c for c in dict.fromkeys(clip_ids) if silent and manifest.clip(c).audio]
    return AudioPlan(play, float(a.volume), a.device, silenced, max(0.0, float(latency_ms)) / 1000.0)


def check_output(plan: AudioPlan) -> None:
    """Stop with one line if sound is on and its output device is missing (before the window).

    On Linux the sound goes through PulseAudio (or PipeWire's PulseAudio
    server): no server, or no sink of the given name, is a HardwareError. Sets
    ``SDL_AUDIODRIVER`` and ``PULSE_SINK`` for ffpyplayer.
    """
    if not plan.play or plan.volume <= 0:
        return
    if not sys.platform.startswith("linux"):
        return  # SDL picks the system's default output elsewhere (untested here)
    sinks = sink_names()
    if not sinks:
        raise HardwareError(
            "audio: no audio output (no PulseAudio server answers)",
            hint="start the desktop's sound server, or set audio: {play: off} in the protocol",
        )
    if plan.device is not None and plan.device not in sinks:
        raise HardwareError(
            f"audio: output device '{plan.device}' not found (sinks: {', '.join(sinks)})",
            hint="pick a sink from pactl list short sinks",
        )
    os.environ.setdefault("SDL_AUDIODRIVER", "pulseaudio")
    if plan.device is not None:
        os.environ["PULSE_SINK"] = plan.device
    plan.sink = plan.device or default_sink() or sinks[0]


def warm_up(clip_path, seconds: float = 0.6) -> None:
    """Play a clip's sound at volume 0 once before the session's first clip.

    Measured here: the first clip of a process otherwise starts its sound ~0.75 s
    after its picture (SDL and PulseAudio set up the stream on first use).
    """
    import time

    from ffpyplayer.player import MediaPlayer

    player = MediaPlayer(str(clip_path), ff_opts={"vn": True, "paused": True, "volume": 0.0})
    try:
        player.set_volume(0.0)
        player.set_pause(False)
        time.sleep(seconds)
    finally:
        player.close_player()
