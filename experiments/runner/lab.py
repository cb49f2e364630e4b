"""The lab hardware around a session: clip sound, response devices, LSL (issue 13 hooks).

:meth:`LabHardware.check` runs before anything is written (bad input: one line,
exit 2); :meth:`LabHardware.start` wraps the session writer so rows are
published to LSL and starts recording physiology streams; :meth:`LabHardware.stop`
stops the recording and notes everything in ``session.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

from ..audio.output import AudioPlan, check_output, plan_audio
from ..responses import check_devices

log = logging.getLogger(__name__)


class RowTee:
    """The session writer, also handing every appended row to ``listeners`` (``on_row(table, row)``).

    LSL publishing and the experimenter's view listen here; a listener that
    fails never costs a recorded row.
    """

    def __init__(self, writer):
        self._writer = writer
        self.listeners: list = []

    def append(self, table: str, row: dict) -> None:
        self._writer.append(table, row)
        for listener in self.listeners:
            try:
                listener.on_row(table, row)
            except Exception:
                pass

    def __getattr__(self, name):
        return getattr(self._writer, name)


@dataclass
class LabHardware:
    """Sound, devices and LSL of one session (see module docstring)."""

    plan: object  # SessionPlan
    #: output latency to compensate (ms, measured by coaffect rig-check); 0: none
    audio_latency_ms: float = 0.0
    audio: Optional[AudioPlan] = None
    missing_streams: list = field(default_factory=list)
    publisher: object = None
    recorder: object = None

    def check(self) -> None:
        p = self.plan.loaded.protocol
        clips = list(self.plan.order) + ([p.baseline.clip] if p.baseline.clip else [])
        self.audio = plan_audio(p, self.plan.manifest, clips, self.audio_latency_ms)
        check_output(self.audio)
        check_devices(p, self.plan.seats)
        if p.lsl.record:
            from ..lsl import check_streams

            self.missing_streams = check_streams(p.lsl.record)
        for line in self.audio.warnings():
            log.warning(line)
        sound = self.audio.console_line()
        if sound:
            log.info(sound)
        for name in self.missing_streams:
            log.warning(f"warning: lsl: optional stream '{name}' not found; recording without it")

    def start(self, writer, clock_zero: float):
        """Start LSL publishing and recording; returns the writer the session should use."""
        p = self.plan.loaded.protocol
        writer.update(audio=self.audio.describe())
        if self.audio.movie_volume > 0 and self.plan.order:
            from ..audio.output import warm_up

            warm_up(self.plan.manifest.clip_path(self.plan.order[0]))
        writer = RowTee(writer)
        if p.lsl.publish:
            from ..lsl import LslPublisher

            self.publisher = LslPublisher(self.plan.session_id, list(self.plan.seats), clock_zero)
            writer.listeners.append(self.publisher)
        wanted = [s for s in p.lsl.record if s.name not in self.missing_streams]
        if wanted:
            from ..lsl import PhysioRecorder

            self.recorder = PhysioRecorder(wanted, writer.dir, clock_zero).start()
        return writer

    def stop(self, writer) -> None:
        info = {}
        if self.publisher is not None:
            info["published"] = self.publisher.describe()
            self.publisher.close()
        if self.recorder is not None:
            info["physio"] = self.recorder.stop()
        for name in self.missing_streams:
            info.setdefault("physio", {})[name] = {"samples": 0, "error": "not found (optional stream)"}
        if info:
            writer.update(lsl=info)
