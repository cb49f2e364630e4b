"""``coaffect validate-faces``: agreement of coaffect's action units with an OpenFace 2.x output."""

from __future__ import annotations

from pathlib import Path

HELP = "compare coaffect's action units with OpenFace 2.x on the same video (Pearson r, ICC, plot)"
EXAMPLE = "coaffect validate-faces clip.mp4 --openface clip_openface.csv --out validation/"


def add_arguments(parser) -> None:
    parser.add_argument("video", type=Path, nargs="?", help="the video OpenFace scored")
    parser.add_argument(
        "--openface", type=Path, required=True, help="OpenFace FeatureExtraction CSV of that video"
    )
    parser.add_argument(
        "--out", type=Path, help="folder for validation.tsv and validation.png (default: next to the CSV)"
    )
    parser.add_argument(
        "--landmarks-only",
        action="store_true",
        help="no video: apply coaffect's formulas to OpenFace's own 68 landmarks in the CSV",
    )


def run(args) -> int:
    from analysis.interop.agreement import formulas_on_openface_landmarks, validate_faces
    from coaffect.formats.errors import AnalysisError

    if args.landmarks_only:
        result = formulas_on_openface_landmarks(args.openface)
    else:
        if args.video is None:
            raise AnalysisError("give the VIDEO OpenFace scored, or --landmarks-only")
        out = args.out or args.openface.with_name(args.openface.stem + "_validation")
        result = validate_faces(args.video, args.openface, out_dir=out)
        print(f"frames: {result.alignment.describe()}")
    for row in result.table.itertuples(index=False):
        figures = f"r = {row.pearson_r:5.2f}  ICC = {row.icc:5.2f}" if row.note == "" else row.note
        print(f"{row.au}: {figures}  ({row.n_frames} frames)")
    for row in result.pose.itertuples(index=False):
        print(f"{row.angle}: r = {row.pearson_r:.2f}, mean difference {row.mean_difference_deg:+.1f} deg")
    if result.plot is not None:
        print(f"plot: {result.plot}")
    return 0
