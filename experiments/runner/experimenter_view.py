"""The experimenter's live view: a second window the participants never see.

Shows, refreshed a few times a second: each seat's two buttons (filled while
held), the cameras' latest frames as thumbnails with a face-found marker per
seat (dlib's HOG face detector; a face whose centre falls in that seat's slice
of the picture; green = a face, red = none), the phase, trial and time left,
dropped video frames and camera gaps so far, and the latest warnings. The
experimenter's keys: ESC opens the abort dialog (Y abort, N continue, S skip
the button check when offered), P pauses and resumes; the dialogs are drawn in
the view, and the participants' screen stays blank meanwhile. Keys are read by
Psychtoolbox from the keyboard devices, whichever window has the focus.

:class:`ExperimenterView` lives in the session's process and only keeps state;
the window itself runs in a child process
(:mod:`experiments.runner.experimenter_window`) so drawing it never costs the
participants' window a frame (measured in ``tests/test_experimenter_view.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import re
import time
from pathlib import Path
from typing import Optional

from coaffect.formats.session_format import event_row

from ..signal_hold import launched_ignoring_sigint


class ExperimenterView:
    """State of the experimenter's view, sent to its window process (see module docstring).

    Parameters
    ----------
    clock : SessionClock
    seats : list of (seat, label, participant_id)
    session_dir : Path
        Where the cameras' ``cam-<name>.mjpg`` files grow.
    cameras : list of (name, [seat, ...])
    n_trials : int
    screen : int
        Screen number of the view's window.
    size : (int, int)
    interval : float
        Seconds between redraws.
    snapshot_dir : Path, optional
        Save a PNG of the redraw after each phase change and dialog here
        (tests, audits), named ``view-<n>-<what>-<session time>.png``.
    snapshot_every : float, optional
        Also save one every this many seconds.
    x_screen : int, optional
        The X screen ``screen`` is on when it is an X screen of its own
        (:func:`experiments.runner.screens.resolve_screen`).

    Examples
    --------
    Not run as a doctest: it draws on a second screen during a session
    (tests/test_experimenter_view.py).

    >>> view = ExperimenterView(clock, [("A", "left", "P01")], Path("ses-1"), [], 4)  # doctest: +SKIP
    >>> rt.view = view                                                              # doctest: +SKIP
    """

    def __init__(
        self,
        clock,
        seats,
        session_dir: Path,
        cameras,
        n_trials: int,
        *,
        screen: int = 1,
        size=(800, 600),
        interval: float = 0.25,
        snapshot_dir: Optional[Path] = None,
        snapshot_every: Optional[float] = None,
        x_screen: Optional[int] = None,
    ):
        from .experimenter_window import serve

        self.clock = clock
        self.seats = [list(s) for s in seats]
        self.n_trials = n_trials
        self.size = tuple(size)
        self.interval = interval
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshot_every = snapshot_every
        self.phase_name, self.phase_t0, self.trial, self.duration = "start", 0.0, None, None
        self.dropped = self.repeated = self.gaps = 0
        self.warnings: list[str] = []
        self.redraws = 0
        self.snapshots: list[Path] = []
        self._last = -1.0
        self._snap_t = 0.0
        self._snap_due = True
        ctx = mp.get_context("spawn")  # a fresh process: its own OpenGL context
        self._conn, child = ctx.Pipe()
        cams = [(n, list(s)) for n, s in cameras]
        self._proc = ctx.Process(
            target=serve, args=(child, screen, self.size, str(session_dir), cams, x_screen), daemon=True
        )
        with launched_ignoring_sigint():  # the runner closes it; Ctrl+C must not end it first
            self._proc.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            self.close()
            raise RuntimeError(f"the experimenter's view did not open on screen {screen}")

    # ------------------------------------------------------------ what happens
    def phase(self, phase: str, t0: float, trial=None, duration=None, **_info) -> None:
        self.phase_name, self.phase_t0, self.trial, self.duration = phase, t0, trial, duration
        self._snap_due = True

    def on_row(self, table: str, row: dict) -> None:
        """Count dropped frames, camera gaps and warnings from the rows the session writes."""
        if table != "events.tsv":
            return
        kind, detail = row.get("trial_type"), str(row.get("detail") or "")
        if kind == "clip":
            m = re.search(r"dropped=(\d+) repeated=(\d+)", detail)
            if m:
                self.dropped += int(m.group(1))
                self.repeated += int(m.group(2))
                if int(m.group(1)) or int(m.group(2)):
                    self.warn(f"trial {row.get('trial')}: {m.group(1)} frames dropped, {m.group(2)} repeated")
        elif kind == "camera_gap":
            self.gaps += 1
            self.warn(f"camera gap at {row.get('onset', 0):.1f} s: {detail[:60]}")
        elif kind in ("abort", "resume"):
            self.warn(f"{kind}: {detail[:60]}")

    def warn(self, text: str) -> None:
        self.warnings = (self.warnings + [text])[-3:]

    # ------------------------------------------------------------ sending
    def state(self, rt, dialog: Optional[str] = None) -> dict:
        return {
            "now": self.clock.now(),
            "phase": self.phase_name,
            "phase_t0": self.phase_t0,
            "trial": self.trial,
            "n_trials": self.n_trials,
            "duration": self.duration,
            "seats": self.seats,
            "held": [list(k) for k in rt.held],
            "dropped": self.dropped,
            "repeated": self.repeated,
            "gaps": self.gaps,
            "warnings": list(self.warnings),
            "dialog": dialog,
        }

    def _send(self, rt, what: str, dialog: Optional[str] = None) -> None:
        now = self.clock.now()
        if self.snapshot_every and now - self._snap_t >= self.snapshot_every:
            self._snap_due = True
        snap = None
        if self._snap_due and self.snapshot_dir is not None:
            self._snap_due = False
            self._snap_t = now
            snap = str(self.snapshot_dir / f"view-{len(self.snapshots):03d}-{what}-{now:.3f}.png")
            self.snapshots.append(Path(snap))
        self._conn.send({"state": self.state(rt, dialog), "snapshot": snap})
        self.redraws += 1

    def update(self, rt, allow_pause: bool = True) -> None:
        """Send the state if a redraw is due; handle P (pause). Called once per participant frame.

        Inside a dialog (``allow_pause`` False) the dialog owns the window.
        """
        if not allow_pause:
            return
        if rt.pop_experimenter_key("p"):
            self.pause(rt)
        now = self.clock.now()
        if now - self._last < self.interval:
            return
        self._last = now
        self._send(rt, self.phase_name)

    def dialog(self, rt, text: str) -> None:
        """Show a dialog in the view (the participants' window shows nothing meanwhile)."""
        now = self.clock.now()
        if now - self._last >= 0.1:
            self._last = now
            self._send(rt, "dialog", dialog=text)

    def pause(self, rt) -> None:
        """Hold the session until P again; the clip (if any) pauses; logged as a ``pause`` event."""
        if rt.on_abort_check:
            rt.on_abort_check(True)
        t0 = self.clock.now()
        self.warn(f"paused at {t0:.1f} s")
        self._snap_due = True
        self._last = -1.0
        while True:
            self.dialog(rt, "PAUSED\nP = continue")
            rt.display.flip()
            rt.tick(allow_abort=False)
            if rt.pop_experimenter_key("p"):
                break
            time.sleep(0.005)
        rt.writer.append("events.tsv", event_row(t0, self.clock.now() - t0, "pause", detail="experimenter"))
        if rt.on_abort_check:
            rt.on_abort_check(False)

    def close(self) -> None:
        """Close the window process (waits for its last snapshot)."""
        try:
            self._conn.send(None)
        except Exception:  # pragma: no cover - the process is already gone
            pass
        self._proc.join(timeout=10)
        if self._proc.is_alive():  # pragma: no cover
            self._proc.terminate()
            self._proc.join(timeout=5)


def open_view(flow) -> ExperimenterView:
    """Open the view for a session flow and hook it to its runtime and writer.

    Its options are ``flow.options.experimenter_view``: ``screen``, ``size``,
    ``interval``, ``snapshot_dir``, ``snapshot_every``.
    """
    opts = dict(flow.options.experimenter_view)
    cams = [(c.name, list(c.seats)) for c in flow.p.cameras] if flow.cams is not None else []
    view = ExperimenterView(
        flow.clock, flow.seat_rows, flow.writer.dir, cams, len(flow.plan.order),
        screen=opts.get("screen", 1), size=opts.get("size", (800, 600)),
        interval=opts.get("interval", 0.25), snapshot_dir=opts.get("snapshot_dir"),
        snapshot_every=opts.get("snapshot_every"), x_screen=opts.get("x_screen"),
    )  # fmt: skip
    flow.rt.view = view
    if hasattr(flow.writer, "listeners"):
        flow.writer.listeners.append(view)
    flow.writer.update(
        experimenter_view={
            "screen": opts.get("screen", 1),
            "size": list(view.size),
            "monitor": opts.get("monitor"),
        }
    )
    return view
