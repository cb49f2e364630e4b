"""The protocol model, its loader and its committed JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from coaffect.cli import main
from coaffect.formats.errors import ProtocolError
from coaffect.formats.protocol import FORMAT_VERSION, load_protocol, protocol_json_schema
from coaffect.formats.strict_yaml import YamlReadError, load_located
from coaffect.formats.validation_messages import dotted, plain_message


def test_demo_protocol_checks_ok(root, capsys):
    assert main(["protocol", "check", str(root / "protocols" / "bittersweet-demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.endswith("ok (bittersweet-demo 1.0.0, 3 clips, 3 seats, conditions: alone, group)\n")


def test_demo_protocol_content(root):
    lp = load_protocol(root / "protocols" / "bittersweet-demo.yaml")
    p = lp.protocol
    assert p.format_version == FORMAT_VERSION == 1
    assert p.stimuli.clips == ["demo-positive", "demo-negative", "demo-bittersweet"]
    assert {k: c.participants for k, c in p.conditions.items()} == {"alone": 1, "group": 3}
    assert [(s.id, s.buttons.happy, s.buttons.sad) for s in p.seats] == [
        ("A", "a", "z"),
        ("B", "g", "b"),
        ("C", "k", "m"),
    ]
    assert p.trial_order.mode == "latin_square"
    assert lp.manifest_path == (root / "stimuli" / "manifest.yaml").resolve()
    assert len(lp.sha256) == 64


def test_committed_schema_equals_generated(root):
    # regenerate with: coaffect protocol schema -o protocols/protocol.schema.json
    committed = json.loads((root / "protocols" / "protocol.schema.json").read_text(encoding="utf-8"))
    assert committed == protocol_json_schema(), (
        "protocol models changed: run coaffect protocol schema -o protocols/protocol.schema.json"
    )


def test_schema_command_writes_the_same_file(root, tmp_path):
    out = tmp_path / "schema.json"
    assert main(["protocol", "schema", "-o", str(out)]) == 0
    assert out.read_bytes() == (root / "protocols" / "protocol.schema.json").read_bytes()


def test_schema_validates_like_the_model(root):
    """An editor using the JSON Schema accepts the demo and rejects typical mistakes."""
    schema = json.loads((root / "protocols" / "protocol.schema.json").read_text(encoding="utf-8"))
    demo = yaml.safe_load((root / "protocols" / "bittersweet-demo.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(demo, schema)
    broken = dict(demo, titel="typo")
    with pytest.raises(jsonschema.ValidationError, match="titel"):
        jsonschema.validate(broken, schema)
    broken = dict(demo, trial_order={"mode": "shuffle"})
    with pytest.raises(jsonschema.ValidationError, match="shuffle"):
        jsonschema.validate(broken, schema)


def test_missing_file_is_a_user_error(tmp_path, capsys):
    assert main(["protocol", "check", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"{tmp_path / 'nope.yaml'}: no such protocol file", "hint: check the path"]


def test_load_protocol_collects_every_problem(tmp_path):
    text = (
        "format_version: 1\nid: bad id\nversion: '1'\ntitle: t\nauthors: [a]\n"
        "texts: {consent: c, instructions: i}\nstimuli: {clips: [x]}\nbaseline: {duration: 0}\n"
        "conditions: {alone: {participants: 1}}\nseats: [{id: A, buttons: {happy: a, sad: a}}]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path, check_manifest=False)
    lines = info.value.lines
    # line 2 (id pattern) and line 8 (duration must be > 0); the key clash is a
    # cross-field check and waits until the fields themselves are valid
    assert [ln.split(": ")[0].rsplit(":", 2)[1:] for ln in lines] == [["2", "5"], ["8", "22"]]
    assert lines[1].endswith("baseline.duration: must be greater than 0 (got 0)")


def test_strict_yaml_positions_and_refusals():
    doc = load_located("a:\n  b: [1, 2]\n")
    assert doc.data == {"a": {"b": [1, 2]}}
    assert doc.where(("a", "b", 1)) == (2, 10)
    assert doc.where_key(("a", "b")) == (2, 3)
    for text, fragment in [
        ("a: 1\na: 2\n", "duplicate key"),
        ("a: &x 1\nb: *x\n", "YAML alias not allowed"),
        ("a: !!python/name:os.system\n", "YAML tag not allowed"),
        ("a: 1\n---\nb: 2\n", "single document"),
    ]:
        with pytest.raises(YamlReadError) as info:
            load_located(text)
        assert fragment in info.value.problems[0].message


def test_message_helpers():
    assert dotted(("seats", 1, "buttons", "sad")) == "seats[1].buttons.sad"
    assert dotted(()) == "(top level)"
    msg = plain_message(
        {
            "type": "literal_error",
            "msg": "",
            "input": "ranom",
            "ctx": {"expected": "'fixed', 'random' or 'latin_square'"},
        }
    )
    assert msg == (
        "not a known value (got 'ranom'; allowed: fixed, random, latin_square; did you mean 'random'?)"
    )


def test_check_in_a_fresh_process_has_no_traceback(root):
    """The real console path: a broken protocol gives exit 2 and no traceback."""
    bad = root / "tests" / "protocol_corpus" / "10-python-object-tag.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "coaffect.cli", "protocol", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("(got !!python/object/apply:os.system)")


# ---------------------------------------------------------------- docs/protocol.md


def _models():
    from pydantic import BaseModel

    from coaffect.formats.protocol import Protocol
    from coaffect.formats.validation_messages import _model_of

    seen, todo = [], [Protocol]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for f in model.model_fields.values():
            sub = _model_of(f.annotation)
            if sub is not None and issubclass(sub, BaseModel):
                todo.append(sub)
    return seen


def test_docs_example_protocol_is_valid(root):
    text = (root / "docs" / "protocol.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    from coaffect.formats.protocol import validate_protocol_data

    doc = load_located(example)
    protocol, problems = validate_protocol_data(
        doc, "example", clip_ids={"demo-positive", "demo-negative", "demo-bittersweet"}
    )
    assert problems == []
    assert protocol.trial_order.seed == 20260401


def test_docs_name_every_field(root):
    text = (root / "docs" / "protocol.md").read_text(encoding="utf-8")
    missing = [
        f"{m.__name__}.{name}" for m in _models() for name in m.model_fields if f"`{name}`" not in text
    ]
    assert missing == []


def test_docs_messages_are_real(root):
    """The example messages in docs/protocol.md are what the corpus really prints."""
    text = (root / "docs" / "protocol.md").read_text(encoding="utf-8")
    block = text.split("exact expected message):\n\n```\n", 1)[1].split("```", 1)[0]
    corpus = root / "tests" / "protocol_corpus"
    for line in block.splitlines():
        name = line.split(":", 1)[0]
        expected = (corpus / name).with_suffix(".expected").read_text(encoding="utf-8")
        if "..." in line:  # shortened in the doc: compare the two ends
            head, tail = line.split(", ...", 1)
            assert any(e.startswith(head) and e.endswith(tail) for e in expected.splitlines())
        else:
            assert line in expected.splitlines()
