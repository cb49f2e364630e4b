"""docs/first-study.md, run as written: a lab's own study from clips to report and bundle.

Own clips with a sound track, Russian texts, a group condition of 2 seats and an
alone condition (camera seat layout per condition), protocol check, rig check,
1 group and 2 alone simulated sessions with replayed camera files, score,
stats, report, pack / verify / import. Kept short: 1 s clips, 0.5 s baseline.
"""

from __future__ import annotations

import json
import re

import pytest
from test_first_study_fixes import add_sound
from test_runner_kit import coaffect, make_clip

from coaffect.formats.session_reader import read_session

pytestmark = pytest.mark.slow

PROTOCOL = """\
format_version: 1
id: moscow-bittersweet
version: 1.0.0
title: Смешанные чувства в группе
authors: [Лаборатория эмоций]
texts:
  consent: "Добро пожаловать! Экспериментатор нажмёт пробел, чтобы начать."
  instructions: "Держите кнопку РАДОСТЬ, когда вам радостно, и ГРУСТЬ, когда грустно; обе - если и то и другое."
  button_check: "Место {seat}: нажмите и держите кнопку {button}, затем отпустите."
  happy_button: РАДОСТЬ
  sad_button: ГРУСТЬ
  button_check_ok: "Хорошо, теперь отпустите"
  baseline: "Расслабьтесь и смотрите на крестик."
  rating_intro: "Оцените фрагмент, который вы только что видели."
  rating_help: "РАДОСТЬ = вправо, ГРУСТЬ = влево, обе кнопки = подтвердить"
  rating_done: Готово
  end: "Спасибо! Сеанс окончен."
  font: DejaVu Sans
display:
  size: [800, 600]
  text_height: 24
stimuli:
  manifest: ../stimuli/manifest.yaml
  clips: [clip-pos, clip-neg]
trial_order:
  mode: random
  seed: 7
baseline:
  duration: 0.5
iti: 0.2
conditions:
  alone: {participants: 1}
  group: {participants: 2}
seats:
  - {id: A, label: слева, buttons: {happy: a, sad: z}}
  - {id: B, label: справа, buttons: {happy: k, sad: m}}
ratings:
  timeout: 3
  items:
    - {id: happy, prompt: "Насколько вам было радостно?", low: 0, high: 4}
cameras:
  - name: wide
    device: 0
    loop: true
    fps: 12.5
    seats: [A, B]
    condition_seats: {alone: [A]}
analysis:
  baseline_window: [0.0, 0.5]
  models:
    - t_both ~ condition * valence
"""


def _ok(r):
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    noise = re.findall(r"ALSA lib|SDL_|audio open failed|INFO: Created|^[IW]0000", r.stderr, flags=re.M)
    assert noise == [], r.stderr[-3000:]
    return r.stdout


def test_first_study_as_in_the_guide(tmp_path, display, shared_data, root):
    guide = (root / "docs" / "first-study.md").read_text(encoding="utf-8")
    project = tmp_path / "moscow"
    stim = project / "stimuli"
    stim.mkdir(parents=True)
    # 1. own clips with sound, scanned into a manifest; valence tags filled in
    for cid in ("clip-pos", "clip-neg"):
        make_clip(stim / f"{cid}.mp4", 1.0)
    out = _ok(coaffect("stimuli", "scan", stim, "--manifest", stim / "manifest.yaml"))
    manifest = stim / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    for cid, valence in (("clip-pos", "positive"), ("clip-neg", "negative")):
        head, entry = text.split(f"- id: {cid}\n", 1)
        entry = entry.replace("tags: {}", f"tags: {{valence: {valence}}}", 1)
        text = f"{head}- id: {cid}\n{entry}"
    manifest.write_text(text.replace("UNKNOWN - fill in", "own recording, CC0"), encoding="utf-8")
    for cid in ("clip-pos", "clip-neg"):
        add_sound(stim, cid)
    # 2. the protocol (Russian texts; alone participants sit centred) passes its check
    (project / "protocols").mkdir()
    proto = project / "protocols" / "moscow.yaml"
    proto.write_text(PROTOCOL, encoding="utf-8")
    out = _ok(coaffect("protocol", "check", proto))
    assert "ok (moscow-bittersweet 1.0.0, 2 clips, 2 seats, conditions: alone, group)" in out
    group_feed = shared_data / "group" / "head-pose-face-detection-female-and-male.gif"
    alone_feed = shared_data / "single" / "single_face.mp4"
    # 3. rig check with the camera replayed and simulated button presses
    out = _ok(
        coaffect(
            "rig-check",
            proto,
            "--seconds",
            "1",
            "--camera-file",
            f"wide={group_feed}",
            "--simulate",
            "--output",
            project / "rig-check",
        )
    )
    assert (project / "rig-check" / "rig-check.json").exists()
    # 4. one group and two alone sessions
    data = project / "data"
    runs = [
        ("G1", "group", "P01,P02", group_feed),
        ("A1", "alone", "P03", alone_feed),
        ("A2", "alone", "P04", alone_feed),
    ]
    for sid, condition, people, feed in runs:
        _ok(
            coaffect(
                "run",
                proto,
                "--condition",
                condition,
                "--participants",
                people,
                "--simulate",
                "--camera-file",
                f"wide={feed}",
                "--output",
                data,
                "--session-id",
                sid,
            )
        )
        s = read_session(data / f"ses-{sid}")
        assert s.status == "complete"
        assert s.meta["cameras"]["wide"]["seats"] == (["A"] if condition == "alone" else ["A", "B"])
    # 5. score: every participant's face found, no seat warning
    r = coaffect("score", data, "--workers", "2")
    out = _ok(r)
    assert "WARNING" not in out
    # one progress display: sessions scored in parallel show the "sessions" bar only
    assert "sessions:" in r.stderr and not re.search(r"ses-\w+: +\d+%", r.stderr), r.stderr[-2000:]
    for sid in ("G1", "A1", "A2"):
        summary = json.loads(
            (data / "derivatives/coaffect" / f"ses-{sid}" / "score_summary.json").read_text()
        )
        assert min(summary["faces_found_fraction_by_participant"].values()) > 0.8, summary
    # 6. stats and report
    r = coaffect("stats", data)
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr[-3000:]
    _ok(coaffect("report", data, "--quiet"))
    html = (data / "derivatives/coaffect/report/report.html").read_text(encoding="utf-8")
    assert "<h1>Смешанные чувства в группе</h1>" in html
    # 7. pack, verify, import in another lab
    bundle = tmp_path / "moscow-bittersweet.zip"
    _ok(coaffect("protocol", "pack", proto, "-o", bundle))
    out = _ok(coaffect("protocol", "verify", bundle))
    assert "all checksums match" in out
    lab_b = tmp_path / "lab-b"
    lab_b.mkdir()
    _ok(coaffect("protocol", "import", bundle, "--into", lab_b, "--stimuli", stim))
    installed = sorted(lab_b.rglob("moscow-bittersweet.yaml"))
    assert installed, list(lab_b.rglob("*"))
    _ok(coaffect("protocol", "check", installed[0]))
    # every command of the test is in the guide
    for verb in (
        "coaffect stimuli scan",
        "protocol check",
        "rig-check",
        "coaffect run",
        "coaffect score",
        "coaffect stats",
        "coaffect report",
        "protocol pack",
        "protocol verify",
        "protocol import",
    ):
        assert verb in guide, verb
    assert re.search(r"condition_seats", guide)
