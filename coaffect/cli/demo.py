"""``coaffect demo``: the whole demo study (thin wrapper over :func:`coaffect.demo.run_demo`)."""

from __future__ import annotations

from pathlib import Path

HELP = (
    "run the built-in demo end to end: a filmed study with planted effects, face scoring, statistics, report"
)
EXAMPLE = "coaffect demo --output demo-output"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("demo-output"),
        help="folder for the demo dataset and report (re-created)",
    )
    parser.add_argument(
        "--simulate",
        choices=["inprocess", "xdotool"],
        default="inprocess",
        help="how simulated participants press their buttons (runner demo)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="sessions scored in parallel")
    parser.add_argument(
        "--runner",
        action="store_true",
        help="the runner demo instead: sessions in a PsychoPy window replaying one pre-made camera feed",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="the runner demo on less: every stage, 4 sessions of three 2-s clips, 1-s baseline, 0.3-s "
        "pauses (the test runs it)",
    )
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="only check the demo protocol and print what each session would do",
    )


def run(args) -> int:
    from coaffect.demo import describe_plan, run_demo

    if args.plan_only:
        print("\n".join(describe_plan()))
        return 0
    runner, size = args.runner or args.short, "short" if args.short else "full"
    run_demo(args.output, simulate=args.simulate, jobs=args.jobs, runner=runner, size=size)
    return 0
