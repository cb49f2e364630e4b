"""Every bad input to ``coaffect run`` stops before the window: one line, exit 2, nothing touched.

These run ``coaffect.cli.main`` in-process; none of them opens a window
(if one did, the test would need a display and take seconds, not milliseconds).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from test_runner_kit import make_study

from coaffect.cli import main
from conftest import require_root


def _snapshot(folder: Path) -> dict:
    """sha256 of every file below ``folder`` (to prove nothing was written)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(capsys, *args) -> tuple[int, str]:
    code = main(["run", *map(str, args)])
    err = capsys.readouterr().err
    return code, err


def _group_run(capsys, proto, data, people: str, session_id: str, *more) -> tuple[int, str]:
    """``coaffect run PROTO --condition group --participants PEOPLE --output DATA --session-id ID ...``."""
    args = ["--condition", "group", "--participants", people, "--output", data, "--session-id", session_id]
    return _run(capsys, proto, *args, *more)


@pytest.fixture
def study(tmp_path):
    proto = make_study(tmp_path, seats=2)
    data = tmp_path / "data"
    data.mkdir()
    (data / "participants.tsv").write_text(
        "participant_id\tcondition\tsession_id\tseat\nP09\tgroup\tS0\tA\n", encoding="utf-8"
    )
    (data / "ses-S0").mkdir()
    (data / "ses-S0" / "session.json").write_text('{"status": "complete"}\n', encoding="utf-8")
    return proto, data


def _assert_clean(code, err, data, before, *needles):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, err  # the problem, and possibly a hint
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    assert _snapshot(data) == before


def test_protocol_failing_check(capsys, study):
    proto, data = study
    before = _snapshot(data)
    text = proto.read_text(encoding="utf-8").replace("iti: 0.2", "iti: 0.2\nitii: 3")
    proto.write_text(text, encoding="utf-8")
    code, err = _group_run(capsys, proto, data, "P01,P02", "S1")
    line = text.splitlines().index("itii: 3") + 1
    _assert_clean(code, err, data, before, f"study.yaml:{line}:1: itii: unknown field", "did you mean 'iti'?")


def test_missing_stimulus(capsys, study):
    proto, data = study
    before = _snapshot(data)
    (proto.parent / "stimuli" / "clip-neg.mp4").unlink()
    code, err = _group_run(capsys, proto, data, "P01,P02", "S1")
    _assert_clean(code, err, data, before, "clip 'clip-neg'", "missing")


def test_changed_stimulus(capsys, study):
    proto, data = study
    before = _snapshot(data)
    with open(proto.parent / "stimuli" / "clip-pos.mp4", "ab") as fh:
        fh.write(b"\0")
    code, err = _group_run(capsys, proto, data, "P01,P02", "S1")
    _assert_clean(code, err, data, before, "clip 'clip-pos'", "has changed")


@pytest.mark.parametrize(
    "people, session_id, needles",
    [
        ("P01,P02,P03", "S1", ["3 participants but the protocol has only 2 seats (A, B)"]),
        ("P01,P09", "S1", ["participant id 'P09' is already in this dataset"]),
        ("P01,P02", "S0", ["ses-S0: session folder already exists", "--resume"]),
        ("P-01,P02", "S1", ["'P-01' is not a valid id"]),
    ],
    ids=["more_participants_than_seats", "participant_in_dataset", "existing_session_folder", "bad_id"],
)
def test_bad_participants_or_session_id(capsys, study, people, session_id, needles):
    proto, data = study
    before = _snapshot(data)
    code, err = _group_run(capsys, proto, data, people, session_id)
    _assert_clean(code, err, data, before, *needles)


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def test_read_only_output(capsys, tmp_path):
    """A real read-only file system (tmpfs mounted ro) when root; chmod 555 otherwise."""
    proto = make_study(tmp_path / "s", seats=2)
    ro = tmp_path / "ro"
    mounted = _mount_tmpfs(ro, "ro,size=1m")
    if not mounted:
        os.chmod(ro, 0o555)
    try:
        code, err = _group_run(capsys, proto, ro / "data", "P01,P02", "S1")
        _assert_clean(code, err, ro, {}, "output folder is not writable")
    finally:
        if mounted:
            _umount(ro)
        else:
            os.chmod(ro, 0o755)


def test_almost_full_disk(capsys, tmp_path):
    """A real 1 MB tmpfs: less than the 500 MB the runner asks for."""
    proto = make_study(tmp_path / "s", seats=2)
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "size=1m"):
        require_root("mounting a small tmpfs")
        pytest.fail("mount -t tmpfs failed although running as root")
    try:
        code, err = _group_run(capsys, proto, small / "data", "P01,P02", "S1")
        _assert_clean(code, err, small, {}, "MB free on the output disk")
    finally:
        _umount(small)


def test_resume_complete_session_refused(capsys, study):
    proto, data = study
    before = _snapshot(data)
    code, err = _run(capsys, proto, "--resume", data / "ses-S0", "--output", data)
    _assert_clean(code, err, data, before, "already complete")


def test_no_display(capsys, study, monkeypatch):
    proto, data = study
    before = _snapshot(data)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, err = _group_run(capsys, proto, data, "P01,P02", "S1", "--simulate")
    _assert_clean(code, err, data, before, "no display", "xvfb-run")


# --- issue 13: lab hardware (sound, response devices, LSL) -------------------------


def _with_block(proto: Path, old: str, new: str) -> None:
    text = proto.read_text(encoding="utf-8")
    assert old in text
    proto.write_text(text.replace(old, new, 1), encoding="utf-8")


_SEAT_B = "  - {id: B, label: seatB, buttons: {happy: 'g', sad: 'b'}}\n"


def _run_group(capsys, proto, data):
    return _group_run(capsys, proto, data, "P01,P02", "S1", "--simulate", "inprocess", "--no-cameras")


def test_missing_audio_device(capsys, study, monkeypatch):
    from experiments.audio.sink import PulseDaemon

    proto, data = study
    _with_block(proto, "iti: 0.2", "iti: 0.2\naudio: {play: on, device: no_such_sink}")
    before = _snapshot(data)
    with PulseDaemon("coaffect_bad") as pa:
        for k, v in pa.env.items():
            monkeypatch.setenv(k, v)
        code, err = _run_group(capsys, proto, data)
    _assert_clean(code, err, data, before, "audio: output device 'no_such_sink' not found", "coaffect_bad")


def test_no_audio_server(capsys, study, monkeypatch, tmp_path):
    proto, data = study
    _with_block(proto, "iti: 0.2", "iti: 0.2\naudio: {play: on}")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server")
    before = _snapshot(data)
    code, err = _run_group(capsys, proto, data)
    _assert_clean(code, err, data, before, "audio: no audio output")


def _serial_seat(port):
    return (
        "  - id: B\n    buttons: {happy: 'g', sad: 'b'}\n"
        f"    response: {{kind: serial, port: '{port}', codes: {{happy: {{down: H, up: h}}, sad: {{down: S, up: s}}}}}}\n"
    )


def test_serial_port_missing(capsys, study):
    proto, data = study
    _with_block(proto, _SEAT_B, _serial_seat("/dev/ttyUSB97"))
    before = _snapshot(data)
    code, err = _run_group(capsys, proto, data)
    _assert_clean(code, err, data, before, "seat B: serial button box /dev/ttyUSB97 cannot be opened")


def test_serial_port_busy(capsys, study):
    import fcntl
    import tty

    proto, data = study
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    _with_block(proto, _SEAT_B, _serial_seat(port))
    fcntl.flock(slave, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another program holds the box
    before = _snapshot(data)
    try:
        code, err = _run_group(capsys, proto, data)
    finally:
        os.close(slave)
        os.close(master)
    _assert_clean(code, err, data, before, f"seat B: serial button box {port} is busy")


def test_seat_keyboard_not_connected(capsys, study):
    proto, data = study
    _with_block(
        proto,
        _SEAT_B,
        "  - {id: B, buttons: {happy: 'g', sad: 'b'}, response: {kind: ptb_keyboard, index: 97}}\n",
    )
    before = _snapshot(data)
    code, err = _run_group(capsys, proto, data)
    _assert_clean(code, err, data, before, "seat B: keyboard index 97 is not connected", "XTEST")


def test_lsl_stream_not_found(capsys, study):
    proto, data = study
    _with_block(proto, "iti: 0.2", "iti: 0.2\nlsl: {record: [{name: no-ppg-here, timeout: 0.3}]}")
    before = _snapshot(data)
    code, err = _run_group(capsys, proto, data)
    _assert_clean(code, err, data, before, "lsl: stream 'no-ppg-here' not found within 0.3 s")
