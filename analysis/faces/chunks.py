"""Score one long video in parallel: contiguous chunks, stitched at the seams.

dlib holds the GIL, so threads do not help; processes do. The frame range is
cut into contiguous chunks, each scored by :func:`~.pipeline.observe_range` in
its own process (through :mod:`analysis.parallel.executor`: Dask worker processes). A session's MJPEG camera file is entered at
a chunk's first frame by its byte offset; a plain video is decoded forward to
it (OpenCV's frame seeks land a few frames off in variable-frame-rate files),
which costs about 1-2 ms a skipped frame. Every chunk after the first starts
``overlap`` frames early (two detection intervals): by the seam its tracker
has detected and confirmed the faces, and its tracks are joined to the
previous chunk's tracks by box overlap (IoU >= 0.5) on the frames both saw.
Only the previous chunk's rows are kept for those overlap frames, so every
frame is scored once, and chunk starts fall on the single-process detection
schedule, so detection runs on the same frames as with one process.

The result equals the one-process result wherever both trackers agree by the
seam (the tests check it to the bit). Where they cannot (a face missed by both
warm-up detections of a chunk), that face starts a new track at the next
detection that finds it, and its frames from the seam until then are NaN.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from coaffect.formats.errors import AnalysisError

from ..parallel.in_process import TaskProgress
from .detect import iou
from .frames import VideoRange, has_byte_ranges, video_facts
from .pipeline import RangeObservations, observe_range
from .settings import PipelineSettings

#: Detection intervals a chunk starts before its seam (two detections confirm a face).
OVERLAP_DETECTIONS = 2

#: IoU at which a box of the new chunk is the same face as a box of the previous one.
STITCH_IOU = 0.5


def plan_chunks(
    start: int,
    end: int,
    jobs: int,
    detect_frames: int,
    overlap_detections: int = OVERLAP_DETECTIONS,
    max_chunks_per_job: int = 4,
) -> list[tuple[int, int, int]]:
    """Cut frames ``[start, end)`` into chunks of about equal work.

    Parameters
    ----------
    start, end : int
        Frame range.
    jobs : int
        Parallel processes.
    detect_frames : int
        Frames between two scheduled detections (chunk starts are aligned to them).
    overlap_detections : int
        Detection intervals each chunk after the first starts early.
    max_chunks_per_job : int
        Long ranges get up to this many chunks per job (finer progress, better
        balance); 1 where reaching a chunk's start costs decoding all frames
        before it (plain videos).

    Returns
    -------
    list of (read_from, seam, stop)
        Each chunk reads ``[read_from, stop)`` and keeps rows from ``seam`` on.
        One chunk (``[(start, start, end)]``) when the range is too short to
        be worth splitting (fewer than two overlaps per job).

    Examples
    --------
    >>> plan_chunks(0, 240, 2, 24)
    [(0, 0, 144), (96, 144, 240)]
    >>> plan_chunks(0, 100, 2, 24)
    [(0, 0, 100)]
    """
    det = max(1, int(detect_frames))
    ov = overlap_detections * det
    n = end - start
    if jobs < 2 or n < 2 * jobs * ov:
        return [(start, start, end)]
    n_chunks = max(
        jobs, min(max_chunks_per_job * jobs, n // (25 * ov))
    )  # long videos: finer progress, better balance
    per = (n + (n_chunks - 1) * ov) / n_chunks
    seams = [start]
    for c in range(1, n_chunks):
        want = start + c * per - (c - 1) * ov  # chunk c-1 kept about `per - ov` frames
        read_from = start + int(round((want - ov - start) / det)) * det
        seam = read_from + ov
        if seam <= seams[-1] or seam >= end:
            continue
        seams.append(seam)
    stops = seams[1:] + [end]
    return [(s - (ov if k else 0), s, e) for k, (s, e) in enumerate(zip(seams, stops))]


def _match(prev: dict, new: dict) -> dict:
    """Local track id of the new chunk -> global id, by frames with IoU >= STITCH_IOU."""
    votes: dict[tuple[int, int], int] = {}
    for frame, boxes in new.items():
        for tid, box in boxes:
            for gid, gbox in prev.get(frame, ()):
                if iou(box, gbox) >= STITCH_IOU:
                    votes[(tid, gid)] = votes.get((tid, gid), 0) + 1
    out, used = {}, set()
    for (tid, gid), _ in sorted(votes.items(), key=lambda kv: -kv[1]):
        if tid not in out and gid not in used:
            out[tid] = gid
            used.add(gid)
    return out


def stitch_chunks(parts: list[RangeObservations], seams: list[int]) -> RangeObservations:
    """Join chunk observations into one, with track ids consistent across seams.

    Parameters
    ----------
    parts : list of RangeObservations
        In frame order; part ``c`` read from before ``seams[c]``.
    seams : list of int
        First frame each part owns.

    Returns
    -------
    RangeObservations
        Rows of every frame once; tracks continuing over a seam keep the id
        they had in the earlier chunk, new ones get fresh ids.

    Examples
    --------
    Not run as a doctest: it needs the observations of two scored chunks
    (tests/test_faces_chunks.py).

    >>> raw = stitch_chunks([part0, part1], [0, 144])  # doctest: +SKIP
    """
    frames, rows, lms, chips, min_width, confirmed = [], [], [], {}, {}, set()
    next_id = 1
    info = dict(parts[0].info)
    info["detections_run"] = 0
    info["unreadable_frames"] = []
    for c, (part, seam) in enumerate(zip(parts, seams)):
        prow = np.array([r[0] for r in part.rows], dtype=np.int64)
        if c == 0:
            mapping = {}
        else:
            lo = min((r[0] for r in part.rows), default=seam)
            prev: dict[int, list] = {}
            for r in rows:
                if lo <= r[0] < seam:
                    prev.setdefault(r[0], []).append((r[1], r[2:6]))
            new: dict[int, list] = {}
            for r in part.rows:
                if r[0] < seam:
                    new.setdefault(r[0], []).append((r[1], r[2:6]))
            mapping = _match(prev, new)
        for tid in sorted({r[1] for r in part.rows} | set(part.chips) | set(part.min_width)):
            if tid not in mapping:
                mapping[tid] = next_id
                next_id += 1
        next_id = max([next_id, *(g + 1 for g in mapping.values())])
        keep = prow >= seam if c else np.ones(len(prow), bool)
        rows.extend((r[0], mapping[r[1]], *r[2:]) for r, k in zip(part.rows, keep) if k)
        if len(part.landmarks):
            lms.append(part.landmarks[keep])
        frames.extend(f for f in part.frames if not c or f[0] >= seam)
        confirmed |= {mapping[t] for t in part.confirmed}
        for tid, cs in part.chips.items():
            chips.setdefault(mapping[tid], []).extend(fc for fc in cs if not c or fc[0] >= seam)
        for tid, w in part.min_width.items():
            min_width[mapping[tid]] = min(min_width.get(mapping[tid], np.inf), w)
        info["detections_run"] += part.info["detections_run"]
        info["unreadable_frames"] += [f for f in part.info.get("unreadable_frames", ()) if not c or f >= seam]
        if part.info["width"]:
            info["width"], info["height"] = part.info["width"], part.info["height"]
    landmarks = np.concatenate(lms) if lms else np.zeros((0, 68, 2))
    return RangeObservations(frames, rows, landmarks, confirmed, chips, min_width, info)


def observe_chunked(
    video: VideoRange, settings: PipelineSettings, encode, progress, jobs: int
) -> RangeObservations:
    """Score the frames of ``video`` in ``jobs`` processes and stitch the chunks.

    Parameters are those of :func:`observe_video`, the range as a
    :class:`~.frames.VideoRange`. Falls back to one process when the frame
    count is unknown or the range is short (see :func:`plan_chunks`).

    Returns
    -------
    RangeObservations

    Examples
    --------
    Not run as a doctest: it scores a long video in several processes (tests/test_faces_chunks.py).

    >>> video = VideoRange(Path("long.mp4"))
    >>> raw = observe_chunked(video, PipelineSettings(), True, None, 2)  # doctest: +SKIP
    """
    start, stop = video.start, video.stop
    fps, n_total = video_facts(video.path, video.frame_table)
    end = min(stop, n_total) if stop is not None else n_total
    step = max(1, int(settings.step))
    detect_frames = step * max(1, int(round(settings.tracker.detect_every_s * fps / step)))
    byte_ranges = has_byte_ranges(video.frame_table)
    # a plain video is read forward to each chunk's start (seeks are inexact in
    # variable-frame-rate files), so it gets one chunk per job; session MJPEG
    # files jump to any frame by its byte offset
    plan = (
        plan_chunks(start, end, jobs, detect_frames, max_chunks_per_job=4 if byte_ranges else 1)
        if end > start
        else [(start, start, stop)]
    )
    if len(plan) == 1:
        raw = observe_range(video, settings, encode, progress)
        raw.info.update(jobs=1, chunks=1)
        return raw
    plan[-1] = (plan[-1][0], plan[-1][1], stop)  # the last chunk reads to the real end
    from ..parallel.executor import open_executor

    with open_executor(workers=min(jobs, len(plan)), say=None) as ex:
        tasks = [
            ex.submit(observe_range, video.part(a, e), settings, encode, None, seam) for a, seam, e in plan
        ]
        seam_of = {id(t): seam for t, (_, seam, _) in zip(tasks, plan)}
        got = {}
        for done in ex.as_completed(tasks):
            if done.error is not None:
                raise done.error
            got[id(done.task)] = done.value
            if progress is not None:
                progress.update(sum(1 for f in done.value.frames if f[0] >= seam_of[id(done.task)]))
    parts = [got[id(t)] for t in tasks]
    raw = stitch_chunks(parts, [seam for _, seam, _ in plan])
    raw.info.update(jobs=int(jobs), chunks=len(plan))
    return raw


#: Seconds of video per chunk when a dataset is scored through the executor.
CHUNK_SECONDS = 60.0

#: Most chunks of a plain (non-MJPEG) video: each chunk decodes every frame before its start.
PLAIN_VIDEO_MAX_CHUNKS = 4


class ChunkPlan(NamedTuple):
    """Chunks of one video, independent of how many workers will score them.

    Attributes
    ----------
    chunks : list of (read_from, seam, stop)
        As :func:`plan_chunks` returns them; the last one's stop is the requested stop.
    n_frames : int
        Frames in ``[start, stop)`` (for progress).
    """

    chunks: list
    n_frames: int


def plan_fixed_chunks(
    path: Path,
    settings: PipelineSettings,
    frame_table: pd.DataFrame | None = None,
    start: int = 0,
    stop: int | None = None,
    chunk_s: float = CHUNK_SECONDS,
) -> ChunkPlan:
    """Chunks of about ``chunk_s`` seconds: the same plan on 1, N or a cluster of workers.

    The plan depends on the video only, so the stitched result (see
    :func:`stitch_chunks`) is the same however many workers score the chunks.
    Plain videos get at most :data:`PLAIN_VIDEO_MAX_CHUNKS` chunks.

    Examples
    --------
    >>> table = pd.DataFrame({"frame": range(9000), "t": [k / 30 for k in range(9000)],
    ...                       "byte_offset": 0, "byte_length": 1})
    >>> plan = plan_fixed_chunks(Path("cam-wide.mjpg"), PipelineSettings(), table)
    >>> len(plan.chunks), plan.n_frames, plan.chunks[1]
    (5, 9000, (1800, 1860, 3630))
    """
    fps, n_total = video_facts(path, frame_table)
    end = min(stop, n_total) if stop is not None else n_total
    step = max(1, int(settings.step))
    detect_frames = step * max(1, int(round(settings.tracker.detect_every_s * fps / step)))
    n = max(0, end - start)
    wanted = max(1, int(np.ceil(n / max(1.0, chunk_s * fps))))
    if not has_byte_ranges(frame_table):
        wanted = min(wanted, PLAIN_VIDEO_MAX_CHUNKS)
    plan = (
        plan_chunks(start, end, wanted, detect_frames, max_chunks_per_job=1) if n else [(start, start, end)]
    )
    plan[-1] = (plan[-1][0], plan[-1][1], stop)  # the last chunk reads to the real end
    return ChunkPlan(plan, n)


def observe_chunk(
    path: Path,
    frames_tsv: Path | None,
    settings: PipelineSettings,
    chunk: tuple,
    progress=None,
) -> RangeObservations:
    """Score one chunk of a video: the task a worker runs (paths and a frame range in).

    Parameters
    ----------
    path : Path
        The video (a session's cam-<name>.mjpg or a plain video).
    frames_tsv : Path or None
        Its cam-<name>_frames.tsv, read here (on the worker) rather than sent.
    settings : PipelineSettings
    chunk : (read_from, seam, stop)
        From :func:`plan_fixed_chunks`.
    progress : tqdm-like, optional
        Only in-process (a worker has none).

    Returns
    -------
    RangeObservations
        With identity chips kept for every track (the session's finishing step
        decides whether to encode them).

    Examples
    --------
    The doctests' recorded session (one face, 3 frames) as one chunk:

    >>> raw = observe_chunk(ses / "cam-wide.mjpg", ses / "cam-wide_frames.tsv", PipelineSettings(), (0, 0, 3))
    >>> type(raw).__name__
    'RangeObservations'
    """
    from coaffect.formats import session_format as fmt
    from coaffect.formats.session_reader import read_table

    read_from, seam, stop = chunk
    reporter = None
    if progress is None:
        reporter = TaskProgress.here()  # inside a Dask task: report to the client's bar
        progress = OwnedFrames(reporter, seam - read_from) if reporter is not None else None
    if not Path(path).exists():
        raise AnalysisError(f"{path}: not found on worker {_where()}", hint=SHARED_FS_HINT)
    table = read_table(Path(frames_tsv), fmt.CAMERA_FRAMES) if frames_tsv is not None else None
    raw = observe_range(VideoRange(Path(path), read_from, stop, table), settings, True, progress, seam)
    if reporter is not None:
        reporter.flush()
    return raw


class OwnedFrames:
    """Progress adapter for a chunk: counts only the frames the chunk owns (not its warm-up).

    Examples
    --------
    >>> class Bar:
    ...     n = 0
    ...     def update(self, k):
    ...         self.n += k
    >>> bar = Bar(); owned = OwnedFrames(bar, skip=3)
    >>> for _ in range(5):
    ...     owned.update(1)
    >>> bar.n
    2
    """

    def __init__(self, bar, skip: int):
        self.bar, self.skip = bar, skip

    def update(self, n: int = 1) -> None:
        if self.skip >= n:
            self.skip -= n
            return
        self.bar.update(n - self.skip)
        self.skip = 0


#: What to do when a worker cannot see the data.
SHARED_FS_HINT = (
    "every Dask worker must see the dataset at the same path as this computer "
    "(a shared file system); see docs/scale-out.md"
)


def _where() -> str:
    import socket

    try:
        from distributed import get_worker

        return f"{get_worker().address} (host {socket.gethostname()})"
    except (ImportError, ValueError):
        return f"{socket.gethostname()} (this process)"
