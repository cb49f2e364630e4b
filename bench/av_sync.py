"""Benchmark of clip sound sync: A/V onset offset measured in a software audio sink.

Starts a private PulseAudio daemon with a null sink, records the sink's monitor
with ``parec`` and runs a simulated group session (2 seats, clips with a known
sound track: white flashes with tone bursts, see
:func:`experiments.audio.av_sync.make_av_clip`) that plays its clips with sound
into the sink. Per trial the clip's own audio track is found in the recording by
cross-correlation; the offset is audio onset minus the flip that showed frame 0.
Per flash, the burst onset minus the flip that first showed the flash frame.

Compensation (issue 25): the output latency of a bare test tone (ffpyplayer with
no picture, the same path as a clip's sound) is measured first, and the session
starts each clip's sound that much before its first frame
(``run_session(audio_latency_ms=...)``, ``coaffect run --audio-latency-ms``).
The same run also plays the clips once without compensation: the baseline the
ratio is taken against.

The last line is JSON with a ``bench`` key and same-run ratios: the compensated
offset against the uncompensated one (``offset_ratio_vs_uncompensated``), per
clip frame interval (``onset_offset_per_frame``) and per the bare tone's output
latency (``onset_offset_vs_tone_latency``). The run fails (exit 1) if a session does not complete,
the clips' sound is not found in the recording (median match < 0.5), or the
compensated median onset offset is over 10 ms or its largest is over one frame.

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/av_sync.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SINK = "coaffect_bench"


def make_study(tmp: Path, n_clips: int, seconds: float) -> tuple[Path, dict]:
    from experiments.audio.av_sync import make_av_clip
    from experiments.stimulus_files import sha256_file

    entries, clips = [], {}
    for i in range(n_clips):
        cid = f"av{i + 1}"
        path = make_av_clip(tmp / f"{cid}.mp4", seconds=seconds)
        clips[cid] = path
        n = int(round(seconds * 30))
        entries.append(
            f"- {{id: {cid}, file: {path.name}, sha256: {sha256_file(path)}, duration: {seconds}, "
            f"fps: 30.0, frame_count: {n}, width: 160, height: 120, audio: true, "
            f"tags: {{valence: neutral}}, licence: CC0-1.0, source: bench}}\n"
        )
    (tmp / "manifest.yaml").write_text("format_version: 1\nclips:\n" + "".join(entries))
    proto = tmp / "av.yaml"
    proto.write_text(f"""format_version: 1
id: av-bench
version: 0.0.1
title: A/V sync benchmark
authors: [coaffect]
texts: {{consent: Bench, instructions: Watch}}
display: {{size: [640, 480]}}
stimuli: {{manifest: manifest.yaml, clips: [{", ".join(clips)}]}}
baseline: {{duration: 0.3}}
analysis: {{baseline_window: [0.0, 0.3]}}
iti: 0.5
conditions: {{alone: {{participants: 1}}, group: {{participants: 2}}}}
seats:
  - {{id: A, buttons: {{happy: a, sad: z}}}}
  - {{id: B, buttons: {{happy: g, sad: b}}}}
ratings: {{timeout: 0.5, items: []}}
audio: {{play: on, volume: 1.0, device: {SINK}}}
""")
    return proto, clips


#: Targets (issue 25): median |onset offset| and the largest, after compensation.
MEDIAN_TARGET_MS = 10.0


def _session(pa, proto, clips, out, sid, latency_ms):
    from experiments.audio.av_sync import measure_av_sync
    from experiments.audio.sink import SinkRecorder
    from experiments.runner import run_session

    rec = SinkRecorder(pa.env, SINK).start()
    res = run_session(
        proto, "group", ["P01", "P02"], output=out, session_id=sid, simulate="inprocess",
        cameras=False, progress=False, audio_latency_ms=latency_ms,
    )  # fmt: skip
    samples, t0 = rec.stop()
    return res, measure_av_sync(res.session_dir, clips, samples, t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    from experiments.audio.av_sync import make_av_clip, measure_output_latency
    from experiments.audio.sink import PulseDaemon

    tmp = Path(tempfile.mkdtemp(prefix="av-bench-"))
    with PulseDaemon(SINK) as pa:
        os.environ.update(pa.env)
        tone = make_av_clip(tmp / "tone.mp4", seconds=1.0)
        base = measure_output_latency(pa.env, SINK, tone, repeats=5)
        print(
            f"tone output latency {base.latency_ms} ms (matches {base.matches}): lead {base.median_ms:.1f} ms"
        )
        proto, clips = make_study(tmp, args.clips, args.seconds)
        raw_res, raw = _session(pa, proto, clips, tmp / "raw", "RAW", 0.0)
        res, sync = _session(pa, proto, clips, tmp / "data", "AV1", base.median_ms)
    print("without compensation:")
    print(raw.trials.to_string(index=False))
    print(f"with the sound started {base.median_ms:.1f} ms before the picture:")
    print(sync.trials.to_string(index=False))
    print(sync.flashes.groupby("trial").offset_ms.describe().round(1).to_string())
    summary, before = sync.summary(), raw.summary()
    frame_ms = 1000 / 30
    median, worst = summary["onset_offset_ms_median"], summary["onset_offset_ms_max_abs"]
    found = (
        res.status == raw_res.status == "complete"
        and summary["trials"] == before["trials"] == args.clips
        and float(sync.trials.match.median()) >= 0.5
    )
    offset = median
    on_target = found and abs(median) <= MEDIAN_TARGET_MS and worst <= frame_ms
    out = {
        "bench": "av_sync",
        "onset_offset_per_frame": None if offset is None else round(offset / frame_ms, 3),
        "onset_offset_vs_tone_latency": (
            None if offset is None or not base.median_ms else round(offset / base.median_ms, 3)
        ),
        **summary,
        "lead_ms": round(base.median_ms, 2),
        "frame_ms": round(frame_ms, 2),
        "median_within_10_ms": bool(found and abs(median) <= MEDIAN_TARGET_MS),
        "within_one_frame": bool(found and worst <= frame_ms),
        "baseline_tone_latency_ms_median": round(base.median_ms, 2),
        "uncompensated_onset_offset_ms_median": before["onset_offset_ms_median"],
        "uncompensated_onset_offset_ms_max_abs": before["onset_offset_ms_max_abs"],
        "offset_ratio_vs_uncompensated": round(abs(median) / abs(before["onset_offset_ms_median"]), 3)
        if found and before["onset_offset_ms_median"]
        else None,
        "ok": bool(on_target),
    }
    print(json.dumps(out))
    return 0 if on_target else 1


if __name__ == "__main__":
    sys.exit(main())
