"""Composite facial-movement scores from action-unit z-scores.

Each composite is the mean of the z-scores of the action units that make up
the prototypical expression (EMFACS / Ekman & Friesen combinations), using
the units 68 landmarks can measure. They are facial movements, not felt emotions.
"""
from __future__ import annotations

import pandas as pd

#: Composite -> action units averaged (literature prototype; units landmarks cannot see left out).
COMPOSITE_UNITS = {
    "happiness": ("AU06", "AU12"),                       # AU6 + AU12
    "sadness": ("AU01", "AU04", "AU15"),                 # AU1 + AU4 + AU15
    "surprise": ("AU01", "AU02", "AU05", "AU26"),        # AU1 + AU2 + AU5B + AU26
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),  # AU1+2+4+5+7+20+26
    "anger": ("AU04", "AU05", "AU07"),                   # AU4 + AU5 + AU7 (+AU23: not measurable)
    "disgust": ("AU10", "AU15"),                         # AU9/AU10 + AU15 (+AU16): AU9 not measurable
}


def composite_scores(aus: pd.DataFrame) -> pd.DataFrame:
    """Mean z-score of each composite's action units.

    Parameters
    ----------
    aus : pandas.DataFrame
        Action-unit z-scores (columns ``AU01``...).

    Returns
    -------
    pandas.DataFrame
        Same index; one column per composite of :data:`COMPOSITE_UNITS`.

    Examples
    --------
    >>> aus = pd.DataFrame({"AU06": [2.0], "AU12": [4.0]})
    >>> composite_scores(aus)["happiness"].tolist()
    [3.0]
    """
    out = pd.DataFrame(index=aus.index)
    for name, units in COMPOSITE_UNITS.items():
        present = [u for u in units if u in aus.columns]
        out[name] = aus[present].mean(axis=1, skipna=False) if present else float("nan")
    return out
