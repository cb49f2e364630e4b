"""Fixes from a newcomer's first study (issue 16): seat layouts per condition, pack/verify,
translated screens, protocol check of clip files, console noise, small things."""

from __future__ import annotations

import json

import cv2
import pandas as pd
import pytest
from test_score import make_session

from analysis.measures.trials import trial_table
from analysis.scoring.score import score_dataset
from analysis.study.load import load_study
from coaffect.cli import main
from coaffect.formats.session_writer import SessionWriter
from experiments.audio.sink import PulseDaemon
from tests.conftest import REPORT_GROUP

# ------------------------------------------------ 1. an alone participant sits centred


def _alone_session(tmp_path, shared_data, condition_seats: str | None):
    """An alone session, participant on seat A, filmed centred by a camera listing seats [A, B, C].

    The enrollment snapshot is what the runner cuts for seat A from that layout:
    the left third of the frame without a layout for 'alone', the whole frame with it.
    """
    video = shared_data / "single" / "single_face.mp4"
    cap = cv2.VideoCapture(str(video))
    photo = cap.read()[1]
    if not condition_seats:
        photo = photo[:, : photo.shape[1] // 3]
    sdir = make_session(tmp_path / "data", "S1", video, [("P01", "A")], ["A", "B", "C"], {"P01": photo})
    writer = SessionWriter(tmp_path / "data", "S1", resume=True)
    writer.append(
        "events.tsv",
        {"onset": 11.0, "duration": 1.0, "trial_type": "clip", "trial": 1, "stimulus_id": "clip-pos"},
    )
    writer.add_participants(
        [{"participant_id": "P01", "condition": "alone", "session_id": "S1", "seat": "A"}]
    )
    writer.close()
    if condition_seats:
        text = (sdir / "protocol.yaml").read_text()
        text = text.replace(
            "    seats: [A, B, C]\n", f"    seats: [A, B, C]\n    condition_seats: {condition_seats}\n"
        )
        (sdir / "protocol.yaml").write_text(text)
    return sdir


def test_alone_face_outside_every_seat_is_said_loudly(tmp_path, shared_data, capsys):
    sdir = _alone_session(tmp_path, shared_data, None)
    assert main(["score", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    # issue 25: says where the face was (the middle of the frame: seat B, which nobody took)
    assert "WARNING ses-S1: cam-wide: faces seen on seats nobody took in this alone session: B in" in out
    assert "P01 on seat A: face in 0% of frames" in out and "condition_seats: {alone: [SEAT]}" in out
    summary = json.loads((tmp_path / "data/derivatives/coaffect/ses-S1/score_summary.json").read_text())
    assert summary["faces_found_fraction_by_participant"] == {"P01": 0.0}
    assert len(summary["seat_warnings"]) == 1 and "alone session" in summary["seat_warnings"][0]
    trials = trial_table(load_study(tmp_path / "data"))
    reasons = set(trials["face_exclusion_reason"])
    assert not any(r == "no face during the baseline" for r in reasons)
    assert any("no face on its seat; faces seen outside every seat" in r for r in reasons)
    assert sdir.exists()


def _seat_warning(condition: str, seated: dict, x_centers: list, participant_frames: dict):
    """outside_seats_warning for tracks at x_centers (fraction of the width), each in all 20 frames."""
    from types import SimpleNamespace

    from analysis.scoring.camera_checks import outside_seats_warning

    ids = list(range(1, len(x_centers) + 1))
    obs = SimpleNamespace(
        faces=pd.DataFrame(
            {"track_id": [t for t in ids for _ in range(20)], "frame": list(range(20)) * len(ids)}
        ),
        tracks=pd.DataFrame({"track_id": ids, "x_center": x_centers}),
    )
    given = dict(zip(ids, seated.values()))
    ident = pd.DataFrame({"track_id": ids, "participant_id": [given.get(t, "unknown") for t in ids]})
    notes = {"scored_rows": 20, "by_participant": {p: [f, 20] for p, f in participant_frames.items()}}
    return outside_seats_warning("wide", obs, ident, notes, ["A", "B", "C"], condition, seated)


def test_seat_warning_says_where_faces_were_and_what_to_do_in_each_condition():
    """Issue 25 item 8: a group session's warning advised condition_seats and 'an alone participant'."""
    alone = _seat_warning("alone", {"A": "P09"}, [0.15, 0.5, 0.85], {"P09": 20})
    assert alone.startswith(
        "cam-wide: faces seen on seats nobody took in this alone session: B in 20 of 20 frames (100%), "
        "C in 20 of 20 frames (100%); they are in no participant's rows (P09 on seat A: face in 100% of frames)."
    ), alone
    assert "condition_seats: {alone: [SEAT]}" in alone and "group" not in alone
    # a group of two on A and C; someone in the empty middle seat B in a quarter of the frames
    group = _seat_warning("group", {"A": "P01", "C": "P02"}, [0.15, 0.85, 0.5], {"P01": 20, "P02": 20})
    assert "faces seen on seats nobody took in this group session: B in 20 of 20 frames" in group
    assert "check that camera wide's 'seats' lists the seats left to right" in group
    assert "alone" not in group and "condition_seats" not in group and "centred" not in group
    # a second face at seat A (someone leaning over)
    leaning = _seat_warning("group", {"A": "P01", "C": "P02"}, [0.15, 0.85, 0.2], {"P01": 20, "P02": 20})
    assert "beside the participant of seat A (P01) in 20 of 20 frames (100%)" in leaning
    # every face on its participant's seat: no warning
    assert _seat_warning("group", {"A": "P01", "C": "P02"}, [0.15, 0.85], {"P01": 20, "P02": 20}) is None


def test_condition_seats_puts_the_alone_face_on_its_seat(tmp_path, shared_data, capsys):
    _alone_session(tmp_path, shared_data, "{alone: [A]}")
    assert main(["score", str(tmp_path / "data")]) == 0
    assert "WARNING" not in capsys.readouterr().out
    summary = json.loads((tmp_path / "data/derivatives/coaffect/ses-S1/score_summary.json").read_text())
    assert summary["faces_found_fraction_by_participant"]["P01"] > 0.9
    assert "seat_warnings" not in summary
    table = score_dataset(tmp_path / "data")
    assert table["warnings"].tolist() == [[]]


def test_condition_seats_checked_against_seats_and_conditions(tmp_path, root):
    text = (root / "protocols" / "bittersweet-demo.yaml").read_text()
    bad = text.replace("    seats: [A, B, C]\n", "    seats: [A, B, C]\n    condition_seats: {alone: [Q]}\n")
    (tmp_path / "p.yaml").write_text(bad)
    (tmp_path / "stimuli").symlink_to(root / "stimuli")
    from coaffect.formats.errors import ProtocolError
    from coaffect.formats.protocol import load_protocol

    with pytest.raises(ProtocolError, match=r"cameras\[0\]\.condition_seats\.alone\[0\]: unknown seat"):
        load_protocol(tmp_path / "p.yaml", check_manifest=False)


def test_enrollment_snapshot_uses_the_condition_layout(tmp_path, root):
    import numpy as np

    from coaffect.formats.protocol import load_protocol
    from experiments.cameras import camera_specs
    from experiments.cameras.enroll import seat_camera, seat_slice

    text = (root / "protocols" / "bittersweet-demo.yaml").read_text()
    text = text.replace("    seats: [A, B, C]\n", "    seats: [A, B, C]\n    condition_seats: {alone: [A]}\n")
    (tmp_path / "p.yaml").write_text(text)
    lp = load_protocol(tmp_path / "p.yaml", check_manifest=False)
    image = np.zeros((360, 640, 3), np.uint8)
    for condition, width in (("alone", 640), ("group", 213)):
        spec, position = seat_camera(camera_specs(lp, condition=condition), "A")
        assert seat_slice(image, position, len(spec.seats)).shape == (360, width, 3)


# ------------------------------------------------ 3. pack never writes a bundle verify refuses


@pytest.mark.parametrize(
    "camera_file, packs",
    [
        ("../stimuli/demo/feeds/wide.avi", True),  # inside the project layout: kept, not shipped
        ("/work/shared/data/single/single_face.mp4", False),  # absolute: outside any bundle
        ("../../feeds/wide.avi", False),  # leaves the project folder
    ],
)
def test_pack_then_verify_with_a_replayed_camera(tmp_path, root, camera_file, packs):
    from test_bundle_support import make_lab

    from coaffect.formats.errors import BundleError
    from experiments.bundle.pack import pack_bundle
    from experiments.bundle.verify import verify_bundle

    protocol = make_lab(tmp_path / "lab", root / "protocols" / "bittersweet-demo.yaml")
    text = protocol.read_text()
    assert "file: ../stimuli/demo/feeds/wide.avi" in text
    protocol.write_text(text.replace("file: ../stimuli/demo/feeds/wide.avi", f"file: {camera_file}"))
    out = tmp_path / "b.zip"
    if packs:
        pack_bundle(protocol, out)
        report = verify_bundle(out)  # every packed bundle verifies
        assert report is not None
        return
    with pytest.raises(BundleError) as err:
        pack_bundle(protocol, out)
    assert "cameras[0].file: a replayed camera file outside the protocol's project" in err.value.message
    assert "--camera-file wide=FILE" in err.value.hint
    assert not out.exists()


# ------------------------------------------------ 5. protocol check looks for the clip files


def test_protocol_check_finds_a_missing_clip_file(tmp_path, capsys):
    from test_runner_kit import make_study

    proto = make_study(tmp_path)
    assert main(["protocol", "check", str(proto)]) == 0
    (tmp_path / "stimuli" / "clip-neg.mp4").unlink()
    capsys.readouterr()
    assert main(["protocol", "check", str(proto)]) == 2
    err = capsys.readouterr().err
    manifest = tmp_path / "stimuli" / "manifest.yaml"
    assert f"{manifest}:16:9: clips[1].file: clip 'clip-neg': file clip-neg.mp4 is missing" in err
    assert "--no-files" in err
    assert main(["protocol", "check", "--no-files", str(proto)]) == 0


# ------------------------------------------------ 4. every participant text comes from the protocol

RUSSIAN = {
    "consent": "Добро пожаловать.",
    "instructions": "Держите кнопку РАДОСТЬ или ГРУСТЬ.",
    "button_check": "Место {seat}: нажмите и держите кнопку {button}, затем отпустите.",
    "baseline": "Расслабьтесь и смотрите на крестик.",
    "rating_intro": "Оцените фрагмент.",
    "rating_help": "РАДОСТЬ = вправо, ГРУСТЬ = влево, обе = подтвердить",
    "end": "Спасибо!",
    "happy_button": "РАДОСТЬ",
    "sad_button": "ГРУСТЬ",
    "button_check_ok": "Хорошо, теперь отпустите",
    "rating_done": "Готово",
}

_SPY = """
import json, sys
from experiments.runner import display
drawn = []
_text = display.Display.text
def text(self, s, *a, **k):
    drawn.append(s)
    return _text(self, s, *a, **k)
display.Display.text = text
from experiments.runner import run_session
res = run_session(**json.loads(sys.argv[1]))
print(json.dumps({"status": res.status, "drawn": drawn}))
# as coaffect run ends: the folder is finished; a C thread may crash in teardown (docs)
from coaffect.cli import exit_without_teardown
exit_without_teardown(0)
"""


def test_participant_screens_are_fully_translated(tmp_path, display):
    import subprocess

    from test_runner_kit import PY, ROOT, make_study

    proto = make_study(tmp_path, seats=2, clips=("clip-pos",), texts=RUSSIAN, font="DejaVu Sans")
    kw = dict(
        protocol=str(proto),
        condition="group",
        participants=["P01", "P02"],
        simulate="inprocess",
        cameras=False,
        output=str(tmp_path / "data"),
        session_id="R1",
        progress=False,
    )
    r = subprocess.run(
        [PY, "-c", _SPY, json.dumps(kw)], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["status"] == "complete"
    drawn = set(out["drawn"])
    assert "Место A (seatA): нажмите и держите кнопку РАДОСТЬ, затем отпустите." in drawn
    assert "Место B (seatB): нажмите и держите кнопку ГРУСТЬ, затем отпустите." in drawn
    assert {"Хорошо, теперь отпустите", "Готово", RUSSIAN["rating_help"]} <= drawn
    english = [s for s in drawn if any(w in s for w in ("HAPPY", "SAD", "OK", "release", "Thank"))]
    # what is left in English is the experimenter's (SPACE/R prompts), never a participant's text
    assert all("SPACE" in s for s in english), english


@pytest.mark.parametrize(
    "font, texts",
    [
        ("DejaVu Sans", ("РАДОСТЬ", "ГРУСТЬ", "Хорошо, теперь отпустите", "Готово")),
        ("Noto Sans CJK JP", ("うれしい", "かなしい", "よし、離してください", "完了")),
    ],
)
def test_translated_button_words_are_drawn_not_tofu(display, font, texts):
    """The project's tofu check (tests/test_runner_display.py) on the new participant texts."""
    import time

    from test_runner_display import _ink, _render

    from experiments.runner.clock import SessionClock
    from experiments.runner.display import Display

    d = Display((640, 480), SessionClock(time.perf_counter()), text_height=40)
    try:
        for a, b in zip(texts, texts[1:]):
            ink_a, ink_b = _ink(_render(d, a, font)), _ink(_render(d, b, font))
            assert ink_a.sum() > 150 and ink_b.sum() > 150
            assert (ink_a != ink_b).sum() > 0.3 * max(ink_a.sum(), ink_b.sum())
    finally:
        d.close()


# ------------------------------------------------ 8. small things


def test_failed_camera_start_names_real_flags_and_leaves_no_folder(tmp_path, display, capsys):
    import re

    from test_runner_kit import make_study

    proto = make_study(tmp_path, seats=2, camera=tmp_path / "no-such-feed.mp4")
    data = tmp_path / "data"  # does not exist yet: the run must not leave it behind
    code = main(
        ["run", str(proto), "--condition", "group", "--participants", "P01,P02", "--simulate"]
        + ["--output", str(data), "--session-id", "S1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "camera 'wide'" in err and "Traceback" not in err
    assert not data.exists()
    flags = set(re.findall(r"--[a-z][a-z-]+", err))
    assert flags and "--allow-missing-cameras" not in flags
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    assert all(f in help_text for f in flags), flags


def test_participant_ids_differing_only_in_case_are_refused(tmp_path, capsys):
    from test_runner_kit import make_study

    proto = make_study(tmp_path, seats=2)
    data = tmp_path / "data"
    args = ["run", str(proto), "--condition", "group", "--output", str(data), "--session-id", "S1"]
    assert main(args + ["--participants", "M05,m05"]) == 2
    assert "--participants: M05 and m05 differ only in upper/lower case" in capsys.readouterr().err
    data.mkdir()
    (data / "participants.tsv").write_text(
        "participant_id\tcondition\tsession_id\tseat\nM05\tgroup\tS0\tA\n", encoding="utf-8"
    )
    assert main(args + ["--participants", "P01,m05"]) == 2
    err = capsys.readouterr().err
    assert "participant id 'm05' is already in this dataset (as 'M05'" in err
    assert not (data / "ses-S1").exists()


@pytest.mark.parametrize("written, suggested", [("Enter", "return"), ("ENTER", "return"), ("A", "a")])
def test_key_name_written_another_way_gets_a_suggestion(tmp_path, capsys, written, suggested):
    from test_runner_kit import make_study

    proto = make_study(tmp_path, seats=2)
    proto.write_text(proto.read_text().replace("sad: 'b'", f"sad: '{written}'"))
    assert main(["protocol", "check", str(proto)]) == 2
    err = capsys.readouterr().err
    assert f"seats[1].buttons.sad: unknown key name (got '{written}'" in err
    assert f"did you mean '{suggested}'?" in err


_MEASURE = """<script>
document.addEventListener('DOMContentLoaded', () => {
  const rights = [...document.querySelectorAll('table')].map(t => Math.ceil(t.getBoundingClientRect().right));
  const out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = 'MEASURE' + JSON.stringify({tables: rights, page: document.documentElement.scrollWidth});
  document.body.appendChild(out);
});
</script></body>"""


def _chromium(tmp_path, *args):
    import subprocess

    from conftest import require_tool

    return subprocess.run(
        [require_tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu"]
        + ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
        + ["--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.xdist_group(REPORT_GROUP)
def test_report_title_tables_and_warnings_at_1280_px(small_report, tmp_path):
    import re

    html = small_report.read_text(encoding="utf-8")
    assert "<title>Simulated group-vs-alone study</title>" in html
    assert "<h1>Simulated group-vs-alone study</h1>" in html
    assert "ses-a01: cam-wide: a face was seen in 50 of 50 frames (100%) outside every assigned seat" in html
    probe = small_report.with_name("measure.html")
    probe.write_text(html.replace("</body>", _MEASURE), encoding="utf-8")
    proc = _chromium(tmp_path, "--window-size=1280,1000", "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(re.search(r"MEASURE(\{.*?\})", proc.stdout).group(1))
    assert len(found["tables"]) > 3
    assert max(found["tables"]) <= 1280 and found["page"] <= 1280, found
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", small_report.as_uri())
    assert proc.returncode == 0 and shot.exists()


@pytest.mark.xdist_group(REPORT_GROUP)
def test_empty_face_bar_has_its_reason_and_error_bars_stay_above_zero(small_report, monkeypatch):
    import numpy as np
    from matplotlib.container import ErrorbarContainer

    from analysis.report import figures

    trials = pd.read_csv(
        small_report.with_name("trials.tsv"), sep="\t", keep_default_na=False, na_values=["n/a"]
    )
    quality = pd.read_csv(
        small_report.with_name("quality.tsv"), sep="\t", keep_default_na=False, na_values=["n/a"]
    )
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda f, path: seen.setdefault(path.name, f) and path)
    from analysis.report import _empty_bar_reasons

    figures.quality_figure(quality, small_report.with_name("q.png"), _empty_bar_reasons(quality, trials))
    labels = [t.get_text() for t in seen["q.png"].axes[0].texts]
    assert labels and all("no face" in t or "not scored" in t for t in labels), labels
    assert any("outside every seat" in t for t in labels), labels
    # a clip many people never pressed sad for: mean small, CI wide; the bar's interval stops at 0 s
    figures.self_report_figure(trials, small_report.with_name("sr.png"))
    lows = []
    for ax in seen["sr.png"].axes:
        for cont in ax.containers:
            if isinstance(cont, ErrorbarContainer):
                for seg in cont.lines[2][0].get_segments():
                    lows.append(float(np.min(np.asarray(seg)[:, 1])))
    assert lows and min(lows) >= 0.0


# ------------------------------------------------ 7. console noise


def add_sound(stimuli_dir, clip_id: str) -> None:
    """Give a test clip a 440 Hz sound track (ffmpeg) and update its manifest entry."""
    import hashlib
    import subprocess

    from conftest import require_tool

    clip = stimuli_dir / f"{clip_id}.mp4"
    tmp = clip.with_name(f"{clip_id}-snd.mp4")
    subprocess.run(
        [require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(clip), "-f", "lavfi"]
        + ["-i", "sine=frequency=440:duration=5", "-c:v", "copy", "-c:a", "aac", "-shortest", str(tmp)],
        check=True,
    )
    old = hashlib.sha256(clip.read_bytes()).hexdigest()
    tmp.replace(clip)
    new = hashlib.sha256(clip.read_bytes()).hexdigest()
    manifest = stimuli_dir / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    head, entry = text.split(f"- id: {clip_id}\n", 1)
    entry = entry.replace(old, new, 1).replace("audio: false", "audio: true", 1)
    manifest.write_text(f"{head}- id: {clip_id}\n{entry}", encoding="utf-8")


_PROGRESS = r"^(trials|sessions|scoring \d+ sessions|ses-\w+|verifying clips): +\d+%\|"
_OWN = ("Dask dashboard: ", "workers: ", "sound: on, ")


def _noise(stderr: str) -> list[str]:
    import re

    lines = [x.strip() for x in re.split(r"[\r\n]", stderr)]
    # coaffect's own lines (progress bars, where the work runs) are not library noise
    return [x for x in lines if x and not re.match(_PROGRESS, x) and not x.startswith(_OWN)]


def test_run_and_score_print_no_library_noise(tmp_path, display, shared_data):
    from test_runner_kit import coaffect, make_study

    proto = make_study(
        tmp_path,
        seats=2,
        clips=("clip-pos",),
        camera=shared_data / "group/head-pose-face-detection-female-and-male.gif",
    )
    add_sound(tmp_path / "stimuli", "clip-pos")
    # the clip's sound really plays (into a private PulseAudio null sink): SDL and ALSA are in use
    proto.write_text(proto.read_text() + "audio: {play: on, volume: 1.0, device: coaffect_noise}\n")
    assert main(["protocol", "check", str(proto)]) == 0
    data = tmp_path / "data"
    with PulseDaemon("coaffect_noise") as pulse:
        r = coaffect(
            "run", proto, "--condition", "group", "--participants", "P01,P02", "--simulate", "--output", data,
            env=pulse.env,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _noise(r.stderr) == [], r.stderr  # no ALSA / SDL lines for the clip's sound track
    r = coaffect("score", data)
    assert r.returncode == 0, r.stderr
    assert _noise(r.stderr) == [], r.stderr  # no TensorFlow Lite INFO line
    assert "scored, faces found in" in r.stdout
