"""Helpers for the runner tests: tiny real clips, a manifest and protocols in a tmp folder.

Clips are real mp4v files written with OpenCV (1 s, 30 fps, 160x120) so that
PsychoPy really decodes and shows them; sessions are short (baseline 0.5 s,
ITI 0.2 s, one rating item with a 2 s time-out).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
VALENCES = {"clip-pos": "positive", "clip-neg": "negative", "clip-bit": "bittersweet"}
SEAT_KEYS = [("A", "a", "z"), ("B", "g", "b"), ("C", "k", "m"), ("D", "1", "2")]


def make_clip(path: Path, seconds: float = 1.0, fps: int = 30) -> None:
    """Write a small mp4v clip whose frames show their own number."""
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for i in range(int(round(seconds * fps))):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:] = (40 + (i * 7) % 200, 80, 120)
        cv2.putText(frame, str(i), (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        w.write(frame)
    w.release()


def make_study(
    tmp: Path,
    *,
    seats: int = 2,
    clips=("clip-pos", "clip-neg"),
    seconds: float = 1.0,
    texts: dict | None = None,
    font: str | None = None,
    timeout: float = 2.0,
    rating_mode: str = "simultaneous",
    order: str = "fixed",
    camera: Path | None = None,
) -> Path:
    """Clips, manifest and protocol in ``tmp``; returns the protocol path."""
    stim = tmp / "stimuli"
    stim.mkdir(parents=True, exist_ok=True)
    entries = []
    for cid in clips:
        f = stim / f"{cid}.mp4"
        if not f.exists():
            make_clip(f, seconds)
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        n = int(round(seconds * 30))
        entries.append(
            f"- id: {cid}\n  file: {f.name}\n  sha256: {sha}\n  duration: {seconds}\n  fps: 30.0\n"
            f"  frame_count: {n}\n  width: 160\n  height: 120\n  audio: false\n"
            f"  tags: {{valence: {VALENCES.get(cid, 'neutral')}}}\n  licence: CC0-1.0\n"
            f"  source: coaffect test\n"
        )
    (stim / "manifest.yaml").write_text("format_version: 1\nclips:\n" + "".join(entries), encoding="utf-8")
    t = {"consent": "Welcome.", "instructions": "Hold HAPPY or SAD.", **(texts or {})}
    text_yaml = "".join(f"  {k}: {v!r}\n".replace("'", '"') for k, v in t.items())
    if font:
        text_yaml += f"  font: {font}\n"
    seat_yaml = "".join(
        f"  - {{id: {s}, label: seat{s}, buttons: {{happy: '{h}', sad: '{d}'}}}}\n"
        for s, h, d in SEAT_KEYS[:seats]
    )
    cam_yaml = ""
    if camera is not None:  # a real video replayed as the room camera, seeing every seat
        cam_yaml = (
            f"cameras:\n  - {{name: wide, file: '{camera}', loop: true, fps: 12.5, "
            f"seats: [{', '.join(s for s, _, _ in SEAT_KEYS[:seats])}], required: true}}\n"
        )
    proto = tmp / "study.yaml"
    proto.write_text(
        f"""format_version: 1
id: runner-test
version: 0.0.1
title: Runner test
authors: [tests]
texts:
{text_yaml}display:
  size: [640, 480]
  text_height: 20
stimuli:
  manifest: stimuli/manifest.yaml
  clips: [{", ".join(clips)}]
trial_order:
  mode: {order}
baseline:
  duration: 0.5
  kind: fixation
iti: 0.2
conditions:
  alone: {{participants: 1}}
  group: {{participants: {seats}}}
seats:
{seat_yaml}ratings:
  mode: {rating_mode}
  timeout: {timeout}
  items:
    - {{id: happy, prompt: "How happy?", low: 0, high: 4}}
{cam_yaml}analysis:
  baseline_window: [0.0, 0.5]
""",
        encoding="utf-8",
    )
    return proto


def coaffect(*args, timeout: float = 120, env=None) -> subprocess.CompletedProcess:
    """Run ``coaffect`` in a subprocess (same X display)."""
    return subprocess.run(
        [PY, "-m", "coaffect.cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_make_study_passes_protocol_check(tmp_path):
    """The generated protocol is valid and its manifest matches the clips."""
    from coaffect.formats.protocol import load_protocol

    lp = load_protocol(make_study(tmp_path, seats=3))
    assert [s.id for s in lp.protocol.seats] == ["A", "B", "C"]
    assert lp.protocol.stimuli.clips == ["clip-pos", "clip-neg"]


def test_clip_is_real_mp4v(tmp_path):
    import cv2

    make_clip(tmp_path / "c.mp4", 1.0)
    cap = cv2.VideoCapture(str(tmp_path / "c.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30  # 1 s at 30 fps
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)


#: a session run in its own process, as the test scripts of this suite run one (kwargs as JSON)
RUN_SESSION_SCRIPT = """
import faulthandler, json, sys
faulthandler.enable()  # as coaffect run does: a crash prints every thread's stack
from experiments.runner import run_session
from experiments.runner.simulated import Scripted
kw = json.loads(sys.argv[1])
kw["scripted"] = [Scripted(**s) for s in kw.get("scripted", [])]
res = run_session(**kw)
print(json.dumps({"dir": str(res.session_dir), "status": res.status}))
# as coaffect run ends: the folder is finished; a C thread may crash in teardown (docs)
from coaffect.cli import exit_without_teardown
exit_without_teardown(0)
"""


def run_library(timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Call ``run_session(**kwargs)`` in a fresh process (``scripted`` given as dicts)."""
    import json

    kwargs = {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}
    return subprocess.run(
        [PY, "-c", RUN_SESSION_SCRIPT, json.dumps(kwargs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_tsv(path: Path):
    import pandas as pd

    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])
