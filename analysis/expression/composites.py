"""Composite facial-movement scores from action-unit z-scores.

Each composite is the mean of the z-scores of the action units that make up
a prototypical expression (EMFACS / Ekman & Friesen combinations), using the
units 68 landmarks can measure, and is named for the movements it averages
(``smile`` = AU06 + AU12). They are facial movements, not felt emotions: the
same movements occur without the feeling and the feeling without them
(Barrett et al. 2019, Psychol Sci Public Interest 20:1-68).
"""

from __future__ import annotations

import pandas as pd

from coaffect.formats.faces_schema import COMPOSITE_UNITS


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
    >>> composite_scores(aus)["smile"].tolist()
    [3.0]
    """
    out = pd.DataFrame(index=aus.index)
    for name, units in COMPOSITE_UNITS.items():
        present = [u for u in units if u in aus.columns]
        out[name] = aus[present].mean(axis=1, skipna=False) if present else float("nan")
    return out
