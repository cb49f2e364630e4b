"""The built-in demo: a whole (small) study from protocol to report.

The default demo (:func:`run_demo`) is a study with a known answer: it
simulates a group-vs-alone study with planted effects (group members smile
more, faces follow the happy button, groups share a signal), films every
session (3-D faces that show the planted states; alone close-ups, group wide
shots), scores the videos with the real pipeline, and writes the report, whose
"planted values" section sets the planted values beside the estimates.

The runner demo (``runner=True``) checks the demo protocol and its stimuli,
makes a synthetic "wide camera" feed of three animated faces (real photo, known
expressions) and a one-face feed of the same room for the alone sessions (seats
B and C empty), runs two group sessions and three alone sessions with simulated
participants in a real PsychoPy window, scores the recorded faces, and writes
the HTML report. Its short size (``coaffect demo --runner --short``) runs every
one of these stages on less: four sessions of three 2-s clips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_PROTOCOL = ROOT / "protocols" / "bittersweet-demo.yaml"

#: (session id, condition, participants): two groups of three and three people alone
#: (two groups, so that group synchrony can be compared with pseudo-pairs).
DEMO_SESSIONS = (
    ("demo01", "group", ["P01", "P02", "P03"]),
    ("demo02", "alone", ["P04"]),
    ("demo03", "group", ["P05", "P06", "P07"]),
    ("demo04", "alone", ["P08"]),
    ("demo05", "alone", ["P09"]),
)


@dataclass(frozen=True)
class DemoSize:
    """How much of the demo study runs; every stage runs at every size.

    Parameters
    ----------
    sessions : tuple
        ``(session id, condition, participants)`` per session, in order.
    clip_seconds : float, optional
        None: the committed 8-s clips. Otherwise placeholder clips this long are
        made in the output folder with their own manifest, and the demo protocol
        is copied there to play them.
    baseline_seconds : float, optional
        Baseline length instead of the protocol's (its analysis window scales with it).
    iti_seconds : float, optional
        Pause between trials instead of the protocol's.

    Examples
    --------
    >>> DEMO_SIZES["short"].clip_seconds, len(DEMO_SIZES["short"].sessions)
    (2.0, 4)
    """

    sessions: tuple = DEMO_SESSIONS
    clip_seconds: float | None = None
    baseline_seconds: float | None = None
    iti_seconds: float | None = None


#: ``full``: the study as ``make demo`` runs it; ``short``: two groups and two people alone,
#: 2-s clips, a 1-s baseline, 0.3-s pauses (the end-to-end test: every stage, less time).
DEMO_SIZES = {
    "full": DemoSize(),
    "short": DemoSize(DEMO_SESSIONS[:4], clip_seconds=2.0, baseline_seconds=1.0, iti_seconds=0.3),
}


#: The planted demo study (:class:`analysis.simulate.spec.SimulationSpec` fields): 6 alone,
#: 4 groups of 3, 4 clips of 13 s (synchrony's 8 s windows with +-2 s lags fit), 4 frames/s;
#: group smile +0.25 planted units, coupling 0.6 (1 s lag), shared session signal SD 0.8.
DEMO_PLANTED = {
    "n_alone": 6,
    "n_group_sessions": 4,
    "group_size": 3,
    "n_clips": 4,
    "valences": ("positive", "negative"),
    "clip_duration": 13.0,
    "baseline_duration": 8.0,
    "fps": 4.0,
    "smile_group_effect": 0.25,
    "sad_group_effect": 0.0,
    "coupling": 0.6,
    "session_signal_sd": 0.8,
    # faces lost in whole stretches (a trial's face mostly out of view, 2% alone, 6% in groups),
    # not frame by frame: a face that flickers out for single frames is not what cameras film
    "p_missing_alone": 0.0,
    "p_missing_group": 0.0,
    "seed": 1,
}


def _fresh_dataset(output: str | Path) -> Path:
    """``<output>/data`` of a re-created output folder."""
    import shutil

    output = Path(output).resolve()
    if output.exists():
        shutil.rmtree(output)
    return output / "data"


def _say(step: int, total: int, text: str) -> None:
    print(f"[{step}/{total}] {text}", flush=True)


def describe_plan(protocol_path: Path = DEMO_PROTOCOL, sessions=DEMO_SESSIONS) -> list[str]:
    """Lines saying what each demo session will do (clip order, seats, keys).

    Examples
    --------
    >>> print(describe_plan()[1])
    session demo02 (alone): P04 seat A (happy=a, sad=z); baseline 5 s, clips ...
    """
    from coaffect.formats.protocol import load_protocol
    from experiments.runner.trial_order import trial_order

    p = load_protocol(protocol_path).protocol
    lines = []
    for index, (sid, condition, people) in enumerate(sessions):
        seats = ", ".join(
            f"{pid} seat {s.id} (happy={s.buttons.happy}, sad={s.buttons.sad})"
            for pid, s in zip(people, p.seats)
        )
        # the runner numbers sessions by how many the dataset already has
        order = trial_order(p.stimuli.clips, p.trial_order.mode, index, p.trial_order.seed)
        lines.append(
            f"session {sid} ({condition}): {seats}; baseline {p.baseline.duration:g} s, "
            f"clips {' -> '.join(order)}, ratings "
            f"{', '.join(i.id for i in p.ratings.items) or 'none'}"
        )
    return lines


def short_protocol(folder: Path, size: DemoSize) -> Path:
    """A copy of the demo protocol in ``folder`` with the clips, baseline and pauses of ``size``.

    The placeholder clips are made (with their manifest) in ``folder/stimuli``;
    the camera replays the same feed file as the demo protocol's.

    Examples
    --------
    >>> p = short_protocol(tmp, DemoSize(clip_seconds=0.5, baseline_seconds=1.0))
    >>> from coaffect.formats.protocol import load_protocol
    >>> lp = load_protocol(p)
    >>> lp.protocol.baseline.duration, lp.protocol.analysis.baseline_window
    (1.0, (0.2, 1.0))
    """
    import yaml

    from coaffect.formats.protocol import load_protocol
    from experiments.demo_clips import make_demo_files

    lp = load_protocol(DEMO_PROTOCOL)
    make_demo_files(folder / "stimuli" / "demo", folder / "stimuli" / "manifest.yaml", progress=False,
                    seconds=size.clip_seconds)  # fmt: skip
    data = yaml.safe_load(DEMO_PROTOCOL.read_text(encoding="utf-8"))
    data["title"] += f" ({size.clip_seconds:g}-s clips)"
    data["stimuli"]["manifest"] = "stimuli/manifest.yaml"
    for cam, model in zip(data.get("cameras", []), lp.protocol.cameras):
        cam["file"] = str(lp.resolve(model.file))
    if size.baseline_seconds is not None:
        scale = size.baseline_seconds / lp.protocol.baseline.duration
        data["baseline"]["duration"] = size.baseline_seconds
        data["analysis"]["baseline_window"] = [
            round(x * scale, 6) for x in lp.protocol.analysis.baseline_window
        ]
    if size.iti_seconds is not None:
        data["iti"] = size.iti_seconds
    path = folder / DEMO_PROTOCOL.name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _short(value) -> str:
    """A planted value as printed: numbers to 2 decimals, words as they are."""
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return str(value)


def run_planted_demo(output: str | Path = "demo-output", *, jobs: int = 2, spec: dict | None = None) -> Path:
    """Simulate, film, score and report a study with planted effects; return the report's path.

    Parameters
    ----------
    output : str or Path
        Folder for the dataset and report (re-created).
    jobs : int
        Worker processes for scoring.
    spec : dict, optional
        :class:`~analysis.simulate.spec.SimulationSpec` fields (default :data:`DEMO_PLANTED`).

    Returns
    -------
    Path
        ``<output>/data/derivatives/coaffect/report/report.html`` (its "Planted values
        beside the estimates" section and ``planted.tsv`` compare truth and estimates).

    Examples
    --------
    >>> run_planted_demo("/tmp/demo")  # doctest: +SKIP
    PosixPath('/tmp/demo/data/derivatives/coaffect/report/report.html')
    """

    import pandas as pd

    from analysis.report import build_report
    from analysis.scoring.score import ScoreSettings, score_dataset
    from analysis.simulate.camera_feed import VideoSpec
    from analysis.simulate.planted import simulate_planted_study
    from analysis.simulate.study import SimulationSpec

    total = 4
    start = time.monotonic()
    dataset = _fresh_dataset(output)
    sim = SimulationSpec(**(spec or DEMO_PLANTED))
    _say(
        1,
        total,
        f"simulating and filming {sim.n_alone} alone and {sim.n_group_sessions} group sessions with planted "
        f"effects: group smile +{sim.smile_group_effect:g}, face-button coupling {sim.coupling:g} "
        f"({sim.coupling_lag:g} s lag), shared group signal SD {sim.session_signal_sd:g}",
    )
    simulate_planted_study(dataset, sim, VideoSpec(seed=sim.seed))
    _say(2, total, "scoring the faces in the camera videos (detection, landmarks, identity by seat, units)")
    scored = score_dataset(dataset, settings=ScoreSettings.of(min_face_px=70), workers=jobs, progress=False)
    found = scored["faces_found_fraction"].mean()
    print(f"      {len(scored)} sessions, faces found in {found:.0%} of participant-frames")
    _say(3, total, "trial table, mixed models, coherence, synchrony and report")
    report = build_report(dataset).report_path
    planted = pd.read_csv(report.parent / "planted.tsv", sep="\t")
    for row in planted.itertuples(index=False):
        value = _short(row.planted)
        print(
            f"      {row.quantity}: planted {value}, estimate {row.estimate:.2f}, recovered {row.recovered}"
        )
    _say(4, total, f"done in {time.monotonic() - start:.0f} s")
    print(f"Report: {report}")
    return report


def run_demo(
    output: str | Path = "demo-output",
    *,
    simulate: str = "inprocess",
    jobs: int = 2,
    runner: bool = False,
    size: str = "full",
) -> Path:
    """Run the demo study and return the path of its HTML report.

    Parameters
    ----------
    output : str or Path
        Folder for the demo dataset, camera feed and report (re-created).
    simulate : {'inprocess', 'xdotool'}
        How simulated participants press their buttons (runner demo).
    jobs : int
        Sessions scored in parallel.
    runner : bool
        Run the sessions in PsychoPy with one pre-made feed (the runner demo) instead
        of the planted study (:func:`run_planted_demo`).
    size : {'full', 'short'}
        How much of the runner demo runs (:data:`DEMO_SIZES`): ``short`` runs every
        stage on four sessions of 2-s clips.

    Returns
    -------
    Path
        ``<output>/data/derivatives/coaffect/report/report.html``.

    Examples
    --------
    Not run here: it takes minutes (``tests/test_demo.py`` runs the short size).

    >>> run_demo("/tmp/demo")  # doctest: +SKIP
    PosixPath('/tmp/demo/data/derivatives/coaffect/report/report.html')
    """
    if not runner:
        return run_planted_demo(output, jobs=jobs)

    from analysis.report import build_report
    from analysis.scoring.score import score_dataset
    from analysis.simulate.faces import write_group_video
    from coaffect.formats.manifest import load_manifest
    from coaffect.formats.protocol import load_protocol
    from experiments.runner import run_session
    from experiments.stimulus_files import verify_stimuli

    total = 6
    start = time.monotonic()
    demo = DEMO_SIZES[size]
    output = Path(output).resolve()
    dataset = _fresh_dataset(output)

    protocol = DEMO_PROTOCOL
    if demo.clip_seconds is not None:
        protocol = short_protocol(output / "study", demo)
    shown = protocol.relative_to(ROOT) if protocol.is_relative_to(ROOT) else protocol
    _say(1, total, f"checking {shown} and its stimuli")
    lp = load_protocol(protocol)
    verify_stimuli(load_manifest(lp.manifest_path), lp.protocol.stimuli.clips, progress=False)
    for line in describe_plan(protocol, demo.sessions):
        print("      " + line)

    feed = lp.resolve(lp.protocol.cameras[0].file)
    if feed.exists():
        _say(2, total, f"camera feed: {feed.relative_to(ROOT)} (already made)")
    else:
        _say(
            2,
            total,
            f"making the synthetic wide-camera feed {feed.relative_to(ROOT)} "
            "(3 animated faces from one real photo; one face for the alone sessions)",
        )
        feed.parent.mkdir(parents=True, exist_ok=True)
        write_group_video(feed, n_faces=3, fps=15.0, duration_s=20.0)
    # alone sessions film one person on seat A: the same room with seats B and C empty
    # (replaying the 3-face feed put strangers on the empty seats and a warning in the report)
    alone_feed = feed.with_name(feed.stem + "-alone" + feed.suffix)
    if not alone_feed.exists():
        write_group_video(alone_feed, n_faces=3, fps=15.0, duration_s=20.0, shown=[0])

    _say(3, total, f"running {len(demo.sessions)} simulated sessions in a PsychoPy window")
    for sid, condition, people in demo.sessions:
        result = run_session(
            protocol,
            condition,
            people,
            session_id=sid,
            output=dataset,
            simulate=simulate,
            seed=int(sid[-2:]),
            progress=False,
            camera_files={"wide": str(alone_feed)} if condition == "alone" else None,
        )
        print(f"      {result.session_dir.name}: {result.status}")

    _say(4, total, "scoring faces in the camera recordings")
    scored = score_dataset(dataset, jobs=jobs)
    for row in scored.itertuples():
        print(
            f"      {row.session}: {row.status}, faces found in "
            f"{row.faces_found_fraction:.0%} of participant-frames"
        )

    _say(5, total, "trial table, mixed models and report")
    report = build_report(dataset).report_path

    _say(6, total, f"done in {time.monotonic() - start:.0f} s")
    print(f"Report: {report}")
    return report
