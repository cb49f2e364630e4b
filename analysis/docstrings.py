"""Parameter descriptions shared by many docstrings (after MNE's ``docdict``).

A parameter that several functions take is described once here. A docstring
names it on a line of its own as ``%(engine)s``; :func:`fill_doc` puts the
entry there, indented like that line. Only whole-line placeholders are
filled, so ``%`` elsewhere in a docstring needs no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

#: Parameter name -> its numpydoc entry (type line, then the description indented by 4).
DOCS: dict[str, str] = {
    "engine": """engine : {"auto", "lme4", "statsmodels"}
    ``auto`` (default): lme4 + lmerTest (REML, Satterthwaite t) through
    Rscript when R is installed, else statsmodels MixedLM (REML, Wald z),
    the labelled fallback.""",
    "ddf": """ddf : {"Satterthwaite", "Kenward-Roger"}
    Denominator df of the lme4 engine's t and F tests (Kenward-Roger needs
    R's pbkrtest; without it Satterthwaite is used).""",
    "trials": """trials : pandas.DataFrame
    A trial table (:func:`analysis.measures.trials.trial_table`, or one read
    back with :func:`analysis.measures.trial_file.read_trials`).""",
    "formulas": """formulas : list of str, optional
    Fixed parts such as ``"AU12 ~ condition * valence"``; default the
    frozen protocol's ``analysis.models``.""",
    "reference": """reference : dict, optional
    Reference level per factor (default: the trial table's, i.e. the
    protocol's ``analysis.reference_levels``, else condition ``alone`` and
    valence ``neutral`` or the alphabetically first).""",
    "workers": """workers : int, optional
    Local Dask worker processes (default: one per core; 1 runs in this
    process). Ignored with ``scheduler``.""",
    "scheduler": """scheduler : str or dask.distributed.Client, optional
    An existing Dask cluster (``tcp://host:8786``); default the
    ``COAFFECT_SCHEDULER`` environment variable (docs/scale-out.md).""",
    "n_boot": """n_boot : int
    Parametric bootstrap draws (lme4 ``bootMer``) behind the 95% CIs of the effect
    sizes of Gaussian models (R2, ICCs, ``d_group``); 0: no bootstrap, and
    ``d_group``'s CI is the group effect's CI over the estimated SD.""",
    "mixed_sources": """mixed_sources : bool
    Let a facial model use trials scored by different tools (``face_source``:
    coaffect, openface, pyfeat); by default such a model is refused (their units differ).""",
    "progress": """progress : bool
    Show tqdm progress bars.""",
    "study": """study : Study, str or Path
    A dataset loaded with :func:`analysis.study.load.load_study`, or its folder.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(obj: F) -> F:
    """Fill the ``%(name)s`` lines of ``obj``'s docstring from :data:`DOCS`.

    Raises
    ------
    KeyError
        A placeholder with no entry (a programming error, caught at import).

    Examples
    --------
    >>> @fill_doc
    ... def f(ddf="Satterthwaite"):
    ...     '''Fit.
    ...
    ...     Parameters
    ...     ----------
    ...     %(ddf)s
    ...     '''
    >>> print(f.__doc__.splitlines()[4])
        ddf : {"Satterthwaite", "Kenward-Roger"}
    """
    doc = obj.__doc__
    if doc:

        def entry(m: re.Match) -> str:
            indent = m.group("indent")
            return "\n".join(indent + line for line in DOCS[m.group("name")].splitlines())

        obj.__doc__ = _PLACEHOLDER.sub(entry, doc)
    return obj
