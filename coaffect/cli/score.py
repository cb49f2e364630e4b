"""``coaffect score``: score the faces of sessions, a dataset, or a plain video."""

from __future__ import annotations

from pathlib import Path

from .cluster_options import add_cluster_arguments
from .default_options import add_default_argument

HELP = "score every face in every camera frame (faces.parquet per session)"
#: Library parameters shown as the verb's own words.
FLAGS = {"path": "DATASET_OR_SESSION", "out_dir": "--out"}
EXAMPLE = (
    "coaffect score demo-output/data --workers 2   |   "
    "coaffect score archive/ --scheduler tcp://head:8786   |   coaffect score --video clip.mp4 --out scores/"
)


def add_arguments(parser) -> None:
    from analysis.faces.settings import PipelineSettings, TrackerSettings

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
    add_default_argument(parser, "--step", PipelineSettings.step, "score every Nth frame (1: all)")
    what = "smallest face width in pixels to detect; smaller is slower"
    add_default_argument(parser, "--min-face-px", TrackerSettings.min_face_px, what)
    parser.add_argument("--force", action="store_true", help="re-score sessions already scored")


def run(args) -> int:
    from analysis.scoring.run import score
    from analysis.scoring.score import ScoreSettings

    result = score(
        args.path,
        video=args.video,
        out_dir=args.out,
        settings=ScoreSettings.of(step=args.step, min_face_px=args.min_face_px),
        workers=args.workers,
        scheduler=args.scheduler,
        force=args.force,
        jobs=args.jobs,
    )
    print("\n".join(result.lines()))
    return 0
