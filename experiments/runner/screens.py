"""Which monitor a window's ``screen`` number lands on, and whether two of them overlap.

PsychoPy (pyglet) on Linux reads ``screen: N`` as X screen N when the X server
has that many screens (each X screen its own coordinate space, e.g. two
monitors as ``:0.0`` and ``:0.1``), and otherwise as Xinerama/RandR monitor N of
X screen 0; a number that is neither silently falls back to screen 0. With
Xinerama, monitors are rectangles of one desktop, and a mirrored or cloned
layout puts two of them on the same pixels (Xvfb's ``+xinerama`` places every
screen at 0,0). :func:`check_view_screen` refuses, before anything is written,
an experimenter's view that would not exist or would overlap the
participants' screen: the participants see only the protocol.
"""

from __future__ import annotations

import os
from ctypes import POINTER, byref, c_int, cast
from dataclasses import dataclass
from typing import Optional

from coaffect.formats.errors import HardwareError


@dataclass(frozen=True)
class Monitor:
    """Where screen ``number`` lands: its X screen and its rectangle there (pixels)."""

    number: int
    x_screen: int
    x: int
    y: int
    width: int
    height: int

    def overlaps(self, other: Monitor) -> bool:
        """Same X screen and a shared pixel.

        Examples
        --------
        >>> Monitor(0, 0, 0, 0, 1280, 1024).overlaps(Monitor(1, 0, 1280, 0, 800, 600))
        False
        >>> Monitor(0, 0, 0, 0, 1280, 1024).overlaps(Monitor(1, 0, 0, 0, 800, 600))
        True
        >>> Monitor(0, 0, 0, 0, 1280, 1024).overlaps(Monitor(1, 1, 0, 0, 800, 600))
        False
        """
        return (
            self.x_screen == other.x_screen
            and self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )

    def __str__(self) -> str:
        where = f"X screen {self.x_screen}, " if self.x_screen else ""
        return f"{where}{self.width}x{self.height} at {self.x},{self.y}"


def x_monitors() -> tuple[int, list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """The X server's layout: (number of X screens, Xinerama heads, size of each X screen).

    Heads are ``(x, y, width, height)`` and empty when Xinerama is not active.
    """
    from pyglet.libs.x11 import xlib

    dpy = xlib.XOpenDisplay(None)
    if not dpy:
        raise HardwareError(
            f"no display: cannot connect to the X server {os.environ.get('DISPLAY')!r}",
            hint="run on the lab computer's desktop, or rehearse headless with xvfb-run",
        )
    try:
        count = xlib.XScreenCount(dpy)
        sizes = [(xlib.XDisplayWidth(dpy, i), xlib.XDisplayHeight(dpy, i)) for i in range(count)]
        heads: list[tuple[int, int, int, int]] = []
        try:
            from pyglet.libs.x11 import xinerama
        except Exception:  # no libXinerama: no heads
            xinerama = None
        if xinerama is not None and xinerama.XineramaIsActive(dpy):
            number = c_int()
            infos = xinerama.XineramaQueryScreens(dpy, byref(number))
            arr = cast(infos, POINTER(xinerama.XineramaScreenInfo * number.value)).contents
            heads = [(i.x_org, i.y_org, i.width, i.height) for i in arr]
            xlib.XFree(infos)
        return count, heads, sizes
    finally:
        xlib.XCloseDisplay(dpy)


def resolve_screen(number: int, layout=None) -> Optional[Monitor]:
    """The monitor PsychoPy opens ``screen=number`` on, or None if it has no such screen.

    Parameters
    ----------
    number : int
    layout : tuple, optional
        :func:`x_monitors` output (default: asked from the X server).

    Examples
    --------
    >>> two_heads = (1, [(0, 0, 1280, 1024), (1280, 0, 800, 600)], [(2080, 1024)])
    >>> str(resolve_screen(1, two_heads))
    '800x600 at 1280,0'
    >>> resolve_screen(2, two_heads) is None
    True
    >>> str(resolve_screen(1, (2, [], [(1280, 1024), (800, 600)])))
    'X screen 1, 800x600 at 0,0'
    """
    count, heads, sizes = layout if layout is not None else x_monitors()
    if number < 0:
        return None
    if number < count:  # PsychoPy first tries X screen `number`
        if heads:
            x, y, w, h = heads[number] if number < len(heads) else heads[0]
            return Monitor(number, number, x, y, w, h)
        return Monitor(number, number, 0, 0, *sizes[number])
    if number < len(heads):  # then Xinerama monitor `number` of X screen 0
        return Monitor(number, 0, *heads[number])
    return None


def check_view_screen(view_screen: int, participants_screen: int = 0, layout=None) -> Monitor:
    """Refuse an experimenter's view that does not exist or covers the participants' screen.

    Raises
    ------
    HardwareError
        One line naming both screens and the monitors the X server reports.

    Examples
    --------
    >>> mirrored = (1, [(0, 0, 1280, 1024), (0, 0, 800, 600)], [(1280, 1024)])
    >>> check_view_screen(1, 0, mirrored)
    Traceback (most recent call last):
    ...
    coaffect.formats.errors.HardwareError: experimenter_view: screen 1 (800x600 at 0,0) overlaps the participants' screen 0 (1280x1024 at 0,0): the view would cover the clips
    """
    layout = layout if layout is not None else x_monitors()
    count, heads, sizes = layout
    known = [m for m in (resolve_screen(i, layout) for i in range(max(count, len(heads), 1))) if m]
    listed = "; ".join(f"{m.number}: {m}" for m in known) or "none"
    hint = (
        "give a screen of its own (side by side, not mirrored), e.g. a second X screen "
        "(DISPLAY :0.1) or a monitor right of the participants'; or leave out `experimenter_view`"
    )
    view = resolve_screen(view_screen, layout)
    if view is None:
        raise HardwareError(
            f"experimenter_view: screen {view_screen}: no such screen (screens: {listed})",
            hint=hint,
            field="experimenter_view",
        )
    parts = resolve_screen(participants_screen, layout) or resolve_screen(0, layout)
    if view_screen == participants_screen or view.overlaps(parts):
        raise HardwareError(
            f"experimenter_view: screen {view_screen} ({view}) overlaps the participants' screen "
            f"{participants_screen} ({parts}): the view would cover the clips",
            hint=hint,
            field="experimenter_view",
        )
    return view
