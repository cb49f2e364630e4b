"""``coaffect validate-faces``: agreement of coaffect's action units with an OpenFace 2.x output,
or, for a session scored both ways, with the tool imported into it (``coaffect import-faces``)."""

from __future__ import annotations

from pathlib import Path

HELP = "compare coaffect's action units with OpenFace 2.x / py-feat (Pearson r, ICC): a video, or a session"
EXAMPLE = (
    "coaffect validate-faces clip.mp4 --openface clip_openface.csv --out validation/   |   "
    "coaffect validate-faces --session data/ses-S1"
)


def add_arguments(parser) -> None:
    parser.add_argument("video", type=Path, nargs="?", help="the video OpenFace scored")
    parser.add_argument("--openface", type=Path, help="OpenFace FeatureExtraction CSV of that video")
    parser.add_argument(
        "--session",
        type=Path,
        help="a ses-<id> folder scored by coaffect and given another tool's faces with import-faces: "
        "both side by side per participant and unit",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for validation.tsv and validation.png (default: next to the CSV; for --session "
        "the session's derivatives folder)",
    )
    parser.add_argument(
        "--landmarks-only",
        action="store_true",
        help="no video: apply coaffect's formulas to OpenFace's own 68 landmarks in the CSV",
    )


def _figures(row) -> str:
    return f"r = {row.pearson_r:5.2f}  ICC = {row.icc:5.2f}" if row.note == "" else row.note


def _session(args) -> int:
    from analysis.interop.agreement import compare_sources
    from coaffect.formats.tables import derivatives_dir, write_tsv

    table = compare_sources(args.session)
    out = args.out or derivatives_dir(args.session.parent) / args.session.name
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(table, out / "validation_sources.tsv")
    for row in table.itertuples(index=False):
        print(f"{row.participant_id} {row.source} {row.au}: {_figures(row)}  ({row.n_frames} frames)")
    print(f"table: {out / 'validation_sources.tsv'}")
    return 0


def run(args) -> int:
    from analysis.interop.agreement import formulas_on_openface_landmarks, validate_faces
    from coaffect.formats.errors import AnalysisError

    if args.session is not None:
        return _session(args)
    if args.openface is None:
        raise AnalysisError("give --openface CSV (with VIDEO or --landmarks-only), or --session SES")
    if args.landmarks_only:
        result = formulas_on_openface_landmarks(args.openface)
    else:
        if args.video is None:
            raise AnalysisError("give the VIDEO OpenFace scored, or --landmarks-only")
        out = args.out or args.openface.with_name(args.openface.stem + "_validation")
        result = validate_faces(args.video, args.openface, out_dir=out)
        print(f"frames: {result.alignment.describe()}")
    for row in result.table.itertuples(index=False):
        print(f"{row.au}: {_figures(row)}  ({row.n_frames} frames)")
    for row in result.pose.itertuples(index=False):
        print(f"{row.angle}: r = {row.pearson_r:.2f}, mean difference {row.mean_difference_deg:+.1f} deg")
    if result.plot is not None:
        print(f"plot: {result.plot}")
    return 0
