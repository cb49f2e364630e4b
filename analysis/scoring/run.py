"""``score``: one call that scores a dataset, a session folder or a video file, and writes the faces tables.

What ``coaffect score`` runs (the front door exports it as ``analysis.score``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from coaffect.formats.errors import AnalysisError, CoaffectDeprecationWarning

from ..docstrings import fill_doc
from .score import Scored, ScoreSettings, score_dataset
from .video import score_video

__all__ = ["score", "ScoreRun"]


@dataclass
class ScoreRun:
    """What :func:`score` did.

    Attributes
    ----------
    sessions : pandas.DataFrame or None
        For a dataset or session folder: :func:`score_dataset`'s table (one row per session).
    video : Scored or None
        For a video: its faces table and summary.
    output : Path or None
        For a video: the faces.parquet written.
    source : Path or None
        For a video: the video file.
    """

    sessions: pd.DataFrame | None = None
    video: Scored | None = None
    output: Path | None = None
    source: Path | None = None

    def lines(self) -> list[str]:
        """What happened, one line per session (or one for the video), each followed by its warnings.

        Examples
        --------
        >>> ScoreRun(pd.DataFrame([{"session": "ses-S1", "status": "skipped", "faces_found_fraction": 0.9,
        ...     "smallest_face_px_found": 80, "output": "f.parquet", "warnings": []}])).lines()
        ['ses-S1: skipped, faces found in 90% of frames -> f.parquet']
        """
        if self.video is not None:
            s = self.video.summary
            name = self.source.name if self.source else "video"
            return [
                f"{self.output}: {len(self.video.faces)} rows, faces found in {s['faces_found_fraction']:.0%} "
                f"of frames, smallest face {s['smallest_face_px_found']} px",
                *(f"WARNING {name}: {w}" for w in s.get("orientation_warnings", [])),
            ]
        out = []
        for row in (self.sessions if self.sessions is not None else pd.DataFrame()).itertuples(index=False):
            out.append(
                f"{row.session}: {row.status}, faces found in {row.faces_found_fraction:.0%} of "
                f"frames -> {row.output}"
            )
            out += [f"WARNING {row.session}: {w}" for w in row.warnings]
        return out


@fill_doc
def score(
    path: str | Path | None = None,
    *,
    video: str | Path | None = None,
    out_dir: str | Path | None = None,
    settings: ScoreSettings | None = None,
    workers: int | None = None,
    scheduler=None,
    force: bool = False,
    jobs: int | None = None,
    progress: bool = True,
) -> ScoreRun:
    """Score a dataset, one session folder, or one video file, and write the faces tables.

    What ``coaffect score`` runs. A dataset (or session) is scored resumably on
    the executor (:func:`score_dataset`); a video is scored on this machine
    with ``workers`` processes and written to ``out_dir``
    (default ``<video stem>_coaffect`` next to it).

    Parameters
    ----------
    path : str or Path, optional
        A dataset folder (ses-* inside) or one ses-<id> folder.
    video : str or Path, optional
        A plain video file instead (give ``path`` or ``video``, not both).
    out_dir : str or Path, optional
        Output folder for ``video``.
    settings : ScoreSettings, optional
        Default :meth:`ScoreSettings.of` (every frame, faces from 60 px).
    %(workers)s
    %(scheduler)s
    force : bool
        Re-score sessions already scored with the same settings.
    jobs : int, optional
        Deprecated name of ``workers``.
    %(progress)s

    Returns
    -------
    ScoreRun

    Raises
    ------
    AnalysisError
        Neither or both of ``path`` and ``video``; ``scheduler`` with ``video``;
        ``workers`` below 1; a folder that does not exist.

    Examples
    --------
    >>> score()
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.AnalysisError: give either `path` (a dataset or ses-<id> folder) or `video` (a video file)
    """
    if (path is None) == (video is None):
        raise AnalysisError(
            "give either `path` (a dataset or ses-<id> folder) or `video` (a video file)",
            hint="coaffect score data/  or  coaffect score --video clip.mp4",
        )
    if jobs is not None:
        warnings.warn("`jobs` is deprecated, use `workers` (same meaning)", CoaffectDeprecationWarning, 2)
        workers = jobs if workers is None else workers
    if workers is not None and workers < 1:
        raise AnalysisError(f"workers: must be at least 1 (got {workers})", field="workers")
    settings = settings or ScoreSettings()
    if video is not None:
        if scheduler:
            raise AnalysisError(
                "`scheduler` scores datasets; `video` scores one file on this machine",
                hint="use `workers` for `video`, or make the video a session",
            )
        from ..parallel.executor import machine_cores

        video = Path(video)
        out = Path(out_dir) if out_dir else video.with_name(video.stem + "_coaffect")
        scored = score_video(video, settings, progress=progress, jobs=workers or machine_cores())
        return ScoreRun(video=scored, output=scored.write(out), source=video)
    if not Path(path).exists():
        raise AnalysisError(f"{path}: no such folder")
    table = score_dataset(
        path, settings=settings, force=force, workers=workers, scheduler=scheduler, progress=progress
    )
    return ScoreRun(sessions=table)
