"""Argument checks with one wording: ``check_option`` for choices, ``check_type`` for types.

Every "(allowed: ...)" message of the project comes from :func:`check_option`,
so the wording cannot drift; a wrong *type* (a DataFrame where participant ids
are expected) is a :class:`TypeError` naming the parameter, from
:func:`check_type` or :func:`check_ids`, raised at the front door before any
work starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from .errors import CoaffectError, did_you_mean

T = TypeVar("T")


def check_option(
    name: str,
    value: T,
    allowed: Iterable[Any],
    *,
    noun: str | None = None,
    error: type[CoaffectError] = CoaffectError,
    hint: str | None = None,
) -> T:
    """``value`` if it is one of ``allowed``, else ``error`` naming the parameter and the choices.

    Parameters
    ----------
    name : str
        The parameter, in library terms (the CLI shows its flag).
    value
        What was given.
    allowed : iterable
        The choices, in the order to list them.
    noun : str, optional
        What a value is ("mode", "engine"); default ``name``.
    error : type
        A :class:`CoaffectError` subclass (``AnalysisError``, ``SessionSetupError``...).
    hint : str, optional

    Examples
    --------
    >>> check_option("engine", "lme4", ("auto", "lme4", "statsmodels"))
    'lme4'
    >>> check_option("engine", "lme", ("auto", "lme4", "statsmodels"))
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.CoaffectError: engine: unknown engine 'lme' (allowed: auto, lme4, statsmodels); did you mean 'lme4'?
    """
    choices = list(allowed)
    if value in choices:
        return value
    listed = ", ".join(str(c) for c in choices)
    raise error(
        f"{name}: unknown {noun or name} '{value}' (allowed: {listed}){did_you_mean(str(value), choices)}",
        hint=hint,
        field=name,
    )


def _kind(value: Any) -> str:
    """``a pandas DataFrame``, ``a str``: how a wrong value is named in a TypeError."""
    cls = type(value)
    module = cls.__module__.split(".")[0]
    name = cls.__name__ if module in ("builtins", "pathlib") else f"{module} {cls.__name__}"
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def check_type(name: str, value: T, types: type | tuple[type, ...], expected: str, hint: str = "") -> T:
    """``value`` if it is an instance of ``types``, else a TypeError naming the parameter.

    Examples
    --------
    >>> check_type("formula", "AU12 ~ condition", str, "a formula such as 'AU12 ~ condition'")
    'AU12 ~ condition'
    >>> check_type("formula", 3, str, "a formula such as 'AU12 ~ condition'")
    Traceback (most recent call last):
    ...
    TypeError: formula: expected a formula such as 'AU12 ~ condition', got an int
    """
    if isinstance(value, types):
        return value
    raise TypeError(f"{name}: expected {expected}, got {_kind(value)}{'; ' + hint if hint else ''}")


def check_ids(name: str, value: Any, what: str = "participant ids") -> list[str] | None:
    """A list of ids (str) from a list, tuple, array or Series; None stays None; a table is a TypeError.

    A DataFrame iterates over its column names, so passing one where ids are
    expected would silently make the column names the ids.

    Examples
    --------
    >>> check_ids("participants", ("P01", "P02"))
    ['P01', 'P02']
    >>> import pandas as pd
    >>> check_ids("participants", pd.DataFrame({"participant_id": ["P01"], "seat": ["A"]}))
    Traceback (most recent call last):
    ...
    TypeError: participants: expected a list of participant ids, got a pandas DataFrame; pass its column, e.g. table['participant_id'].tolist()
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a list of {what}, got {_kind(value)}; wrap one id in a list")
    cls = type(value)
    if cls.__name__ == "DataFrame" or isinstance(value, dict):
        raise TypeError(
            f"{name}: expected a list of {what}, got {_kind(value)}; "
            "pass its column, e.g. table['participant_id'].tolist()"
        )
    if not isinstance(value, (Sequence, Iterable)):
        raise TypeError(f"{name}: expected a list of {what}, got {_kind(value)}")
    return [str(v) for v in value]
