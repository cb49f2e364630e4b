"""Order of the clips in a session: fixed, seeded random, or a balanced Latin square.

Pure functions (no PsychoPy); ``session_index`` is the 0-based number of the
session in its dataset (sessions already present when it starts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Optional


def williams_square(n: int) -> list[list[int]]:
    """Rows of a balanced (Williams) Latin square over ``0..n-1``.

    Every item appears once in every position and, across rows, every item
    precedes every other item equally often (first-order carry-over balance).
    For odd ``n`` this needs ``2n`` rows (the square and its mirror image).

    Examples
    --------
    >>> williams_square(4)
    [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    >>> len(williams_square(3))
    6
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    first = [0]
    lo, hi = 1, n - 1
    for i in range(1, n):
        if i % 2:
            first.append(lo)
            lo += 1
        else:
            first.append(hi)
            hi -= 1
    rows = [[(x + r) % n for x in first] for r in range(n)]
    if n % 2:
        rows += [list(reversed(row)) for row in rows]
    return rows


def trial_order(clips: Sequence[str], mode: str, session_index: int, seed: Optional[int] = None) -> list[str]:
    """The clip ids of one session, in the order they are shown.

    Parameters
    ----------
    clips : sequence of str
        The protocol's clips, as listed.
    mode : {'fixed', 'random', 'latin_square'}
    session_index : int
        0-based index of the session within the dataset.
    seed : int, optional
        Required for ``random``: the order is ``random.Random(f"{seed}:{session_index}")``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> trial_order(["a", "b", "c"], "fixed", 5)
    ['a', 'b', 'c']
    >>> [trial_order(["a", "b", "c"], "latin_square", k) for k in range(2)]
    [['a', 'b', 'c'], ['b', 'c', 'a']]
    >>> trial_order(["a", "b", "c"], "random", 0, seed=1) == trial_order(["a", "b", "c"], "random", 0, seed=1)
    True
    """
    clips = list(clips)
    if session_index < 0:
        raise ValueError("session_index must be >= 0")
    if mode == "fixed":
        return clips
    if mode == "random":
        if seed is None:
            raise ValueError("mode 'random' needs a seed")
        rng = random.Random(f"{seed}:{session_index}")
        out = clips[:]
        rng.shuffle(out)
        return out
    if mode == "latin_square":
        rows = williams_square(len(clips))
        return [clips[i] for i in rows[session_index % len(rows)]]
    raise ValueError(f"unknown trial order mode '{mode}' (allowed: fixed, random, latin_square)")
