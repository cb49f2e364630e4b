"""The participants' screen: a thin adapter over a PsychoPy window.

Everything PsychoPy-specific about drawing lives here: the window, cached text
stimuli (so non-Latin texts are laid out once, not every frame), the fixation
cross, movies (``movieLib='ffpyplayer'``) and flip timestamps on the session
clock. PsychoPy is imported when a :class:`Display` is opened, never at module
import.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from .clock import SessionClock


class Display:
    """A PsychoPy window with session-clock flip times.

    Parameters
    ----------
    size : (int, int)
        Window size in pixels.
    clock : SessionClock
        Flip times are reported on this clock.
    fullscreen : bool
    screen : int
    background : str or tuple
    text_height : float
        Default text height in pixels.
    font : str, optional
        Font family for every text (e.g. ``'Noto Sans CJK JP'``).

    Examples
    --------
    Not run as a doctest: it opens a PsychoPy window (seconds; tests/test_runner_display.py).

    >>> disp = Display((640, 480), SessionClock(time.perf_counter()))  # doctest: +SKIP
    >>> disp.text("こんにちは"); t = disp.flip()                         # doctest: +SKIP
    >>> disp.close()                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        size,
        clock: SessionClock,
        *,
        fullscreen: bool = False,
        screen: int = 0,
        background="black",
        text_height: float = 28,
        font: Optional[str] = None,
    ):
        from psychopy import logging as plog
        from psychopy import visual

        from .quiet import quiet_media_libraries

        plog.console.setLevel(plog.ERROR)
        quiet_media_libraries()  # no ALSA/SDL lines per clip on the experimenter's console
        self._visual = visual
        self.clock = clock
        self.size = tuple(size)
        self.text_height = float(text_height)
        self.font = font or "Noto Sans"
        self.win = visual.Window(
            size=self.size,
            fullscr=fullscreen,
            screen=screen,
            units="pix",
            color=background,
            colorSpace="rgb"
            if isinstance(background, tuple)
            else "named"
            if not str(background).startswith("#")
            else "hex",
            allowGUI=False,
            waitBlanking=True,
            checkTiming=False,
        )
        self.win.mouseVisible = False
        self._texts: dict[tuple, object] = {}
        self._last_flip: Optional[float] = None
        self._fix = visual.ShapeStim(
            self.win, vertices="cross", size=(40, 40), lineColor="white", fillColor="white"
        )

    @classmethod
    def for_protocol(cls, protocol, clock: SessionClock) -> Display:
        """The window a protocol asks for: its ``display`` settings and its texts' font.

        Examples
        --------
        Not run as a doctest: it opens a PsychoPy window (tests/test_runner_display.py).

        >>> from coaffect.formats.protocol import load_protocol
        >>> p = load_protocol("protocols/bittersweet-demo.yaml", check_manifest=False).protocol
        >>> disp = Display.for_protocol(p, SessionClock(time.perf_counter()))  # doctest: +SKIP
        """
        d = protocol.display
        return cls(
            d.size,
            clock,
            fullscreen=d.fullscreen,
            screen=d.screen,
            background=d.background,
            text_height=d.text_height,
            font=protocol.texts.font,
        )

    # ------------------------------------------------------------ drawing
    def text(
        self,
        text: str,
        pos=(0, 0),
        height: Optional[float] = None,
        color="white",
        wrap: Optional[float] = None,
    ) -> None:
        """Draw ``text`` (any language) for the next flip; stimuli are cached."""
        key = (text, tuple(pos), height, color, wrap, self.font)
        stim = self._texts.get(key)
        if stim is None:
            if len(self._texts) > 200:
                self._texts.clear()
            stim = self._visual.TextStim(
                self.win,
                text=text,
                pos=pos,
                height=height or self.text_height,
                color=color,
                font=self.font,
                wrapWidth=wrap or self.size[0] * 0.9,
                anchorHoriz="center",
                alignText="center",
                languageStyle="LTR",
            )
            self._texts[key] = stim
        stim.draw()

    def fixation(self) -> None:
        """Draw a fixation cross for the next flip."""
        self._fix.draw()

    def rect(self, pos, size, color="white", fill=None) -> None:
        """Draw an outlined (or filled) rectangle (one cached stimulus per size and colour)."""
        key = ("rect", tuple(size), color, fill)
        stim = self._texts.get(key)
        if stim is None:
            stim = self._visual.Rect(
                self.win, width=size[0], height=size[1], lineColor=color, fillColor=fill, lineWidth=2
            )
            self._texts[key] = stim
        stim.pos = pos
        stim.draw()

    def movie(self, path: Path, volume: float = 0.0, lead: float = 0.0):
        """Load a movie (ffpyplayer) scaled to fit the window; returns a :class:`Movie`.

        ``volume`` 0 keeps the clip silent (PsychoPy 2026.2 plays ffpyplayer audio
        through SDL even with ``noAudio=True``, so silence is volume 0). ``lead``
        (seconds) starts the sound that much before the first frame is shown: the
        output latency, so that sound and picture reach the participant together.
        """
        return Movie(self, Path(path), volume=volume, lead=lead)

    # ------------------------------------------------------------ timing
    def _stamp(self) -> None:
        self._last_flip = time.perf_counter()

    def flip(self) -> float:
        """Show what was drawn; return the flip time on the session clock."""
        self.win.callOnFlip(self._stamp)
        self.win.flip()
        return self.clock.from_perf(self._last_flip)

    def grab(self, buffer: str = "back"):
        """What is drawn so far (``back``) or on screen (``front``), as an (H, W, 3) uint8 array.

        Call before :meth:`flip` with ``back`` to check what the next flip shows.
        """
        import numpy as np

        return np.asarray(self.win._getFrame(buffer=buffer))

    def refresh_rate(self) -> Optional[float]:
        """Measured refresh rate in Hz (None if it cannot be measured)."""
        try:
            return self.win.getActualFrameRate(nIdentical=5, nMaxFrames=30, nWarmUpFrames=5, threshold=10)
        except Exception:  # pragma: no cover - depends on the driver
            return None

    def close(self) -> None:
        """Close the window (and free its text stimuli while OpenGL is still there)."""
        self._texts.clear()
        try:
            self.win.close()
        except Exception:  # pragma: no cover
            pass


class Movie:
    """One clip on screen, with per-flip frame bookkeeping.

    Call :meth:`draw` before every flip and :meth:`after_flip` with that flip's
    time. ``onset`` is the flip that showed the first frame, ``frames`` holds
    ``(t, frame, pts)`` per flip, and :attr:`finished` says when the last frame
    has had its time on screen.
    """

    def __init__(self, display: Display, path: Path, volume: float = 0.0, lead: float = 0.0):
        self.display = display
        win_w, win_h = display.size
        self.volume = float(volume)
        #: seconds the sound starts before the picture (0 when silent)
        self.lead = float(lead) if self.volume > 0 else 0.0
        self.stim = display._visual.MovieStim(
            display.win,
            str(path),
            movieLib="ffpyplayer",
            units="pix",
            noAudio=self.volume <= 0,
            volume=self.volume,
            loop=False,
        )
        w, h = self.stim.frameSize
        scale = min(win_w / w, win_h / h) if w and h else 1.0
        self.stim.size = (w * scale, h * scale)
        self.fps = float(self.stim.frameRate or 0) or 30.0
        self.onset: Optional[float] = None
        self.frames: list[tuple[float, Optional[int], Optional[float]]] = []
        self._started = False
        self._drawn = False  # the movie was drawn for the coming flip
        #: session-clock time when playback (and the audio stream) was started
        self.play_t: Optional[float] = None

    def draw(self) -> None:
        if not self._started:
            self._play_perf = time.perf_counter()
            self.play_t = self.display.clock.from_perf(self._play_perf)
            self.stim.play(log=False)  # unpauses ffpyplayer: its sound starts now
            if self.lead > 0:
                # the picture's clock (PsychoPy 2026.2 advances _movieTime by the wall clock
                # from play()) starts `lead` s later, so frame k is asked for at k/fps + lead
                self.stim._movieTime = -self.lead
            self._started = True
        if self.lead > 0 and time.perf_counter() - self._play_perf < self.lead:
            self._drawn = False
            return  # the sound is still on its way to the output; frame 0 not yet due
        self.stim.draw()
        self._drawn = True

    def current(self) -> tuple[Optional[int], Optional[float]]:
        pts = self.stim.pts
        if not self._drawn or pts is None or pts < 0 or self.stim._recentFrame is None:
            return None, None  # nothing of the movie in this flip (e.g. still in the sound's lead)
        return int(round(pts * self.fps)), float(pts)

    def after_flip(self, t: float) -> None:
        frame, pts = self.current()
        if frame is not None and self.onset is None:
            self.onset = t
        self.frames.append((t, frame, pts))

    @property
    def finished(self) -> bool:
        return self.stim.isFinished

    def pause(self, state: bool = True) -> None:
        if state:
            self.stim.pause(log=False)
        else:
            self.stim.play(log=False)

    def unload(self) -> None:
        try:
            self.stim.unload(log=False)
        except Exception:  # pragma: no cover
            pass


def frame_audit(frames: list, fps: float, frame_count: int) -> dict:
    """Count shown, dropped and repeated movie frames from per-flip records.

    Parameters
    ----------
    frames : list of (t, frame, pts)
        One entry per flip while the clip played (frame None before the first).
    fps : float
        The clip's frame rate.
    frame_count : int
        Frames in the file.

    Returns
    -------
    dict
        ``flips``, ``frames_shown`` (distinct frames), ``dropped`` (frames of the
        file never shown), ``repeated`` (frames on screen for more than 1.5 frame
        periods, i.e. the display fell behind), ``max_frame_s``.

    Examples
    --------
    >>> frame_audit([(0.0, 0, 0.0), (0.033, 1, 0.033), (0.1, 3, 0.1)], 30, 4)["dropped"]
    1
    """
    shown: dict[int, float] = {}
    order = []
    for t, frame, _ in frames:
        if frame is None:
            continue
        if frame not in shown:
            shown[frame] = t
            order.append(frame)
    period = 1.0 / fps
    repeated = 0
    longest = 0.0
    for a, b in zip(order, order[1:]):
        dt = shown[b] - shown[a]
        longest = max(longest, dt)
        if dt > 1.5 * period:
            repeated += 1
    return {
        "flips": len(frames),
        "frames_shown": len(shown),
        "dropped": max(0, frame_count - len(shown)),
        "repeated": repeated,
        "max_frame_s": round(longest, 4),
    }
