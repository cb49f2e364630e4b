"""Key rollover test of ``coaffect rig-check``: every seat presses both buttons at once.

A keyboard that cannot report many keys held together (rollover) silently
drops presses in a group session. :func:`check_rollover` shows one prompt
("everyone: press and hold BOTH buttons"), waits until every button of every
seat went down (or the time-out), then until all are released, and reports
each press that never arrived. Simulated runs press every key within 1 ms.
"""

from __future__ import annotations

ROLLOVER_TEXT = "Everyone: press and hold BOTH of your buttons now,\nthen release them."


def check_rollover(rt, seats: list, timeout: float = 10.0) -> dict:
    """Run the rollover prompt on a runtime; return what was seen.

    Parameters
    ----------
    rt : Runtime
        Window, keyboard and (for rehearsals) simulated source of the check.
    seats : list of str
        Seat ids that take part.
    timeout : float
        Seconds to wait for every press.

    Returns
    -------
    dict
        ``status`` (passed, failed), ``expected`` (number of presses),
        ``seen`` (pressed buttons), ``lost`` ([seat, button] never pressed),
        ``not_released``, ``spread_ms`` (first to last press).

    Examples
    --------
    Not run as a doctest: it needs a window and real key events (tests/test_cameras_cli.py).

    >>> check_rollover(rt, ["A", "B"])["lost"]   # doctest: +SKIP
    []
    """
    want = {(s, b) for s in seats for b in ("happy", "sad")}
    down: dict = {}
    up: set = set()
    rt.display.text(ROLLOVER_TEXT)
    t0 = rt.display.flip()
    if rt.planner is not None:  # rehearsal: all keys together, held 0.5 s
        from ..runner.simulated import Action

        keys = {(seat, button): key for key, (seat, _, button) in rt.key_map.items()}
        acts = [Action(t0 + 0.3, "down", keys[k], *k) for k in sorted(want)]
        acts += [Action(t0 + 0.8, "up", keys[k], *k) for k in sorted(want)]
        rt.simulated.schedule(acts)
    while rt.clock.now() - t0 < timeout:
        rt.display.text(ROLLOVER_TEXT)
        rt.display.flip()
        for ev in rt.tick(allow_abort=False):
            k = (ev.seat, ev.button)
            if ev.action == "down":
                down.setdefault(k, ev.t)
            elif k in down:
                up.add(k)
        if want <= set(down) and set(down) <= up:
            break
        if want <= set(down) and rt.clock.now() - max(down.values()) > 3.0:
            break  # all pressed; some held too long: stop waiting
    lost = sorted(want - set(down))
    times = sorted(down.values())
    return {
        "status": "passed" if not lost else "failed",
        "expected": len(want),
        "seen": len(set(down) & want),
        "lost": [list(k) for k in lost],
        "not_released": [list(k) for k in sorted(set(down) - up)],
        "spread_ms": round(1000 * (times[-1] - times[0]), 2) if times else None,
    }
