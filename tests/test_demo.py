"""The demo's plan: the demo protocol and stimuli check out and each session is described."""

from coaffect.cli import main
from coaffect.demo import DEMO_SESSIONS, DEMO_SIZES, describe_plan


def test_demo_plan_names_every_session_its_seats_keys_and_clip_order(capsys):
    lines = describe_plan()
    assert len(lines) == len(DEMO_SESSIONS) == 5
    # first group session: three seats with the protocol's keys, Latin-square row 0
    assert lines[0] == (
        "session demo01 (group): P01 seat A (happy=a, sad=z), P02 seat B "
        "(happy=g, sad=b), P03 seat C (happy=k, sad=m); baseline 5 s, clips "
        "demo-positive -> demo-negative -> demo-bittersweet, ratings happy, sad"
    )
    assert lines[1].startswith("session demo02 (alone): P04 seat A (happy=a, sad=z);")
    # a balanced Latin square gives different orders to consecutive sessions
    orders = [line.split("clips ")[1].split(", ratings")[0] for line in lines]
    assert len(set(orders)) >= 4
    assert main(["demo", "--plan-only"]) == 0
    assert "session demo05 (alone): P09" in capsys.readouterr().out


def test_planted_demo_short_mode_reports_the_planted_values_beside_the_estimates(tmp_path, capsys):
    """The default demo, shrunk: simulate and film, score, report with the planted-values section."""
    import pandas as pd

    from coaffect.demo import DEMO_PLANTED, run_planted_demo

    small = {**DEMO_PLANTED, "n_alone": 1, "n_group_sessions": 1, "group_size": 2, "clip_duration": 4.0}
    report = run_planted_demo(tmp_path / "demo", jobs=1, spec=small)
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"Report: {report}")
    assert "AU12 group - alone: planted " in out and "AU12 framing bias, group - alone: planted 0.00" in out
    planted = pd.read_csv(report.parent / "planted.tsv", sep="\t").set_index("quantity")
    assert {"AU12 group - alone", "AU12 framing bias, group - alone"} <= set(planted.index)
    assert "Planted values beside the estimates" in report.read_text(encoding="utf-8")
    # the faces came from the videos: the scorer found them wherever a face was filmed
    data = tmp_path / "demo" / "data"
    faces = pd.read_parquet(data / "derivatives" / "coaffect" / "ses-g01" / "faces.parquet")
    filmed = pd.read_csv(data / "derivatives" / "planted" / "frames.tsv", sep="\t")
    filmed = filmed[filmed["session_id"] == "g01"]
    both = faces.merge(filmed, on=["participant_id", "frame"])
    assert len(both) == len(faces) == len(filmed) and faces["participant_id"].nunique() == 2
    assert both.loc[both["visible"], "face_found"].mean() > 0.95
    assert not both.loc[~both["visible"], "face_found"].any()


def test_demo_runs_end_to_end(tmp_path, display, capsys):
    """The runner demo, short size: 4 simulated sessions with cameras -> faces -> trials -> models -> report.

    The short size runs every stage of ``coaffect demo --runner`` (its own 2-s placeholder
    clips and a copy of the protocol that plays them, a 1-s baseline); the full size differs
    only in the clips' and baseline's lengths and a fifth session.
    """
    import json

    import pandas as pd

    from coaffect.demo import run_demo
    from coaffect.formats.session_reader import read_dataset

    plan = DEMO_SIZES["short"].sessions
    report = run_demo(tmp_path / "demo", runner=True, size="short")
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"Report: {report}")
    data = tmp_path / "demo" / "data"
    sessions = read_dataset(data)
    assert [(s.session_id, s.status) for s in sessions] == [(sid, "complete") for sid, _, _ in plan]
    for s, (_, condition, people) in zip(sessions, plan):
        assert s.meta["condition"] == condition
        clips = s.events[s.events.trial_type == "clip"]
        # the short clips played: 2 s each (a starved machine shows them a little shorter or
        # longer, never near the 8 s of the committed clips)
        assert len(clips) == 3 and (clips.duration < 4.0).all(), clips.duration.tolist()
        # every session filmed its participants and scored one row per frame x participant
        frames = len(s.cameras["wide"])
        assert frames > 15 * 6 and s.meta["cameras"]["wide"]["frames_written"] == frames  # 15 fps feed
        faces = pd.read_parquet(data / "derivatives" / "coaffect" / f"ses-{s.session_id}" / "faces.parquet")
        assert len(faces) == frames * len(people)
        assert sorted(faces["participant_id"].unique()) == people
        assert faces["face_found"].mean() > 0.9
    # issue 25 item 8: alone sessions film one face (seat A); no seat warning that is untrue of the demo
    for s in sessions:
        summary = data / "derivatives" / "coaffect" / f"ses-{s.session_id}" / "score_summary.json"
        assert json.loads(summary.read_text(encoding="utf-8")).get("seat_warnings", []) == [], s.session_id
    html = report.read_text(encoding="utf-8")
    assert "faces seen on seats" not in html and "beside the participant of seat" not in html
    trials = pd.read_csv(data / "derivatives" / "coaffect" / "trials.tsv", sep="\t")
    n_people = sum(len(people) for _, _, people in plan)
    assert len(trials) == n_people * 3 and not trials["excluded"].any()
    assert set(trials["condition"]) == {"alone", "group"}
    # the protocol's two models were fitted and reported
    html = report.read_text(encoding="utf-8")
    for formula in ("AU12 ~ condition * valence", "t_both ~ condition * valence"):
        assert formula in html
    info = json.loads((report.parent / "stats" / "model-1_AU12_condition_valence_info.json").read_text())
    assert info["n"]["participants"] == n_people and info["n"]["group_sessions"] == 2
    # the new inference tables are in the page a browser renders (headless Chromium)
    from tests.test_report import _chromium

    proc = _chromium(["--dump-dom", report.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    for text in (
        "Participant, trial and frame flow by condition",
        "Omnibus tests (Type III)",
        "Estimated marginal means",
        "Effect sizes",
        "R2_conditional",
        # one clip per valence in the demo: the clip intercept is not identified and says why
        "Random part: (1 | stimulus_id) dropped: 1 clip per valence level",
    ):
        assert text in dom, text
    assert info["engine"] == "lme4" and "simplification_rule" in info and info["protocol_sha256"]
