"""Camera video on disk: raw MJPEG plus a frame table, crash-safe and appendable.

``cam-<name>.mjpg`` is a plain concatenation of JPEG images, one per frame;
``cam-<name>_frames.tsv`` has one row per frame with its session time and the
byte range of its JPEG. There is no header, index or trailer to finish, so a
``kill -9`` can cut at most the frame being written, and a restarted capture
process simply appends. ``cv2.VideoCapture`` (FFmpeg's mjpeg demuxer) reads the
file sequentially; :func:`read_frame` reads any one frame directly by its bytes.
This module is pure (numpy, OpenCV); the analysis may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coaffect.formats import session_format as fmt
from coaffect.formats.session_writer import TableWriter, write_json_atomic

if TYPE_CHECKING:  # imported where used: a capture process loads this before its guards
    import numpy as np

#: JPEG quality of recorded frames (OpenCV scale 0-100).
JPEG_QUALITY = 90


def camera_paths(session_dir: Path, name: str) -> tuple[Path, Path]:
    """``(video, frames_tsv)`` paths of camera ``name`` in a session folder.

    Examples
    --------
    >>> camera_paths(Path("ses-01"), "wide")
    (PosixPath('ses-01/cam-wide.mjpg'), PosixPath('ses-01/cam-wide_frames.tsv'))
    """
    video, table = fmt.camera_files(name, fmt.CAMERA_EXT)
    return Path(session_dir) / video, Path(session_dir) / table


@dataclass
class FrameRow:
    """One row of a frame table."""

    frame: int
    t: float
    byte_offset: int
    byte_length: int
    source_frame: int | None


def _parse(line: str, columns: list[str]) -> FrameRow | None:
    cells = dict(zip(columns, line.rstrip("\n").split("\t")))
    try:
        sf = cells.get("source_frame", fmt.NA)
        return FrameRow(
            int(cells["frame"]),
            float(cells["t"]),
            int(cells["byte_offset"]),
            int(cells["byte_length"]),
            None if sf == fmt.NA else int(sf),
        )
    except (KeyError, ValueError):
        return None


def read_frame_rows(table: Path) -> list[FrameRow]:
    """All complete rows of a frame table (a cut last line is ignored).

    Examples
    --------
    >>> rows = read_frame_rows(ses / "cam-wide_frames.tsv")
    >>> len(rows), rows[0].t, rows[-1].source_frame
    (3, 0.5, 2)
    """
    if not table.exists():
        return []
    lines = table.read_text(encoding="utf-8").split("\n")
    if len(lines) < 2:
        return []
    columns = lines[0].split("\t")
    rows = []
    for line in lines[1:-1]:  # the last element follows the last "\n": cut or empty
        row = _parse(line, columns)
        if row is not None:
            rows.append(row)
    return rows


def last_frame_row(table: Path, tail_bytes: int = 4096) -> FrameRow | None:
    """The last complete row of a frame table, read from the file's end only.

    Examples
    --------
    >>> last_frame_row(ses / "cam-wide_frames.tsv").frame
    2
    """
    if not table.exists():
        return None
    with open(table, "rb") as fh:
        header = fh.readline().decode("utf-8").rstrip("\n").split("\t")
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - tail_bytes))
        tail = fh.read().decode("utf-8", errors="replace")
    for line in reversed(tail.split("\n")[1:-1]):
        row = _parse(line, header)
        if row is not None:
            return row
    return None


def last_complete_row(video: Path, table: Path) -> FrameRow | None:
    """The last frame row whose bytes are all in the video (what :func:`repair` keeps).

    A kill in the middle of a frame's write leaves its row without all its bytes;
    that frame is not kept, so a gap starts after the frame before it.

    Examples
    --------
    >>> last_complete_row(*camera_paths(ses, "wide"))
    FrameRow(frame=2, t=0.633333, byte_offset=..., byte_length=..., source_frame=2)
    """
    size = video.stat().st_size if video.exists() else 0
    last = last_frame_row(table)
    if last is None or last.byte_offset + last.byte_length <= size:
        return last
    rows = read_frame_rows(table)  # rare: only after a cut write
    while rows and rows[-1].byte_offset + rows[-1].byte_length > size:
        rows.pop()
    return rows[-1] if rows else None


def read_frame(video: Path, row: FrameRow) -> np.ndarray:
    """Decode one frame (BGR) straight from its bytes in the video file.

    Examples
    --------
    >>> video, table = camera_paths(ses, "wide")
    >>> read_frame(video, read_frame_rows(table)[1]).shape
    (512, 512, 3)
    """
    import cv2
    import numpy as np

    with open(video, "rb") as fh:
        fh.seek(row.byte_offset)
        data = fh.read(row.byte_length)
    if len(data) != row.byte_length:
        raise ValueError(f"{video.name}: frame {row.frame} is not (fully) on disk")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{video.name}: frame {row.frame} does not decode")
    return image


def repair(video: Path, table: Path) -> int:
    """Make video and table agree after a crash; return the number of frames kept.

    Rows whose bytes are not fully in the video are dropped, and video bytes
    after the last complete row's frame are cut (a frame written without its
    row has no timestamp, so it is useless to the analysis).

    Examples
    --------
    A copy of a recording whose last frame was cut in half by a kill:

    >>> import shutil; cut = Path(shutil.copytree(ses, tmp / "ses-01"))
    >>> video, table = camera_paths(cut, "wide")
    >>> os.truncate(video, video.stat().st_size - 100)
    >>> repair(video, table), len(read_frame_rows(table))
    (2, 2)
    """
    rows = read_frame_rows(table)
    size = video.stat().st_size if video.exists() else 0
    keep = len(rows)
    while keep and rows[keep - 1].byte_offset + rows[keep - 1].byte_length > size:
        keep -= 1
    end = rows[keep - 1].byte_offset + rows[keep - 1].byte_length if keep else 0
    if video.exists() and size != end:
        os.truncate(video, end)
    if table.exists() and keep != len(rows):
        lines = table.read_text(encoding="utf-8").split("\n")
        table.write_text("\n".join(lines[: 1 + keep]) + "\n", encoding="utf-8")
    return keep


class MjpegRecorder:
    """Appends JPEG frames and their rows; each row is flushed before its frame.

    Parameters
    ----------
    session_dir : Path
        Where ``cam-<name>.mjpg`` and ``cam-<name>_frames.tsv`` go.
    name : str
        Camera name.
    quality : int
        JPEG quality.

    Examples
    --------
    >>> import numpy as np
    >>> rec = MjpegRecorder(tmp, "wide")
    >>> rec.write(np.zeros((48, 64, 3), np.uint8), t=0.033, source_frame=0) > 0
    True
    >>> rec.close(); rec.frames, [p.name for p in sorted(tmp.iterdir())]
    (1, ['cam-wide.mjpg', 'cam-wide_frames.json', 'cam-wide_frames.tsv'])
    """

    def __init__(self, session_dir: Path, name: str, quality: int = JPEG_QUALITY):
        self.video_path, self.table_path = camera_paths(session_dir, name)
        self.quality = int(quality)
        self.frames = repair(self.video_path, self.table_path)
        self._table = TableWriter(self.table_path, fmt.CAMERA_FRAMES.names)
        sidecar = self.table_path.with_suffix(".json")
        if not sidecar.exists():
            write_json_atomic(sidecar, fmt.sidecar(fmt.CAMERA_FRAMES))
        self._video = open(self.video_path, "ab")
        self._offset = self._video.seek(0, os.SEEK_END)
        self._last_sync = 0.0

    def write(self, image: np.ndarray, t: float, source_frame: int | None = None) -> int:
        """Encode and append one frame; return its size in bytes.

        Examples
        --------
        >>> import numpy as np
        >>> rec = MjpegRecorder(tmp, "wide")
        >>> rec.write(np.zeros((48, 64, 3), np.uint8), t=1.25)
        675
        >>> rec.close()
        """
        import cv2

        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        data = buf.tobytes()
        # the row first: it is on disk no later than the frame it describes
        self._table.append(
            {
                "frame": self.frames,
                "t": t,
                "byte_offset": self._offset,
                "byte_length": len(data),
                "source_frame": source_frame,
            }
        )
        self._video.write(data)
        self._video.flush()
        self._offset += len(data)
        self.frames += 1
        return len(data)

    def sync(self) -> None:
        """fsync the video (the table syncs itself about once a second)."""
        os.fsync(self._video.fileno())

    def close(self) -> None:
        """Flush, fsync and close both files (idempotent)."""
        if not self._video.closed:
            self._video.flush()
            os.fsync(self._video.fileno())
            self._video.close()
        self._table.close()
