"""Every check a bundle from elsewhere must pass before a byte of it is used.

A protocol bundle is a zip file written by another lab: untrusted input. This
module refuses, with one clear line each, member paths that would leave the
target folder (``../``, absolute paths, drive letters, backslashes), symlinks
and device files, duplicate names (also after case folding), encrypted or
oddly compressed members, too many members, oversized members and compression
bombs. Declared sizes are checked before extraction, and the actual bytes are
counted while extracting, because a zip header can lie.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from coaffect.formats.errors import BundleError

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Size limits for an untrusted bundle.

    Parameters
    ----------
    max_members : int
        Most files a bundle may hold.
    max_file_bytes : int
        Largest single file (uncompressed).
    max_total_bytes : int
        Largest sum of all files (uncompressed).
    max_ratio : float
        Largest uncompressed/compressed ratio of a member bigger than
        ``ratio_floor_bytes`` (text compresses about 3-10x, video about 1x;
        zip bombs 1000x).
    ratio_floor_bytes : int
        Members smaller than this are not ratio-checked (tiny files compress oddly).
    max_text_bytes : int
        Largest protocol, manifest, text or JSON file.

    Examples
    --------
    >>> Limits(max_file_bytes=1_000_000).max_file_bytes
    1000000
    """

    max_members: int = 2000
    max_file_bytes: int = 4 << 30
    max_total_bytes: int = 16 << 30
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 << 20
    max_text_bytes: int = 1 << 20


DEFAULT_LIMITS = Limits()


def _refuse(zip_name: str, member: str, what: str, hint: str | None = None) -> BundleError:
    return BundleError(
        f"{zip_name}: {member}: {what}",
        hint=hint
        or "the bundle is unsafe or damaged; ask its authors for a new one and do not unpack it by hand",
    )


def check_member_name(name: str, zip_name: str = "bundle") -> PurePosixPath:
    """Check one member name and return it as a relative POSIX path.

    Parameters
    ----------
    name : str
        The name stored in the zip.
    zip_name : str
        Bundle file name, for the message.

    Returns
    -------
    PurePosixPath
        The safe relative path.

    Raises
    ------
    BundleError
        If the name is absolute, has a drive letter, a backslash, ``..``,
        empty or ``.`` parts, control characters, or is too long.

    Examples
    --------
    >>> check_member_name("protocol/demo.yaml")
    PurePosixPath('protocol/demo.yaml')
    >>> check_member_name("../evil.txt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    coaffect.formats.errors.BundleError: bundle: '../evil.txt': member path leaves the bundle folder
    """
    shown = repr(name)
    allowed = "allowed: relative paths with '/' inside the bundle"
    if not name or len(name) > 255 or name.count("/") > 16:
        raise _refuse(
            zip_name,
            shown,
            f"member name is empty or too long (got {len(name)} "
            f"characters; {allowed}, at most 255 characters)",
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise _refuse(zip_name, shown, "member name contains control characters")
    if "\\" in name:
        raise _refuse(zip_name, shown, f"member path uses a backslash (got {shown}; {allowed})")
    if name.startswith("/"):
        raise _refuse(zip_name, shown, f"member path is absolute (got {shown}; {allowed})")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        raise _refuse(zip_name, shown, f"member path has a drive letter (got {shown}; {allowed})")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise _refuse(zip_name, shown, f"member path leaves the bundle folder (got {shown}; {allowed})")
    if any(p in ("", ".") for p in parts):
        raise _refuse(zip_name, shown, f"member path has empty or '.' parts (got {shown}; {allowed})")
    return PurePosixPath(name.rstrip("/"))


def _file_type(info: zipfile.ZipInfo) -> str | None:
    """Name of a forbidden file type recorded in the external attributes, or None."""
    mode = (info.external_attr >> 16) & 0xFFFF
    if not mode:
        return None
    for test, what in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return None


def check_members(
    zf: zipfile.ZipFile, zip_name: str, limits: Limits = DEFAULT_LIMITS
) -> list[zipfile.ZipInfo]:
    """Check every member of an open zip before anything is read.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open bundle.
    zip_name : str
        Bundle file name, for messages.
    limits : Limits
        Size limits.

    Returns
    -------
    list of zipfile.ZipInfo
        The file members (directory entries dropped), in zip order.

    Raises
    ------
    BundleError
        At the first unsafe member.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("README.md", "hello")
    >>> [i.filename for i in check_members(zipfile.ZipFile(buf), "b.zip")]
    ['README.md']
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _refuse(
            zip_name, "(zip)", f"too many members (got {len(infos)}; allowed at most {limits.max_members})"
        )
    seen: dict[str, str] = {}
    files: list[zipfile.ZipInfo] = []
    total = 0
    for info in infos:
        name = info.filename
        path = check_member_name(name, zip_name)
        kind = _file_type(info)
        if kind:
            raise _refuse(zip_name, repr(name), f"member is {kind} (allowed: regular files only)")
        folded = unicodedata.normalize("NFC", str(path)).casefold()
        if folded in seen:
            first = seen[folded]
            same = "twice" if first == str(path) else f"twice when case is ignored (also as {first!r})"
            raise _refuse(zip_name, repr(name), f"duplicate member name: listed {same}")
        seen[folded] = str(path)
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise _refuse(zip_name, repr(name), "member is encrypted (allowed: plain members)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(
                zip_name,
                repr(name),
                f"unsupported compression method {info.compress_type} (allowed: stored or deflated)",
            )
        if info.file_size > limits.max_file_bytes:
            raise _refuse(
                zip_name,
                repr(name),
                f"member is too large (got {info.file_size} bytes; allowed at most {limits.max_file_bytes})",
            )
        if info.file_size > limits.ratio_floor_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise _refuse(
                    zip_name,
                    repr(name),
                    f"compression ratio {ratio:.0f}:1 looks like a "
                    f"zip bomb (allowed at most {limits.max_ratio:.0f}:1)",
                )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _refuse(
                zip_name,
                repr(name),
                f"bundle unpacks to more than {limits.max_total_bytes} bytes (allowed at most that)",
            )
        files.append(info)
    return files


def _stream(zf: zipfile.ZipFile, info: zipfile.ZipInfo, zip_name: str, limit: int, sink) -> tuple[str, int]:
    digest = hashlib.sha256()
    count = 0
    try:
        with zf.open(info) as src:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                count += len(chunk)
                if count > min(limit, info.file_size):
                    raise _refuse(
                        zip_name,
                        repr(info.filename),
                        f"member unpacks to more bytes than declared or allowed (got more "
                        f"than {min(limit, info.file_size)} bytes)",
                    )
                digest.update(chunk)
                sink(chunk)
    except BundleError:
        raise
    except Exception as exc:  # BadZipFile (bad CRC), zlib.error, EOFError: a damaged member
        raise _refuse(zip_name, repr(info.filename), f"member is damaged ({exc})") from None
    if count != info.file_size:
        raise _refuse(
            zip_name,
            repr(info.filename),
            f"member has {count} bytes but its header declares {info.file_size}",
        )
    return digest.hexdigest(), count


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, zip_name: str, limit: int) -> bytes:
    """Read a (small) member into memory, counting the actual bytes.

    Parameters
    ----------
    zf, info : zipfile.ZipFile, zipfile.ZipInfo
        The bundle and a member already passed by :func:`check_members`.
    zip_name : str
        Bundle file name, for messages.
    limit : int
        Most bytes to accept.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("a.txt", "hi")
    >>> z = zipfile.ZipFile(buf)
    >>> read_member(z, z.getinfo("a.txt"), "b.zip", 100)
    b'hi'
    """
    if info.file_size > limit:
        raise _refuse(
            zip_name,
            repr(info.filename),
            f"member is too large (got {info.file_size} bytes; allowed at most {limit})",
        )
    parts: list[bytes] = []
    _stream(zf, info, zip_name, limit, parts.append)
    return b"".join(parts)


def extract_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, zip_name: str, limits: Limits = DEFAULT_LIMITS
) -> str:
    """Write one checked member below ``root``; return its sha256.

    The target must not exist yet (no overwriting, no following a planted
    symlink) and must lie inside ``root`` after resolving.

    Parameters
    ----------
    zf, info : zipfile.ZipFile, zipfile.ZipInfo
        The bundle and a member already passed by :func:`check_members`.
    root : Path
        An empty staging folder.
    zip_name : str
        Bundle file name, for messages.
    limits : Limits
        Size limits (the actual byte count is checked against them).

    Returns
    -------
    str
        sha256 of the bytes written.

    Examples
    --------
    >>> import io, tempfile, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("t/a.txt", "hi")
    >>> z = zipfile.ZipFile(buf)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     extract_member(z, z.getinfo("t/a.txt"), Path(d), "b.zip")[:12]
    '8f434346648f'
    """
    rel = check_member_name(info.filename, zip_name)
    root = root.resolve()
    target = root.joinpath(*rel.parts)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    # only folders made here can be on the way, but never trust that: no symlinked parents
    if parent.resolve() != parent or not parent.is_relative_to(root):
        raise _refuse(zip_name, repr(info.filename), "member path leaves the bundle folder")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        sha, _ = _stream(zf, info, zip_name, limits.max_file_bytes, out.write)
    return sha
