"""Clip sound, for real: a private PulseAudio null sink, recorded with parec.

Each test starts and stops its own ``pulseaudio`` daemon (no sound card here).
The session plays clips with a known sound track (white flashes with 1 kHz
bursts); the clip's own track is found in the sink recording by
cross-correlation, so the A/V onset offset is measured, not assumed.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from test_runner_kit import read_tsv

from experiments.audio.av_sync import make_av_clip, measure_av_sync, measure_output_latency
from experiments.audio.sink import PulseDaemon, SinkRecorder, sink_names

# audio latency and A/V offset: run alone, after the parallel pass (make test)
pytestmark = pytest.mark.serial

SINK = "coaffect_test"


@pytest.fixture
def pulse(monkeypatch):
    with PulseDaemon(SINK) as pa:
        for k, v in pa.env.items():
            monkeypatch.setenv(k, v)
        yield pa


def _study(tmp_path, play="on", volume=1.0, device=SINK, n=2):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from av_sync import make_study

    proto, clips = make_study(tmp_path, n, 2.0)
    text = proto.read_text().replace(
        "audio: {play: on, volume: 1.0, device: coaffect_bench}",
        f"audio: {{play: {play}, volume: {volume}, device: {device}}}",
    )
    proto.write_text(text)
    return proto, clips


def test_pulse_daemon_has_the_null_sink(pulse):
    assert SINK in sink_names(pulse.env)


def test_test_tone_latency_is_measured(pulse, tmp_path):
    tone = make_av_clip(tmp_path / "tone.mp4", seconds=1.0)
    lat = measure_output_latency(pulse.env, SINK, tone, repeats=2)
    print(f"tone output latency {lat.latency_ms} ms, cold {lat.cold_ms} ms")
    assert lat.match > 0.5  # the tone really reached the sink
    assert all(0 < x < 500 for x in lat.latency_ms)


def _sync_problems(sync) -> list[str]:
    """What is wrong with a measured session (empty: in sync); bounds as in docs/run-a-session.md."""
    out = []
    # the clip's own track reached the sink (silence or another sound correlates near 0;
    # on this loaded 2-core machine underruns lower it from 0.98 to 0.45-0.7 in some runs)
    if not (sync.trials.match > 0.3).all():
        out.append(f"clip sound not found intact: match {sync.trials.match.tolist()}")
    # each flash's burst within two frames of the flip that showed it (median), and the track's
    # onset within 100 ms of the first frame (median over clips): a cold start of the sound
    # (0.75 s late without the warm-up) or a lost sync fails this
    if len(sync.flashes) < 3 or not sync.flashes.offset_ms.abs().median() < 2 * 1000 / 30:
        out.append(f"flash offsets {sync.flashes.offset_ms.tolist()}")
    if not sync.trials.offset_ms.abs().median() < 100:
        out.append(f"onset offsets {sync.trials.offset_ms.tolist()}")
    return out


def test_session_plays_clip_sound_in_sync(pulse, tmp_path, caplog):
    """Two attempts: on a machine loaded far beyond its cores (load 12-16 on 2 cores seen here)
    one session in three had an audio underrun; a real regression fails both.

    The session compensates the output latency measured here first (issue 25: the sound
    lagged the picture by a constant ~30 ms): each clip's sound is started that much
    before its first frame is shown."""
    from experiments.runner import run_session

    caplog.set_level(logging.INFO, logger="experiments")
    proto, clips = _study(tmp_path)
    lead = measure_output_latency(pulse.env, SINK, make_av_clip(tmp_path / "tone.mp4", 1.0), repeats=2)
    problems = []
    for attempt in (1, 2):
        rec = SinkRecorder(pulse.env, SINK).start()
        res = run_session(
            proto, "group", ["P01", "P02"], output=tmp_path / f"data{attempt}", session_id="A1",
            simulate="inprocess", cameras=False, progress=False, audio_latency_ms=lead.median_ms,
        )  # fmt: skip
        samples, t0 = rec.stop()
        assert res.status == "complete"
        ev = read_tsv(res.session_dir / "events.tsv")
        audio = ev[ev.trial_type == "clip_audio"]
        assert list(audio.trial) == [1, 2]  # audio start logged next to every clip
        # the sound was started at least the lead before the flip that showed frame 0
        first = ev[ev.trial_type == "clip_start"].set_index("trial").onset
        started = audio.set_index("trial").onset
        assert ((first - started) >= lead.median_ms / 1000 - 1e-4).all(), (first - started).tolist()
        meta = json.loads((res.session_dir / "session.json").read_text())
        assert meta["audio"]["play"] == "on" and meta["audio"]["device"] == SINK
        assert meta["audio"]["lead_ms"] == round(lead.median_ms, 2)
        # one line on the console says the session plays sound, where, and the compensation
        # (the runner logs it; the CLI prints its log on stderr)
        assert (
            f"sound: on, volume 1, output {SINK}; sound starts {lead.median_ms:.1f} ms before the picture"
            in caplog.text
        )
        caplog.clear()
        sync = measure_av_sync(res.session_dir, clips, samples, t0)
        print(sync.trials.to_string(index=False))
        print(json.dumps(sync.summary()))
        problems = _sync_problems(sync)
        if not problems:
            break
    assert problems == []


def test_audio_off_is_silent_and_warns(pulse, tmp_path, caplog):
    from experiments.runner import run_session

    proto, _ = _study(tmp_path, play="off", n=1)
    rec = SinkRecorder(pulse.env, SINK).start()
    res = run_session(
        proto, "group", ["P01", "P02"], output=tmp_path / "data", session_id="A2",
        simulate="inprocess", cameras=False, progress=False,
    )  # fmt: skip
    samples, _ = rec.stop()
    assert "warning: clip av1 has an audio track but plays silent (protocol audio: off)" in caplog.text
    assert float(np.sqrt(np.mean(samples**2))) < 1e-4  # nothing reached the sink
    ev = read_tsv(res.session_dir / "events.tsv")
    assert "clip_audio" not in set(ev.trial_type)
    assert os.environ.get("PULSE_SINK") == SINK
