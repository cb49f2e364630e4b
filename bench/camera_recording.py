"""Benchmark: a simulated group session's cameras, recorded on the session clock.

Three file-backed cameras (real 30 fps clips from ../shared/data, looping)
record for ``--seconds`` (default 120). Printed per camera: frames delivered vs
written, capture-to-disk latency (median, max), and the resident memory of its
capture process sampled over time (peak, and growth after warm-up). Then, if
the session runner is installed, two short simulated sessions are run, without
and with the three cameras, and the movie-frame statistics of their clips are
compared (frames dropped/repeated from events.tsv, flip-interval percentiles
from flips.tsv). Baseline and comparison alternate in ``--rounds`` rounds (one
camera then three, three then one, ...; the sessions likewise), so a drift of
this shared machine's speed falls on both; the ratios are of medians over the
rounds. The last line is one JSON object of headline ratios against baselines
measured in the same run (3 cameras vs 1, with vs without cameras); a failed
run (a session that did not complete, a camera writing < 99% of its frames)
exits 1.

Run under a display (the presentation part opens a PsychoPy window)::

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/camera_recording.py --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("COAFFECT_SHARED_DATA", ROOT.parent / "shared" / "data"))
FEEDS = {
    "seatA": "single/single_face.mp4",
    "seatB": "single/book.mkv",
    "seatC": "single/again.mkv",
}  # 640x360 / 640x480, all 30 fps


def record(seconds: float, out: Path, sample_every: float = 0.5, feeds=None) -> dict:
    """Record ``feeds`` (default: all three) for ``seconds``; return summary and RSS samples."""
    import psutil
    from tqdm import tqdm

    from experiments.cameras import CameraSet, CameraSpec

    seats = {"seatA": ("A",), "seatB": ("B",), "seatC": ("C",)}
    specs = [
        CameraSpec(name, file=str(SHARED / rel), loop=True, seats=seats[name])
        for name, rel in FEEDS.items()
        if feeds is None or name in feeds
    ]
    cams = CameraSet(specs, out, time.perf_counter()).start()
    procs = {n: psutil.Process(p) for n, p in cams.pids().items()}
    samples = {n: [] for n in procs}
    start = time.monotonic()
    try:
        with tqdm(total=int(seconds), unit="s", desc="recording", leave=False) as bar:
            while (elapsed := time.monotonic() - start) < seconds:
                for n, p in procs.items():
                    try:
                        samples[n].append((elapsed, p.memory_info().rss))
                    except psutil.Error:
                        pass
                cams.poll()
                time.sleep(sample_every)
                bar.update(int(time.monotonic() - start) - bar.n)
    finally:
        summary = cams.stop()
    return {"summary": summary, "rss": samples}


def memory_figures(samples: list) -> dict:
    """Peak RSS and growth between the first and last fifth after a 10% warm-up."""
    import numpy as np

    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples]) / 2**20
    span = t.max()
    warm = t > 0.1 * span
    early = rss[warm & (t < 0.3 * span)]
    late = rss[t > 0.8 * span]
    return {
        "rss_start_mib": round(float(rss[0]), 1),
        "rss_peak_mib": round(float(rss.max()), 1),
        "rss_growth_mib": round(float(np.median(late) - np.median(early)), 2)
        if len(early) and len(late)
        else None,
    }


def presentation(with_cameras: bool, clips: list[str], tmp: Path, run: int = 0) -> dict:
    """Run one simulated session; return movie-frame statistics of its clips."""
    import yaml

    data = yaml.safe_load((ROOT / "protocols" / "bittersweet-demo.yaml").read_text())
    data["stimuli"] = {"manifest": str(ROOT / "stimuli" / "manifest.yaml"), "clips": clips}
    data["baseline"] = {"duration": 1.5, "kind": "fixation"}
    data["analysis"]["baseline_window"] = [0.5, 1.5]
    data["iti"] = 0.2
    data["cameras"] = [
        {"name": n, "file": str(SHARED / rel), "loop": True, "seats": [s]}
        for (n, rel), s in zip(FEEDS.items(), "ABC")
    ]
    proto = tmp / f"bench-{'cams' if with_cameras else 'nocams'}.yaml"
    proto.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp / f"data-{'cams' if with_cameras else 'nocams'}-{run}"
    group = ["--condition", "group", "--participants", "P01,P02,P03", "--session-id", "B1"]
    coaffect_run = [sys.executable, "-m", "coaffect.cli", "run", str(proto)]
    cmd = [*coaffect_run, *group, "--simulate", "--output", str(out)]
    if not with_cameras:
        cmd.append("--no-cameras")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
    lines = (out / "ses-B1" / "events.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    stats = {"clips": 0, "flips": 0, "frames_shown": 0, "dropped": 0, "repeated": 0}
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        if row["trial_type"] != "clip":
            continue
        stats["clips"] += 1
        for part in row["detail"].split():
            key, _, value = part.partition("=")
            if key in stats:
                stats[key] += int(value)
    import numpy as np

    flips = (out / "ses-B1" / "flips.tsv").read_text().splitlines()
    fh = flips[0].split("\t")
    by_trial: dict = {}
    for line in flips[1:]:
        row = dict(zip(fh, line.split("\t")))
        by_trial.setdefault(row["trial"], []).append(float(row["t"]))
    iv = np.concatenate([np.diff(v) for v in by_trial.values() if len(v) > 1]) * 1000
    for q in (50, 95, 99):
        stats[f"flip_p{q}_ms"] = round(float(np.percentile(iv, q)), 2)
    stats["flip_max_ms"] = round(float(iv.max()), 2)
    meta = json.loads((out / "ses-B1" / "session.json").read_text())
    stats["status"] = meta["status"]
    if with_cameras:
        stats["camera_frames"] = {n: c.get("frames_written") for n, c in (meta.get("cameras") or {}).items()}
    return stats


def _alternating(pair: tuple, rounds: int) -> list:
    """``pair`` in ``rounds`` rounds, its order reversed every other round (ABBA...)."""
    return [x for r in range(rounds) for x in (pair if r % 2 == 0 else pair[::-1])]


def _median(values) -> float:
    import numpy as np

    return float(np.median(list(values)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each recording (120)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of baseline and comparison, alternating (2)"
    )
    parser.add_argument(
        "--no-presentation", action="store_true", help="skip the with/without-cameras presentation comparison"
    )
    parser.add_argument(
        "--clips",
        default="demo-positive,demo-negative,demo-bittersweet",
        help="clips of the simulated sessions",
    )
    args = parser.parse_args(argv)
    headline: dict = {"bench": "camera_recording", "seconds": args.seconds, "rounds": args.rounds}
    failures = []
    with tempfile.TemporaryDirectory(prefix="coaffect-bench-") as tmp:
        tmp = Path(tmp)
        runs: dict = {"1 camera": [], "3 cameras": []}
        # one camera (one capture process) and three (three processes), alternating
        modes = (("1 camera", ["seatA"]), ("3 cameras", None))
        for k, (label, feeds) in enumerate(_alternating(modes, args.rounds)):
            t0 = time.perf_counter()
            rec = record(args.seconds, tmp / f"rec-{k}", feeds=feeds)
            wall = time.perf_counter() - t0
            print(
                f"\n{label} (run {k + 1}): recorded for {args.seconds:.0f} s "
                f"(wall {wall:.1f} s, {os.cpu_count()} CPUs)"
            )
            print(
                f"{'camera':8} {'delivered':>9} {'written':>8} {'dropped':>8} {'written%':>8} "
                f"{'fps':>7} {'lat_med_ms':>10} {'lat_max_ms':>10} {'rss_peak':>9} "
                f"{'rss_growth':>10}"
            )
            rows = {}
            for name, s in rec["summary"].items():
                mem = memory_figures(rec["rss"][name])
                pct = 100.0 * s["frames_written"] / s["frames_delivered"] if s["frames_delivered"] else 0
                print(
                    f"{name:8} {s['frames_delivered']:9d} {s['frames_written']:8d} "
                    f"{s['frames_dropped']:8d} {pct:8.2f} {s['fps_measured'] or 0:7.2f} "
                    f"{1000 * (s['latency_median'] or 0):10.1f} {1000 * (s['latency_max'] or 0):10.1f} "
                    f"{mem['rss_peak_mib']:7.1f}Mi {mem['rss_growth_mib'] or 0:8.2f}Mi"
                )
                rows[name] = {
                    "written_fraction": pct / 100,
                    "latency_median": s["latency_median"] or 0,
                    **mem,
                }
                if s["frames_delivered"] == 0 or pct < 99.0 or s["status"] != "ok":
                    failures.append(f"{label} {name}: status {s['status']}, written {pct:.1f}%")
            runs[label].append(rows)
        every = [r for label_runs in runs.values() for rows in label_runs for r in rows.values()]
        one = _median(rows["seatA"]["latency_median"] for rows in runs["1 camera"])
        three = _median(rows["seatA"]["latency_median"] for rows in runs["3 cameras"])
        headline["written_fraction_min"] = round(min(r["written_fraction"] for r in every), 4)
        headline["latency_3cams_vs_1cam"] = round(three / one, 2) if one else None
        headline["rss_growth_mib_max"] = max((r["rss_growth_mib"] or 0) for r in every)
        have_runner = (ROOT / "experiments" / "runner" / "__init__.py").exists()
        if have_runner and not args.no_presentation and os.environ.get("DISPLAY"):
            clips = args.clips.split(",")
            pres: dict = {False: [], True: []}
            for k, with_cams in enumerate(_alternating((False, True), args.rounds)):
                label = "with 3 cameras" if with_cams else "without cameras"
                stats = presentation(with_cams, clips, tmp, run=k)
                print(f"presentation {label} (run {k + 1}): {stats}")
                pres[with_cams].append(stats)
                if "error" in stats or stats.get("status") != "complete":
                    failures.append(f"presentation {label}: {stats.get('error', stats.get('status'))}")
            if not failures:

                def dropped_fraction(st):
                    return st["dropped"] / max(1, st["frames_shown"] + st["dropped"])

                a, b = pres[False], pres[True]
                headline["dropped_frames_without_cameras"] = [x["dropped"] for x in a]
                headline["dropped_frames_with_cameras"] = [x["dropped"] for x in b]
                headline["dropped_fraction_with_minus_without"] = round(
                    _median(map(dropped_fraction, b)) - _median(map(dropped_fraction, a)), 4
                )
                for q in ("p50", "p95", "p99"):
                    with_q = _median(x[f"flip_{q}_ms"] for x in b)
                    without_q = _median(x[f"flip_{q}_ms"] for x in a)
                    headline[f"flip_{q}_with_vs_without"] = round(with_q / without_q, 3)
        else:
            print("presentation comparison skipped (no runner, no DISPLAY, or --no-presentation)")
    headline["ok"] = not failures
    for f in failures:
        print(f"FAILED: {f}")
    print(json.dumps(headline))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
