"""Sound set-up as the docs give it (issue 25 items 9 and 10).

``docs/run-a-session.md`` shows how to start a sound server on a headless
machine; this test runs that block as written, in a private runtime folder, and
``coaffect rig-check`` then finds the sound output a protocol with ``audio:
{play: on}`` needs. Without a server, rig-check fails (exit 1) where ``coaffect
run`` would refuse (exit 2): it used to pass with a note.
"""

from __future__ import annotations

import os
import re
import subprocess

from test_runner_kit import ROOT, coaffect, make_study

from conftest import require_tool

DOCS = ROOT / "docs"


def _recipe() -> str:
    text = (DOCS / "run-a-session.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- headless-sound:[^>]*-->\n```sh\n(.*?)```", text, re.S)
    assert m, "docs/run-a-session.md lost its headless sound block"
    return m.group(1)


def _sound_protocol(tmp_path, device: str | None):
    proto = make_study(tmp_path, seats=2)
    extra = f"audio: {{play: on, volume: 0.8{', device: ' + device if device else ''}}}\n"
    proto.write_text(proto.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return proto


def _quiet_env(runtime) -> dict:
    """An environment whose only route to a sound server is ``runtime`` (nothing from the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "SDL_AUDIO"))}
    return {**env, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}


def test_rig_check_fails_when_the_protocol_plays_sound_and_no_server_answers(tmp_path):
    """Issue 25 item 10: rig-check printed 'latency not measured' and exited 0; run then refused."""
    proto = _sound_protocol(tmp_path, None)
    (tmp_path / "run").mkdir()
    args = ["--no-buttons", "--no-display", "--no-sound", "--output", tmp_path / "rc"]
    r = coaffect("rig-check", proto, *args, env=_quiet_env(tmp_path / "run"))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(proto))}:\d+:\d+: audio\.play: the protocol plays sound but audio: no audio output "
        r"\(no PulseAudio server answers\); coaffect run would refuse to start",
        lines[0],
    ), lines
    assert lines[1].startswith("hint: start the sound server (headless: docs/run-a-session.md")
    # the same protocol with sound off needs no server
    silent = proto.read_text(encoding="utf-8").replace("play: on", "play: off")
    proto.write_text(silent, encoding="utf-8")
    assert coaffect("rig-check", proto, *args, env=_quiet_env(tmp_path / "run")).returncode == 0


def test_the_documented_headless_sound_server_is_what_run_and_rig_check_need(tmp_path):
    """Issue 25 item 9: first-study.md said clips play silently without a sound device; neither doc said
    how to start a server headless. The block in run-a-session.md, run as written, gives one."""
    require_tool("pulseaudio")
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = _quiet_env(runtime)
    recipe = _recipe().replace("export XDG_RUNTIME_DIR=$(mktemp -d)", f"export XDG_RUNTIME_DIR={runtime}")
    try:
        r = subprocess.run(["bash", "-ec", recipe], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "lab_out" in r.stdout, r.stdout + r.stderr
        proto = _sound_protocol(tmp_path, "lab_out")
        args = ["--no-buttons", "--no-display", "--no-sound", "--output", tmp_path / "rc"]
        rc = coaffect("rig-check", proto, *args, env=env)
        assert rc.returncode == 0, rc.stdout + rc.stderr
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=20)
    # the two guides say the same about sound, and the first study points at the recipe
    first = (DOCS / "first-study.md").read_text(encoding="utf-8")
    assert "play silently" not in first.split("With `audio: {play: off}`")[0]
    assert "run-a-session.md#a-sound-server-on-a-headless-machine" in first
    assert 'pulseaudio -D --exit-idle-time=-1 -n --load="module-null-sink sink_name=lab_out"' in first
