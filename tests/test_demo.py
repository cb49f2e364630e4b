"""The demo's plan: the demo protocol and stimuli check out and each session is described."""
from experiments.cli import main
from experiments.demo import DEMO_SESSIONS, describe_plan


def test_demo_plan_names_every_session_its_seats_keys_and_clip_order(capsys):
    lines = describe_plan()
    assert len(lines) == len(DEMO_SESSIONS) == 5
    # first group session: three seats with the protocol's keys, Latin-square row 0
    assert lines[0] == ("session demo01 (group): P01 seat A (happy=a, sad=z), P02 seat B "
                        "(happy=g, sad=b), P03 seat C (happy=k, sad=m); baseline 5 s, clips "
                        "demo-positive -> demo-negative -> demo-bittersweet, ratings happy, sad")
    assert lines[1].startswith("session demo02 (alone): P04 seat A (happy=a, sad=z);")
    # a balanced Latin square gives different orders to consecutive sessions
    orders = [line.split("clips ")[1].split(", ratings")[0] for line in lines]
    assert len(set(orders)) >= 4
    assert main(["demo", "--plan-only"]) == 0
    assert "session demo05 (alone): P09" in capsys.readouterr().out
