"""Keep media libraries from printing on the experimenter's console.

Without a sound card (or with one that is busy) ALSA's C library and the SDL
audio code inside ffpyplayer print about ten lines for every clip with a sound
track (``ALSA lib confmisc.c:855:(parse_card) cannot find card '0'``,
``SDL_OpenAudio (...)``, ``No more channel combinations to try``). They are not
problems of the session, yet they bury its own messages. ALSA's messages are
dropped through its error-handler hook, FFmpeg/SDL's are routed to the
``coaffect.media`` logger (debug level), where ``--verbose`` tools can find them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

log = logging.getLogger("coaffect.media")

# void handler(const char *file, int line, const char *function, int err, const char *fmt, ...)
_ALSA_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)
_keep: list = []  # the C callbacks must live as long as the process


def _alsa_libraries() -> list[str]:
    found = []
    system = ctypes.util.find_library("asound")
    if system:
        found.append(system)
    try:
        import ffpyplayer

        libs = Path(ffpyplayer.__file__).resolve().parents[1] / "ffpyplayer.libs"
        found += [str(p) for p in sorted(libs.glob("libasound*.so*"))]
    except ImportError:  # pragma: no cover - the runner needs ffpyplayer anyway
        pass
    return found


def quiet_media_libraries() -> list[str]:
    """Silence ALSA's error printing and route FFmpeg/SDL messages to logging.

    Safe to call more than once; returns the ALSA libraries it quietened.

    Examples
    --------
    >>> isinstance(quiet_media_libraries(), list)
    True
    """
    quietened = []
    if not _keep:
        handler = _ALSA_HANDLER(lambda *args: None)
        _keep.append(handler)
        for name in _alsa_libraries():
            try:
                ctypes.CDLL(name).snd_lib_error_set_handler(handler)
            except (OSError, AttributeError):
                continue
            quietened.append(name)
        _keep.append(quietened)
    try:
        from ffpyplayer.tools import set_log_callback

        set_log_callback(_ffmpeg_message)
    except ImportError:  # pragma: no cover
        pass
    return list(_keep[1])


def _ffmpeg_message(message: str, level: str) -> None:
    text = message.rstrip()
    if text:
        log.log(logging.WARNING if level in ("panic", "fatal") else logging.DEBUG, "%s: %s", level, text)
