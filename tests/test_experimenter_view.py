"""The experimenter's view on a second Xvfb screen: live buttons, camera thumbnails, keys.

Each test starts its own Xvfb with two X screens (screen 1, ``:N.1``, is the
experimenter's: a screen of its own, as the runner requires) and runs a simulated session there with the view saving a PNG
at every phase change and dialog. The PNGs are checked pixel by pixel: every
seat's HAPPY/SAD box is filled exactly when ``buttons.tsv`` says that button
was held at the snapshot's time; the camera thumbnail is there with its
face-found markers; the pause dialog is drawn in the view.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_runner_kit import PY, ROOT, RUN_SESSION_SCRIPT, make_study, read_tsv
from xvfb import start_xvfb, stop_xvfb

from conftest import require_tool

# frame drops with and without the view, snapshots timed against buttons.tsv: run alone,
# after the parallel pass (make test)
pytestmark = pytest.mark.serial

TWO_SCREENS = ("-screen", "0", "1280x1024x24", "-screen", "1", "800x600x24")
#: Xvfb's Xinerama puts every screen at 0,0: two monitors showing the same pixels (mirrored)
MIRRORED = ("+xinerama", *TWO_SCREENS)
W, H = 800, 600
HAPPY_RGB, SAD_RGB, BG_RGB = (255, 229, 0), (51, 102, 255), (51, 51, 51)


def _xvfb(layout: tuple[str, ...], *cmd: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``cmd`` under a private Xvfb with ``layout`` (``-displayfd`` picks a free display)."""
    require_tool("Xvfb")  # a private server with two screens; fails under CI=true if missing
    server, disp = start_xvfb(*layout)
    env = {k: v for k, v in os.environ.items() if k != "XAUTHORITY"}
    try:
        return subprocess.run(
            list(cmd), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**env, "DISPLAY": disp}
        )
    finally:
        stop_xvfb(server)


def _run_two_screens(**kwargs):
    kwargs = {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}
    return _xvfb(TWO_SCREENS, PY, "-c", RUN_SESSION_SCRIPT, json.dumps(kwargs))


def _box_pixel(img, seat_index: int, button_index: int):
    """Pixel inside a seat's button box (layout of ExperimenterView.draw)."""
    x = -W / 2 + 15 + 230 + button_index * 110 + 35  # right part of the box, clear of its label
    y = H / 2 - 20 - 40 - 36 * seat_index
    return img[int(H / 2 - y), int(x + W / 2)]


def _close(a, b, tol=40):
    return all(abs(int(u) - int(v)) <= tol for u, v in zip(a, b))


def _held_at(buttons, seat, button, t):
    rows = buttons[(buttons.seat == seat) & (buttons.button == button) & (buttons.t <= t)]
    return bool(len(rows)) and rows.action.iloc[-1] == "down"


def _near_transition(buttons, t, margin=0.15):
    return bool(((buttons.t - t).abs() < margin).any())


def test_view_shows_live_buttons_cameras_and_pause(tmp_path, shared_data):
    from PIL import Image

    proto = make_study(
        tmp_path, seats=2, seconds=3.0, camera=shared_data / "single/head-pose-face-detection-male.gif"
    )
    snaps = tmp_path / "snaps"
    res = _run_two_screens(
        protocol=proto, condition="group", participants=["P01", "P02"], output=tmp_path / "data",
        session_id="V1", simulate="inprocess", seed=3, progress=False,
        camera_files={"wide": str(shared_data / "single/head-pose-face-detection-male.gif")},
        experimenter_view={"screen": 1, "snapshot_dir": str(snaps), "interval": 0.1, "snapshot_every": 0.4},
        scripted=[
            {"key": "p", "action": "down", "phase": "clip", "trial": 2, "offset": 0.3},
            {"key": "p", "action": "up", "phase": "clip", "trial": 2, "offset": 0.35},
            {"key": "p", "action": "down", "phase": "clip", "trial": 2, "offset": 1.0},
            {"key": "p", "action": "up", "phase": "clip", "trial": 2, "offset": 1.05},
        ],
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    ses = tmp_path / "data" / "ses-V1"
    meta = json.loads((ses / "session.json").read_text())
    assert meta["status"] == "complete" and meta["experimenter_view"]["screen"] == 1
    # P paused the clip: a pause row of about 0.7 s, the clip played on afterwards
    ev = read_tsv(ses / "events.tsv")
    pause = ev[ev.trial_type == "pause"]
    assert len(pause) == 1 and 0.5 < pause.duration.iloc[0] < 1.5
    buttons = read_tsv(ses / "buttons.tsv")
    files = sorted(snaps.glob("view-*.png"))
    assert len(files) >= 8
    checked = filled = 0
    green = 0
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB"))
        assert img.shape == (H, W, 3)  # the experimenter's screen, not the participants'
        what, t = f.stem.split("-")[2], float(f.stem.split("-")[3])
        if what == "dialog":
            assert (
                (img[:, :, 0] > 200) & (img[:, :, 1] > 200) & (img[:, :, 2] < 80)
            ).sum() > 200  # yellow text
            continue
        for i, seat in enumerate(("A", "B")):
            for j, (button, rgb) in enumerate((("happy", HAPPY_RGB), ("sad", SAD_RGB))):
                if _near_transition(buttons[(buttons.seat == seat) & (buttons.button == button)], t):
                    continue
                px = _box_pixel(img, i, j)
                held = _held_at(buttons, seat, button, t)
                assert _close(px, rgb if held else BG_RGB), (f.name, seat, button, held, px)
                checked += 1
                filled += held
        # face-found markers below the thumbnail: green (face) or red (none), one per seat
        green += int(((img[:, :, 1] > 180) & (img[:, :, 0] < 60) & (img[:, :, 2] < 60)).sum() > 50)
    print(f"view: {len(files)} snapshots, {checked} button boxes checked, {filled} filled")
    assert checked >= 20 and filled >= 2
    assert green >= 1  # a face was found in the camera's picture at least once
    assert any(f.stem.split("-")[2] == "dialog" for f in files)


def _frames(ses: Path) -> dict:
    clips = json.loads((ses / "session.json").read_text())["clips"]
    return {
        "dropped": sum(c["dropped"] for c in clips.values()),
        "repeated": sum(c["repeated"] for c in clips.values()),
        "max_frame_s": max(c["max_frame_s"] for c in clips.values()),
    }


def test_view_does_not_slow_the_participants_window(tmp_path):
    """Same simulated session with and without the view, interleaved twice: dropped and repeated frames.

    The machine is shared (its load swings between runs), so the best run of each mode is compared.
    """
    out = {"without": [], "with": []}
    for i, mode in enumerate(["without", "with"] * 2):
        tmp = tmp_path / f"{mode}{i}"
        proto = make_study(tmp, seats=2, clips=("clip-pos", "clip-neg", "clip-bit"), seconds=2.0)
        res = _run_two_screens(
            protocol=proto, condition="group", participants=["P01", "P02"], output=tmp / "data",
            session_id="F1", simulate="inprocess", cameras=False, progress=False,
            experimenter_view={"screen": 1} if mode == "with" else None,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr[-3000:]
        out[mode].append(_frames(tmp / "data" / "ses-F1"))
    print(f"participants' window, 3 clips x 60 frames: {out}")
    best = {m: min(r["dropped"] + r["repeated"] for r in runs) for m, runs in out.items()}
    # drawn in the session's process the view cost 80+ dropped frames here; in its own, a few
    assert best["with"] <= best["without"] + 6, best


def _run_cli_view(tmp_path, layout: str, screen: int) -> subprocess.CompletedProcess:
    proto = make_study(tmp_path, seats=2)
    args = ["--condition", "group", "--participants", "P01,P02", "--simulate", "--no-cameras"]
    args += ["--output", str(tmp_path / "data"), "--experimenter-screen", str(screen)]
    return _xvfb(layout, PY, "-m", "coaffect.cli", "run", str(proto), *args, timeout=120)


def test_view_on_a_mirrored_screen_is_refused_before_anything_is_written(tmp_path):
    """Issue 25 item 3: Xinerama reported one desktop and the view covered the clips."""
    r = _run_cli_view(tmp_path, MIRRORED, 1)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == (
        "--experimenter-screen: screen 1 (800x600 at 0,0) overlaps the participants' "
        "screen 0 (1280x1024 at 0,0): the view would cover the clips"
    ), lines
    assert len(lines) == 2 and lines[1].startswith("hint: give a screen of its own")
    assert not (tmp_path / "data").exists()


def test_view_on_a_screen_that_does_not_exist_is_refused(tmp_path):
    r = _run_cli_view(tmp_path, TWO_SCREENS, 2)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(
        "--experimenter-screen: screen 2: no such screen "
        "(screens: 0: 1280x1024 at 0,0; 1: X screen 1, 800x600 at 0,0)"
    ), r.stderr
    assert not (tmp_path / "data").exists()
