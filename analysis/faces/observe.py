"""Score one video: the single entry point of face observation.

:func:`observe_video` runs :func:`~.pipeline.observe_range` over the whole
range in this process, or cuts it into chunks scored in parallel
(:func:`~.chunks.observe_chunked`), then finishes the observations (identity
encodings, track table) with :func:`~.pipeline.finish_observations`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from coaffect.formats.errors import AnalysisError

from .chunks import observe_chunked
from .frames import VideoRange
from .pipeline import VideoObservations, finish_observations, observe_range
from .settings import PipelineSettings


def observe_video(
    path,
    settings: PipelineSettings | None = None,
    start: int = 0,
    stop: int | None = None,
    encode: bool | str = True,
    progress=None,
    frame_table: pd.DataFrame | None = None,
    jobs: int = 1,
) -> VideoObservations:
    """Detect, track and measure every face in frames ``[start, stop)`` of a video.

    Parameters
    ----------
    path : str or Path
        Any video OpenCV reads (mp4, avi, mkv, mov, gif), or a session's raw
        MJPEG camera file (``cam-<name>.mjpg``) together with ``frame_table``.
    settings : PipelineSettings, optional
    start, stop : int
        Frame range (stop None = to the end).
    encode : bool or "auto"
        Compute identity encodings (about 115 ms each, at most
        ``encodings_per_track`` per track); ``"auto"``: only if more than one
        face track was found.
    progress : tqdm-like, optional
        Updated by one per frame read (by a chunk's frames when ``jobs > 1``).
    frame_table : pandas.DataFrame, optional
        The camera's ``cam-<name>_frames.tsv`` (frame, t, byte_offset, byte_length):
        frames are then decoded from their byte ranges and the frame rate is
        taken from the session-clock times.
    jobs : int
        Processes to use (default 1). With more than one, the range is cut
        into contiguous chunks scored in parallel (joblib/loky); each chunk
        starts a few detection intervals early and its tracks are joined to
        the previous chunk's by box overlap (see :mod:`analysis.faces.chunks`).
        Short videos (under about 12 s) are scored in one process.

    Returns
    -------
    VideoObservations

    Examples
    --------
    >>> obs = observe_video(shared / "single/single_face.mp4", stop=3)
    >>> obs.faces["track_id"].tolist()
    [1, 1, 1]
    """
    settings = settings or PipelineSettings()
    if jobs is None or int(jobs) < 1:
        raise AnalysisError(f"jobs must be at least 1 (got {jobs})")
    video = VideoRange(Path(path), start, stop, frame_table)
    if int(jobs) > 1:
        raw = observe_chunked(video, settings, encode, progress, int(jobs))
    else:
        raw = observe_range(video, settings, encode, progress)
    return finish_observations(raw, settings, encode)
