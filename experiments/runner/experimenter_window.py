"""The experimenter's window, in its own process (see :mod:`.experimenter_view`).

Drawing a second window costs a software-rendered frame on a lab PC without a
GPU and on Xvfb (measured: 80 dropped participant frames in 6 s when drawn in
the session's process), so the window lives in a child process with its own
OpenGL context. The session sends it a small state dict a few times a second
over a pipe; the window draws it, refreshes camera thumbnails and face markers
in a thread (dlib's HOG detector on a 480-pixel-wide copy), and saves PNG
snapshots on request.
"""

from __future__ import annotations

import threading
from pathlib import Path

BG = (-0.6, -0.6, -0.6)
COLORS = {"happy": (1.0, 0.8, -1.0), "sad": (-0.6, -0.2, 1.0)}
FACE = {True: (-1.0, 0.8, -1.0), False: (1.0, -1.0, -1.0)}
THUMB_W = 240
KEYS_HELP = "ESC abort (Y/N)   P pause   S (in the ESC dialog) skip the button check"


class ViewWindow:
    """The window and its drawing (runs in the child process)."""

    def __init__(self, screen, size, session_dir, cameras):
        from psychopy import logging as plog
        from psychopy import visual

        plog.console.setLevel(plog.ERROR)
        self._visual = visual
        self.size = tuple(size)
        self.session_dir = Path(session_dir)
        self.cameras = [(n, list(s)) for n, s in cameras]
        self.win = visual.Window(
            size=self.size, screen=screen, units="pix", color=BG, colorSpace="rgb",
            waitBlanking=False, checkTiming=False, allowGUI=True,
        )  # fmt: skip
        self._texts: dict = {}
        self._shapes: dict = {}
        self._thumbs: dict = {}
        self._fresh: dict = {}
        self._detector = None
        self._stop = threading.Event()
        self._thread = None
        if self.cameras:
            self._thread = threading.Thread(target=self._thumb_loop, daemon=True)
            self._thread.start()

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

    def _rect(self, pos, size, line, filled, fill=None):
        key = ("rect", pos, size, line, filled, fill)
        stim = self._shapes.get(key)
        if stim is None:
            stim = self._visual.Rect(
                self.win, width=size[0], height=size[1], pos=pos, lineColor=line,
                fillColor=(fill if fill is not None else line) if filled or fill is not None else None,
            )  # fmt: skip
            self._shapes[key] = stim
        stim.draw()

    def _marker(self, pos, found):
        key = ("face", pos, found)
        stim = self._shapes.get(key)
        if stim is None:
            stim = self._visual.Circle(self.win, radius=8, pos=pos, fillColor=FACE[found], lineColor="white")
            self._shapes[key] = stim
        stim.draw()

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

        while not self._stop.wait(1.0):
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

    def draw(self, s: dict) -> None:
        w, h = self.size
        left, top = -w / 2 + 15, h / 2 - 20
        now = s["now"]
        t = f"trial {s['trial']}/{s['n_trials']}" if s["trial"] else "no trial"
        remaining = ""
        if s["duration"]:
            remaining = f"   {max(0.0, s['duration'] - (now - s['phase_t0'])):.0f} s left"
        self._text(f"{s['phase']}   {t}{remaining}   session {now:.0f} s", (left, top), 18)
        y = top - 40
        for seat, label, pid in s["seats"]:
            self._text(f"seat {seat} {label} {pid}", (left, y), 16)
            for j, button in enumerate(("happy", "sad")):
                held = [seat, button] in s["held"]
                x = left + 230 + j * 110
                self._rect((x, y), (100, 26), COLORS[button], held)
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
                self._marker((cx, y - th - 25), found)
                self._text(seat, (cx + 12, y - th - 25), 12)
            x += tw + 20
        base = -h / 2 + 95
        self._text(
            f"dropped frames {s['dropped']}  repeated {s['repeated']}  camera gaps {s['gaps']}",
            (left, base),
            16,
        )
        for i, line in enumerate(s["warnings"]):
            self._text(line, (left, base - 22 * (i + 1)), 14, color="orange")
        self._text(KEYS_HELP, (left, -h / 2 + 12), 13, color="grey")
        if s.get("dialog"):
            self._rect((0, 0), (w - 80, 160), "yellow", False, fill=(-1, -1, -1))
            self._text(s["dialog"], (0, 0), 18, color="yellow", anchor="center")

    def show(self, state: dict, snapshot=None) -> None:
        if self._fresh:
            self._refresh_thumbs()
        self.draw(state)
        if snapshot:
            import numpy as np
            from PIL import Image

            Path(snapshot).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(self.win._getFrame(buffer="back"))).save(snapshot)
        self.win.flip()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self.win.close()


def x_screen_display(display: str, x_screen: int) -> str:
    """The DISPLAY name of X screen ``x_screen`` of ``display``.

    Examples
    --------
    >>> x_screen_display(":99", 1), x_screen_display("host:0.0", 1)
    (':99.1', 'host:0.1')
    """
    host, _, number = display.rpartition(":")
    return f"{host}:{number.split('.')[0]}.{x_screen}"


def serve(conn, screen, size, session_dir, cameras, x_screen=None) -> None:
    """Child process main: draw every state received until ``None`` (or the pipe closes).

    The view yields the CPU to the participants' window: it runs at a lower priority
    (``nice +5``) and, with Mesa's software renderer (no GPU, Xvfb), on one render thread.
    On an X screen of its own (``x_screen``), the process connects to that screen
    (``DISPLAY=:N.x_screen``) before pyglet loads: its OpenGL context cannot share
    with one made on another X screen.
    """
    import os

    if x_screen:
        os.environ["DISPLAY"] = x_screen_display(os.environ.get("DISPLAY", ":0"), x_screen)
        screen = 0
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        os.nice(5)
    except OSError:  # pragma: no cover
        pass
    view = ViewWindow(screen, size, session_dir, cameras)
    conn.send("ready")
    try:
        while True:
            msg = conn.recv()
            while conn.poll():  # draw only the newest state
                nxt = conn.recv()
                if msg and msg.get("snapshot"):
                    view.show(msg["state"], msg["snapshot"])
                msg = nxt
            if msg is None:
                break
            view.show(msg["state"], msg.get("snapshot"))
    except EOFError:
        pass
    finally:
        view.close()
