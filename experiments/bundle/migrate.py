"""Protocol format versions: migrate older protocols, refuse newer ones.

Every protocol says its ``format_version``. A protocol written in an older
format is brought up to date step by step through :data:`MIGRATIONS` (one
registered step per format: ``from_version -> from_version + 1``), and each
step says in one sentence what it changed. A protocol in a newer format is
refused with the coaffect version that reads it.

Format 1 is the first published format, so the registry is empty in this
release; the machinery is tested with a synthetic format 0 registered by the
tests. To add format 2 later: bump ``protocol.FORMAT_VERSION``, add
``FIRST_READER[2] = "<release>"`` and register a ``Migration(1, ...)``.
"""

from __future__ import annotations

import copy
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from coaffect.formats.errors import ProtocolError
from coaffect.formats.protocol import FORMAT_VERSION

#: The first coaffect release that reads each protocol format.
FIRST_READER: dict[int, str] = {1: "0.1.0"}


@dataclass(frozen=True)
class Migration:
    """One step from ``from_version`` to ``from_version + 1``.

    Parameters
    ----------
    from_version : int
        The format this step reads.
    summary : str
        What the step changes, in one sentence a researcher reads.
    apply : callable
        ``apply(data) -> data`` on a deep copy of the parsed YAML mapping.
    """

    from_version: int
    summary: str
    apply: Callable[[dict], dict]


#: from_version -> step. Empty in format 1 (see the module docstring).
MIGRATIONS: dict[int, Migration] = {}


def installed_coaffect_version() -> str:
    """The installed coaffect version (``"unknown"`` when run from a bare source tree).

    Examples
    --------
    >>> import coaffect
    >>> installed_coaffect_version() == coaffect.__version__
    True
    """
    try:
        return importlib.metadata.version("coaffect")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def migrate_protocol_data(data: Any, where: str, written_by: Optional[str] = None) -> tuple[Any, list[str]]:
    """Bring parsed protocol data to the current format.

    Parameters
    ----------
    data : Any
        The parsed YAML (a mapping, for a protocol).
    where : str
        ``FILE:LINE:COL`` of the ``format_version`` value, for messages.
    written_by : str, optional
        The coaffect version that wrote the bundle, when known; named in the
        message for a newer format.

    Returns
    -------
    data : Any
        Migrated data (the input itself when nothing had to change).
    messages : list of str
        One line per migration step applied.

    Raises
    ------
    ProtocolError
        For a newer format than this coaffect reads, or an older one with no
        migration step.

    Examples
    --------
    >>> migrate_protocol_data({"format_version": 1}, "p.yaml:1:1")
    ({'format_version': 1}, [])
    """
    if not isinstance(data, dict):
        return data, []
    fv = data.get("format_version")
    if not isinstance(fv, int) or isinstance(fv, bool) or fv == FORMAT_VERSION:
        return data, []  # validation reports a missing or malformed value
    mine = installed_coaffect_version()
    if fv > FORMAT_VERSION:
        reader = FIRST_READER.get(fv) or written_by
        needs = f"coaffect {reader} or later reads it" if reader else f"a coaffect newer than {mine} reads it"
        raise ProtocolError(
            f"{where}: format_version: protocol format {fv} is newer than this coaffect "
            f"{mine} reads (got {fv}; allowed: {_allowed()}); {needs}",
            hint=f"upgrade: pip install 'coaffect>={reader}'"
            if reader
            else "upgrade coaffect to the newest release",
        )
    messages = []
    data = copy.deepcopy(data)
    while data.get("format_version") != FORMAT_VERSION:
        current = data.get("format_version")
        step = MIGRATIONS.get(current)
        if step is None:
            raise ProtocolError(
                f"{where}: format_version: no migration from protocol format {current} "
                f"(got {current}; allowed: {_allowed()})",
                hint="ask the protocol's authors for a current version",
            )
        data = step.apply(data)
        data["format_version"] = current + 1
        messages.append(f"{where}: migrated protocol format {current} -> {current + 1}: {step.summary}")
    return data, messages


def _allowed() -> str:
    older = sorted(MIGRATIONS)
    return ", ".join(str(v) for v in [*older, FORMAT_VERSION])


def load_protocol_migrating(path, check_manifest: bool = True, written_by: Optional[str] = None):
    """Load a protocol like ``coaffect protocol check``, migrating an older format in memory.

    Parameters
    ----------
    path : str or Path
        The protocol YAML file.
    check_manifest : bool
        Check stimulus ids against the protocol's manifest.
    written_by : str, optional
        coaffect version that wrote the file's bundle (for the newer-format message).

    Returns
    -------
    loaded : LoadedProtocol
        The validated protocol (``sha256`` is that of the file as read).
    messages : list of str
        Migration messages (empty for a current protocol).
    migrated : dict or None
        The migrated data, to be written back by the caller; None if unchanged.

    Raises
    ------
    ProtocolError
        One line per problem, as ``coaffect protocol check`` prints them.

    Examples
    --------
    >>> lp, msgs, new = load_protocol_migrating("protocols/bittersweet-demo.yaml",
    ...                                         check_manifest=False)
    >>> msgs, new
    ([], None)
    """
    import hashlib
    from pathlib import Path

    from coaffect.formats.protocol import LoadedProtocol, load_protocol, validate_protocol_data
    from coaffect.formats.strict_yaml import LocatedYaml, read_located_or_raise

    path = Path(path)
    fname = str(path)
    if not path.is_file():
        raise ProtocolError(f"{fname}: no such protocol file", hint="check the path")
    doc = read_located_or_raise(path, ProtocolError, fname)
    line, col = doc.where(("format_version",))
    data, messages = migrate_protocol_data(doc.data, f"{fname}:{line}:{col}", written_by)
    if not messages:
        return load_protocol(path, check_manifest=check_manifest), [], None
    migrated_doc = LocatedYaml(data, doc.positions, doc.key_positions)
    protocol, lines = validate_protocol_data(migrated_doc, fname)
    if protocol is not None and check_manifest:
        from coaffect.formats.manifest import load_manifest

        manifest_path = (path.parent / protocol.stimuli.manifest).resolve()
        try:
            clip_ids = set(load_manifest(manifest_path).ids())
        except Exception as exc:
            mline, mcol = doc.where(("stimuli", "manifest"))
            lines.append(
                f"{fname}:{mline}:{mcol}: stimuli.manifest: cannot read manifest "
                f"({getattr(exc, 'message', str(exc))})"
            )
        else:
            _, lines = validate_protocol_data(migrated_doc, fname, clip_ids)
    if lines:
        raise ProtocolError(lines[0], lines=lines)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedProtocol(protocol, path.resolve(), sha), messages, data


def dump_migrated(data: dict, note: str) -> str:
    """YAML text of migrated protocol data, headed by a comment saying what happened.

    Examples
    --------
    >>> print(dump_migrated({"format_version": 1, "id": "x"}, "migrated from format 0"))
    # migrated from format 0
    format_version: 1
    id: x
    <BLANKLINE>
    """
    import yaml

    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "".join(f"# {line}\n" for line in note.splitlines()) + body
