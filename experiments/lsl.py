"""Lab Streaming Layer: markers and button states out, physiology streams in.

Publishing (``lsl: {publish: true}``): :class:`LslPublisher` opens a marker
stream ``coaffect-markers-<session>`` (type ``Markers``, one JSON string per row of
``events.tsv`` and ``ratings.tsv``, stamped with the row's onset) and one
``coaffect-buttons-<session>-<seat>`` stream per seat (type ``Buttons``, channels
happy and sad, 1 = held, one sample per raw down or up, stamped with the key
time). The session id in the name keeps two sessions on one network apart;
each stream's ``source_id`` is its name and the host (:func:`source_id`), the
same after ``--resume``, so a recorder that lost the stream picks it up again.
The runner's row tee (:class:`experiments.runner.lab.RowTee`) hands it every
row the moment it is written; the runner needs no other hook.

Recording (``lsl: {record: [...]}``): :class:`PhysioRecorder` pulls each named
stream in a thread into ``physio-<name>.tsv`` with a JSON sidecar.

Clock mapping. LSL's ``local_clock()`` and ``time.perf_counter()`` are both
``CLOCK_MONOTONIC`` on Linux; the offset ``local_clock() - perf_counter()`` is
measured anyway (it is 0 within a microsecond here) and recorded. A sample
stamped ``ts`` by its sender is at session time
``ts + time_correction - lsl_minus_perf - clock_zero_perf``, where
``time_correction`` is LSL's own clock-sync estimate of sender clock -> this
machine's clock (0 for a stream on the same machine). The sidecar records each
term. Outgoing stamps use the inverse: ``session_t + clock_zero_perf + lsl_minus_perf``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Optional

from coaffect.formats.errors import HardwareError
from coaffect.formats.session_format import physio_filename
from coaffect.formats.session_writer import TableWriter

from .runner.clock import measure_offset

#: Name of a session's marker stream (up to coaffect 0.2.0: ``coaffect-markers``).
MARKER_STREAM = "coaffect-markers-{session}"
#: Name of a seat's button-state stream (up to 0.2.0: ``coaffect-buttons-<seat>``).
BUTTON_STREAM = "coaffect-buttons-{session}-{seat}"
_MARKER_TABLES = ("events.tsv", "ratings.tsv")
#: Seconds an outlet with consumers stays open after the session's last row.
#: liblsl drops the samples still queued for a consumer when an outlet is
#: destroyed: with 20 markers pushed and the outlet destroyed at once, a connected
#: inlet missed some in 19 of 20 tries here; after a 0.1 s wait, in none of 20. A
#: CI run under load lost a session's last marker (its end row) this way.
LINGER_S = 1.0


def _pylsl():
    """Import pylsl with liblsl's INFO log off (it would bury the runner's one-line messages).

    A lab's own ``LSLAPICFG`` wins; otherwise a config with ``[log] level = -2``
    (errors only) is written to the temp folder.
    """
    import os
    import tempfile

    if "LSLAPICFG" not in os.environ:
        cfg = Path(tempfile.gettempdir()) / "coaffect-lsl_api.cfg"
        if not cfg.exists():  # written whole, then renamed: a process starting beside never reads half
            fd, part = tempfile.mkstemp(prefix=".coaffect-lsl_api-", dir=cfg.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("[log]\nlevel = -2\n")
            os.replace(part, cfg)
        os.environ["LSLAPICFG"] = str(cfg)
    import pylsl

    return pylsl


def source_id(stream_name: str) -> str:
    """The LSL ``source_id`` of a stream this machine publishes: its name and the host.

    Examples
    --------
    >>> source_id(MARKER_STREAM.format(session="S1")).startswith("coaffect-markers-S1@")
    True
    """
    return f"{stream_name}@{socket.gethostname()}"


def lsl_minus_perf() -> tuple[float, float]:
    """Offset ``pylsl.local_clock() - time.perf_counter()`` (s) and its uncertainty."""
    return measure_offset(_pylsl().local_clock)


class LslPublisher:
    """Marker stream and one button-state stream per seat (see module docstring).

    Examples
    --------
    A session id unique to this run, so no other session's streams are mixed in:

    >>> import uuid
    >>> session = f"doc{uuid.uuid4().hex[:8]}"
    >>> pub = LslPublisher(session, ["A", "B"], clock_zero=0.0)
    >>> pub.on_row("events.tsv", {"onset": 1.0, "trial_type": "clip"})
    >>> names = pub.describe()
    >>> names["markers"] == f"coaffect-markers-{session}", names["buttons"][1] == f"coaffect-buttons-{session}-B"
    (True, True)
    >>> pub.close()
    """

    def __init__(self, session_id: str, seats: list[str], clock_zero: float):
        pylsl = self._pylsl = _pylsl()
        self.clock_zero = clock_zero
        self.offset, _ = lsl_minus_perf()
        self.marker_name = MARKER_STREAM.format(session=session_id)
        info = pylsl.StreamInfo(
            self.marker_name, "Markers", 1, pylsl.IRREGULAR_RATE, "string", source_id(self.marker_name)
        )
        self.markers = pylsl.StreamOutlet(info)
        self.buttons = {}
        self.state = {}
        self.button_names = {}
        for seat in seats:
            name = self.button_names[seat] = BUTTON_STREAM.format(session=session_id, seat=seat)
            binfo = pylsl.StreamInfo(name, "Buttons", 2, pylsl.IRREGULAR_RATE, "int32", source_id(name))
            chans = binfo.desc().append_child("channels")
            for name in ("happy", "sad"):
                chans.append_child("channel").append_child_value("label", name)
            self.buttons[seat] = pylsl.StreamOutlet(binfo)
            self.state[seat] = {"happy": 0, "sad": 0}

    def stamp(self, session_t: float) -> float:
        """LSL time of a session-clock time."""
        return float(session_t) + self.clock_zero + self.offset

    def on_row(self, table: str, row: dict) -> None:
        if table in _MARKER_TABLES:
            t = row.get("onset")
            if t is None:
                return
            self.markers.push_sample([json.dumps({"table": table, **row}, default=str)], self.stamp(t))
        elif table == "buttons.tsv":
            seat = row["seat"]
            if seat not in self.buttons:
                return
            self.state[seat][row["button"]] = 1 if row["action"] == "down" else 0
            s = self.state[seat]
            self.buttons[seat].push_sample([s["happy"], s["sad"]], self.stamp(row["t"]))

    def describe(self) -> dict:
        return {
            "markers": self.marker_name,
            "buttons": [self.button_names[s] for s in self.buttons],
            "source_ids": [source_id(n) for n in (self.marker_name, *self.button_names.values())],
            "lsl_minus_perf_s": self.offset,
        }

    def close(self) -> None:
        """Drop the outlets, after :data:`LINGER_S` if a consumer is connected (see there)."""
        outlets = [self.markers, *self.buttons.values()]
        if any(o is not None and o.have_consumers() for o in outlets):
            time.sleep(LINGER_S)
        self.markers = None
        self.buttons = {}


def resolve_stream(spec, timeout: Optional[float] = None):
    """The StreamInfo of a protocol LslStream, or None if not found within its timeout."""
    pylsl = _pylsl()
    pred = f"name='{spec.name}'" + (f" and type='{spec.type}'" if spec.type else "")
    if spec.source_id:
        pred += f" and source_id='{spec.source_id}'"
    found = pylsl.resolve_bypred(pred, 1, timeout if timeout is not None else spec.timeout)
    return found[0] if found else None


def check_streams(specs) -> list[str]:
    """Look for every stream before the window opens.

    Returns the names of optional streams not found (to log); raises
    HardwareError with one line for a required one.
    """
    missing = []
    for spec in specs:
        if resolve_stream(spec) is None:
            if spec.required:
                raise HardwareError(
                    f"lsl: stream '{spec.name}'{' of type ' + spec.type if spec.type else ''}"
                    f"{' from ' + spec.source_id if spec.source_id else ''} "
                    f"not found within {spec.timeout:g} s",
                    hint="start the device's LSL app, or set required: false for this stream",
                )
            missing.append(spec.name)
    return missing


def _channel_labels(info) -> list[str]:
    labels = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(labels) < info.channel_count():
        labels.append(ch.child_value("label") or f"ch{len(labels) + 1}")
        ch = ch.next_sibling()
    if len(labels) != info.channel_count():
        labels = [f"ch{i + 1}" for i in range(info.channel_count())]
    # a channel named like a fixed column would clash
    return [f"ch_{x}" if x in ("t", "lsl_time") else x for x in labels]


class _StreamThread(threading.Thread):
    def __init__(self, name, info, folder: Path, clock_zero: float, offset: float):
        super().__init__(name=f"lsl-{name}", daemon=True)
        pylsl = _pylsl()
        self.stream = name
        self.inlet = pylsl.StreamInlet(info, max_buflen=360, recover=True)
        self.info = self.inlet.info(timeout=5.0)
        self.labels = _channel_labels(self.info)
        self.clock_zero = clock_zero
        self.offset = offset
        self.table = TableWriter(folder / physio_filename(name), ["t", "lsl_time", *self.labels])
        self.sidecar = folder / physio_filename(name).replace(".tsv", ".json")
        self.corrections: list[float] = []
        self.samples = 0
        self.stop_flag = threading.Event()
        self.inlet.open_stream(timeout=5.0)

    def run(self) -> None:
        try:
            correction = self.inlet.time_correction(timeout=2.0)
            self.corrections.append(correction)
            last_sync = time.monotonic()
            while not self.stop_flag.is_set():
                chunk, stamps = self.inlet.pull_chunk(timeout=0.1)
                if time.monotonic() - last_sync > 5.0:
                    correction = self.inlet.time_correction(timeout=1.0)
                    self.corrections.append(correction)
                    last_sync = time.monotonic()
                for values, ts in zip(chunk, stamps):
                    t = ts + correction - self.offset - self.clock_zero
                    row = {"t": round(t, 6), "lsl_time": round(ts, 6)}
                    row.update(zip(self.labels, values))
                    self.table.append(row)
                    self.samples += 1
        except Exception as exc:  # a stream that dies is logged; the session goes on
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.table.close()

    def write_sidecar(self) -> dict:
        meta = {
            "stream": self.stream,
            "type": self.info.type(),
            "source_id": self.info.source_id(),
            "hostname": self.info.hostname(),
            "nominal_srate": self.info.nominal_srate(),
            "channels": self.labels,
            "samples": self.samples,
            "clock": "t = lsl_time + time_correction - lsl_minus_perf - clock_zero_perf (session clock, s)",
            "time_correction_s": self.corrections,
            "lsl_minus_perf_s": self.offset,
            "clock_zero_perf": self.clock_zero,
            "error": getattr(self, "error", None),
        }
        self.sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return meta


class PhysioRecorder:
    """Record the protocol's LSL streams into ``physio-<name>.tsv`` (one thread each).

    Parameters
    ----------
    specs : list of LslStream
    folder : Path
        The session folder.
    clock_zero : float
        ``perf_counter`` at session start.

    Examples
    --------
    Not run as a doctest: it needs an LSL stream to record (tests/test_lsl.py).

    >>> rec = PhysioRecorder(protocol.lsl.record, session_dir, clock_zero).start()  # doctest: +SKIP
    >>> rec.stop()                                                                 # doctest: +SKIP
    {'ppg': {'samples': 1000, ...}}
    """

    def __init__(self, specs, folder: Path, clock_zero: float):
        self.specs = list(specs)
        self.folder = Path(folder)
        self.clock_zero = clock_zero
        self.threads: list[_StreamThread] = []
        self.missing: list[str] = []

    def start(self) -> PhysioRecorder:
        offset, _ = lsl_minus_perf()
        for spec in self.specs:
            info = resolve_stream(spec)
            if info is None:
                if spec.required:
                    raise HardwareError(f"lsl: stream '{spec.name}' disappeared before the session")
                self.missing.append(spec.name)
                continue
            th = _StreamThread(spec.name, info, self.folder, self.clock_zero, offset)
            th.start()
            self.threads.append(th)
        return self

    def stop(self) -> dict:
        out = {}
        for th in self.threads:
            th.stop_flag.set()
        for th in self.threads:
            th.join(timeout=5)
            out[th.stream] = {k: v for k, v in th.write_sidecar().items() if k != "clock"}
        for name in self.missing:
            out[name] = {"samples": 0, "error": "not found (optional stream)"}
        return out
