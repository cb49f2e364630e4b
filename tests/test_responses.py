"""Response devices per seat: a serial box on a pseudo-terminal, one keyboard by index.

The serial box is a fake process on a pty pair (no real box here) that writes
presses and releases at known ``perf_counter`` times; the timing error is the
session time recorded minus the time the line was written. Keyboards are the
two Psychtoolbox lists under Xvfb: "Virtual core XTEST keyboard" (where
xdotool's events arrive) and "Xvfb keyboard" (silent).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_runner_kit import PY, make_study, read_tsv, run_library

from coaffect.formats.errors import HardwareError
from coaffect.formats.protocol import ButtonCodes, load_protocol

HERE = Path(__file__).resolve().parent
CODES = {"happy": ButtonCodes(down="H", up="h"), "sad": ButtonCodes(down="S", up="s")}


class FakeBox:
    """The fake box process; ``.port`` is the pty slave path, ``.log()`` its write times."""

    def __init__(self, tmp: Path, seconds=3.0, step=0.1, delay=0.5, box_clock=False):
        self.log_path = tmp / f"box-{time.monotonic_ns()}.tsv"
        args = [PY, str(HERE / "fake_serial_box.py"), "--log", str(self.log_path)]
        args += ["--seconds", str(seconds), "--step", str(step), "--delay", str(delay)]
        self.proc = subprocess.Popen(
            args + (["--box-clock"] if box_clock else []), stdout=subprocess.PIPE, text=True
        )
        self.port = self.proc.stdout.readline().strip()

    def log(self) -> pd.DataFrame:
        return pd.read_csv(self.log_path, sep="\t")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def _match(recorded: pd.DataFrame, log: pd.DataFrame, clock_zero: float) -> np.ndarray:
    """Timing error (s) of every logged line written after the first recorded row."""
    errs = []
    log = log.assign(t=(log.perf_before + log.perf_after) / 2 - clock_zero)
    log = log[log.t >= recorded.t.min() - 0.05]
    for button in ("happy", "sad"):
        for action in ("down", "up"):
            sent = log[(log.button == button) & (log.action == action)].t.to_numpy()
            got = recorded[(recorded.button == button) & (recorded.action == action)].t.to_numpy()
            assert len(got) >= len(sent) - 1 and len(sent) > 0, (button, action, len(sent), len(got))
            for s in sent:
                errs.append(got[np.argmin(np.abs(got - s))] - s)
    return np.asarray(errs)


@pytest.mark.serial  # serial-port event times against the sender's: run alone (make test)
@pytest.mark.parametrize("box_clock", [False, True], ids=["host-time", "box-time"])
def test_serial_box_on_pty_timing(tmp_path, box_clock):
    from experiments.responses.serial_box import SerialBox
    from experiments.runner.clock import SessionClock

    # the box starts writing 1 s after it opens the pty: the reader is listening by then,
    # so every line written must arrive
    box = FakeBox(tmp_path, seconds=2.0, step=0.05, delay=1.0, box_clock=box_clock)
    clock = SessionClock(time.perf_counter())
    try:
        src = SerialBox("B", box.port, 115200, CODES, clock, box_timestamps=box_clock)
        assert src.opened_at < 0.9, "the port took too long to open"
        rows = []
        end = clock.zero + 4.0
        while time.perf_counter() < end:
            rows += [{"t": e.t, "action": e.action, "button": e.key.split(":")[2]} for e in src.poll()]
            time.sleep(0.016)  # polled once per frame, as the runtime does
        src.close()
    finally:
        box.close()
    rec = pd.DataFrame(rows)
    log = box.log()
    assert len(rec) == len(log)  # every line, none lost, none invented
    err = _match(rec, log, clock.zero)
    print(
        f"serial {'box' if box_clock else 'host'} time: median {1000 * np.median(err):.2f} ms, "
        f"p95 {1000 * np.percentile(np.abs(err), 95):.2f} ms, max {1000 * np.abs(err).max():.2f} ms"
    )
    # stamped by the reader thread on arrival, not at the next 16 ms poll
    assert abs(np.median(err)) < 0.004
    assert np.percentile(np.abs(err), 95) < 0.015
    assert src.describe()["timestamps"] == ("box" if box_clock else "host")


def _serial_protocol(tmp_path, port: str) -> Path:
    proto = make_study(tmp_path, seats=2)
    text = proto.read_text(encoding="utf-8")
    old = "  - {id: B, label: seatB, buttons: {happy: 'g', sad: 'b'}}\n"
    assert old in text
    new = (
        "  - id: B\n    label: seatB\n    buttons: {happy: 'g', sad: 'b'}\n"
        f"    response: {{kind: serial, port: '{port}', baud: 115200, "
        "codes: {happy: {down: H, up: h}, sad: {down: S, up: s}}}\n"
    )
    proto.write_text(text.replace(old, new), encoding="utf-8")
    return proto


def test_missing_serial_port_names_seat_and_port(tmp_path):
    from experiments.responses import check_devices

    lp = load_protocol(_serial_protocol(tmp_path, "/dev/ttyNOPE9"))
    with pytest.raises(HardwareError) as err:
        check_devices(lp.protocol, ["A", "B"])
    assert "seat B" in str(err.value) and "/dev/ttyNOPE9" in str(err.value)


def test_busy_serial_port_names_seat_and_port(tmp_path):
    from experiments.responses import check_devices

    box = FakeBox(tmp_path, seconds=1.0)
    try:
        lp = load_protocol(_serial_protocol(tmp_path, box.port))
        fd = os.open(box.port, os.O_RDWR | os.O_NOCTTY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another program holds the box
        with pytest.raises(HardwareError) as err:
            check_devices(lp.protocol, ["A", "B"])
        assert "seat B" in str(err.value) and "busy" in str(err.value)
        os.close(fd)
        check_devices(lp.protocol, ["A", "B"])  # free again: fine
    finally:
        box.close()


def _keyboards():
    from experiments.responses.devices import _ptb_keyboards

    return dict((n, i) for i, n in _ptb_keyboards())


def test_seat_keyboard_by_index_ignores_other_keyboards(tmp_path):
    """Under Xvfb xdotool's keys arrive on the XTEST keyboard only."""
    from coaffect.formats.protocol import Buttons
    from experiments.responses.devices import SeatKeyboard
    from experiments.runner.clock import SessionClock

    kbs = _keyboards()
    xtest = next(i for n, i in kbs.items() if "XTEST" in n)
    other = next(i for n, i in kbs.items() if "XTEST" not in n)
    clock = SessionClock(time.perf_counter())
    bound = SeatKeyboard("A", xtest, Buttons(happy="a", sad="z"), clock)
    silent = SeatKeyboard("B", other, Buttons(happy="a", sad="z"), clock)
    try:
        subprocess.run(["xdotool", "keydown", "a", "keyup", "a", "key", "q"], check=True)
        time.sleep(0.3)
        got = bound.poll()
        assert [(e.action, e.key) for e in got] == [
            ("down", "A:ptb_keyboard:happy"),
            ("up", "A:ptb_keyboard:happy"),
        ]
        assert silent.poll() == []
    finally:
        bound.close()
        silent.close()


def test_devices_verb_lists_keyboards(capsys):
    from coaffect.cli import main

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Virtual core XTEST keyboard" in out and "ptb_keyboard" in out


@pytest.mark.serial  # key and serial event times against the injected ones: run alone (make test)
def test_session_keyboard_seat_and_serial_seat(tmp_path):
    """Seat A on the keyboard (real X events via xdotool), seat B on a pty serial box."""
    box = FakeBox(tmp_path, seconds=40.0, step=0.15, delay=0.0)
    try:
        proto = _serial_protocol(tmp_path, box.port)
        res = run_library(
            timeout=240,
            protocol=proto,
            condition="group",
            participants=["P01", "P02"],
            output=tmp_path / "data",
            session_id="S1",
            simulate="xdotool",
            seed=4,
            cameras=False,
            progress=False,
        )
    finally:
        box.close()
    assert res.returncode == 0, res.stderr[-3000:]
    ses = tmp_path / "data" / "ses-S1"
    import json

    meta = json.loads((ses / "session.json").read_text())
    assert meta["status"] == "complete"
    assert meta["responses"]["B"]["kind"] == "serial" and meta["responses"]["B"]["timestamps"] == "host"
    buttons = read_tsv(ses / "buttons.tsv")
    a, b = buttons[buttons.seat == "A"], buttons[buttons.seat == "B"]
    # seat A: the injected X key events, each written once
    sim = read_tsv(ses / "simulated_keys.tsv")
    sim_a = sim[sim.seat == "A"]
    assert len(a) == len(sim_a) > 0
    err_a = np.sort(a.t.to_numpy()) - np.sort(((sim_a.t_sent + sim_a.t_sent_end) / 2).to_numpy())
    # seat B: every line the box wrote while the session listened, as B:serial:<button>
    assert set(b.key) == {"B:serial:happy", "B:serial:sad"}
    assert (b.participant_id == "P02").all()
    end = buttons.t.max()
    log = box.log()
    log = log[(log.perf_before - meta["clock_zero_perf"]) <= end - 0.05]
    err_b = _match(b, log, meta["clock_zero_perf"])
    print(
        f"session: keyboard seat A median {1000 * np.median(err_a):.2f} ms max {1000 * np.abs(err_a).max():.2f} ms; "
        f"serial seat B median {1000 * np.median(err_b):.2f} ms p95 {1000 * np.percentile(np.abs(err_b), 95):.2f} ms "
        f"max {1000 * np.abs(err_b).max():.2f} ms over {len(err_b)} lines"
    )
    # median: stamped on arrival by the reader thread (stamping at the next frame's poll gives
    # about 8 ms); three lines in four within one 60 Hz frame. The tail depends on the machine's
    # load (in a session the reader thread waits for the interpreter lock while the window
    # draws: p95 8-137 ms seen here at load 5-16 on 2 cores), so it is printed, not bounded.
    assert abs(np.median(err_b)) < 0.004 and np.percentile(np.abs(err_b), 75) < 1 / 60
    assert abs(np.median(err_a)) < 0.01
