"""Bad input to the analysis side: every case in tests/analysis_corpus/ gives exactly its message.

Each ``NN-name-VERB.expected`` holds the exact stderr lines of ``coaffect VERB
<dataset>`` after the case's damage (``CASES`` below) was done to a copy of a
simulated dataset; ``{d}`` stands for that copy's path. Exit status 2, no
traceback, and the damaged files are left as they were (nothing is "repaired"
away). The camera cases (a cut ``.mjpg``, a frame table longer or shorter than
its video) are not errors: the faces table promises one row per frame-table
row, NaN where a frame's bytes are not on disk; they are checked on a real
recorded session in ``test_camera_bad_input_gives_nan_rows``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sim_helpers import SMALL, sim_dataset

from coaffect.cli import main

CORPUS = Path(__file__).parent / "analysis_corpus"
FACES = "derivatives/coaffect/ses-a01/faces.parquet"


def _corrupt_parquet(d: Path) -> None:
    (d / FACES).write_bytes(b"PAR1 this is not parquet\n")


def _truncated_parquet(d: Path) -> None:
    data = (d / FACES).read_bytes()
    (d / FACES).write_bytes(data[: len(data) // 2])  # a copy cut short


def _foreign_parquet(d: Path) -> None:
    pd.DataFrame({"x": [1, 2]}).to_parquet(d / FACES)


def _newer_format(d: Path) -> None:
    p = d / "ses-a01/session.json"
    meta = json.loads(p.read_text(encoding="utf-8"))
    meta["format_version"] = 99
    p.write_text(json.dumps(meta), encoding="utf-8")


def _empty(d: Path) -> None:
    shutil.rmtree(d)
    d.mkdir()


def _bad_session_json(d: Path) -> None:
    (d / "ses-a01/session.json").write_text('{"format_version": 1,\n  "status": }\n', encoding="utf-8")


def _bad_cell(d: Path) -> None:
    p = d / "ses-a01/buttons.tsv"
    lines = p.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split("\t")
    cells[0] = "soon"  # column t
    lines[3] = "\t".join(cells)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


CASES = {
    "01-corrupt-parquet-stats": _corrupt_parquet,
    "02-corrupt-parquet-report": _corrupt_parquet,
    "03-truncated-parquet-stats": _truncated_parquet,
    "04-foreign-parquet-stats": _foreign_parquet,
    "05-newer-format-stats": _newer_format,
    "06-newer-format-score": _newer_format,
    "07-newer-format-report": _newer_format,
    "08-empty-dataset-stats": _empty,
    "09-empty-dataset-score": _empty,
    "10-empty-dataset-report": _empty,
    "11-invalid-session-json-stats": _bad_session_json,
    "12-bad-cell-stats": _bad_cell,
}


def test_corpus_is_complete():
    """Exactly the cases above, each with its expected file (no stray or missing case)."""
    files = sorted(p.stem for p in CORPUS.glob("*.expected"))
    assert files == sorted(CASES)
    assert len(CASES) == 12


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sim_dataset(tmp_path_factory, "small", **SMALL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_expected_message(name, small, tmp_path, monkeypatch, capsys):
    d = tmp_path / "ds"
    shutil.copytree(small, d)
    CASES[name](d)
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    verb = name.rsplit("-", 1)[1]
    rc = main([verb, str(d)])
    out = capsys.readouterr()
    expected = (CORPUS / f"{name}.expected").read_text(encoding="utf-8").replace("{d}", str(d)).splitlines()
    assert "Traceback" not in out.err + out.out
    assert out.err.splitlines() == expected
    assert rc == 2
    for p, data in before.items():  # the damaged input is left as it was
        assert p.read_bytes() == data, p


def test_alone_only_dataset_exits_2_without_traceback(small, tmp_path, capsys, monkeypatch):
    """Only alone sessions: nothing to compare; stats says so (wording: issue 11) and exits 2."""
    d = tmp_path / "ds"
    shutil.copytree(small, d)
    for ses in d.glob("ses-g*"):
        shutil.rmtree(ses)
        shutil.rmtree(d / "derivatives/coaffect" / ses.name, ignore_errors=True)
    part = pd.read_csv(d / "participants.tsv", sep="\t")
    part[part.condition == "alone"].to_csv(d / "participants.tsv", sep="\t", index=False)
    rc = main(["stats", str(d)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert rc == 2
    assert "condition" in out.out + out.err and "alone" in out.out + out.err  # says what is missing


GROUP_GIF = "group/head-pose-face-detection-female-and-male.gif"  # 2 people, 12.5 fps


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, display, shared_data):
    """A real recorded group session (runner + replayed camera), scored once intact."""
    from test_runner_kit import coaffect, make_study

    tmp = tmp_path_factory.mktemp("recorded")
    proto = make_study(tmp, seats=2, camera=shared_data / GROUP_GIF)
    data = tmp / "data"
    r = coaffect(
        "run", proto, "--condition", "group", "--participants", "P01,P02", "--simulate",
        "--skip-button-check", "--output", data, "--session-id", "S1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return data


def _score(data: Path, monkeypatch) -> pd.DataFrame:
    assert main(["score", str(data), "--force"]) == 0
    return pd.read_parquet(data / "derivatives/coaffect/ses-S1/faces.parquet")


def _summary(data: Path) -> dict:
    return json.loads((data / "derivatives/coaffect/ses-S1/score_summary.json").read_text())


def test_camera_bad_input_gives_nan_rows(recorded, tmp_path, monkeypatch, capsys):
    """Cut .mjpg, frame table longer or shorter than the video: one row per table row, NaN where no bytes."""
    from experiments.cameras.mjpeg_store import camera_paths, read_frame_rows

    def copy(name):
        d = tmp_path / name
        shutil.copytree(recorded, d)
        shutil.rmtree(d / "derivatives", ignore_errors=True)
        return d, *camera_paths(d / "ses-S1", "wide")

    d, video, table = copy("intact")
    rows = read_frame_rows(table)
    intact = _score(d, monkeypatch)
    n = len(rows)
    assert len(intact) == 2 * n  # a row per frame and participant
    found = intact.groupby("frame")["face_found"].any()
    assert found.mean() > 0.5  # the faces are really seen in the intact video
    assert _summary(d)["frames_unreadable"] == 0

    # .mjpg cut in the middle of a frame: frames without their bytes are NaN rows
    d, video, table = copy("cut")
    cut_at = rows[n // 2].byte_offset + rows[n // 2].byte_length // 2
    os.truncate(video, cut_at)
    faces = _score(d, monkeypatch)
    assert len(faces) == 2 * n
    lost = faces[faces.frame >= n // 2]
    assert len(lost) == 2 * (n - n // 2) and not lost["face_found"].any()
    assert lost[["face_x", "AU12", "smile", "emo_sad"]].isna().all().all()  # NaN, not 0
    summary = _summary(d)
    assert summary["frames_unreadable"] == n - n // 2  # the cut frame and every one after it
    assert summary["cameras"]["wide"]["frames_unreadable"] == n - n // 2
    assert any("could not be decoded" in note for note in summary["notes"])
    # times kept (to the microsecond: the frame table holds them to 1e-6 s)
    want = [float(r.t) for r in rows[n // 2 :]]
    assert len(lost["t"].unique()) == len(want)
    assert np.allclose(np.sort(lost["t"].unique()), want, rtol=0, atol=1e-6)
    kept = faces[faces.frame < n // 2].groupby("frame")["face_found"].any()
    assert kept.equals(found[found.index < n // 2])  # frames before the cut: as scored intact

    # frame table longer than the video (rows pointing past its end): NaN rows for those
    d, video, table = copy("longer")
    last = rows[-1]
    with open(table, "a", encoding="utf-8") as fh:
        for k in range(1, 6):
            off = last.byte_offset + last.byte_length * k
            fh.write(f"{n - 1 + k}\t{last.t + k / 12.5:.6f}\t{off}\t{last.byte_length}\tn/a\n")
    faces = _score(d, monkeypatch)
    assert len(faces) == 2 * (n + 5)
    assert not faces[faces.frame >= n]["face_found"].any()
    assert _summary(d)["frames_unreadable"] == 5
    assert faces[faces.frame < n].groupby("frame")["face_found"].any().equals(found)

    # frame table shorter than the video: frames without a timestamp are not scored
    d, video, table = copy("shorter")
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    table.write_text("".join(lines[:21]), encoding="utf-8")  # header + 20 rows
    faces = _score(d, monkeypatch)
    assert sorted(set(faces.frame)) == list(range(20)) and len(faces) == 40
    assert faces.groupby("frame")["face_found"].any().equals(found[found.index < 20])
    assert "Traceback" not in capsys.readouterr().err
