"""Two labs exchange the demo protocol: pack -> verify -> import -> check, plus diff and migration."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bundle_support import FRAMES, make_lab, read_zip, reseal, sha, write_clip, write_zip

from coaffect.cli import main
from coaffect.formats.errors import BundleError, CoaffectError, ManifestError
from coaffect.formats.protocol import load_protocol
from conftest import require_tool
from experiments.bundle import migrate
from experiments.bundle.diff import diff_protocols
from experiments.bundle.import_ import import_bundle
from experiments.bundle.pack import pack_bundle
from experiments.bundle.verify import verify_bundle

PROTO = "protocol/bittersweet-demo.yaml"


@pytest.fixture(scope="module")
def lab_a(tmp_path_factory, root) -> Path:
    lab = tmp_path_factory.mktemp("lab_a")
    return make_lab(lab, root / "protocols" / "bittersweet-demo.yaml")


@pytest.fixture(scope="module")
def bundle(lab_a) -> Path:
    out = lab_a.parents[1] / "bittersweet-demo.zip"
    pack_bundle(lab_a, out, with_stimuli=True)
    return out


def test_pack_writes_every_part_with_checksums(lab_a, bundle):
    members = read_zip(bundle)
    # demo-negative is 'proprietary' (redistributable: false): described, not shipped
    assert sorted(members) == [
        "README.md",
        "bundle.json",
        PROTO,
        "requirements.json",
        "stimuli/clips/demo-bittersweet.mp4",
        "stimuli/clips/demo-positive.mp4",
        "stimuli/manifest.yaml",
        "texts/baseline.txt",
        "texts/button_check.txt",
        "texts/button_check_ok.txt",
        "texts/consent.txt",
        "texts/end.txt",
        "texts/happy_button.txt",
        "texts/instructions.txt",
        "texts/rating_done.txt",
        "texts/rating_help.txt",
        "texts/rating_intro.txt",
        "texts/sad_button.txt",
    ]
    assert members[PROTO] == lab_a.read_bytes()  # the protocol travels byte for byte
    bm = json.loads(members["bundle.json"])
    assert bm["bundle_format"] == 1 and bm["stimulus_manifest"] == "stimuli/manifest.yaml"
    for name, entry in bm["files"].items():
        assert entry == {"sha256": hashlib.sha256(members[name]).hexdigest(), "size": len(members[name])}
    assert [(s["id"], s["included"], s["licence"]) for s in bm["stimuli"]] == [
        ("demo-positive", True, "CC0-1.0"),
        ("demo-negative", False, "proprietary"),
        ("demo-bittersweet", True, "CC-BY-4.0"),
    ]
    req = json.loads(members["requirements.json"])
    assert req["psychopy"] == importlib.metadata.version("psychopy")  # read, never imported
    assert (req["seats"], req["group_size"], req["display_size"]) == (3, 3, [1024, 768])
    assert req["keys"] == {
        "A": {"happy": "a", "sad": "z"},
        "B": {"happy": "g", "sad": "b"},
        "C": {"happy": "k", "sad": "m"},
    }  # from protocols/bittersweet-demo.yaml
    assert [(c["name"], c["kind"], c["fps"]) for c in req["cameras"]] == [("wide", "replay file", 30.0)]
    assert members["texts/consent.txt"].decode().startswith("Welcome. This is a demonstration")
    readme = members["README.md"].decode()
    assert (
        "| demo-negative | 0.8 | 10 | 8 | 64x48 | proprietary | no | Film 'Grey Days' (1999), "
        "00:12:00-00:12:01, distributor DVD |"
    ) in readme
    assert "coaffect protocol import bittersweet-demo.zip --into protocols/" in readme


def test_pack_without_stimuli_ships_no_clip(lab_a, tmp_path):
    r = pack_bundle(lab_a, tmp_path / "b.zip")
    assert r.included == [] and r.not_included == ["demo-positive", "demo-negative", "demo-bittersweet"]
    assert not [n for n in read_zip(tmp_path / "b.zip") if n.endswith(".mp4")]


def test_pack_refuses_a_clip_changed_since_the_manifest(tmp_path, root):
    protocol = make_lab(tmp_path / "lab", root / "protocols" / "bittersweet-demo.yaml")
    write_clip(tmp_path / "lab" / "stimuli" / "clips" / "demo-positive.mp4", (0, 0, 255))
    with pytest.raises(ManifestError) as err:
        pack_bundle(protocol, tmp_path / "x.zip", with_stimuli=True)
    assert (
        "demo-positive: sha256: file clips/demo-positive.mp4 changed since the manifest" in err.value.message
    )
    assert not (tmp_path / "x.zip").exists() and not list(tmp_path.glob(".x.zip*"))


def _lab_b_stimuli(bundle_members: dict, lab_a: Path, dest: Path, reencode_negative: bool) -> Path:
    """Lab B's own clip folder: its own names, demo-negative bought on DVD (maybe re-encoded)."""
    dest.mkdir(parents=True)
    src = lab_a.parents[1] / "stimuli" / "clips" / "demo-negative.mp4"
    if reencode_negative:
        subprocess.run(
            [
                require_tool("ffmpeg"),
                "-v",
                "error",
                "-i",
                str(src),
                "-c:v",
                "mpeg4",
                "-q:v",
                "12",
                str(dest / "demo-negative.mp4"),
            ],
            check=True,
        )
    else:
        shutil.copyfile(src, dest / "demo-negative.mp4")
    return dest


def test_verify_checks_the_receiving_labs_clips(bundle, lab_a, tmp_path):
    members = read_zip(bundle)
    report = verify_bundle(bundle)
    assert report.lines()[0] == f"{bundle}: ok (bittersweet-demo 1.0.0, 18 files, all checksums match)"
    assert report.notes == [
        "1 clip(s) not in the bundle: demo-negative (source: Film 'Grey Days' (1999), "
        "00:12:00-00:12:01, distributor DVD); check your copies with --stimuli DIR"
    ]
    same = _lab_b_stimuli(members, lab_a, tmp_path / "same", reencode_negative=False)
    report = verify_bundle(bundle, stimuli_dir=same)
    assert [m.status for m in report.matches] == ["checksum"] and report.warnings == []
    reenc = _lab_b_stimuli(members, lab_a, tmp_path / "reenc", reencode_negative=True)
    assert sha(reenc / "demo-negative.mp4") != sha(same / "demo-negative.mp4")
    report = verify_bundle(bundle, stimuli_dir=reenc)
    assert [m.status for m in report.matches] == ["re-encoded"]
    assert (
        report.warnings[0].startswith("demo-negative: ")
        and f"same frame count ({FRAMES}) and duration (0.800 s)" in report.warnings[0]
    )
    other = tmp_path / "other"
    write_clip(other / "demo-negative.mp4", (200, 60, 30), frames=FRAMES + 5)
    with pytest.raises(BundleError) as err:
        verify_bundle(bundle, stimuli_dir=other)
    assert err.value.message.startswith("stimulus 'demo-negative' does not match (expected sha256 ")
    assert "8 frames, 0.8 s; got" in err.value.message and "13 frames, 1.300 s" in err.value.message


def test_round_trip_pack_verify_import_check(bundle, lab_a, tmp_path, capsys):
    """Lab B: verify with its clips, import, and the installed protocol passes 'protocol check'."""
    lab_b = tmp_path / "lab_b"
    (lab_b / "protocols").mkdir(parents=True)
    stim = _lab_b_stimuli(read_zip(bundle), lab_a, lab_b / "stimuli", reencode_negative=False)
    assert main(["protocol", "verify", str(bundle), "--stimuli", str(stim)]) == 0
    assert (
        main(["protocol", "import", str(bundle), "--into", str(lab_b / "protocols"), "--stimuli", str(stim)])
        == 0
    )
    out = capsys.readouterr().out
    installed = lab_b / "protocols" / "bittersweet-demo"
    assert f"{installed}: installed; protocol: {installed / PROTO}" in out
    assert sorted(p.name for p in (lab_b / "protocols").iterdir()) == ["bittersweet-demo"]
    assert (installed / PROTO).read_bytes() == lab_a.read_bytes()
    for cid in ("demo-positive", "demo-negative", "demo-bittersweet"):  # all clips in place, by checksum
        assert sha(installed / "stimuli" / "clips" / f"{cid}.mp4") == sha(
            lab_a.parents[1] / "stimuli" / "clips" / f"{cid}.mp4"
        )
    assert main(["protocol", "check", str(installed / PROTO)]) == 0
    lp = load_protocol(installed / PROTO)
    assert lp.sha256 == hashlib.sha256(lab_a.read_bytes()).hexdigest()


def test_import_without_stimuli_names_the_clips_still_needed(bundle, tmp_path, capsys):
    """A clip the bundle only describes is named, with the flag that brings it in (library words mapped)."""
    (tmp_path / "protocols").mkdir()
    assert main(["protocol", "import", str(bundle), "--into", str(tmp_path / "protocols")]) == 0
    out = capsys.readouterr().out
    assert "clips still needed: demo-negative (import again with --stimuli DIR, or copy them in" in out
    assert "`" not in out


DIFF_EDITS = [
    ("clips: [demo-positive, demo-negative, demo-bittersweet]", "clips: [demo-positive, demo-bittersweet]"),
    ("mode: latin_square", "mode: random\n  seed: 7"),
    ("duration: 5\n", "duration: 10\n"),
    (
        "- {id: A, label: left, buttons: {happy: a, sad: z}}",
        "- {id: A, label: left, buttons: {happy: q, sad: z}}",
    ),
    ("timeout: 30", "timeout: 20"),
    (
        "low: 0, high: 9, low_label: not at all, high_label: extremely}\n    - {id: sad",
        "low: 1, high: 7, low_label: not at all, high_label: extremely}\n    - {id: sad",
    ),
    ("    fps: 30\n", "    fps: 25\n"),
]


def test_diff_says_what_changed_in_a_researchers_words(bundle, lab_a, tmp_path):
    text = lab_a.read_text()
    for old, new in DIFF_EDITS:
        assert old in text, old
        text = text.replace(old, new, 1)
    changed = lab_a.parent / "changed.yaml"
    changed.write_text(text)
    diffs, notes = diff_protocols(bundle, changed)
    assert diffs == [
        "clips removed: demo-negative",
        "clip order mode changed: 'latin_square' -> 'random'",
        "clip order seed changed: None -> 7",
        "baseline duration changed: 5 s -> 10 s",
        "seat A happy key changed: a -> q",
        "ratings timeout changed: 30 s -> 20 s",
        "rating happy scale changed: 0-9 -> 1-7",
        "camera wide fps changed: 30 fps -> 25 fps",
    ]
    assert notes == []
    assert diff_protocols(lab_a, bundle) == ([], [])
    assert main(["protocol", "diff", str(lab_a), str(changed)]) == 1
    assert main(["protocol", "diff", str(lab_a), str(bundle)]) == 0


def _format0(members: dict) -> dict:
    # synthetic format 0: the pause between clips was called 'inter_trial_interval'
    text = members[PROTO].decode().replace("format_version: 1", "format_version: 0")
    text = text.replace("iti: 1.0", "inter_trial_interval: 1.0")
    return reseal({**members, PROTO: text.encode()})


def _rename_iti(data: dict) -> dict:
    data["iti"] = data.pop("inter_trial_interval")
    return data


def test_older_format_is_migrated_with_a_message(bundle, tmp_path, monkeypatch):
    old = write_zip(tmp_path / "old.zip", _format0(read_zip(bundle)))
    with pytest.raises(CoaffectError) as err:  # no step registered: refused, naming the formats
        verify_bundle(old)
    assert err.value.message == (
        f"old.zip:{PROTO}:3:17: format_version: no migration from protocol format 0 (got 0; allowed: 1)"
    )
    monkeypatch.setitem(
        migrate.MIGRATIONS, 0, migrate.Migration(0, "renamed 'inter_trial_interval' to 'iti'", _rename_iti)
    )
    report = verify_bundle(old)
    assert report.notes[0] == (
        f"old.zip:{PROTO}:3:17: migrated protocol format 0 -> 1: renamed 'inter_trial_interval' to 'iti'"
    )
    into = tmp_path / "protocols"
    into.mkdir()
    result = import_bundle(old, into)
    installed = result.protocol.read_text()
    assert installed.startswith("# Migrated by coaffect ")
    assert "# renamed 'inter_trial_interval' to 'iti'\n" in installed
    p = load_protocol(result.protocol, check_manifest=False).protocol
    assert (p.format_version, p.iti) == (1, 1.0)
    # a protocol file (not a bundle) in format 0 is migrated in memory by diff
    fmt0 = tmp_path / "fmt0.yaml"
    fmt0.write_bytes(_format0(read_zip(bundle))[PROTO])
    diffs, notes = diff_protocols(fmt0, bundle)
    assert diffs == [] and notes[0].endswith(
        "migrated protocol format 0 -> 1: renamed 'inter_trial_interval' to 'iti'"
    )


def test_newer_format_file_names_the_coaffect_that_reads_it(lab_a, tmp_path, monkeypatch):
    newer = tmp_path / "newer.yaml"
    newer.write_text(lab_a.read_text().replace("format_version: 1", "format_version: 2"))
    monkeypatch.setitem(migrate.FIRST_READER, 2, "0.4.0")
    with pytest.raises(CoaffectError) as err:
        diff_protocols(newer, lab_a)
    assert err.value.message == (
        f"{newer}:3:17: format_version: protocol format 2 is newer than this "
        f"coaffect {migrate.installed_coaffect_version()} reads (got 2; "
        "allowed: 1); coaffect 0.4.0 or later reads it"
    )
    assert err.value.hint == "upgrade: pip install 'coaffect>=0.4.0'"


def test_pack_refuses_a_manifest_outside_any_bundle_layout(tmp_path, root):
    protocol = make_lab(tmp_path / "lab", root / "protocols" / "bittersweet-demo.yaml")
    manifest = (tmp_path / "lab" / "stimuli" / "manifest.yaml").resolve()
    protocol.write_text(
        protocol.read_text().replace("manifest: ../stimuli/manifest.yaml", f"manifest: {manifest}")
    )
    with pytest.raises(BundleError) as err:
        pack_bundle(protocol, tmp_path / "x.zip")
    assert f"stimuli.manifest: cannot be placed inside a bundle (got '{manifest}'" in err.value.message
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.slow
def test_round_trip_ends_in_a_simulated_session(bundle, lab_a, tmp_path, display):
    """pack -> verify -> import -> `coaffect run --simulate` of the imported demo protocol."""
    lab_b = tmp_path / "lab_b"
    (lab_b / "protocols").mkdir(parents=True)
    stim = _lab_b_stimuli(read_zip(bundle), lab_a, lab_b / "stimuli", reencode_negative=False)
    verify_bundle(bundle, stimuli_dir=stim)
    result = import_bundle(bundle, lab_b / "protocols", stimuli_dir=stim)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "coaffect.cli",
            "run",
            str(result.protocol),
            "--condition",
            "group",
            "--participants",
            "P01,P02,P03",
            "--simulate",
            "--no-cameras",
            "--session-id",
            "labb1",
            "--output",
            str(lab_b / "data"),
        ],
        cwd=lab_b,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    session = json.loads((lab_b / "data" / "ses-labb1" / "session.json").read_text())
    assert session["status"] == "complete"
    # lab B's session records the very protocol lab A wrote (same sha256 across labs)
    assert session["protocol"]["sha256"] == hashlib.sha256(lab_a.read_bytes()).hexdigest()
    assert sorted(session["trial_order"]) == ["demo-bittersweet", "demo-negative", "demo-positive"]
    rows = [
        line.split("\t")
        for line in (lab_b / "data" / "ses-labb1" / "events.tsv").read_text().splitlines()[1:]
    ]
    shown = sorted(r[4] for r in rows if r[2] == "clip")
    assert shown == ["demo-bittersweet", "demo-negative", "demo-positive"]
    # each clip was on screen for about its 0.8 s (8 frames at 10 fps; llvmpipe, no vsync)
    assert all(0.6 < float(r[1]) < 2.0 for r in rows if r[2] == "clip")
