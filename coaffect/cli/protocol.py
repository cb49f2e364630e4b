"""``coaffect protocol``: check a protocol, or write its JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "check, pack, verify, import or diff protocols, or print the protocol JSON Schema"
EXAMPLE = "coaffect protocol check protocols/bittersweet-demo.yaml"

#: Library parameters whose flag is not ``--<name>`` (``check_protocol(files=False)`` is ``--no-files``).
FLAGS = {"files": "--no-files", "manifest": "--no-manifest"}


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="protocol_verb", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a protocol (exit 2 and one line per problem)")
    check.add_argument("file", type=Path)
    for flag, what in (
        ("--no-manifest", "stimulus ids against the manifest"),
        ("--no-files", "clip files exist"),
    ):
        check.add_argument(flag, action="store_true", help=f"do not check {what}")
    schema = sub.add_parser("schema", help="print the JSON Schema of the protocol format")
    schema.add_argument("-o", "--output", type=Path, help="write to this file instead")
    from .protocol_bundle import add_bundle_actions

    add_bundle_actions(sub)


def run(args) -> int:
    from coaffect.formats.protocol import check_protocol, protocol_json_schema, protocol_summary

    from .protocol_bundle import ACTIONS, run_bundle_action

    if args.protocol_verb in ACTIONS:
        return run_bundle_action(args)
    if args.protocol_verb == "check":
        lp = check_protocol(args.file, manifest=not args.no_manifest, files=not args.no_files)
        print(f"{args.file}: ok ({protocol_summary(lp)})")
        return 0
    if args.protocol_verb == "schema":
        text = json.dumps(protocol_json_schema(), indent=2, ensure_ascii=False) + "\n"
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    return 2
