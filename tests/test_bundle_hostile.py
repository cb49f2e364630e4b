"""A corpus of hostile and broken bundles, each refused with its message and nothing written.

Every bundle here is built by the test itself from a good bundle of the real
demo protocol (tiny real mp4v clips), by the zip surgery an attacker or a
careless tool would do.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest
from test_bundle_support import make_lab, read_zip, reseal, tree, write_zip

from coaffect.cli import main
from coaffect.formats.errors import CoaffectError
from experiments.bundle.import_ import import_bundle
from experiments.bundle.pack import pack_bundle
from experiments.bundle.safe_zip import Limits
from experiments.bundle.verify import verify_bundle

PROTO = "protocol/bittersweet-demo.yaml"


@pytest.fixture(scope="module")
def good(tmp_path_factory, root) -> dict[str, bytes]:
    lab = tmp_path_factory.mktemp("lab_a")
    protocol = make_lab(lab, root / "protocols" / "bittersweet-demo.yaml")
    out = lab / "good.zip"
    pack_bundle(protocol, out, with_stimuli=True)
    return read_zip(out)


def _edit_protocol(members, old: str, new: str) -> dict[str, bytes]:
    text = members[PROTO].decode()
    assert old in text
    return reseal({**members, PROTO: text.replace(old, new, 1).encode()})


def _bundle_json(members, **updates):
    bm = json.loads(members["bundle.json"])
    bm.update(updates)
    return {**members, "bundle.json": json.dumps(bm).encode()}


def _bomb(members):
    # 30 MB of zeros deflate (zlib level 6) to 30.6 kB: ratio 1028:1, measured
    return reseal({**members, "texts/notes.txt": b"\0" * (30 << 20)})


def _lying_header(members, path):
    # the zip's central directory declares 100 bytes; the member really inflates to 5 MB
    bm = json.loads(members["bundle.json"])
    bm["files"]["texts/notes.txt"] = {"sha256": "0" * 64, "size": 100}
    write_zip(path, {**members, "bundle.json": json.dumps(bm).encode()})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("texts/notes.txt", b"x" * (5 << 20))
        zf.filelist[-1].file_size = 100
    return path


def _encrypted(members, path):
    path = write_zip(path, members)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("texts/secret.txt", b"not really encrypted")
        zf.filelist[-1].flag_bits |= 0x1  # the central directory says: encrypted
    return path


def _plus(name: str, data: bytes = b"pwned"):
    """A builder: the good bundle with one more member ``name`` (not listed in bundle.json)."""
    return lambda members, path: write_zip(path, {**members, name: data})


def _as_packed(members: dict, path: Path) -> Path:
    """The good bundle as it is (the limits make it hostile)."""
    return write_zip(path, members)


# name -> (build(members, path) -> path, limits, message (or its parts) the refusal must contain)
CASES = {
    "zip slip": (
        _plus("../evil.txt"),
        None,
        "good.zip: '../evil.txt': member path leaves the bundle folder (got '../evil.txt'; "
        "allowed: relative paths with '/' inside the bundle)",
    ),
    "nested zip slip": (
        _plus("texts/../../evil.txt"),
        None,
        "'texts/../../evil.txt': member path leaves the bundle folder",
    ),
    "absolute path": (
        _plus("/tmp/evil.txt"),
        None,
        "'/tmp/evil.txt': member path is absolute",
    ),
    "drive letter": (
        _plus("C:/evil.txt"),
        None,
        "'C:/evil.txt': member path has a drive letter",
    ),
    "backslash": (
        _plus("..\\evil.txt"),
        None,
        "member path uses a backslash",
    ),
    "symlink": (
        lambda m, p: write_zip(p, [*m.items(), ("texts/link", b"/etc/passwd", stat.S_IFLNK | 0o777)]),
        None,
        "good.zip: 'texts/link': member is a symbolic link (allowed: regular files only)",
    ),
    "device file": (
        lambda m, p: write_zip(p, [*m.items(), ("texts/dev", b"", stat.S_IFCHR | 0o666)]),
        None,
        "'texts/dev': member is a character device",
    ),
    "duplicate name": (
        lambda m, p: write_zip(p, [*m.items(), ("README.md", b"second")]),
        None,
        "'README.md': duplicate member name: listed twice",
    ),
    "case-folded duplicate": (
        lambda m, p: write_zip(p, [*m.items(), ("readme.MD", b"x")]),
        None,
        "'readme.MD': duplicate member name: listed twice when case is ignored (also as 'README.md')",
    ),
    "file not in bundle manifest": (
        _plus("texts/extra.txt", b"hi"),
        None,
        "good.zip: texts/extra.txt: file is not listed in bundle.json",
    ),
    "listed file missing": (
        lambda m, p: write_zip(p, {k: v for k, v in m.items() if k != "README.md"}),
        None,
        "good.zip: README.md: listed in bundle.json but missing",
    ),
    "tampered protocol": (
        lambda m, p: write_zip(p, {**m, PROTO: m[PROTO].replace(b"iti: 1.0", b"iti: 9.0")}),
        None,
        f"good.zip: {PROTO}: checksum mismatch: the file was changed after packing",
    ),
    "tampered clip, resealed": (
        lambda m, p: write_zip(
            p,
            reseal(
                {**m, "stimuli/clips/demo-positive.mp4": m["stimuli/clips/demo-positive.mp4"][:-1] + b"\0"}
            ),
        ),
        None,
        "good.zip: stimuli/clips/demo-positive.mp4: clip 'demo-positive' does not match its manifest sha256",
    ),
    "compression bomb": (
        lambda m, p: write_zip(p, _bomb(m)),
        None,
        "'texts/notes.txt': compression ratio 1028:1 looks like a zip bomb (allowed at most 100:1)",
    ),
    "header lies about size": (
        lambda m, p: _lying_header(m, p),
        None,
        "'texts/notes.txt': member is damaged (Bad CRC-32",
    ),
    # the good bundle's members: bundle.json about 2.9 kB, the protocol 2411 bytes, clips 1.3-1.5 kB
    "oversized member": (_as_packed, Limits(max_file_bytes=2500), "'bundle.json': member is too large (got "),
    "oversized total": (_as_packed, Limits(max_total_bytes=5000), "bundle unpacks to more than 5000 bytes"),
    "too many members": (_as_packed, Limits(max_members=5), "too many members (got 18; allowed at most 5)"),
    "oversized text file": (
        lambda m, p: write_zip(p, reseal({**m, "texts/notes.txt": os.urandom(1_200_000).hex().encode()})),
        None,
        "texts/notes.txt: member is too large for a text file (got 2400000 bytes; allowed at most 1048576)",
    ),
    "encrypted member": (lambda m, p: _encrypted(m, p), None, "'texts/secret.txt': member is encrypted"),
    "yaml tag": (
        lambda m, p: write_zip(
            p, _edit_protocol(m, "iti: 1.0", "iti: !!python/object/apply:os.system ['touch /tmp/pwned']")
        ),
        None,
        f"good.zip:{PROTO}:46:6: YAML tag",
    ),
    "yaml alias bomb": (
        lambda m, p: write_zip(
            p,
            _edit_protocol(
                m, "authors: [coaffect developers]", "authors: &a [coaffect developers]\nx: [*a, *a, *a]"
            ),
        ),
        None,
        (f"good.zip:{PROTO}:8:5: YAML alias", "not allowed", "'*a'"),
    ),
    "unknown protocol field": (
        lambda m, p: write_zip(p, _edit_protocol(m, "iti: 1.0", "iti: 1.0\nmood: dark")),
        None,
        f"good.zip:{PROTO}:47:1: mood: unknown field (got 'mood'; allowed: format_version, id,",
    ),
    "unknown bundle.json field": (
        lambda m, p: write_zip(p, _bundle_json(m, signed_by="mallory")),
        None,
        "good.zip:bundle.json: signed_by: unknown field (allowed: bundle_format,",
    ),
    "duplicate JSON key": (
        lambda m, p: write_zip(p, {**m, "bundle.json": b'{"a": 1, "a": 2}'}),
        None,
        "good.zip:bundle.json: not valid JSON (duplicate key 'a')",
    ),
    "newer protocol format": (
        lambda m, p: write_zip(
            p,
            reseal(
                {**m, PROTO: m[PROTO].replace(b"format_version: 1", b"format_version: 2")},
                written_by={"coaffect": "0.9.0"},
            ),
        ),
        None,
        f"good.zip:{PROTO}:3:17: format_version: protocol format 2 is newer than this coaffect ",
    ),
    "newer bundle format": (
        lambda m, p: write_zip(p, _bundle_json(m, bundle_format=2, written_by={"coaffect": "0.7.2"})),
        None,
        "good.zip:bundle.json: bundle_format: bundle format 2 is newer than",
    ),
    "manifest outside the bundle": (
        lambda m, p: write_zip(
            p,
            _edit_protocol(
                m, "manifest: ../stimuli/manifest.yaml", "manifest: ../../../../etc/manifest.yaml"
            ),
        ),
        None,
        f"good.zip:{PROTO}:36:13: stimuli.manifest: path leaves the bundle folder",
    ),
    "camera file outside the bundle": (
        lambda m, p: write_zip(
            p, _edit_protocol(m, "file: ../stimuli/demo/feeds/wide.avi", "file: /dev/video0")
        ),
        None,
        f"good.zip:{PROTO}:66:11: cameras[0].file: path leaves the bundle folder (got '/dev/video0'",
    ),
    "clip path outside the bundle": (
        lambda m, p: write_zip(
            p,
            reseal(
                {
                    **m,
                    "stimuli/manifest.yaml": m["stimuli/manifest.yaml"].replace(
                        b"file: clips/demo-negative.mp4", b"file: ../../../etc/cron.d/x"
                    ),
                },
                stimuli=[
                    {**s, "file": "../../../etc/cron.d/x"} if s["id"] == "demo-negative" else s
                    for s in json.loads(m["bundle.json"])["stimuli"]
                ],
            ),
        ),
        None,
        "good.zip: stimuli/manifest.yaml: clip 'demo-negative': file: path leaves the bundle folder "
        "(got '../../../etc/cron.d/x'",
    ),
    "not a zip": (
        lambda m, p: (p.write_bytes(b"PK\x03\x04 not really a zip"), p)[1],
        None,
        "not a protocol bundle (not a readable zip file",
    ),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_bundle_is_refused_and_nothing_is_written(case, good, tmp_path, monkeypatch):
    build, limits, message = CASES[case]
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    bundle = build(good, incoming / "good.zip")
    into = tmp_path / "protocols"
    into.mkdir()
    scratch = tmp_path / "tmp"  # the only place verify may unpack into
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = tree(tmp_path)
    kwargs = {"limits": limits} if limits else {}
    with pytest.raises(CoaffectError) as verify_err:
        verify_bundle(bundle, **kwargs)
    with pytest.raises(CoaffectError) as import_err:
        import_bundle(bundle, into, **kwargs)
    for err in (verify_err.value, import_err.value):
        for part in message if isinstance(message, tuple) else (message,):
            assert part in err.message, err.message
        assert "\n" not in err.message
    if case == "newer protocol format":  # names the coaffect that reads it (the one that wrote it)
        assert "coaffect 0.9.0 or later reads it" in verify_err.value.message
    if case == "newer bundle format":
        assert "it was written by coaffect 0.7.2" in verify_err.value.message
    assert tree(tmp_path) == before  # nothing written: no evil.txt, no half import, no temp left
    assert not Path("/tmp/pwned").exists()


def test_missing_stimulus_is_refused(good, tmp_path):
    # packed without clips; the receiving lab has only one of the three
    bundle = write_zip(
        tmp_path / "b.zip",
        reseal(
            {k: v for k, v in good.items() if not k.endswith(".mp4")},
            stimuli=[{**s, "included": False} for s in json.loads(good["bundle.json"])["stimuli"]],
        ),
    )
    lab = tmp_path / "lab_b_stimuli"
    (lab / "clips").mkdir(parents=True)
    (lab / "clips" / "demo-positive.mp4").write_bytes(good["stimuli/clips/demo-positive.mp4"])
    into = tmp_path / "protocols"
    into.mkdir()
    with pytest.raises(CoaffectError) as err:
        verify_bundle(bundle, stimuli_dir=lab)
    assert err.value.message.startswith(
        f"missing stimulus 'demo-negative': no file for 'demo-negative' (clips/demo-negative.mp4) in {lab}"
    )
    assert len(err.value.lines) == 2  # demo-negative and demo-bittersweet
    with pytest.raises(CoaffectError):
        import_bundle(bundle, into, stimuli_dir=lab)
    assert tree(into) == []


def test_cli_refusal_is_one_line_plus_hint_exit_2(good, tmp_path, capsys):
    bundle = CASES["zip slip"][0](good, tmp_path / "good.zip")
    assert main(["protocol", "verify", str(bundle)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("good.zip: '../evil.txt': member path leaves the bundle folder")
    assert err[1].startswith("hint: the bundle is unsafe or damaged")
    assert len(err) == 2 and "Traceback" not in "".join(err)
    assert main(["protocol", "import", str(bundle), "--into", str(tmp_path)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.zip"]


def test_import_refuses_to_overwrite_a_different_protocol(good, tmp_path):
    into = tmp_path / "protocols"
    into.mkdir()
    first = write_zip(tmp_path / "v1.zip", good)
    assert import_bundle(first, into).installed
    again = import_bundle(first, into)  # the same bundle again: nothing to do
    assert not again.installed and "already installed (identical protocol)" in again.notes[-1]
    changed = write_zip(tmp_path / "v2.zip", _edit_protocol(good, "iti: 1.0", "iti: 2.0"))
    before = tree(into)
    with pytest.raises(CoaffectError) as err:
        import_bundle(changed, into)
    assert err.value.message.startswith(
        f"{into / 'bittersweet-demo'}: already holds a different protocol (refusing to overwrite"
    )
    assert tree(into) == before
    other = import_bundle(changed, into, name="bittersweet-demo-iti2")
    assert other.installed and other.folder.name == "bittersweet-demo-iti2"
