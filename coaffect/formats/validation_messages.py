"""Turn pydantic validation errors into one plain line per problem.

Shared by the protocol and the manifest loaders. Each line reads
``FILE:LINE:COL: field.path: what is wrong (got X; allowed ...; did you mean ...?)``
so that a researcher who has never seen pydantic knows what to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from coaffect.formats.errors import did_you_mean
from coaffect.formats.strict_yaml import LocatedYaml

#: Words for pydantic's error types, written for people editing YAML.
_PLAIN = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "tuple_type": "expected a list such as [a, b]",
    "list_type": "expected a list such as [a, b]",
    "dict_type": "expected a mapping of 'name: value' lines",
    "model_type": "expected a mapping of 'name: value' lines",
    "model_attributes_type": "expected a mapping of 'name: value' lines",
    "string_pattern_mismatch": "use only letters, digits, '-', '_' and '.', starting with a "
    "letter or digit (no spaces)",
}

#: What to write for a missing field, when a short example helps.
_MISSING_EXAMPLE = {
    "buttons": "e.g. buttons: {happy: a, sad: z}",
    "clips": "e.g. clips: [clip-one, clip-two]",
    "participants": "e.g. participants: 3",
    "format_version": "write format_version: 1 as the first line",
}


def dotted(loc: tuple) -> str:
    """``("seats", 0, "buttons")`` -> ``"seats[0].buttons"``.

    Examples
    --------
    >>> dotted(("seats", 0, "buttons", "happy"))
    'seats[0].buttons.happy'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def short(value: Any, limit: int = 40) -> str:
    """``repr`` of a value, cut to ``limit`` characters.

    Examples
    --------
    >>> short("x" * 50, limit=10)
    "'xxxxxx..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _document_loc(loc: tuple, data: Any, etype: str) -> tuple[tuple, bool]:
    """Keep only the parts of pydantic's ``loc`` that exist in the document.

    pydantic adds union member names ('str', 'constrained-int') and '[key]' to
    locations; they mean nothing to the author of the YAML file. Returns the
    cleaned location and whether the error is about a mapping key.
    """
    out: list = []
    node = data
    is_key = False
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if part == "[key]":
            is_key = True
            continue
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif last and etype == "missing":
            out.append(part)
        # anything else is a pydantic-internal name: drop it
    return tuple(out), is_key


def loc_last(err: Mapping[str, Any]) -> int:
    """The last integer in an error location (the index of a missing list item)."""
    return next(p for p in reversed(err["loc"]) if isinstance(p, int))


def _at(data: Any, loc: tuple) -> Any:
    for part in loc:
        data = data[part]
    return data


def _choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def plain_message(err: Mapping[str, Any]) -> str:
    """The 'what is wrong (got X; allowed ...)' part for one pydantic error.

    Examples
    --------
    >>> plain_message({"type": "literal_error", "msg": "", "input": "fixd",
    ...                "ctx": {"expected": "'fixed', 'random' or 'latin_square'"}})
    "not a known value (got 'fixd'; allowed: fixed, random, latin_square; did you mean 'fixed'?)"
    """
    etype = err["type"]
    got = err.get("input")
    ctx = err.get("ctx") or {}
    extra: list[str] = []
    if etype == "literal_error":
        choices = _choices(str(ctx.get("expected", "")))
        what = "not a known value"
        extra.append("allowed: " + ", ".join(choices))
        hint = did_you_mean(got, choices)
        if hint:
            extra.append(hint.removeprefix("; "))
    elif etype == "value_error":
        what = err["msg"].removeprefix("Value error, ")
    elif etype == "string_type" and isinstance(got, bool):
        what = (
            "expected text, but YAML read an unquoted yes/no/on/off/true/false as "
            f"{str(got).lower()}; put the value in quotes, e.g. 'on'"
        )
    elif etype in ("too_short", "too_long"):
        n = ctx.get("min_length" if etype == "too_short" else "max_length")
        kind = "at least" if etype == "too_short" else "at most"
        what = f"expected {kind} {n} item{'s' if n != 1 else ''}"
    elif etype in ("string_too_long", "string_too_short"):
        n = ctx.get("max_length" if etype == "string_too_long" else "min_length")
        what = (
            f"text too {'long' if etype == 'string_too_long' else 'short'}: "
            f"{'at most' if etype == 'string_too_long' else 'at least'} {n} characters"
        )
    elif etype in _PLAIN:
        what = _PLAIN[etype]
    else:
        what = err["msg"].replace("Input should be", "must be")
    if "(got" in what:
        return what
    if isinstance(got, dict):  # a whole section: the field path says which
        return what + (f" ({'; '.join(extra)})" if extra else "")
    parts = ["got an empty value" if got is None else f"got {short(got)}"] + extra
    return f"{what} ({'; '.join(parts)})"


def pydantic_lines(
    exc: ValidationError,
    doc: LocatedYaml,
    fname: str,
    allowed_fields: Optional[Callable[[tuple], list[str]]] = None,
) -> list[str]:
    """One ``FILE:LINE:COL: field.path: problem`` line per validation error.

    Parameters
    ----------
    exc : pydantic.ValidationError
        From ``Model.model_validate(doc.data)``.
    doc : LocatedYaml
        The parsed document with positions.
    fname : str
        File name to put at the start of each line.
    allowed_fields : callable, optional
        ``loc -> list of field names`` valid at that place, for unknown-field
        messages and did-you-mean.

    Returns
    -------
    list of str
        Sorted by position in the file; each problem once.

    Examples
    --------
    >>> from coaffect.formats.strict_yaml import load_located
    >>> from coaffect.formats.protocol import Protocol
    >>> doc = load_located("format_version: 1\\nid: x y\\n")
    >>> try:
    ...     Protocol.model_validate(doc.data)
    ... except ValidationError as exc:
    ...     lines = pydantic_lines(exc, doc, "p.yaml")
    >>> print(next(line for line in lines if ": id:" in line))
    p.yaml:2:5: id: use only letters, digits, '-', '_' and '.', starting with a letter or digit (no spaces) (got 'x y')
    """
    found: list[tuple[tuple[int, int], str, tuple, str]] = []
    suggested: set[tuple] = set()
    for err in exc.errors():
        etype = err["type"]
        loc, is_key = _document_loc(tuple(err["loc"]), doc.data, etype)
        if etype == "extra_forbidden":
            pos = doc.where_key(loc)
            allowed = allowed_fields(loc[:-1]) if allowed_fields else []
            guess = did_you_mean(loc[-1], allowed)
            if guess:
                suggested.add(loc[:-1] + (guess.split("'")[1],))
            msg = (
                f"unknown field (got '{loc[-1]}'; allowed: {', '.join(allowed)}{guess})"
                if allowed
                else f"unknown field '{loc[-1]}'"
            )
        elif etype == "missing" and loc and isinstance(loc[-1], int):
            # a fixed-length list such as size: [1024] lacks its item loc[-1]
            loc = loc[:-1]
            pos = doc.where(loc)
            msg = (
                f"expected more values; item {loc_last(err) + 1} is missing (got {short(_at(doc.data, loc))})"
            )
        elif etype == "missing":
            pos = doc.where(loc[:-1])
            example = _MISSING_EXAMPLE.get(str(loc[-1]))
            msg = f"missing required field '{loc[-1]}'" + (f" ({example})" if example else "")
        else:
            pos = doc.where_key(loc) if is_key else doc.where(loc)
            msg = plain_message(err)
            if is_key:
                msg = msg.replace("not a known value", "unknown name")
        found.append((pos, dotted(loc), loc, msg))
    lines: list[tuple[tuple[int, int], str]] = []
    seen_locs: set[tuple] = set()
    for pos, path, loc, msg in found:
        if loc in suggested and msg.startswith("missing"):
            continue  # the misspelt field's line already says "did you mean"
        if loc in seen_locs:
            continue  # one line per place (unions report every member)
        seen_locs.add(loc)
        lines.append((pos, f"{fname}:{pos[0]}:{pos[1]}: {path}: {msg}"))
    return [text for _, text in sorted(lines, key=lambda item: item[0])]


def model_fields_at(root: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` inside ``root`` (for did-you-mean).

    Examples
    --------
    >>> from coaffect.formats.protocol import Protocol
    >>> model_fields_at(Protocol, ("seats", 0, "buttons"))
    ['happy', 'sad']
    >>> model_fields_at(Protocol, ("conditions", "group"))
    ['participants']
    """
    model: Optional[type[BaseModel]] = root
    skip_key = False
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        model = _model_of(field.annotation)
    return list(model.model_fields) if model else []


def _model_of(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found:
            return found
    return None
