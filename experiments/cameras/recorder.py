"""``CameraSet``: every camera of a session, each recording in its own process.

The runner opens the set before the session starts, calls :meth:`CameraSet.poll`
now and then (between frames is fine: it never blocks), and :meth:`CameraSet.stop`
at the end or on abort. See :func:`experiments.cameras.open_cameras`.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from coaffect.formats import session_format as fmt
from coaffect.formats.errors import HardwareError

from ..signal_hold import launched_ignoring_sigint, stop_signals_held
from .capture_messages import CaptureJob, Failed, FirstFrame, GapClosed, GapOpened, Opened, Summary
from .capture_process import DISK_FULL, capture_main
from .mjpeg_store import camera_paths, last_complete_row, read_frame_rows
from .source import CameraSpec

#: Seconds to wait for every camera to open and deliver its first frame.
OPEN_TIMEOUT = 20.0
#: Restarts of a crashed capture process before a camera is given up.
MAX_RESTARTS = 5
#: Seconds between two looks at the cameras' messages from :meth:`CameraSet.check_disk`.
DISK_CHECK_INTERVAL = 0.25


def _alive(process) -> bool:
    """Whether a capture process runs (also when someone else has reaped it)."""
    if not process.is_alive():
        return False
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class _Camera:
    spec: CameraSpec
    process: object = None
    messages: object = None  # read end of the capture process's message pipe
    stop_pipe: object = None  # write end of its stop pipe; closing it also stops it
    stop_sent: bool = False
    status: str = "starting"  # ok, ended, missing, failed, crashed
    error: str | None = None
    fps_nominal: float | None = None
    first_t: float | None = None
    gaps: list = field(default_factory=list)
    open_gap: float | None = None
    summaries: list[Summary] = field(default_factory=list)
    restarts: int = 0
    pending_events: list = field(default_factory=list)


class CameraSet:
    """The cameras of one session (see :func:`~experiments.cameras.open_cameras`).

    Parameters
    ----------
    specs : list of CameraSpec
        The cameras.
    session_dir : Path
        The ``ses-<id>`` folder.
    clock_zero : float
        ``time.perf_counter()`` at session t = 0.
    allow_missing : bool
        Start even if a required camera cannot be opened.

    Notes
    -----
    Start, poll and stop the set from the runner's main thread: Linux sends a
    capture process its parent-death signal (SIGKILL) when the *thread* that
    started it ends (:mod:`.parent_watch`).

    Examples
    --------
    Not run as a doctest: it starts capture processes (seconds; tests/test_cameras.py,
    tests/test_cameras_faults.py).

    >>> cams = CameraSet([CameraSpec("wide", file="wide.avi", seats=("A",))],
    ...                  Path("ses-01"), time.perf_counter())        # doctest: +SKIP
    >>> cams.start(); cams.poll(); summary = cams.stop()             # doctest: +SKIP
    """

    def __init__(self, specs, session_dir, clock_zero: float, allow_missing: bool = False):
        self.session_dir = Path(session_dir)
        self.clock_zero = float(clock_zero)
        self.allow_missing = allow_missing
        self.cameras = {s.name: _Camera(s) for s in specs}
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a GL/PsychoPy parent
        self._summary: dict | None = None
        self._next_disk_check = 0.0

    #: Signal Linux sends each capture process when the runner dies (0: none, the watchdog alone).
    parent_death_signal: int = signal.SIGKILL

    # ------------------------------------------------------------------ life cycle
    def now(self) -> float:
        """Current session time (s).

        Examples
        --------
        >>> CameraSet([], Path("ses-01"), time.perf_counter() - 5).now() >= 5
        True
        """
        return time.perf_counter() - self.clock_zero

    def _spawn(self, cam: _Camera, gap_start: float | None = None) -> None:
        # held: a stop between launch and job would leave the child reading nothing
        with stop_signals_held(), launched_ignoring_sigint():
            messages, child_messages = self._ctx.Pipe(duplex=False)
            child_stop, stop_pipe = self._ctx.Pipe(duplex=False)
            job = CaptureJob(
                spec=cam.spec,
                session_dir=str(self.session_dir),
                clock_zero=self.clock_zero,
                parent_pid=os.getpid(),
                gap_start=gap_start,
                parent_death_signal=self.parent_death_signal,
            )
            cam.process = self._ctx.Process(
                target=capture_main,
                name=f"coaffect-cam-{cam.spec.name}",
                daemon=True,
                args=(job, child_messages, child_stop),
            )
            cam.process.start()
            # the child holds its own ends now: a dead child reads as end-of-file here, and a
            # dead runner as end-of-file there
            child_messages.close()
            child_stop.close()
            for conn in (cam.messages, cam.stop_pipe):  # those of a previous process
                if conn is not None:
                    conn.close()
            cam.messages, cam.stop_pipe, cam.stop_sent = messages, stop_pipe, False

    def start(self, timeout: float = OPEN_TIMEOUT) -> CameraSet:
        """Start every capture process; return once each delivered a frame or failed.

        Raises
        ------
        HardwareError
            A required camera cannot be opened (unless ``allow_missing``).

        Examples
        --------
        Not run as a doctest: it starts capture processes (seconds; tests/test_cameras.py).

        >>> cams = CameraSet(specs, Path("ses-01"), clock_zero).start()  # doctest: +SKIP
        >>> cams.cameras["wide"].first_t                                 # doctest: +SKIP
        0.71
        """
        self.session_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._open_all(timeout)
        except BaseException:  # a stop signal while they open, or a failure: end those started
            self.stop()
            raise
        return self

    def _open_all(self, timeout: float) -> None:
        for cam in self.cameras.values():
            self._spawn(cam)
        deadline = time.monotonic() + timeout
        waiting = set(self.cameras)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                cam = self.cameras[name]
                self._drain(cam)
                if cam.first_t is not None or cam.status in ("failed", "ended"):
                    waiting.discard(name)
                elif not cam.process.is_alive():
                    self._drain(cam)
                    if cam.status == "starting":
                        cam.status, cam.error = "failed", "capture process exited at start"
                    waiting.discard(name)
            time.sleep(0.02)
        for name in waiting:
            cam = self.cameras[name]
            cam.status = "failed"
            cam.error = f"no frame within {timeout:.0f} s"
        problems = []
        for cam in self.cameras.values():
            if cam.status != "failed":
                continue
            self._halt(cam)
            cam.status = "missing"
            if cam.spec.required and not self.allow_missing:
                problems.append(cam)
        if problems:  # start() stops them all
            lines = [f"camera '{c.spec.name}' ({c.spec.kind} {c.spec.where}): {c.error}" for c in problems]
            raise HardwareError(
                lines[0],
                lines=lines,
                hint=(
                    "check that the camera is plugged in and not used by another program "
                    "(a device) or that the file exists (a file); coaffect rig-check PROTOCOL lists "
                    "the cameras it can open; to run without it, set 'required: false' for it in "
                    "the protocol, or pass --no-cameras to record no camera at all"
                ),
            )

    def _request_stop(self, cam: _Camera) -> None:
        if cam.stop_pipe is None or cam.stop_sent:
            return
        cam.stop_sent = True
        try:
            cam.stop_pipe.send_bytes(b"stop")
        except OSError:  # it has ended already
            pass

    def _halt(self, cam: _Camera, timeout: float = 10.0) -> None:
        if cam.process is None:
            return
        self._request_stop(cam)
        deadline = time.monotonic() + timeout
        while _alive(cam.process) and time.monotonic() < deadline:
            cam.process.join(0.05)
            self._drain(cam)  # keep its pipe empty so it can exit
        if _alive(cam.process):
            cam.process.terminate()
            cam.process.join(2.0)
        if _alive(cam.process):
            cam.process.kill()
            cam.process.join(2.0)
        self._drain(cam)

    # ------------------------------------------------------------------ messages
    def _gap_event(self, cam: _Camera, start: float, end: float, reason: str) -> dict:
        return fmt.event_row(
            round(start, 6),
            round(max(0.0, end - start), 6),
            "camera_gap",
            detail=f"camera {cam.spec.name}: no frames for {end - start:.2f} s ({reason})",
        )

    def _drain(self, cam: _Camera) -> None:
        conn = cam.messages
        if conn is None:
            return
        while True:
            try:
                if not conn.poll(0):
                    return
                msg = conn.recv()
            except (EOFError, OSError):  # the process ended (maybe in the middle of a message)
                conn.close()
                cam.messages = None
                return
            self._handle(cam, msg)

    def _handle(self, cam: _Camera, msg) -> None:
        if isinstance(msg, Failed):
            cam.status, cam.error = "failed", msg.error
        elif isinstance(msg, Opened):
            cam.fps_nominal = msg.fps_nominal
            if cam.status in ("starting", "crashed"):
                cam.status = "ok"
        elif isinstance(msg, FirstFrame):
            if cam.first_t is None:
                cam.first_t = msg.t
        elif isinstance(msg, GapOpened):
            cam.open_gap = msg.start
            if msg.reason == "file ended":
                cam.status = "ended"
        elif isinstance(msg, GapClosed):
            cam.open_gap = None
            cam.gaps.append([msg.start, msg.end])
            cam.pending_events.append(self._gap_event(cam, msg.start, msg.end, msg.reason))
        elif isinstance(msg, Summary):
            cam.summaries.append(msg)

    def poll(self) -> list[dict]:
        """Gaps that ended since the last call, as ``events.tsv`` rows; restarts crashed captures.

        Returns
        -------
        list of dict
            ``onset``, ``duration``, ``trial_type`` (``'camera_gap'``), ``detail``.

        Examples
        --------
        Not run as a doctest: it needs running capture processes (tests/test_cameras_faults.py).

        >>> for row in cams.poll():                 # doctest: +SKIP
        ...     writer.append("events.tsv", row)
        """
        for cam in self.cameras.values():
            self._drain(cam)
            if (
                self._summary is None
                and cam.process is not None
                and not _alive(cam.process)
                and cam.status not in ("missing", "ended", "failed")
                and not cam.stop_sent
            ):
                self._restart(cam)
        out = []
        for cam in self.cameras.values():
            out.extend(cam.pending_events)
            cam.pending_events = []
        return sorted(out, key=lambda r: r["onset"])

    def check_disk(self) -> None:
        """Raise ``OSError(ENOSPC)`` once a camera has stopped because the disk is full.

        Cheap enough to call every frame: it looks at the cameras' messages at
        most every :data:`DISK_CHECK_INTERVAL` seconds and never blocks. The
        runner calls it from its frame loop, so a full disk stops the session
        within a fraction of a second of the camera's failed write, even while
        the runner's own small rows would still fit.

        Raises
        ------
        OSError
            ``errno.ENOSPC``, naming the camera.

        Examples
        --------
        >>> CameraSet([], Path("ses-01"), time.perf_counter()).check_disk() is None
        True
        """
        now = time.monotonic()
        if now < self._next_disk_check:
            return
        self._next_disk_check = now + DISK_CHECK_INTERVAL
        for cam in self.cameras.values():
            self._drain(cam)
            if cam.status == "failed" and cam.error == DISK_FULL:
                raise OSError(errno.ENOSPC, f"camera {cam.spec.name}: no space left on device")

    def _restart(self, cam: _Camera) -> None:
        """A capture process died (kill -9, crash): start a new one that appends."""
        self._drain(cam)  # what it said before it died (its pipe is read to the end)
        video, table = camera_paths(self.session_dir, cam.spec.name)
        last = last_complete_row(video, table)  # a frame cut by the kill is not kept
        fps = cam.fps_nominal or cam.spec.fps
        start = min(last.t + 1.0 / fps, self.now()) if last else self.now()
        if cam.open_gap is not None:
            start = cam.open_gap
        cam.open_gap = start
        if cam.restarts >= MAX_RESTARTS:
            cam.status = "crashed"
            return
        cam.restarts += 1
        cam.status = "crashed"
        self._spawn(cam, gap_start=start)

    # ------------------------------------------------------------------ summary
    def pids(self) -> dict[str, int]:
        """Process id of each running capture process (for monitoring).

        Examples
        --------
        Not run as a doctest: it needs running capture processes (tests/test_cameras_faults.py).

        >>> psutil.Process(cams.pids()["wide"]).memory_info().rss  # doctest: +SKIP
        79560704
        """
        return {
            n: c.process.pid for n, c in self.cameras.items() if c.process is not None and _alive(c.process)
        }

    def stop(self) -> dict:
        """Stop recording; return the per-camera summary for ``session.json["cameras"]``.

        Idempotent and safe to call from ``finally``. Gaps still open end at the
        stop time; :meth:`poll` after ``stop`` returns their events.

        Returns
        -------
        dict
            Per camera: ``frames_written``, ``fps_measured``, ``fps_nominal``,
            ``gaps`` (``[[start, end], ...]``), ``file``, ``frames_table``, ``codec``,
            ``status``, ``frames_delivered``, ``frames_dropped``, ``restarts``,
            ``latency_median``, ``latency_max``, ``source``, ``seats``.

        Examples
        --------
        Not run as a doctest: it needs running capture processes (tests/test_cameras.py).

        >>> session_writer.update(cameras=cams.stop())  # doctest: +SKIP
        """
        if self._summary is not None:
            return self._summary
        for cam in self.cameras.values():
            self._request_stop(cam)
        for cam in self.cameras.values():
            self._halt(cam)
            if cam.stop_pipe is not None:
                cam.stop_pipe.close()
                cam.stop_pipe = None
        stop_t = self.now()
        self._summary = {}
        for name, cam in self.cameras.items():
            if cam.open_gap is not None:  # e.g. process died and could not be restarted
                cam.gaps.append([cam.open_gap, stop_t])
                cam.pending_events.append(self._gap_event(cam, cam.open_gap, stop_t, "capture process died"))
                cam.open_gap = None
            self._summary[name] = self._camera_summary(cam)
        return self._summary

    def _camera_summary(self, cam: _Camera) -> dict:
        video, table = camera_paths(self.session_dir, cam.spec.name)
        rows = read_frame_rows(table)
        ts = [r.t for r in rows]
        intervals = sorted(b - a for a, b in zip(ts, ts[1:]))
        fps_measured = (
            round(1.0 / intervals[len(intervals) // 2], 3)
            if intervals and intervals[len(intervals) // 2] > 0
            else None
        )
        lat = [s.latency_median for s in cam.summaries if s.latency_median is not None]
        status = cam.status
        if status == "ok" and cam.gaps:
            status = "gaps"
        return {
            "frames_written": len(rows),
            "frames_delivered": sum(s.delivered for s in cam.summaries),
            "frames_dropped": sum(s.dropped for s in cam.summaries),
            "fps_measured": fps_measured,
            "fps_nominal": round(cam.fps_nominal, 3) if cam.fps_nominal else cam.spec.fps,
            "first_t": ts[0] if ts else None,
            "last_t": ts[-1] if ts else None,
            "gaps": [[round(a, 6), round(b, 6)] for a, b in cam.gaps],
            "restarts": cam.restarts,
            "file": video.name if rows else None,
            "frames_table": table.name if rows else None,
            "codec": "mjpeg",
            "container": f"raw MJPEG (.{fmt.CAMERA_EXT}): concatenated JPEG frames",
            "latency_median": max(lat) if lat else None,
            "latency_max": max((s.latency_max for s in cam.summaries), default=None),
            "status": status,
            "error": cam.error,
            "source": {"kind": cam.spec.kind, "where": cam.spec.where, "loop": cam.spec.loop},
            "seats": list(cam.spec.seats),
        }

    # ------------------------------------------------------------------ enrollment
    def enroll(self, participants: dict[str, str], enroll_dir, timeout: float = 5.0) -> dict:
        """One face snapshot per participant: ``enroll/<participant_id>.png``.

        See :func:`experiments.cameras.enroll.enroll_participants`; only cameras
        that are delivering frames are used.

        Examples
        --------
        Not run as a doctest: it needs running capture processes (tests/test_cameras.py).

        >>> cams.enroll({"A": "P01"}, ses_dir / "enroll")  # doctest: +SKIP
        {'P01': PosixPath('.../enroll/P01.png')}
        """
        from .enroll import enroll_participants

        live = [c.spec for c in self.cameras.values() if c.status in ("ok",)]
        return enroll_participants(live, self.session_dir, participants, Path(enroll_dir), timeout=timeout)

    def __enter__(self) -> CameraSet:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
