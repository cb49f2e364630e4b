"""Lab Streaming Layer: a session records a local 100 Hz outlet and publishes its markers.

A fake outlet process sends a known signal (sample k has value k, stamped
``t_start + k/100`` on LSL's clock); the session records it into
``physio-ppg-<run>.tsv`` on the session clock. A test inlet receives the
session's marker and button-state streams while it runs. Every stream name and
source_id carries this run's token and both are matched, so another session on
the host or network (another test run, say) is never mixed in.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
from test_runner_kit import PY, make_study, read_tsv

from coaffect.formats.session_reader import read_session

HERE = Path(__file__).resolve().parent


def _lsl_protocol(tmp_path, record: str) -> Path:
    proto = make_study(tmp_path, seats=2)
    text = proto.read_text(encoding="utf-8")
    proto.write_text(text + f"lsl:\n  publish: true\n  record:\n{record}", encoding="utf-8")
    return proto


class Inlet(threading.Thread):
    """Collects every sample of one stream until stopped."""

    def __init__(self, name, source_id):
        super().__init__(daemon=True)
        self.name_, self.source_id = name, source_id
        self.samples, self.stamps = [], []
        self.stop = threading.Event()
        self.connected = threading.Event()

    def run(self):
        import pylsl

        while not self.stop.is_set():
            found = pylsl.resolve_bypred(f"name='{self.name_}' and source_id='{self.source_id}'", 1, 0.2)
            if found:
                break
        else:
            return
        from pylsl.util import LostError

        # no recovery: once the session's outlet is gone a pull raises LostError and the
        # thread ends (a recovering inlet kept pulling for 20 s and more past its timeout,
        # and a thread still inside liblsl at interpreter exit once crashed pytest's exit)
        inlet = pylsl.StreamInlet(found[0], recover=False)
        inlet.open_stream(timeout=5)
        self.connected.set()
        try:
            while not self.stop.is_set():
                chunk, ts = inlet.pull_chunk(timeout=0.1)
                self.samples += chunk
                self.stamps += ts
            chunk, ts = inlet.pull_chunk(timeout=0.5)
            self.samples += chunk
            self.stamps += ts
        except LostError:
            pass
        finally:
            inlet.close_stream()


def test_session_records_lsl_stream_and_publishes_markers(tmp_path, caplog):
    from experiments.lsl import BUTTON_STREAM, MARKER_STREAM, source_id
    from experiments.runner import run_session

    run = uuid.uuid4().hex[:10]
    session, ppg_name, ppg_source = f"L{run}", f"ppg-{run}", f"fake-ppg-{run}"
    outlet = subprocess.Popen(
        [
            PY,
            str(HERE / "fake_lsl_outlet.py"),
            "--name",
            ppg_name,
            "--source-id",
            ppg_source,
            "--seconds",
            "120",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    marker_name = MARKER_STREAM.format(session=session)
    button_name = BUTTON_STREAM.format(session=session, seat="A")
    markers = Inlet(marker_name, source_id(marker_name))
    buttons = Inlet(button_name, source_id(button_name))
    markers.start()
    buttons.start()
    try:
        t_start = float(outlet.stdout.readline())
        proto = _lsl_protocol(
            tmp_path,
            f"    - {{name: {ppg_name}, type: PPG, source_id: {ppg_source}}}\n"
            f"    - {{name: not-here-{run}, required: false, timeout: 0.5}}\n",
        )
        res = run_session(
            proto, "group", ["P01", "P02"], output=tmp_path / "data", session_id=session,
            simulate="inprocess", cameras=False, progress=False, seed=2,
        )  # fmt: skip
    finally:
        markers.stop.set()
        buttons.stop.set()
        markers.join(15)
        buttons.join(15)
        outlet.kill()
        outlet.wait()
    assert not markers.is_alive() and not buttons.is_alive()  # no thread left inside liblsl
    assert res.status == "complete"
    # the runner logs it; the CLI prints its log on stderr
    assert f"warning: lsl: optional stream 'not-here-{run}' not found; recording without it" in caplog.text
    ses = read_session(res.session_dir)
    zero = ses.meta["clock_zero_perf"]
    lsl = ses.meta["lsl"]
    assert lsl["physio"][f"not-here-{run}"]["samples"] == 0
    assert (
        lsl["published"]["markers"] == marker_name
        and source_id(marker_name) in lsl["published"]["source_ids"]
    )
    # physio: the known 100 Hz signal on the session clock
    ppg = ses.physio[ppg_name]
    assert list(ppg.columns) == ["t", "lsl_time", "ppg"]
    assert len(ppg) > 100 * 3  # the whole session, at 100 Hz
    expected = t_start + ppg.ppg / 100.0 - zero
    align = (ppg.t - expected).abs()
    print(f"physio alignment: max {1000 * align.max():.4f} ms over {len(ppg)} samples")
    assert align.max() < 0.002
    assert np.allclose(np.diff(ppg.ppg), 1)  # no sample lost
    # the analysis cuts it into clips on the same clock: the value is the sample index
    from analysis.measures.physio import physio_timecourse, plot_physio

    tc = physio_timecourse(ses.events, ses.physio, ses.session_id)
    clips = ses.events[ses.events.trial_type == "clip"]
    assert sorted(tc.trial.unique()) == sorted(clips.trial)
    for clip in clips.itertuples():
        first = tc[(tc.trial == clip.trial) & (tc.second == 0)].iloc[0]
        end = zero + clip.onset + min(1.0, clip.duration) - t_start  # bin 0 ends at 1 s or the clip's end
        want = np.arange(np.ceil((zero + clip.onset - t_start) * 100), end * 100)
        # samples on the bin edges may fall either side (times rounded to 1 us)
        assert abs(first.samples - len(want)) <= 1 and abs(first.value - want.mean()) < 1
    assert plot_physio(tc, tmp_path / "physio.png").stat().st_size > 5000
    side = json.loads((res.session_dir / f"physio-{ppg_name}.json").read_text())
    assert side["source_id"] == ppg_source
    assert side["nominal_srate"] == 100.0 and side["channels"] == ["ppg"] and side["samples"] == len(ppg)
    # markers: one per events.tsv and ratings.tsv row, stamped at the row's onset
    rows = [json.loads(s[0]) for s in markers.samples]
    got = sorted((r["table"], round(r["onset"], 6), ts - zero) for r, ts in zip(rows, markers.stamps))
    ev = read_tsv(res.session_dir / "events.tsv")
    ra = read_tsv(res.session_dir / "ratings.tsv")
    want = sorted(
        [("events.tsv", round(x, 6)) for x in ev.onset] + [("ratings.tsv", round(x, 6)) for x in ra.onset]
    )
    assert [g[:2] for g in got] == want
    onset_err = max(abs(onset - t) for _, onset, t in got)
    print(f"markers: {len(got)} received, max |stamp - onset| {1e6 * onset_err:.2f} us")
    assert onset_err < 1e-4
    # button states of seat A: one sample per raw row, happy/sad held flags
    b = read_tsv(res.session_dir / "buttons.tsv")
    a = b[b.seat == "A"].reset_index(drop=True)
    assert len(buttons.samples) == len(a) > 0
    held = {"happy": 0, "sad": 0}
    for i, row in a.iterrows():
        held[row.button] = int(row.action == "down")
        assert buttons.samples[i] == [held["happy"], held["sad"]]
        assert abs(buttons.stamps[i] - zero - row.t) < 1e-4


def test_closing_the_publisher_delivers_the_rows_written_just_before():
    """liblsl drops what is still queued when an outlet is destroyed; close() waits for it.

    With the outlets dropped at once (the old ``close``) this test failed 3 runs
    of 3 here: the inlet got only some or none of the 40 markers.
    """
    import time

    from experiments.lsl import MARKER_STREAM, LslPublisher, _pylsl, source_id

    pylsl = _pylsl()
    from pylsl.util import LostError

    session = f"close{uuid.uuid4().hex[:8]}"
    pub = LslPublisher(session, ["A"], clock_zero=0.0)
    name = MARKER_STREAM.format(session=session)
    found = pylsl.resolve_bypred(f"name='{name}' and source_id='{source_id(name)}'", 1, 10)
    inlet = pylsl.StreamInlet(found[0], recover=False)
    inlet.open_stream(timeout=10)
    got = []

    def pull():  # until the outlet is gone (LostError without recovery)
        try:
            while True:
                got.extend(inlet.pull_chunk(timeout=0.05, min_samples=1)[0])
        except LostError:
            pass

    reader = threading.Thread(target=pull, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10  # the inlet's subscription reaches the outlet
    while not pub.markers.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    for k in range(40):
        pub.on_row("events.tsv", {"onset": float(k), "trial_type": "clip"})
    pub.close()
    reader.join(10)
    assert sorted(json.loads(s[0])["onset"] for s in got if s[0]) == [float(k) for k in range(40)]


def test_required_stream_missing_stops_before_the_window(tmp_path, capsys):
    from coaffect.cli import main

    run = uuid.uuid4().hex[:10]
    proto = _lsl_protocol(
        tmp_path, f"    - {{name: no-such-ppg-{run}, source_id: dev-{run}, timeout: 0.5}}\n"
    )
    code = main(["run", str(proto), "--condition", "group", "--participants", "P01,P02",
                 "--output", str(tmp_path / "data"), "--simulate", "inprocess", "--no-cameras"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"lsl: stream 'no-such-ppg-{run}' from dev-{run} not found within 0.5 s" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").glob("ses-*"))


@pytest.mark.parametrize("n", [1])
def test_physio_reader_rejects_bad_values(tmp_path, n):
    from coaffect.formats.errors import SessionFormatError
    from coaffect.formats.session_reader import read_physio

    p = tmp_path / "physio-x.tsv"
    p.write_text("t\tlsl_time\tppg\n0.1\t5.1\t1\n0.2\t5.2\tabc\n")
    with pytest.raises(SessionFormatError, match=r"physio-x.tsv:3: column 'ppg'"):
        read_physio(p)
    p.write_text("t\tlsl_time\tppg\n0.1\t5.1\t1\n0.2\t5.2")
    notes = []
    assert len(read_physio(p, notes)) == n and "cut short" in notes[0]
