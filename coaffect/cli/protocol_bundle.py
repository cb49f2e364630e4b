"""``coaffect protocol pack|verify|import|diff``: thin wrappers over the bundle functions."""

from __future__ import annotations

import sys
from pathlib import Path

ACTIONS = ("pack", "verify", "import", "diff")


def add_bundle_actions(sub) -> None:
    """Add the bundle actions to ``coaffect protocol``'s sub-parsers.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers(dest="protocol_verb")
    >>> add_bundle_actions(sub)
    """
    pack = sub.add_parser(
        "pack",
        help="write a bundle (zip) another lab can verify and import",
        epilog="Example: coaffect protocol pack protocols/bittersweet-demo.yaml "
        "-o bittersweet-demo.zip --with-stimuli",
    )
    pack.add_argument("file", type=Path, help="the protocol YAML")
    pack.add_argument("-o", "--output", type=Path, required=True, help="the zip to write")
    pack.add_argument(
        "--with-stimuli",
        action="store_true",
        help="ship the clips whose licence allows it (redistributable: true)",
    )
    verify = sub.add_parser(
        "verify",
        help="check a bundle's integrity and your copies of its clips",
        epilog="Example: coaffect protocol verify bittersweet-demo.zip --stimuli stimuli/",
    )
    verify.add_argument("bundle", type=Path)
    verify.add_argument(
        "--stimuli", type=Path, help="your stimulus folder, to check the clips not shipped in the bundle"
    )
    imp = sub.add_parser(
        "import",
        help="verify a bundle and install it into a protocols folder",
        epilog="Example: coaffect protocol import bittersweet-demo.zip --into protocols/ --stimuli stimuli/",
    )
    imp.add_argument("bundle", type=Path)
    imp.add_argument("--into", type=Path, required=True, help="folder to install into")
    imp.add_argument(
        "--stimuli",
        type=Path,
        help="your stimulus folder; matching clips are copied into the installed protocol",
    )
    imp.add_argument("--name", help="install under this folder name (default: the protocol id)")
    diff = sub.add_parser(
        "diff",
        help="say what differs between two protocols or bundles (exit 0 same, 1 different)",
        epilog="Example: coaffect protocol diff old.yaml new-bundle.zip",
    )
    diff.add_argument("a", type=Path)
    diff.add_argument("b", type=Path)


def run_bundle_action(args) -> int:
    """Run one bundle action; returns the exit status.

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(protocol_verb="diff", a=Path("protocols/bittersweet-demo.yaml"),
    ...                           b=Path("protocols/bittersweet-demo.yaml"))
    >>> run_bundle_action(args)
    protocols/bittersweet-demo.yaml and protocols/bittersweet-demo.yaml: no differences
    0
    """
    verb = args.protocol_verb
    if verb == "pack":
        from experiments.bundle.pack import pack_bundle

        r = pack_bundle(args.file, args.output, with_stimuli=args.with_stimuli)
        print(
            f"{r.path}: wrote {r.files} files; clips shipped: {', '.join(r.included) or 'none'}"
            + (f"; described only: {', '.join(r.not_included)}" if r.not_included else "")
        )
        for m in r.messages:
            print(f"  note: {m}")
        return 0
    if verb == "verify":
        from experiments.bundle.verify import verify_bundle

        report = verify_bundle(args.bundle, stimuli_dir=args.stimuli)
        print("\n".join(report.lines()))
        return 0
    if verb == "import":
        from experiments.bundle.import_ import import_bundle

        from . import in_cli_terms

        r = import_bundle(args.bundle, args.into, stimuli_dir=args.stimuli, name=args.name)
        print(in_cli_terms("\n".join(r.lines()), {"stimuli_dir": "--stimuli DIR"}))
        return 0
    if verb == "diff":
        from experiments.bundle.diff import diff_protocols

        diffs, notes = diff_protocols(args.a, args.b)
        for n in notes:
            print(f"note: {n}")
        if not diffs:
            print(f"{args.a} and {args.b}: no differences")
            return 0
        print(f"{args.a} -> {args.b}: {len(diffs)} difference{'s' if len(diffs) > 1 else ''}")
        for d in diffs:
            print(f"  - {d}")
        return 1
    print(f"coaffect: error: unknown protocol action {verb!r}", file=sys.stderr)
    return 2
