"""``coaffect stimuli``: scan clips into the manifest, verify them, make the demo clips."""

from __future__ import annotations

from pathlib import Path

HELP = "scan stimulus clips into the manifest, verify them, or make the demo clips"
EXAMPLE = "coaffect stimuli verify --manifest stimuli/manifest.yaml"

DEFAULT_MANIFEST = Path("stimuli/manifest.yaml")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="stimuli_verb", metavar="ACTION", required=True)
    scan = sub.add_parser(
        "scan",
        help="probe the clips under DIR and write or update the manifest (keeps tags, licence, source)",
    )
    scan.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=None,
        help="folder with the clips (default: the manifest's folder)",
    )
    verify = sub.add_parser(
        "verify",
        help="check the clip files against the manifest (missing, changed, unreadable); exit 2 on a problem",
    )
    for action, does in ((scan, "write"), (verify, "check")):
        action.add_argument(
            "--manifest",
            type=Path,
            default=DEFAULT_MANIFEST,
            help=f"manifest to {does} (default: {DEFAULT_MANIFEST})",
        )
    make = sub.add_parser(
        "make-demo", help="generate the three placeholder demo clips and add them to the manifest"
    )
    make.add_argument(
        "--out", type=Path, default=Path("stimuli/demo"), help="folder for the clips (default: stimuli/demo)"
    )
    make.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest to update (default: manifest.yaml in the parent of --out)",
    )


def run(args) -> int:
    from experiments.stimulus_files import scan_stimuli, verify_stimuli

    if args.stimuli_verb == "scan":
        result = scan_stimuli(args.dir or args.manifest.parent, args.manifest)
        _print_scan(result)
        return 0
    if args.stimuli_verb == "verify":
        for line in verify_stimuli(args.manifest):
            print(line)
        print(f"{args.manifest}: all clips ok")
        return 0
    if args.stimuli_verb == "make-demo":
        from experiments.demo_clips import make_demo_files

        manifest = args.manifest or args.out.parent / "manifest.yaml"
        result = make_demo_files(args.out, manifest)
        _print_scan(result)
        return 0
    return 2


def _print_scan(result) -> None:
    for label, ids in (("added", result.added), ("updated", result.updated), ("unchanged", result.unchanged)):
        if ids:
            print(f"{label}: {', '.join(ids)}")
    for cid in result.missing:
        print(
            f"warning: clip '{cid}': file missing; entry kept (delete it from the manifest "
            "if the clip is gone for good)"
        )
    if result.needs_metadata:
        print(f"todo: fill in licence and source for {', '.join(result.needs_metadata)} in {result.manifest}")
    print(f"wrote {result.manifest}")
