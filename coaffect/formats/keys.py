"""Key names a protocol may assign to buttons.

Names follow PsychoPy's Keyboard (``ptb`` backend); ``XDOTOOL_KEYSYMS`` maps
each to the X keysym that ``xdotool keydown`` understands, for injected input.
"""

from __future__ import annotations

import string

#: Keys the runner keeps for itself: escape starts the abort dialog.
RESERVED_KEYS = frozenset({"escape"})

_NAMED = {
    "space": "space",
    "return": "Return",
    "tab": "Tab",
    "backspace": "BackSpace",
    "left": "Left",
    "right": "Right",
    "up": "Up",
    "down": "Down",
    "lshift": "Shift_L",
    "rshift": "Shift_R",
    "lctrl": "Control_L",
    "rctrl": "Control_R",
    "lalt": "Alt_L",
    "ralt": "Alt_R",
    "comma": "comma",
    "period": "period",
    "slash": "slash",
    "semicolon": "semicolon",
    "apostrophe": "apostrophe",
    "bracketleft": "bracketleft",
    "bracketright": "bracketright",
    "minus": "minus",
    "equal": "equal",
    "backslash": "backslash",
    "grave": "grave",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "insert": "Insert",
    "delete": "Delete",
}

XDOTOOL_KEYSYMS: dict[str, str] = {
    **{c: c for c in string.ascii_lowercase},
    **{d: d for d in string.digits},
    **{f"num_{d}": f"KP_{d}" for d in string.digits},
    **{f"f{i}": f"F{i}" for i in range(1, 13)},
    **_NAMED,
}

#: Every key name accepted in a protocol.
VALID_KEYS = frozenset(XDOTOOL_KEYSYMS)

#: Names people often write for a key, and the name a protocol uses.
KEY_ALIASES = {
    "enter": "return",
    "ret": "return",
    "spacebar": "space",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "pgdn": "pagedown",
    "page_up": "pageup",
    "page_down": "pagedown",
    "arrowleft": "left",
    "arrowright": "right",
    "arrowup": "up",
    "arrowdown": "down",
}


def key_suggestion(name: str) -> str | None:
    """The protocol's name for a key written another way (``Enter`` -> ``return``), or None.

    Examples
    --------
    >>> key_suggestion("Enter"), key_suggestion("A"), key_suggestion("happy")
    ('return', 'a', None)
    """
    low = str(name).strip().lower()
    if low in VALID_KEYS and low != name:
        return low
    return KEY_ALIASES.get(low.replace(" ", "").replace("-", "_"))
