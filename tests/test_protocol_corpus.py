"""Every broken protocol in tests/protocol_corpus/ gives exactly its expected message.

Each ``NN-name.yaml`` is paired with ``NN-name.expected``: the exact lines
``coaffect protocol check NN-name.yaml`` must print on stderr (run from the
corpus folder, so file names are relative). The files were written by hand as
variations of ``valid/minimal.yaml``; each expected message was read once and
judged as a researcher would read it. Exit status must be 2 and no traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coaffect.cli import main

CORPUS = Path(__file__).parent / "protocol_corpus"
BROKEN = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))


def _check(monkeypatch, capsys, name: str) -> tuple[int, str, str]:
    monkeypatch.chdir(CORPUS)
    rc = main(["protocol", "check", "--no-files", name])  # the corpus manifest names no real clips
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_corpus_is_big_enough():
    assert len(BROKEN) == 46  # exactly: a case lost by a rename would otherwise go unnoticed
    for path in BROKEN:
        assert path.with_suffix(".expected").is_file(), f"{path.name} has no .expected file"


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_protocol_gives_expected_message(path, monkeypatch, capsys):
    rc, out, err = _check(monkeypatch, capsys, path.name)
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert rc == 2
    assert "Traceback" not in err + out
    assert err.splitlines() == expected
    # every line has the FILE:LINE:COL: prefix
    for line in err.splitlines():
        assert re.match(rf"^{re.escape(path.name)}:\d+:\d+: ", line), line


def test_valid_minimal_protocol_passes(monkeypatch, capsys):
    rc, out, err = _check(monkeypatch, capsys, "valid/minimal.yaml")
    assert (rc, err) == (0, "")
    assert out == "valid/minimal.yaml: ok (corpus-study 1.0, 2 clips, 2 seats, conditions: alone, group)\n"


def test_python_tag_is_not_executed(tmp_path, monkeypatch, capsys):
    # would create the marker file if PyYAML's unsafe loader were used
    marker = tmp_path / "pwned"
    text = (
        (CORPUS / "valid" / "minimal.yaml")
        .read_text()
        .replace("title: Corpus study", f"title: !!python/object/apply:os.system ['touch {marker}']")
    )
    bad = tmp_path / "evil.yaml"
    bad.write_text(text.replace("../stimuli/", f"{CORPUS}/stimuli/"))
    assert main(["protocol", "check", str(bad)]) == 2
    assert not marker.exists()
    assert "YAML tag not allowed" in capsys.readouterr().err


def test_no_manifest_flag_skips_the_stimulus_check(monkeypatch, capsys):
    rc, _, err = _check(monkeypatch, capsys, "09-missing-stimulus.yaml")
    assert rc == 2 and "sad-kat" in err
    rc = main(["protocol", "check", "--no-manifest", "09-missing-stimulus.yaml"])
    assert rc == 0


def test_random_damage_never_gives_a_traceback(tmp_path):
    """300 randomly damaged copies of the valid protocol: valid or a ProtocolError, never a crash.

    Each copy has 1-4 characters deleted, inserted or replaced with YAML
    punctuation, tabs or letters (fixed seed, so failures are reproducible).
    ``load_protocol`` is what ``protocol check`` runs; the CLI turns a
    ProtocolError into exit 2 (tested above), anything else would be a traceback.
    """
    import random

    from coaffect.formats.errors import ProtocolError
    from coaffect.formats.protocol import load_protocol

    base = (CORPUS / "valid" / "minimal.yaml").read_text().replace("../stimuli/", f"{CORPUS}/stimuli/")
    rng = random.Random(20261128)
    alphabet = list(":-[]{}#&*!|>'\"\t\n ,?%@`") + list("abz019")
    path = tmp_path / "damaged.yaml"
    codes = []
    for _ in range(300):
        text = list(base)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(text))
            op = rng.random()
            if op < 0.4:
                del text[i]
            elif op < 0.8:
                text.insert(i, rng.choice(alphabet))
            else:
                text[i] = rng.choice(alphabet)
        path.write_text("".join(text))
        try:
            load_protocol(path)
            codes.append(0)
        except ProtocolError as exc:
            assert all(line.startswith(f"{path}:") for line in exc.lines), exc.lines
            codes.append(2)
    assert codes.count(2) > 150  # most damage is caught
