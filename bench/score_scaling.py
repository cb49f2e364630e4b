"""Scoring throughput on 1 worker, 2 local workers and a separately started 2-worker cluster.

Makes a multi-session dataset of real video files (synthetic animated faces,
two per camera, written by the runner's own MJPEG camera writer), then scores
the same dataset with four set-ups, in alternating rounds (``--rounds``,
medians reported), in one run:

1. one worker, in this process (what ``--workers 1`` does);
2. a local Dask cluster of 1 worker process (the scaling baseline: a worker
   configured exactly as each of the 2 below, one thread, Dask's
   one-thread-per-library environment; the in-process run has no Dask at
   all, so it is not the same unit);
3. a local Dask cluster of 2 worker processes;
4. a ``dask scheduler`` plus 2 ``dask worker`` processes started separately
   (:class:`analysis.parallel.dask_processes.ProcessCluster`), reached by address.

Every run starts from an empty derivatives folder with warmed-up workers
(models loaded), so the timings are scoring only; cluster start-up is
reported separately. It prints per-run figures, then one JSON line with the
throughput ratios, the CPU each run actually got (cores used = CPU seconds /
wall seconds: on a shared machine other users' load caps the ratio), the peak
memory per worker, and whether the four faces tables are identical. The
headline ``speedup_2_local`` is 2 local workers against 1 local worker;
``speedup_2_local_vs_in_process`` is printed next to it. Exits 1 if the tables
differ or a run fails; with ``--require-target`` also if 2 local workers are
below 1.7x one worker.

Run: ``PYTHONPATH=. python bench/score_scaling.py [--sessions 4 --seconds 20]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import cv2
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.parallel.dask_processes import ProcessCluster  # noqa: E402
from analysis.parallel.executor import open_executor  # noqa: E402
from analysis.scoring.archive import peak_rss_bytes  # noqa: E402
from analysis.scoring.score import ScoreSettings, score_dataset  # noqa: E402
from analysis.simulate.faces import base_face, write_group_video  # noqa: E402
from coaffect.formats.session_writer import SessionWriter  # noqa: E402
from experiments.cameras.mjpeg_store import MjpegRecorder  # noqa: E402

TARGET = 1.7


def make_dataset(root: Path, n_sessions: int, seconds: float) -> Path:
    """``n_sessions`` group sessions (2 seats, one camera) around one synthetic video."""
    video = root / "feed" / "wide.avi"
    write_group_video(video, n_faces=2, fps=15, duration_s=seconds)
    photo = base_face()[0]
    protocol = (ROOT / "protocols" / "bittersweet-demo.yaml").read_text()
    protocol = protocol.replace("    seats: [A, B, C]", "    seats: [A, B]")
    for k in range(n_sessions):
        writer = SessionWriter.create(
            root / "data",
            f"S{k + 1:02d}",
            {
                "condition": "group",
                "participants": [
                    {"participant_id": "P01", "seat": "A"},
                    {"participant_id": "P02", "seat": "B"},
                ],
                "protocol": {"id": "bittersweet-demo", "sha256": "bench"},
                "versions": {},
            },
        )
        writer.append("events.tsv", {"onset": 10.0, "duration": 5.0, "trial_type": "baseline"})
        writer.finish("complete")
        sdir = writer.dir
        (sdir / "protocol.yaml").write_text(protocol)
        cap = cv2.VideoCapture(str(video))
        recorder = MjpegRecorder(sdir, "wide")
        n = 0
        while True:
            ok, img = cap.read()
            if not ok:
                break
            recorder.write(img, t=10.0 + n / 15.0, source_frame=n)
            n += 1
        recorder.close()
        (sdir / "enroll").mkdir()
        for pid in ("P01", "P02"):
            cv2.imwrite(str(sdir / "enroll" / f"{pid}.png"), photo)
    return root / "data"


def warm_up(video: str, frames_tsv: str) -> int:
    """Load the models on a worker (first-use cost is not scoring throughput)."""
    from analysis.faces.chunks import observe_chunk
    from analysis.faces.identity import enrollment_encodings  # noqa: F401
    from analysis.faces.settings import PipelineSettings

    raw = observe_chunk(Path(video), Path(frames_tsv), PipelineSettings(), (0, 0, 20))
    return len(raw.rows)


def cpu_seconds() -> float:
    """CPU seconds of this process so far (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _tables(data: Path) -> dict:
    out = data / "derivatives" / "coaffect"
    return {p.name: pd.read_parquet(p / "faces.parquet") for p in sorted(out.glob("ses-*"))}


def _fresh(data: Path) -> None:
    shutil.rmtree(data / "derivatives", ignore_errors=True)


@contextmanager
def _one_worker_cluster():
    """A local Dask cluster of one worker process, set up as :func:`open_executor`'s workers."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            silence_logs=logging.CRITICAL,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        with open_executor(scheduler=client, say=None) as ex:
            yield ex


def run(data: Path, ex, label: str, frames: int) -> dict:
    """Score ``data`` on an open executor; wall time, CPU cores used, peak memory per worker."""
    sample = next(data.glob("ses-*"))
    ex.run_on_workers(warm_up, str(sample / "cam-wide.mjpg"), str(sample / "cam-wide_frames.tsv"))
    before = ex.run_on_workers(cpu_seconds)
    _fresh(data)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    scheduler = getattr(ex, "client", None)
    stream = None
    if scheduler is not None:
        from distributed import get_task_stream

        stream = get_task_stream(client=scheduler)
        stream.__enter__()
    table = score_dataset(
        data, settings=ScoreSettings(), workers=1 if scheduler is None else None, scheduler=scheduler
    )
    wall = time.perf_counter() - t0
    busy = 1.0
    if stream is not None:
        stream.__exit__(None, None, None)
        computing = sum(
            ss["stop"] - ss["start"]
            for d in stream.data
            for ss in d["startstops"]
            if ss["action"] == "compute"
        )
        busy = computing / (wall * len(ex.run_on_workers(os.getpid)))
    after = ex.run_on_workers(cpu_seconds)
    cpu = sum(after[w] - before.get(w, 0.0) for w in after)
    peaks = ex.run_on_workers(peak_rss_bytes)
    assert table["status"].tolist() == ["scored"] * len(table), table
    row = {
        "run": label,
        "workers": len(after),
        "wall_s": round(wall, 2),
        "frames_per_s": round(frames / wall, 2),
        "cpu_cores_used": round(cpu / wall, 2),
        "cpu_s_per_frame": round(cpu / frames, 4),
        "workers_busy_fraction": round(busy, 2),
        "peak_worker_rss_mb": round(max(peaks.values()) / 2**20, 1),
        "load_avg_1min_before": round(load0, 2),
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="video length per session")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each set-up (median)")
    parser.add_argument("--keep", type=Path, help="make the dataset here and keep it")
    parser.add_argument("--require-target", action="store_true", help=f"exit 1 below {TARGET}x")
    args = parser.parse_args(argv)
    tmp = None
    if args.keep:
        root = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="coaffect-scaling-")
        root = Path(tmp.name)
    try:
        data = root / "data"
        if not any(data.glob("ses-*")):
            make_dataset(root, args.sessions, args.seconds)
        frames = sum(len(pd.read_csv(p, sep="\t")) for p in data.glob("ses-*/cam-*_frames.tsv"))
        print(
            f"dataset: {len(list(data.glob('ses-*')))} sessions, {frames} camera frames, 2 faces each",
            file=sys.stderr,
        )
        labels = {
            "one": "1 worker (in-process)",
            "one_cluster": "1 worker (local cluster)",
            "local": "2 workers (local cluster)",
            "remote": "dask scheduler + 2 dask workers",
        }
        runs: dict[str, list] = {k: [] for k in labels}
        tables = {}
        starts: dict[str, list] = {"local": [], "remote": []}

        @contextmanager
        def opened(name: str):
            """The executor of one set-up, started for one timed run and stopped after it
            (an idle cluster left running would take CPU from the one being timed)."""
            t0 = time.perf_counter()
            with ExitStack() as stack:
                if name == "one":
                    ex = stack.enter_context(open_executor(workers=1, say=None))
                elif name == "one_cluster":
                    ex = stack.enter_context(_one_worker_cluster())
                elif name == "local":
                    ex = stack.enter_context(open_executor(workers=2, say=None))
                else:
                    cluster = stack.enter_context(ProcessCluster(n_workers=2))
                    ex = stack.enter_context(open_executor(scheduler=cluster.address, say=None))
                if name in starts:
                    starts[name].append(time.perf_counter() - t0)
                yield ex

        # rounds in alternating order (ABCD, DCBA, ...): this machine's speed drifts
        # by tens of percent over minutes, which one run of each would put in the ratios
        for r in range(args.rounds):
            for name in labels if r % 2 == 0 else list(labels)[::-1]:
                with opened(name) as ex:
                    runs[name].append(run(data, ex, f"{labels[name]}, round {r + 1}", frames))
                tables[name] = _tables(data)
        start_local, start_remote = (statistics.median(starts[k]) for k in ("local", "remote"))
        identical = True
        for name in ("one_cluster", "local", "remote"):
            if tables[name].keys() != tables["one"].keys():
                identical = False
                continue
            for sid, faces in tables["one"].items():
                try:
                    pd.testing.assert_frame_equal(tables[name][sid], faces)
                except AssertionError as exc:
                    identical = False
                    print(f"{name} {sid}: table differs: {str(exc).splitlines()[0]}", file=sys.stderr)

        def ratios(base: str, other: str) -> list[float]:
            return [a["wall_s"] / b["wall_s"] for a, b in zip(runs[base], runs[other])]

        ratio_local = statistics.median(ratios("one_cluster", "local"))
        ratio_remote = statistics.median(ratios("one_cluster", "remote"))
        median = {
            k: {f: statistics.median(r[f] for r in v) for f in v[0] if f != "run"} for k, v in runs.items()
        }
        in_process, one, local, remote = (median[k] for k in labels)
        result = {
            "bench": "score_scaling",
            "sessions": len(tables["one"]),
            "frames": frames,
            "frames_per_s_1": one["frames_per_s"],
            "frames_per_s_1_in_process": in_process["frames_per_s"],
            "speedup_2_local": round(ratio_local, 2),
            "speedup_2_remote": round(ratio_remote, 2),
            "speedup_2_local_vs_in_process": round(statistics.median(ratios("one", "local")), 2),
            "speedup_2_local_per_round": [round(x, 2) for x in ratios("one_cluster", "local")],
            "rounds": args.rounds,
            "target": TARGET,
            "target_met": ratio_local >= TARGET,
            "cpu_cores_used": [round(median[k]["cpu_cores_used"], 2) for k in labels],
            "workers_busy_fraction": [local["workers_busy_fraction"], remote["workers_busy_fraction"]],
            # CPU seconds per frame, 1 worker / 2 workers: 1.0 = no parallel overhead, so on two
            # free cores the speedup would be about 2 x this
            "cpu_efficiency_2_local": round(
                one["cpu_cores_used"] * one["wall_s"] / max(local["cpu_cores_used"] * local["wall_s"], 1e-9),
                2,
            ),
            "peak_worker_rss_mb": max(local["peak_worker_rss_mb"], remote["peak_worker_rss_mb"]),
            "peak_in_process_rss_mb": in_process["peak_worker_rss_mb"],
            "cluster_start_s": [round(start_local, 1), round(start_remote, 1)],
            "load_avg_1min": [round(median[k]["load_avg_1min_before"], 2) for k in labels],
            "tables_identical": identical,
        }
        print(json.dumps(result))
        if not identical:
            return 1
        if args.require_target and not result["target_met"]:
            return 1
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
