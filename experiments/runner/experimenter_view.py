"""The experimenter's live view: a second window the participants never see.

Shows, refreshed a few times a second: each seat's two buttons (filled while
held), the cameras' latest frames as thumbnails with a face-found marker per
seat (dlib's HOG face detector; a face whose centre falls in that seat's slice
of the picture; green = a face, red = none), the phase, trial and time left, dropped video frames and
camera gaps so far, and the latest warnings. The experimenter's keys are read
there: ESC opens the abort dialog (Y abort, N continue, S skip the button check
when offered), P pauses and resumes; the dialogs are drawn in this window, and
the participants' screen stays blank meanwhile.

It draws only every ``interval`` seconds and never waits for the vertical
blank, so the participants' window keeps its frame rate (measured in
``tests/test_experimenter_view.py``).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Optional

BG = (-0.6, -0.6, -0.6)
COLORS = {"happy": (1.0, 0.8, -1.0), "sad": (-0.6, -0.2, 1.0)}
FACE = {True: (-1.0, 0.8, -1.0), False: (1.0, -1.0, -1.0)}
THUMB_W = 240
KEYS_HELP = "ESC abort (Y/N)   P pause   S (in the ESC dialog) skip the button check"


class ExperimenterView:
    """The experimenter's window (see module docstring).

    Parameters
    ----------
    clock : SessionClock
    seats : list of (seat, label, participant_id)
    session_dir : Path
        Where the cameras' ``cam-<name>.mjpg`` files grow.
    cameras : list of (name, [seat, ...])
    n_trials : int
    screen : int
        Screen number of the window (the participants' window has its own).
    size : (int, int)
    interval : float
        Seconds between redraws.
    snapshot_dir : Path, optional
        Save a PNG of the redraw after each phase change and dialog here
        (tests, audits), named ``view-<n>-<phase>-<session time>.png``.
    snapshot_every : float, optional
        Also save one every this many seconds.

    Examples
    --------
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
    ):
        from psychopy import visual

        self._visual = visual
        self.clock = clock
        self.seats = list(seats)
        self.session_dir = Path(session_dir)
        self.cameras = list(cameras)
        self.n_trials = n_trials
        self.size = tuple(size)
        self.interval = interval
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.win = visual.Window(
            size=self.size, screen=screen, units="pix", color=BG, colorSpace="rgb",
            waitBlanking=False, checkTiming=False, allowGUI=True,
        )  # fmt: skip
        self.phase_name, self.phase_t0, self.trial, self.duration = "start", 0.0, None, None
        self.dropped = self.repeated = self.gaps = 0
        self.warnings: list[str] = []
        self.redraws = 0
        self.snapshots: list[Path] = []
        self._last = -1.0
        self._snap_due = True
        self.snapshot_every = snapshot_every
        self._snap_t = 0.0
        self._thumbs: dict = {}  # camera -> (ImageStim, [face found per seat], size)
        self._fresh: dict = {}  # camera -> (rgb thumbnail, faces), from the thread
        self._thumb_every = 1.0
        self._stop = threading.Event()
        self._thread = None
        if self.cameras:
            self._thread = threading.Thread(target=self._thumb_loop, name="view-thumbs", daemon=True)
            self._thread.start()
        self._texts: dict = {}
        self._detector = None

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

    # ------------------------------------------------------------ drawing
    def _text(self, text, pos, height=16, color="white", anchor="left"):
        key = (text, pos, height, color, anchor)
        stim = self._texts.get(key)
        if stim is None:
            if len(self._texts) > 300:
                self._texts.clear()
            stim = self._visual.TextStim(
                self.win, text=text, pos=pos, height=height, color=color, anchorHoriz=anchor,
                alignText=anchor, wrapWidth=self.size[0] - 20,
            )  # fmt: skip
            self._texts[key] = stim
        stim.draw()

    def _rect(self, pos, size, fill=None, line="white"):
        self._visual.Rect(
            self.win, width=size[0], height=size[1], pos=pos, fillColor=fill, lineColor=line
        ).draw()

    def _faces(self, img, n_seats: int) -> list[bool]:
        """Face found per seat slice: dlib's HOG frontal face detector on the thumbnail.

        Runs in the thumbnail thread on a 480-pixel-wide copy. (OpenCV 5 dropped
        its Haar cascades; dlib's detector ships in the wheel, no model download.)
        """
        import dlib

        if self._detector is None:
            self._detector = dlib.get_frontal_face_detector()
        rgb = img[:, :, ::-1].copy()
        w = rgb.shape[1]
        found = [False] * n_seats
        for r in self._detector(rgb, 0):
            cx = (r.left() + r.right()) / 2
            found[min(n_seats - 1, max(0, int(cx * n_seats / w)))] = True
        return found

    def _thumb_loop(self) -> None:
        """Background thread: latest frame per camera, a thumbnail, faces per seat (1 Hz)."""
        import cv2

        from ..cameras.mjpeg_store import camera_paths, last_frame_row, read_frame

        while not self._stop.wait(self._thumb_every):
            for name, cam_seats in self.cameras:
                video, table = camera_paths(self.session_dir, name)
                try:
                    row = last_frame_row(table)
                    if row is None:
                        continue
                    img = read_frame(video, row)
                    h, w = img.shape[:2]
                    big = cv2.resize(img, (480, int(h * 480 / w))) if w > 480 else img
                    faces = self._faces(big, len(cam_seats))
                    small = cv2.resize(img, (THUMB_W, int(h * THUMB_W / w)))
                    self._fresh[name] = (cv2.cvtColor(small, cv2.COLOR_BGR2RGB), faces)
                except Exception:  # a frame still being written: keep the previous one
                    continue

    def _refresh_thumbs(self) -> None:
        import numpy as np

        for name in list(self._fresh):
            rgb, faces = self._fresh.pop(name)
            th, tw = rgb.shape[:2]
            tex = np.flipud(rgb).astype(np.float32) / 127.5 - 1.0
            stim = self._thumbs.get(name, (None,))[0]
            if stim is None:
                stim = self._visual.ImageStim(self.win, image=tex, size=(tw, th), units="pix")
            else:
                stim.image = tex
            self._thumbs[name] = (stim, faces, (tw, th))

    def draw(self, rt) -> None:
        w, h = self.size
        left, top = -w / 2 + 15, h / 2 - 20
        now = self.clock.now()
        t = f"trial {self.trial}/{self.n_trials}" if self.trial else "no trial"
        remaining = ""
        if self.duration:
            remaining = f"   {max(0.0, self.duration - (now - self.phase_t0)):.1f} s left"
        self._text(f"{self.phase_name}   {t}{remaining}   session {now:.0f} s", (left, top), 18)
        y = top - 40
        for seat, label, pid in self.seats:
            self._text(f"seat {seat} {label} {pid}", (left, y), 16)
            for j, button in enumerate(("happy", "sad")):
                held = (seat, button) in rt.held
                x = left + 230 + j * 110
                self._rect((x, y), (100, 26), fill=COLORS[button] if held else None, line=COLORS[button])
                self._text(button.upper(), (x, y), 14, color="black" if held else "white", anchor="center")
            y -= 36
        x = -w / 2 + 135
        for name, cam_seats in self.cameras:
            if name not in self._thumbs:
                self._text(f"camera {name}: no frame yet", (left, y - 20), 14, color="orange")
                continue
            stim, faces, (tw, th) = self._thumbs[name]
            stim.pos = (x, y - th / 2 - 10)
            stim.draw()
            for i, (seat, found) in enumerate(zip(cam_seats, faces)):
                cx = x - tw / 2 + (i + 0.5) * tw / len(cam_seats)
                self._visual.Circle(
                    self.win, radius=8, pos=(cx, y - th - 25), fillColor=FACE[found], lineColor="white"
                ).draw()
                self._text(seat, (cx + 12, y - th - 25), 12)
            x += tw + 20
        base = -h / 2 + 95
        self._text(
            f"dropped frames {self.dropped}  repeated {self.repeated}  camera gaps {self.gaps}",
            (left, base),
            16,
        )
        for i, line in enumerate(self.warnings):
            self._text(line, (left, base - 22 * (i + 1)), 14, color="orange")
        self._text(KEYS_HELP, (left, -h / 2 + 12), 13, color="grey")

    def update(self, rt, allow_pause: bool = True) -> None:
        """Redraw if due; handle P (pause). Called by the runtime once per participant frame.

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
        if self._fresh:
            self._refresh_thumbs()
        if self.snapshot_every and now - self._snap_t >= self.snapshot_every:
            self._snap_due = True
        self.draw(rt)
        self._maybe_snapshot(self.phase_name)
        self.win.flip()
        self.redraws += 1

    def _maybe_snapshot(self, what: str) -> None:
        """Save what the next flip shows (the back buffer, read before the flip)."""
        if self._snap_due and self.snapshot_dir is not None:
            self._snap_due = False
            t = self._snap_t = self.clock.now()
            self.snapshot(self.snapshot_dir / f"view-{len(self.snapshots):03d}-{what}-{t:.3f}.png")

    def snapshot(self, path: Path) -> Path:
        """Save what is drawn for the next flip as a PNG."""
        import numpy as np
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        self.win._setCurrent()  # two windows share one process: read this one's buffer
        Image.fromarray(np.asarray(self.win._getFrame(buffer="back"))).save(path)
        self.snapshots.append(path)
        return path

    def dialog(self, rt, text: str) -> None:
        """Draw a dialog in this window (the participants' window shows nothing meanwhile)."""
        self.draw(rt)
        self._rect((0, 0), (self.size[0] - 80, 160), fill=(-1, -1, -1), line="yellow")
        self._text(text, (0, 0), 18, color="yellow", anchor="center")
        self._maybe_snapshot("dialog")
        self.win.flip()

    def pause(self, rt) -> None:
        """Hold the session until P again; the clip (if any) pauses; logged as a ``pause`` event."""
        if rt.on_abort_check:
            rt.on_abort_check(True)
        t0 = self.clock.now()
        self.warn(f"paused at {t0:.1f} s")
        self._snap_due = True
        while True:
            self.dialog(rt, "PAUSED\nP = continue")
            rt.display.flip()
            rt.tick(allow_abort=False)
            if rt.pop_experimenter_key("p"):
                break
            time.sleep(0.005)
        rt.writer.append(
            "events.tsv",
            {"onset": t0, "duration": self.clock.now() - t0, "trial_type": "pause", "detail": "experimenter"},
        )
        if rt.on_abort_check:
            rt.on_abort_check(False)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        try:
            self.win.close()
        except Exception:  # pragma: no cover
            pass


def open_view(flow) -> ExperimenterView:
    """Open the view for a session flow and hook it to its runtime and writer.

    ``flow.view_options``: ``screen``, ``size``, ``interval``, ``snapshot_dir``, ``snapshot_every``.
    """
    opts = dict(flow.view_options)
    cams = [(c.name, list(c.seats)) for c in flow.p.cameras] if flow.cams is not None else []
    view = ExperimenterView(
        flow.clock, flow.seat_rows, flow.writer.dir, cams, len(flow.plan.order),
        screen=opts.get("screen", 1), size=opts.get("size", (800, 600)),
        interval=opts.get("interval", 0.25), snapshot_dir=opts.get("snapshot_dir"),
        snapshot_every=opts.get("snapshot_every"),
    )  # fmt: skip
    flow.rt.view = view
    if hasattr(flow.writer, "listeners"):
        flow.writer.listeners.append(view)
    flow.writer.update(experimenter_view={"screen": opts.get("screen", 1), "size": list(view.size)})
    return view
