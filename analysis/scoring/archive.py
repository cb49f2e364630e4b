"""Score many sessions through the executor: chunks of video, then one finishing task per session.

How a dataset's scoring is dispatched (what is computed lives in
:mod:`analysis.faces` and :mod:`analysis.scoring.score`):

1. This process lists the sessions still to score and plans each camera video
   into chunks of about :data:`~analysis.faces.chunks.CHUNK_SECONDS` seconds
   (:func:`~analysis.faces.chunks.plan_fixed_chunks`). The plan depends on the
   video only, never on the number of workers, so 1 worker, N workers and a
   remote cluster give the same faces table.
2. Before any work, every worker is asked whether it sees the dataset and can
   write its derivatives folder (:func:`check_workers_see`): a worker that
   cannot gives a one-line error naming the path and the worker.
3. Each chunk is a task carrying a path, a frame-table path and a frame range
   (:func:`~analysis.faces.chunks.observe_chunk`); its result is a table of
   observations. Each session's finishing task takes its chunks' results
   (worker to worker), stitches them, assigns identities, normalises to the
   baseline and writes faces.parquet, faces.json and score_summary.json
   atomically, the summary last: a session is complete only when its summary
   is written, and reruns skip complete sessions.
4. One progress bar counts frames (as chunks finish) and sessions.

Examples
--------
Not run as a doctest: it plans the chunks of a recorded session (tests/test_scale_out.py).

>>> plan_session(Path("data/ses-S01"), PipelineSettings())  # doctest: +SKIP
[CameraJob(name='wide', ...)]
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from coaffect.formats.errors import AnalysisError, CoaffectError
from coaffect.formats.protocol_model import ANALYSIS_FACE_PX

from ..faces.chunks import (
    CHUNK_SECONDS,
    SHARED_FS_HINT,
    ChunkPlan,
    OwnedFrames,
    observe_chunk,
    plan_fixed_chunks,
    stitch_chunks,
)
from ..faces.settings import PipelineSettings
from ..parallel.in_process import ClusterLostError, Executor


class CameraJob(NamedTuple):
    """One camera video of a session, planned into chunks."""

    name: str
    video: Path
    frames_tsv: Path | None
    plan: ChunkPlan
    rotate: int = 0
    analysis_face_px: float | None = ANALYSIS_FACE_PX


class SessionOutcome(NamedTuple):
    """What became of one session: its summary, or the error that stopped it."""

    summary: dict | None
    error: BaseException | None


def plan_session(
    session_dir: Path, settings: PipelineSettings, chunk_s: float = CHUNK_SECONDS
) -> list[CameraJob]:
    """The camera videos of a session that scoring will read, each cut into chunks.

    A session whose protocol or frame tables cannot be read gets no camera
    jobs here; its finishing task then raises the same error
    :func:`analysis.scoring.score.score_session` gives.

    Examples
    --------
    >>> plan_session(Path("/nonexistent"), PipelineSettings())
    []
    """
    from coaffect.formats.protocol import load_protocol
    from coaffect.formats.session_reader import read_session

    sdir = Path(session_dir)
    try:
        session = read_session(sdir)
        protocol = load_protocol(sdir / "protocol.yaml", check_manifest=False).protocol
    except CoaffectError:
        return []
    face_px = protocol.analysis.face_resolution_px
    jobs = []
    for name, rotate in ((c.name, c.rotate) for c in protocol.cameras):
        video = session.camera_video(name)
        if video is None:
            continue
        table = session.cameras.get(name)
        tsv = sdir / f"cam-{name}_frames.tsv"
        try:
            plan = plan_fixed_chunks(video, settings, table, chunk_s=chunk_s)
        except CoaffectError:
            continue  # unreadable video: the finishing task reports it
        jobs.append(CameraJob(name, video, tsv if tsv.exists() else None, plan, rotate, face_px))
    return jobs


def camera_pipeline(
    pipeline: PipelineSettings, rotate: int, analysis_face_px: float | None
) -> PipelineSettings:
    """The pipeline settings one camera of a session is scored with: its protocol's choices.

    ``rotate`` is the camera's ``cameras[].rotate``; ``analysis_face_px`` the
    protocol's ``analysis.face_resolution_px`` (the common analysis
    resolution, :func:`analysis.faces.detect.fit_at_resolution`).

    Examples
    --------
    >>> p = camera_pipeline(PipelineSettings(), 90, None)
    >>> p.rotate, p.analysis_face_px
    (90, None)
    """
    return replace(pipeline, rotate=rotate, analysis_face_px=analysis_face_px)


def _sees(dataset: str, out_root: str) -> tuple[str, str | None]:
    """On a worker: (host, None) if it reads ``dataset`` and writes ``out_root``, else the problem."""
    host = socket.gethostname()
    if not os.path.isdir(dataset):
        return host, f"cannot see {dataset}"
    try:
        os.makedirs(out_root, exist_ok=True)
        probe = os.path.join(out_root, f".coaffect-write-check-{uuid.uuid4().hex}")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        return host, f"cannot write {out_root} ({exc.strerror or exc})"
    return host, None


def check_workers_see(executor: Executor, dataset: Path, out_root: Path) -> int:
    """Check that every worker reads the dataset and writes its derivatives folder.

    Returns
    -------
    int
        Workers checked.

    Raises
    ------
    AnalysisError
        One line naming the path and the first worker that fails.

    Examples
    --------
    >>> from analysis.parallel.executor import open_executor
    >>> with open_executor(workers=1, say=None) as ex:
    ...     check_workers_see(ex, Path("/nonexistent/data"), Path("/nonexistent/data/d"))
    Traceback (most recent call last):
    coaffect.formats.errors.AnalysisError: /nonexistent/data: worker this process (host ...) cannot see /nonexistent/data
    """
    answers = executor.run_on_workers(_sees, str(Path(dataset).resolve()), str(Path(out_root).resolve()))
    for worker, (host, problem) in sorted(answers.items()):
        if problem is not None:
            raise AnalysisError(
                f"{Path(dataset).resolve()}: worker {worker} (host {host}) {problem}", hint=SHARED_FS_HINT
            )
    return len(answers)


def finish_task(finish: Callable, session_dir: Path, out_dir: Path, settings, cameras: dict) -> dict:
    """The per-session task: stitch each camera's chunks, then ``finish`` (score and write).

    ``cameras`` maps camera name -> (seams, chunk observations); the
    observations arrive from the workers that scored them.
    """
    raws = {name: stitch_chunks(list(parts), list(seams)) for name, (seams, parts) in cameras.items()}
    return finish(session_dir, out_dir, settings, raws)


def score_sessions(
    executor: Executor,
    todo: list[tuple[Path, Path]],
    dataset: Path,
    out_root: Path,
    settings,
    finish: Callable,
    progress: bool = True,
    chunk_s: float = CHUNK_SECONDS,
) -> dict[Path, SessionOutcome]:
    """Score sessions ``(session_dir, out_dir)`` through ``executor``.

    Parameters
    ----------
    executor : Executor
    todo : list of (Path, Path)
        Session folders and their output folders.
    dataset, out_root : Path
        Checked on every worker before work starts (:func:`check_workers_see`).
    settings : ScoreSettings
        Passed to ``finish``; ``settings.pipeline`` drives the chunks.
    finish : callable
        ``finish(session_dir, out_dir, settings, raw_by_camera) -> summary``,
        a module-level function that scores and writes one session.
    progress : bool
        One tqdm bar over frames, with sessions done as its postfix.
    chunk_s : float
        Seconds of video per chunk (the same plan for any number of workers).

    Returns
    -------
    dict
        Session folder -> :class:`SessionOutcome`.

    Raises
    ------
    ClusterLostError
        The scheduler went away; the message says how many sessions were
        complete (they are kept; a rerun resumes).
    """
    if not todo:
        return {}
    check_workers_see(executor, dataset, out_root)
    plans = {s: plan_session(s, settings.pipeline, chunk_s) for s, _ in todo}
    total = sum(cam.plan.n_frames for cams in plans.values() for cam in cams)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total or None, unit="frame", desc=f"scoring {len(todo)} sessions")
        bar.set_postfix_str(f"sessions 0/{len(todo)}")
    owned: dict[int, int] = {}  # id(chunk task) -> frames it owns
    chunk_tasks: dict[Path, list] = {}
    finishes = {}
    order = []
    for sdir, out in todo:
        cams, tasks = {}, []
        for cam in plans[sdir]:
            parts = []
            for chunk in cam.plan.chunks:
                a, seam, stop = chunk
                end = cam.plan.n_frames if stop is None else stop
                prog = OwnedFrames(bar, seam - a) if (bar is not None and executor.in_process) else None
                t = executor.submit(
                    observe_chunk,
                    cam.video,
                    cam.frames_tsv,
                    camera_pipeline(settings.pipeline, cam.rotate, cam.analysis_face_px),
                    chunk,
                    prog,
                    label=sdir.name,
                )
                owned[executor.key(t)] = 0 if executor.in_process else max(0, end - seam)
                parts.append(t)
            tasks += parts
            cams[cam.name] = ([c[1] for c in cam.plan.chunks], parts)
        # a session's finishing runs as soon as its chunks are done: sessions complete early
        # (a lost run keeps more) and chunk results leave worker memory sooner
        fin = executor.submit(finish_task, finish, sdir, out, settings, cams, label=sdir.name, priority=1)
        chunk_tasks[id(fin)] = tasks
        finishes[id(fin)] = sdir
        order += [*tasks, fin]
    outcomes: dict[Path, SessionOutcome] = {}
    credited = dict.fromkeys(owned, 0)
    lock = threading.Lock()

    def credit(key, n: int) -> None:  # frames of a chunk, never more than it owns (reruns)
        with lock:
            if key in credited and bar is not None:
                add = max(0, min(n, owned[key] - credited[key]))
                credited[key] += add
                bar.update(add)

    if bar is not None:
        executor.on_progress(credit)
    try:
        for done in executor.as_completed(order):
            key = id(done.task)
            if key in finishes:
                sdir = finishes[key]
                outcomes[sdir] = SessionOutcome(done.value, done.error)
                executor.cancel(chunk_tasks.pop(key))  # drop its chunks' results from worker memory
                if bar is not None:
                    bar.set_postfix_str(f"sessions {len(outcomes)}/{len(todo)}")
            elif done.error is None:
                k = executor.key(done.task)
                credit(k, owned.get(k, 0))
    except ClusterLostError as exc:
        ok = sum(1 for o in outcomes.values() if o.error is None)
        raise ClusterLostError(
            f"{exc.message}; {ok} of {len(todo)} sessions were complete and are kept", hint=exc.hint
        ) from None
    finally:
        if bar is not None:
            executor.on_progress(None)
            bar.close()
    return outcomes


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since it started (bytes; Linux ru_maxrss).

    Examples
    --------
    >>> peak_rss_bytes() > 0
    True
    """
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def worker_peak_memory(executor: Executor) -> dict:
    """Peak resident memory of every worker process so far: ``{worker: bytes}``."""
    return executor.run_on_workers(peak_rss_bytes)
