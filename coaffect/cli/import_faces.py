"""``coaffect import-faces``: another tool's face scores (OpenFace, py-feat) as a session's faces."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "use OpenFace 2.x or py-feat output of a session camera as that session's faces (faces.parquet)"
EXAMPLE = "coaffect import-faces data/ses-S1 --tool openface --camera wide --participant P01 P01_openface.csv"


def _face_map(text: str) -> dict:
    """``0=P01,1=P02`` as {0: "P01", 1: "P02"} (argparse prints the error, exit 2).

    Examples
    --------
    >>> _face_map("0=P01, 1=P02")
    {0: 'P01', 1: 'P02'}
    """
    out = {}
    for part in text.split(","):
        key, sep, pid = part.partition("=")
        if not sep or not key.strip().isdigit() or not pid.strip():
            raise argparse.ArgumentTypeError(f"'{part}' is not FACE_ID=PARTICIPANT (e.g. 0=P01,1=P02)")
        out[int(key)] = pid.strip()
    return out


def add_arguments(parser) -> None:
    parser.add_argument("session", type=Path, help="the ses-<id> folder the video was recorded in")
    parser.add_argument("file", type=Path, help="the tool's CSV computed from that camera's video")
    parser.add_argument("--tool", required=True, choices=["openface", "pyfeat"], help="what wrote FILE")
    parser.add_argument("--camera", required=True, help="the camera whose video the tool read (cam-<name>)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--participant", help="whose face FILE holds (one face per file)")
    who.add_argument(
        "--faces",
        type=_face_map,
        help="several faces in FILE: OpenFace face_id=participant, e.g. 0=P01,1=P02",
    )
    parser.add_argument("--tool-version", help="the tool's version, recorded in score_summary.json")


def run(args) -> int:
    from analysis.interop.session_import import import_faces
    from coaffect.formats.tables import derivatives_dir

    result = import_faces(
        args.session,
        args.tool,
        args.file,
        args.camera,
        participant=args.participant,
        faces=args.faces,
        tool_version=args.tool_version,
    )
    out = derivatives_dir(args.session.parent) / args.session.name
    path = result.write(out)
    for line in result.warnings:
        print(f"WARNING {line}")
    wanted = list(args.faces.values()) if args.faces else [args.participant]
    for pid in wanted:
        src = result.summary["sources"][pid]
        cov = src["coverage"]
        print(
            f"{pid}: {src['source']} {src['tool_version'] or '(version not given)'}, cam-{src['camera']} "
            f"frames {cov['file_frames'][0]}-{cov['file_frames'][1]} = {cov['covered_s'][0]:.2f}-"
            f"{cov['covered_s'][1]:.2f} s on the session clock, {100 * cov['covered_fraction']:.0f}% of "
            f"the camera's frames, face in {100 * cov['face_found_fraction']:.0f}% of them, "
            f"{src['baseline_frames']} baseline frames"
        )
    print(f"written: {path}")
    return 0
