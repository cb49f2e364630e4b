"""``coaffect devices``: list the response devices a seat can be mapped to."""

from __future__ import annotations

HELP = "list keyboards (Psychtoolbox index), serial ports and Cedrus XID boxes for seats' response devices"
EXAMPLE = "coaffect devices"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")


def run(args) -> int:
    import json

    from experiments.responses import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps(devices))
        return 0
    print(f"{'kind':<14} {'index/port':<16} name")
    for d in devices:
        where = d.get("port") if d.get("port") is not None else d.get("index")
        print(f"{d['kind']:<14} {str(where):<16} {d['name']}")
    print(
        "\nIn the protocol: seats: - {id: A, ..., response: {kind: ptb_keyboard, index: N}} "
        "or {kind: serial, port: PORT, codes: ...}; see docs/protocol.md"
    )
    return 0
