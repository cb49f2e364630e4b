"""A private PulseAudio null sink, recorded with ``parec``, for measuring what was played.

:class:`PulseDaemon` starts ``pulseaudio`` in its own runtime folder with a null
sink (no sound card needed) and stops it again. :class:`SinkRecorder` records the
sink's monitor with ``parec`` and timestamps every chunk it receives with
``time.perf_counter()``, so a sample index maps to the session clock.
:func:`find_onset` locates a reference sound (a clip's own audio track, a test
tone) in a recording by cross-correlation.

Clock mapping of a recording: sample ``i`` left the sink at
``t0 + i / rate`` where ``t0`` is the smallest ``t_received - samples_so_far / rate``
over all chunks (the chunk that waited least in the pipe). ``parec`` runs with a
5 ms latency request, so the mapping is good to a few milliseconds; the null
sink consumes samples in real time, like a sound card would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from coaffect.formats.errors import HardwareError

RATE = 44100


@dataclass
class PulseDaemon:
    """A private ``pulseaudio`` with one null sink; use as a context manager.

    Parameters
    ----------
    sink : str
        Name of the null sink (also the default sink).

    Examples
    --------
    Not run as a doctest: it starts a pulseaudio daemon (about a second; tests/test_audio.py runs
    it).

    >>> with PulseDaemon("coaffect_doc") as pa:      # doctest: +SKIP
    ...     print(pa.env["PULSE_SERVER"])
    unix:/tmp/.../pulse/native
    """

    sink: str = "coaffect_sink"
    runtime_dir: Optional[Path] = None
    env: Optional[dict] = None
    _own_dir: bool = False

    def start(self) -> PulseDaemon:
        if not shutil.which("pulseaudio"):
            raise HardwareError(
                "pulseaudio is not installed", hint="apt-get install pulseaudio pulseaudio-utils"
            )
        if self.runtime_dir is None:
            self.runtime_dir = Path(tempfile.mkdtemp(prefix="coaffect-pulse-"))
            self._own_dir = True
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir), "HOME": str(self.runtime_dir)}
        env.pop("PULSE_SERVER", None)
        subprocess.run(
            [
                "pulseaudio",
                "-D",
                "--exit-idle-time=-1",
                "-n",
                "--disallow-exit",
                f"--load=module-null-sink sink_name={self.sink}",
                "--load=module-native-protocol-unix",
            ],
            env=env,
            capture_output=True,
            check=False,
            timeout=20,
        )
        socket = self.runtime_dir / "pulse" / "native"
        self.env = {
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{socket}",
            "PULSE_SINK": self.sink,
            "SDL_AUDIODRIVER": "pulseaudio",
        }
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if sink_names(self.env) and self.sink in sink_names(self.env):
                pactl(self.env, "set-default-sink", self.sink)
                return self
            time.sleep(0.1)
        self.stop()
        raise HardwareError(f"pulseaudio did not start a null sink '{self.sink}'")

    def stop(self) -> None:
        if self.env is not None:
            pid_file = Path(self.env["XDG_RUNTIME_DIR"]) / "pulse" / "pid"
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, 15)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass
        if self._own_dir and self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        self.env = None

    def __enter__(self) -> PulseDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def pactl(env: Optional[dict], *args: str) -> subprocess.CompletedProcess:
    """Run ``pactl`` against the PulseAudio server named in ``env`` (or the default one)."""
    return subprocess.run(
        ["pactl", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def sink_names(env: Optional[dict] = None) -> list[str]:
    """Names of the PulseAudio sinks (empty if there is no server or no ``pactl``)."""
    if not shutil.which("pactl"):
        return []
    res = pactl(env, "list", "short", "sinks")
    if res.returncode != 0:
        return []
    return [line.split("\t")[1] for line in res.stdout.splitlines() if "\t" in line]


def default_sink(env: Optional[dict] = None) -> Optional[str]:
    """Name of the default PulseAudio sink (None without a server)."""
    if not shutil.which("pactl"):
        return None
    name = pactl(env, "get-default-sink").stdout.strip()
    return name or None


class SinkRecorder:
    """Record a PulseAudio sink's monitor (mono, 16 bit, 44.1 kHz) with ``parec``.

    Parameters
    ----------
    env : dict
        PulseAudio environment (``PulseDaemon.env``).
    sink : str
        Sink whose monitor is recorded.

    Examples
    --------
    Not run as a doctest: it records a running PulseAudio daemon's sink (tests/test_audio.py).

    >>> rec = SinkRecorder(pa.env, "coaffect_sink").start()   # doctest: +SKIP
    >>> samples, t0 = rec.stop()                              # doctest: +SKIP
    """

    def __init__(self, env: dict, sink: str):
        self.env = env
        self.sink = sink
        self._chunks: list[bytes] = []
        self._t0 = np.inf
        self._n = 0
        self._proc = None
        self._thread = None

    def start(self) -> SinkRecorder:
        self._proc = subprocess.Popen(
            [
                "parec",
                "-d",
                f"{self.sink}.monitor",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                "--latency-msec=5",
                "--raw",
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            now = time.perf_counter()
            if not data:
                return
            self._chunks.append(data)
            self._n += len(data) // 2
            self._t0 = min(self._t0, now - self._n / RATE)

    def stop(self) -> tuple[np.ndarray, float]:
        """Stop; return (samples as float in -1..1, perf_counter time of sample 0)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._thread.join(timeout=5)
        raw = b"".join(self._chunks)
        samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        return samples, float(self._t0)


def decode_audio(path: Path, rate: int = RATE) -> np.ndarray:
    """A media file's audio track, decoded by ffmpeg to mono float samples at ``rate``."""
    res = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(res.stdout, dtype="<i2").astype(np.float32) / 32768.0


def find_onset(recording: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Where ``reference`` starts in ``recording``: (sample index, normalised peak in 0..1).

    Cross-correlation by FFT; the peak value is the correlation coefficient of
    the best match (near 1: the reference is clearly there).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=2000).astype(np.float32)
    >>> rec = np.concatenate([np.zeros(1234, np.float32), 0.5 * ref, np.zeros(500, np.float32)])
    >>> idx, peak = find_onset(rec, ref)
    >>> idx, round(peak, 3)
    (1234, 1.0)
    """
    n = len(recording) + len(reference)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)), size)
    corr = corr[: len(recording) - len(reference) + 1] if len(recording) >= len(reference) else corr[:1]
    idx = int(np.argmax(corr))
    seg = recording[idx : idx + len(reference)]
    denom = float(np.linalg.norm(seg) * np.linalg.norm(reference[: len(seg)])) or 1.0
    return idx, float(corr[idx] / denom)
