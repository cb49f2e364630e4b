"""``coaffect score``: score the faces of sessions, a dataset, or a plain video."""

from __future__ import annotations

import sys
from pathlib import Path

from .cluster_options import add_cluster_arguments

HELP = "score every face in every camera frame (faces.parquet per session)"
EXAMPLE = (
    "coaffect score demo-output/data --workers 2   |   "
    "coaffect score archive/ --scheduler tcp://head:8786   |   coaffect score --video clip.mp4 --out scores/"
)


def add_arguments(parser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="DATASET_OR_SESSION",
        help="a dataset folder (ses-* inside) or one ses-<id> folder",
    )
    parser.add_argument("--video", type=Path, help="score a plain video file instead of sessions")
    parser.add_argument("--out", type=Path, help="output folder for --video (default: next to the video)")
    add_cluster_arguments(parser)
    parser.add_argument("--jobs", type=int, help="deprecated: same as --workers")
    parser.add_argument("--step", type=int, default=1, help="score every Nth frame (default 1: all)")
    parser.add_argument(
        "--min-face-px",
        type=float,
        default=60.0,
        help="smallest face width in pixels to detect (default 60; smaller is slower)",
    )
    parser.add_argument("--force", action="store_true", help="re-score sessions already scored")


def run(args) -> int:
    from analysis.executor import machine_cores
    from analysis.faces.pipeline import PipelineSettings
    from analysis.faces.track import TrackerSettings
    from analysis.score import ScoreSettings, score_dataset, score_video, write_scores
    from coaffect.formats.errors import AnalysisError

    if (args.path is None) == (args.video is None):
        raise AnalysisError(
            "give either DATASET_OR_SESSION or --video FILE",
            hint="coaffect score data/  or  coaffect score --video clip.mp4",
        )
    if args.jobs is not None:
        print("coaffect score: --jobs is deprecated, use --workers (same meaning)", file=sys.stderr)
        if args.workers is None:
            args.workers = args.jobs
    if args.workers is not None and args.workers < 1:
        raise AnalysisError(f"--workers must be at least 1 (got {args.workers})")
    # ScoreSettings checks --step and --min-face-px
    settings = ScoreSettings(
        PipelineSettings(tracker=TrackerSettings(min_face_px=args.min_face_px), step=args.step)
    )
    if args.video is not None:
        import cv2

        if args.scheduler:
            raise AnalysisError(
                "--scheduler scores datasets; --video scores one file on this machine",
                hint="use --workers N for --video, or make the video a session",
            )
        from tqdm.auto import tqdm

        out = args.out or args.video.with_name(args.video.stem + "_coaffect")
        total = int(cv2.VideoCapture(str(args.video)).get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        with tqdm(total=total, desc=args.video.name, unit="frame") as bar:
            faces, summary = score_video(
                args.video, settings, progress=bar, jobs=args.workers or machine_cores()
            )
        path = write_scores(out, faces, summary)
        print(
            f"{path}: {len(faces)} rows, faces found in {summary['faces_found_fraction']:.0%} "
            f"of frames, smallest face {summary['smallest_face_px_found']} px"
        )
        for warning in summary.get("orientation_warnings", []):
            print(f"WARNING {args.video.name}: {warning}")
        return 0
    if not args.path.exists():
        raise AnalysisError(f"{args.path}: no such folder")
    table = score_dataset(
        args.path, settings=settings, force=args.force, workers=args.workers, scheduler=args.scheduler
    )
    for row in table.itertuples(index=False):
        print(
            f"{row.session}: {row.status}, faces found in {row.faces_found_fraction:.0%} of "
            f"frames -> {row.output}"
        )
        for warning in row.warnings:
            print(f"WARNING {row.session}: {warning}")
    return 0
