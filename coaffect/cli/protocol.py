"""``coaffect protocol``: check a protocol, or write its JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "check, pack, verify, import or diff protocols, or print the protocol JSON Schema"
EXAMPLE = "coaffect protocol check protocols/bittersweet-demo.yaml"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="protocol_verb", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a protocol (exit 2 and one line per problem)")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--no-manifest", action="store_true", help="do not check stimulus ids against the manifest"
    )
    check.add_argument(
        "--no-files", action="store_true", help="do not check that the manifest's clip files exist"
    )
    schema = sub.add_parser("schema", help="print the JSON Schema of the protocol format")
    schema.add_argument("-o", "--output", type=Path, help="write to this file instead")
    from .protocol_bundle import add_bundle_actions

    add_bundle_actions(sub)


def run(args) -> int:
    from coaffect.formats.protocol import load_protocol, protocol_json_schema

    from .protocol_bundle import ACTIONS, run_bundle_action

    if args.protocol_verb in ACTIONS:
        return run_bundle_action(args)
    if args.protocol_verb == "check":
        lp = load_protocol(args.file, check_manifest=not args.no_manifest)
        p = lp.protocol
        if not (args.no_manifest or args.no_files):
            from coaffect.formats.errors import ManifestError
            from coaffect.formats.manifest import load_manifest, missing_clip_files

            used = list(p.stimuli.clips) + ([p.baseline.clip] if p.baseline.clip else [])
            lines = missing_clip_files(load_manifest(lp.manifest_path), used)
            if lines:
                raise ManifestError(
                    lines[0],
                    lines=lines,
                    hint="put the clip files back, or run 'coaffect stimuli scan' if they moved; "
                    "--no-files checks the protocol only",
                )
        print(
            f"{args.file}: ok ({p.id} {p.version}, {len(p.stimuli.clips)} clips, "
            f"{len(p.seats)} seats, conditions: {', '.join(p.conditions)})"
        )
        return 0
    if args.protocol_verb == "schema":
        text = json.dumps(protocol_json_schema(), indent=2, ensure_ascii=False) + "\n"
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    return 2
