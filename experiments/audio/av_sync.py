"""Measure clip A/V sync and output latency from what really reached a PulseAudio sink.

:func:`make_av_clip` writes a test clip whose picture flashes white exactly while
its sound track plays a tone burst (ffmpeg; one burst per second, each at its own pitch).
:func:`measure_av_sync` takes a session folder and a recording of the sink
(:class:`~experiments.audio.sink.SinkRecorder`) and finds, per trial, where the
clip's own audio track starts in the recording (cross-correlation); the A/V
onset offset is that audio onset minus the video onset (the flip that showed
frame 0, ``events.tsv``). Positive: sound late. Per flash, the offset between
the flip that first showed the flash frame (``flips.tsv``) and the burst onset
found in the recording checks that sync holds through the clip.
:func:`measure_output_latency` plays a test tone the way clips are played
(ffpyplayer through SDL) and reports the delay from the play call to the sound
in the sink's monitor.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .sink import RATE, SinkRecorder, decode_audio, find_onset

BURST_HZ = 500
STEP_HZ = 250  # burst k is at BURST_HZ + k * STEP_HZ: no two seconds sound alike
BURST_S = 0.1


def make_av_clip(path: Path, seconds: float = 3.0, fps: int = 30, size=(160, 120)) -> Path:
    """A clip (mpeg4 + AAC) that flashes white and beeps for 0.1 s at every whole second.

    Burst ``k`` (at ``k`` s) is a tone of ``500 + 250 k`` Hz, so the track is not
    periodic and cross-correlation cannot match it one second off.

    Examples
    --------
    >>> import tempfile
    >>> p = make_av_clip(Path(tempfile.mkdtemp()) / "av.mp4", seconds=1.0)
    >>> round(len(decode_audio(p)) / RATE, 1)
    1.0
    """
    path = Path(path)
    on = f"lt(mod(t\\,1)\\,{BURST_S})"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i",
            f"color=black:s={size[0]}x{size[1]}:r={fps}:d={seconds},drawbox=enable='{on}':color=white:t=fill",
            "-f", "lavfi", "-i",
            f"aevalsrc='if({on}\\,0.8*sin(2*PI*({BURST_HZ}+{STEP_HZ}*floor(t))*t)\\,0)':s={RATE}:d={seconds}",
            "-c:v", "mpeg4", "-q:v", "3", "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@dataclass
class AvSync:
    """Per-trial and per-flash A/V offsets (ms; positive = sound after picture)."""

    trials: pd.DataFrame  # trial, stimulus_id, video_onset, audio_onset, offset_ms, match
    flashes: pd.DataFrame  # trial, flash, video_t, audio_t, offset_ms

    def summary(self) -> dict:
        off = self.trials.offset_ms
        return {
            "trials": int(len(off)),
            "onset_offset_ms_median": round(float(off.median()), 2) if len(off) else None,
            "onset_offset_ms_max_abs": round(float(off.abs().max()), 2) if len(off) else None,
            "flash_offset_ms_median": round(float(self.flashes.offset_ms.median()), 2)
            if len(self.flashes)
            else None,
            "flash_offset_ms_max_abs": round(float(self.flashes.offset_ms.abs().max()), 2)
            if len(self.flashes)
            else None,
            "min_match": round(float(self.trials.match.min()), 3) if len(off) else None,
        }


def measure_av_sync(session_dir: Path, clips: dict, recording: np.ndarray, rec_t0_perf: float) -> AvSync:
    """A/V offsets of every clip trial of a session from a sink recording.

    Parameters
    ----------
    session_dir : Path
        The ``ses-<id>`` folder (events.tsv, flips.tsv, session.json).
    clips : dict
        stimulus id -> clip file (its own audio track is the reference).
    recording : ndarray
        Mono samples at 44.1 kHz (:meth:`SinkRecorder.stop`).
    rec_t0_perf : float
        ``perf_counter`` time of sample 0.
    """
    import json

    meta = json.loads((Path(session_dir) / "session.json").read_text(encoding="utf-8"))
    zero = meta["clock_zero_perf"]
    ev = pd.read_csv(Path(session_dir) / "events.tsv", sep="\t", na_values=["n/a"])
    flips = pd.read_csv(Path(session_dir) / "flips.tsv", sep="\t", na_values=["n/a"])
    refs = {c: decode_audio(Path(p)) for c, p in clips.items()}
    rows, frows = [], []
    for _, e in ev[ev.trial_type == "clip"].iterrows():
        ref = refs[e.stimulus_id]
        lo = max(0, int((zero + e.onset - 0.4 - rec_t0_perf) * RATE))
        seg = recording[lo : lo + len(ref) + RATE]
        if len(seg) < len(ref):
            continue
        idx, match = find_onset(seg, ref)
        audio = rec_t0_perf + (lo + idx) / RATE - zero
        rows.append(
            {
                "trial": int(e.trial),
                "stimulus_id": e.stimulus_id,
                "video_onset": e.onset,
                "audio_onset": round(audio, 5),
                "offset_ms": round(1000 * (audio - e.onset), 2),
                "match": round(match, 3),
            }
        )
        f = flips[(flips.trial == e.trial) & flips.frame.notna()]
        pts = np.unique(f.pts.dropna())  # a starved machine may show a clip's first frames only
        fps = 1.0 / np.median(np.diff(pts)) if len(pts) > 2 else 30.0
        for k in range(int(e.duration) + 1):
            first = f[f.frame >= round(k * fps)]
            if first.empty or first.frame.iloc[0] > round(k * fps) + 1:
                continue
            video_t = first.t.iloc[0]
            a_lo = max(0, int((zero + video_t - 0.3 - rec_t0_perf) * RATE))
            win = recording[a_lo : a_lo + int(0.6 * RATE)]
            ts = np.arange(int(BURST_S * RATE)) / RATE + k
            burst = np.sin(2 * np.pi * (BURST_HZ + STEP_HZ * k) * ts).astype(np.float32)
            if len(win) < len(burst):
                continue
            j, m = find_onset(win, burst)
            if m < 0.5:
                continue
            audio_t = rec_t0_perf + (a_lo + j) / RATE - zero
            frows.append(
                {
                    "trial": int(e.trial),
                    "flash": k,
                    "video_t": video_t,
                    "audio_t": round(audio_t, 5),
                    "offset_ms": round(1000 * (audio_t - video_t), 2),
                }
            )
    return AvSync(
        pd.DataFrame(rows), pd.DataFrame(frows, columns=["trial", "flash", "video_t", "audio_t", "offset_ms"])
    )


@dataclass
class OutputLatency:
    """Delay from starting a sound (ffpyplayer/SDL, as clips) to it reaching the sink's monitor."""

    latency_ms: list  # one per repeat after the first
    match: float
    cold_ms: float  # the first play: SDL opens the audio device
    #: match of each repeat after the first (1: the tone intact in the monitor)
    matches: tuple = ()

    @property
    def median_ms(self) -> float:
        """Median over the repeats whose tone was found intact (match >= 0.5; all if none was).

        An underrun on a loaded machine garbles a repeat's tone (match 0.2-0.4 seen at
        load 8 on 2 cores) and its latency with it.

        Examples
        --------
        >>> OutputLatency([31.0, 80.0, 33.0], 0.3, 600.0, (0.98, 0.3, 0.97)).median_ms
        32.0
        """
        good = [x for x, m in zip(self.latency_ms, self.matches) if m >= 0.5]
        return float(np.median(good or self.latency_ms))

    @property
    def median_match(self) -> float:
        """Worst match among the repeats :attr:`median_ms` is taken over."""
        good = [m for m in self.matches if m >= 0.5]
        return float(min(good)) if good else float(max(self.matches, default=self.match))


def measure_output_latency(
    env: dict, sink: str, tone: Path, repeats: int = 3, volume: float = 1.0
) -> OutputLatency:
    """Play ``tone`` 1 + ``repeats`` times with ffpyplayer and time its arrival in ``sink``'s monitor.

    ``env`` must already be in ``os.environ`` for SDL (``SDL_AUDIODRIVER``,
    ``PULSE_SERVER``/``PULSE_SINK`` as needed). The monitor shows when the sink
    renders the samples; a sound card's own converter delay (a few ms) is not in it.
    """
    from ffpyplayer.player import MediaPlayer

    ref = decode_audio(tone)
    rec = SinkRecorder(env, sink).start()
    time.sleep(0.3)
    starts = []
    for _ in range(repeats + 1):
        player = MediaPlayer(str(tone), ff_opts={"vn": True, "paused": True, "sync": "audio"})
        player.set_volume(volume)
        time.sleep(0.2)
        starts.append(time.perf_counter())
        player.set_pause(False)
        time.sleep(len(ref) / RATE + 0.4)
        player.close_player()
    time.sleep(0.3)
    samples, t0 = rec.stop()
    lat, matches = [], []
    for s in starts:
        lo = max(0, int((s - t0) * RATE))
        idx, m = find_onset(samples[lo : lo + len(ref) + RATE], ref)
        lat.append(round(1000 * (t0 + (lo + idx) / RATE - s), 2))
        matches.append(m)
    return OutputLatency(lat[1:], float(min(matches)), lat[0], tuple(round(m, 3) for m in matches[1:]))
