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
from test_runner_kit import PY, coaffect, make_study, read_tsv, run_library

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


def _serial_protocol(tmp_path, port: str, seats: int = 2, seat: str = "B", label: str = "seatB") -> Path:
    """The test study with ``seat`` (keys as in SEAT_KEYS) on a serial box at ``port``."""
    from test_runner_kit import SEAT_KEYS

    proto = make_study(tmp_path, seats=seats)
    text = proto.read_text(encoding="utf-8")
    happy, sad = next((h, d) for s, h, d in SEAT_KEYS if s == seat)
    old = f"  - {{id: {seat}, label: seat{seat}, buttons: {{happy: '{happy}', sad: '{sad}'}}}}\n"
    assert old in text
    new = (
        f"  - id: {seat}\n    label: {label}\n    buttons: {{happy: '{happy}', sad: '{sad}'}}\n"
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


class SilentPort:
    """A pseudo-terminal standing in for a lab's box port that nobody presses (as in a rehearsal)."""

    def __init__(self):
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.serial  # key and serial event times against the injected ones: run alone (make test)
def test_session_keyboard_seat_and_serial_seat(tmp_path):
    """--simulate xdotool: seat A on the keyboard (real X events), seat B on a serial box.

    Under --simulate the serial seat is pressed by a simulated box: code lines on a
    pseudo-terminal that seat B's real serial reader reads (issue 25: before, the
    simulated participant pressed keyboard keys that do not count for a serial seat, and
    the button check waited for ever). The configured port only has to exist.
    """
    silent = SilentPort()
    try:
        proto = _serial_protocol(tmp_path, silent.port)
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
        silent.close()
    assert res.returncode == 0, res.stderr[-3000:]
    ses = tmp_path / "data" / "ses-S1"
    import json

    meta = json.loads((ses / "session.json").read_text())
    assert meta["status"] == "complete"
    resp = meta["responses"]["B"]
    assert resp["kind"] == "serial" and resp["timestamps"] == "host"
    assert resp["simulated"] is True and resp["configured_port"] == silent.port
    buttons = read_tsv(ses / "buttons.tsv")
    a, b = buttons[buttons.seat == "A"], buttons[buttons.seat == "B"]
    sim = read_tsv(ses / "simulated_keys.tsv")
    # seat A: the injected X key events, each written once
    sim_a = sim[sim.seat == "A"]
    assert len(a) == len(sim_a) > 0
    err_a = np.sort(a.t.to_numpy()) - np.sort(((sim_a.t_sent + sim_a.t_sent_end) / 2).to_numpy())
    # seat B: every line the simulated box wrote, read back as B:serial:<button>
    sim_b = sim[sim.seat == "B"]
    assert set(b.key) == set(sim_b.key) == {"B:serial:happy", "B:serial:sad"}
    assert (b.participant_id == "P02").all()
    assert len(b) == len(sim_b) > 0
    # issue 25: session.json counts every line the box sent (it said 0: counted at the start)
    assert resp["lines"] == len(b) and resp["unknown_lines"] == 0
    err_b = np.sort(b.t.to_numpy()) - np.sort(((sim_b.t_sent + sim_b.t_sent_end) / 2).to_numpy())
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


def _three_seats_serial_c(tmp_path, port: str) -> Path:
    """The issue's rig: seats A and B on the keyboard, seat C (derecha) on a serial box."""
    return _serial_protocol(tmp_path, port, seats=3, seat="C", label="derecha")


def test_rehearsal_with_a_serial_seat_completes_inprocess(tmp_path, display):
    """Issue 25 item 1: ``coaffect run --simulate`` with seat C on a box hung in the button check."""
    silent = SilentPort()
    try:
        proto = _three_seats_serial_c(tmp_path, silent.port)
        args = [proto, "--condition", "group", "--participants", "P01,P02,P03", "--simulate"]
        r = coaffect(
            "run", *args, "--no-cameras", "--output", tmp_path / "data", "--session-id", "S1", timeout=150
        )
    finally:
        silent.close()
    assert r.returncode == 0, r.stderr[-3000:]
    ses = tmp_path / "data" / "ses-S1"
    import json

    meta = json.loads((ses / "session.json").read_text())
    assert meta["status"] == "complete" and meta["button_check"] == "passed"
    buttons = read_tsv(ses / "buttons.tsv")
    c = buttons[buttons.seat == "C"]
    assert set(c.key) == {"C:serial:happy", "C:serial:sad"} and (c.participant_id == "P03").all()
    assert meta["responses"]["C"]["lines"] == len(c) > 0


def test_rig_check_rehearsal_presses_the_serial_seat(tmp_path, display):
    """Issue 25 item 1: rig-check --simulate said 'seat C (derecha) happy key k: NEVER PRESSED'."""
    silent = SilentPort()
    try:
        proto = _three_seats_serial_c(tmp_path, silent.port)
        r = coaffect(
            "rig-check", proto, "--simulate", "--no-display", "--no-sound", "--output", tmp_path / "rc"
        )
    finally:
        silent.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "buttons: PASSED, 6 of 6 seen down and up" in r.stdout
    assert f"seat C (derecha)  happy serial box {silent.port}, code 'H'/'h': down at" in r.stdout
    assert "rollover: PASSED, 6 of 6" in r.stdout


def test_rig_check_wrong_serial_port_checks_the_other_seats(tmp_path, display):
    """Issue 25 item 7: the box's own message and hint; seats A and B still checked."""
    proto = _three_seats_serial_c(tmp_path, "/dev/ttyNOPE25")
    r = coaffect("rig-check", proto, "--simulate", "--no-display", "--no-sound", "--output", tmp_path / "rc")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "buttons: FAILED, 4 of 6 seen down and up" in r.stdout
    assert "seat A (seatA)    happy key 'a': down at" in r.stdout
    assert "seat B (seatB)    sad   key 'b': down at" in r.stdout
    assert "seat C (derecha)  happy serial box /dev/ttyNOPE25, code 'H'/'h': NOT CHECKED: seat C:" in r.stdout
    prompts = ("button check:", "rollover check:")
    err = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith(prompts)]
    assert (
        len(err) == 2
        and err[0].startswith(f"{proto}:")
        and "seats[2].response: seat C: serial button box /dev/ttyNOPE25" in err[0]
    )
    assert err[-1].startswith("hint: check the cable and the port name") and "other buttons" not in err[-1], (
        err
    )
    assert "--no-buttons" not in r.stderr and "desktop" not in r.stderr
