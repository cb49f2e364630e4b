"""Session folder: writer -> reader round trip, crash tolerance, bad cells, hold intervals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from coaffect.formats import session_format as fmt
from coaffect.formats.errors import SessionFormatError, SessionSetupError
from coaffect.formats.session_reader import button_intervals, read_participants, read_session, read_table
from coaffect.formats.session_writer import SessionWriter, TableWriter

NA = pd.NA


def _write_session(dataset, status="complete"):
    w = SessionWriter.create(
        dataset,
        "S01",
        {
            "condition": "group",
            "participants": [{"participant_id": "P01", "seat": "A"}, {"participant_id": "P02", "seat": "B"}],
            "protocol": {"id": "demo", "sha256": "ab" * 32},
            "versions": {"coaffect": "0.1.0"},
        },
    )
    w.append("events.tsv", {"onset": 0.0, "duration": 5.0, "trial_type": "baseline"})
    w.append(
        "events.tsv",
        {
            "onset": 5.016667,
            "duration": 8.0333333,
            "trial_type": "clip",
            "trial": 1,
            "stimulus_id": "demo-positive",
            "detail": "frames 240/240\tdropped 0",
        },
    )
    w.append(
        "buttons.tsv",
        {"t": 6.25, "action": "down", "participant_id": "P01", "seat": "A", "button": "happy", "key": "a"},
    )
    w.append(
        "buttons.tsv",
        {"t": 7.5, "action": "up", "participant_id": "P01", "seat": "A", "button": "happy", "key": "a"},
    )
    w.append(
        "ratings.tsv",
        {
            "trial": 1,
            "stimulus_id": "demo-positive",
            "participant_id": "P01",
            "item": "happy",
            "value": 7,
            "rt": 2.25,
            "onset": 13.1,
        },
    )
    w.append(
        "ratings.tsv",
        {
            "trial": 1,
            "stimulus_id": "demo-positive",
            "participant_id": "P02",
            "item": "happy",
            "value": None,
            "rt": None,
            "onset": 13.1,
        },
    )
    w.append("flips.tsv", {"t": 5.016667, "trial": 1, "stimulus_id": "demo-positive", "frame": 0, "pts": 0.0})
    w.append("flips.tsv", {"t": 5.05, "trial": 1, "stimulus_id": "demo-positive", "frame": None, "pts": None})
    cam = TableWriter(w.dir / "cam-wide_frames.tsv", fmt.CAMERA_FRAMES.names)
    cam.append({"frame": 0, "t": 0.033, **{c: 0 for c in fmt.CAMERA_FRAMES.names[2:]}})
    cam.close()
    w.add_participants(
        [
            {"participant_id": "P01", "condition": "group", "session_id": "S01", "seat": "A"},
            {"participant_id": "P02", "condition": "group", "session_id": "S01", "seat": "B"},
        ]
    )
    if status is not None:
        w.finish(status)
    return w


def test_round_trip_of_every_table(tmp_path):
    _write_session(tmp_path)
    s = read_session(tmp_path / "ses-S01")
    assert (s.status, s.session_id, s.meta["format_version"]) == ("complete", "S01", 1)
    assert s.meta["clock"] == fmt.CLOCK and s.notes == []
    assert s.events["onset"].tolist() == [0.0, 5.016667]
    assert s.events["duration"].tolist() == [5.0, 8.033333]  # rounded to 6 decimals (1 us)
    assert s.events["trial"].tolist() == [NA, 1]
    assert s.events["detail"].tolist() == [NA, "frames 240/240 dropped 0"]  # tab became a space
    assert str(s.events["trial"].dtype) == "Int64" and str(s.events["onset"].dtype) == "float64"
    assert s.buttons[["t", "action", "button"]].values.tolist() == [
        [6.25, "down", "happy"],
        [7.5, "up", "happy"],
    ]
    assert s.ratings["value"].tolist() == [7, NA]
    assert s.ratings["rt"].isna().tolist() == [False, True]
    assert s.flips["frame"].tolist() == [0, NA]
    assert list(s.cameras) == ["wide"]
    assert s.cameras["wide"][["frame", "t"]].values.tolist() == [[0, 0.033]]
    assert read_participants(tmp_path)["seat"].tolist() == ["A", "B"]
    for spec in (fmt.EVENTS, fmt.BUTTONS, fmt.RATINGS, fmt.FLIPS):
        assert list(getattr(s, spec.filename.removesuffix(".tsv"))) == spec.names
        sidecar = json.loads((s.path / spec.filename.replace(".tsv", ".json")).read_text())
        assert sidecar == fmt.sidecar(spec)
    description = json.loads((tmp_path / "dataset_description.json").read_text())
    assert description["coaffect_format_version"] == fmt.FORMAT_VERSION


def test_statuses_running_and_aborted(tmp_path):
    _write_session(tmp_path, status=None)
    s = read_session(tmp_path / "ses-S01")
    assert s.status == "running"
    assert s.notes == ["session.json says 'running': the session crashed or is still recording"]
    w = SessionWriter(tmp_path, "S01", resume=True)
    w.finish("aborted", abort_reason="fire alarm")
    s = read_session(tmp_path / "ses-S01")
    assert (s.status, s.meta["abort_reason"]) == ("aborted", "fire alarm")
    with pytest.raises(SessionSetupError, match="already exists"):
        SessionWriter.create(tmp_path, "S01", {})


def test_cut_last_line_after_crash_is_ignored_with_a_note(tmp_path):
    _write_session(tmp_path, status=None)
    path = tmp_path / "ses-S01" / "buttons.tsv"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("9.125\tdo")  # the process died in the middle of a row
    s = read_session(tmp_path / "ses-S01")
    assert len(s.buttons) == 2
    assert "buttons.tsv: last line was incomplete (session interrupted); ignored" in s.notes
    # resuming cuts the partial row away and appends after the last whole one
    w = SessionWriter(tmp_path, "S01", resume=True)
    w.append(
        "buttons.tsv",
        {"t": 9.5, "action": "down", "participant_id": "P02", "seat": "B", "button": "sad", "key": "b"},
    )
    w.finish("complete")
    s = read_session(tmp_path / "ses-S01")
    assert s.buttons["t"].tolist() == [6.25, 7.5, 9.5]
    assert s.notes == []


@pytest.mark.parametrize(
    "line, message",
    [
        ("abc\tdown\tP01\tA\thappy\ta", "{p}:4:1: column 't': not a number (got 'abc')"),
        ("n/a\tdown\tP01\tA\thappy\ta", "{p}:4:1: column 't': value required (got 'n/a')"),
        ("1.0\tdown\tP01\tA\thappy", "{p}:4: expected 6 tab-separated values, got 5"),
        ("1.0\tdown\tP01\tA\thappy\ta\tx", "{p}:4: expected 6 tab-separated values, got 7"),
    ],
)
def test_bad_cell_names_file_row_and_column(tmp_path, line, message):
    _write_session(tmp_path)
    path = tmp_path / "ses-S01" / "buttons.tsv"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with pytest.raises(SessionFormatError) as info:
        read_session(tmp_path / "ses-S01")
    assert info.value.message == message.format(p=path)


def test_bad_int_and_missing_column(tmp_path):
    path = tmp_path / "ratings.tsv"
    path.write_text(
        "trial\tstimulus_id\tparticipant_id\titem\tvalue\trt\tonset\n1\tc\tP01\thappy\t7.5\t1.0\t3.0\n"
    )
    with pytest.raises(SessionFormatError) as info:
        read_table(path, fmt.RATINGS)
    assert info.value.message == f"{path}:2:5: column 'value': not a whole number (got '7.5')"
    path.write_text("trial\tstimulus_id\n1\tc\n")
    with pytest.raises(SessionFormatError, match=r"ratings.tsv:1: missing column\(s\) participant_id"):
        read_table(path, fmt.RATINGS)


def test_newer_format_and_bad_status_are_refused(tmp_path):
    _write_session(tmp_path)
    meta_path = tmp_path / "ses-S01" / "session.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(SessionFormatError, match="session format 2 is newer"):
        read_session(tmp_path / "ses-S01")
    meta_path.write_text(json.dumps({**meta, "status": "done"}))
    with pytest.raises(SessionFormatError, match="status 'done' is not one of running, complete"):
        read_session(tmp_path / "ses-S01")


# ---------------------------------------------------------------- hold intervals


def _events(rows):
    return pd.DataFrame(rows, columns=["t", "action", "participant_id", "seat", "button", "key"])


def _spans(df):
    return [(r.participant_id, r.button, r.onset, r.offset, r.closed) for r in df.itertuples()]


def test_intervals_simple_and_overlapping_buttons():
    raw = _events(
        [
            (1.0, "down", "P01", "A", "happy", "a"),
            (1.5, "down", "P01", "A", "sad", "z"),  # both held: mixed feelings
            (2.0, "up", "P01", "A", "happy", "a"),
            (3.0, "up", "P01", "A", "sad", "z"),
        ]
    )
    assert _spans(button_intervals(raw)) == [("P01", "happy", 1.0, 2.0, True), ("P01", "sad", 1.5, 3.0, True)]


def test_intervals_held_across_phases():
    # pressed during the clip (trial 1 ends at 13.0), released during the rating screen:
    # one interval, not two, whatever the phase boundaries (PsychoPy issue 6853)
    raw = _events([(10.0, "down", "P01", "A", "sad", "z"), (14.2, "up", "P01", "A", "sad", "z")])
    out = button_intervals(raw)
    assert _spans(out) == [("P01", "sad", 10.0, 14.2, True)]
    assert out["duration"].tolist() == [pytest.approx(4.2)]


def test_intervals_ignore_auto_repeat_and_unmatched_ups():
    raw = _events(
        [
            (0.5, "up", "P02", "B", "happy", "g"),  # up without down: ignored
            (1.0, "down", "P02", "B", "happy", "g"),
            (1.5, "down", "P02", "B", "happy", "g"),  # auto-repeat while held
            (1.53, "down", "P02", "B", "happy", "g"),
            (2.0, "up", "P02", "B", "happy", "g"),
            (2.1, "up", "P02", "B", "happy", "g"),
        ]
    )  # second up: ignored
    assert _spans(button_intervals(raw)) == [("P02", "happy", 1.0, 2.0, True)]


def test_intervals_still_held_at_end_are_closed_and_flagged():
    raw = _events(
        [
            (3.0, "down", "P01", "A", "happy", "a"),
            (4.0, "down", "P02", "B", "sad", "b"),
            (5.0, "up", "P02", "B", "sad", "b"),
        ]
    )
    assert _spans(button_intervals(raw, end_time=20.0)) == [
        ("P01", "happy", 3.0, 20.0, False),
        ("P02", "sad", 4.0, 5.0, True),
    ]
    # without end_time the last event closes it
    assert _spans(button_intervals(raw))[0] == ("P01", "happy", 3.0, 5.0, False)


def test_intervals_from_unsorted_rows_and_empty_input():
    raw = _events([(2.0, "up", "P01", "A", "happy", "a"), (1.0, "down", "P01", "A", "happy", "a")])
    assert _spans(button_intervals(raw)) == [("P01", "happy", 1.0, 2.0, True)]
    empty = button_intervals(_events([]))
    assert empty.empty and list(empty) == [
        "participant_id",
        "seat",
        "button",
        "onset",
        "offset",
        "duration",
        "closed",
    ]


def test_session_intervals_close_at_session_end(tmp_path):
    w = _write_session(tmp_path, status=None)
    w.append(
        "buttons.tsv",
        {"t": 8.0, "action": "down", "participant_id": "P02", "seat": "B", "button": "sad", "key": "b"},
    )
    w.finish("aborted")
    spans = _spans(read_session(tmp_path / "ses-S01").intervals())
    # events end at 5.016667 + 8.033333 = 13.05 s: the open key is closed there
    assert spans == [("P01", "happy", 6.25, 7.5, True), ("P02", "sad", 8.0, 13.05, False)]


# ---------------------------------------------------------------- the document


def test_docs_match_the_format_module(root):
    """docs/session-format.md is generated from coaffect/formats/session_format.py."""
    from coaffect.formats.session_format_doc import SPECS, documented_tables, render

    text = (root / "docs" / "session-format.md").read_text(encoding="utf-8")
    assert render(text) == text, (
        "docs/session-format.md is out of date: run python -m coaffect.cli.format_doc"
    )
    assert sorted(documented_tables(text)) == sorted(SPECS)
    assert set(fmt.TABLES) <= set(SPECS)
    for key in fmt.SESSION_JSON_KEYS:
        assert f"| `{key}` |" in text, key
    for status in fmt.SESSION_STATUSES:
        assert f"| `{status}` |" in text, status
    assert f"**format_version {fmt.FORMAT_VERSION}**" in text
