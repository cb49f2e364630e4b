"""Public names of a package, imported on first use (PEP 562).

``import analysis`` (or one of its subpackages) must stay cheap: Dask workers
and the import-boundary test import single submodules, and an analyst's first
``import analysis`` should not load R bridges, OpenCV or Dask. A package lists
its public names and where they live; :func:`exports` gives it the module-level
``__getattr__`` and ``__dir__`` that import a name's module when the name is
first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(
    package: str, names: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> module that defines it (relative to ``package``, e.g. ``".fit"``).

    Examples
    --------
    >>> all_, getattr_, dir_ = exports("analysis.stats", {"fit_mixed": ".fit"})
    >>> all_, getattr_("fit_mixed").__name__
    (['fit_mixed'], 'fit_mixed')
    >>> getattr_("fit_mixd")
    Traceback (most recent call last):
    ...
    AttributeError: module 'analysis.stats' has no attribute 'fit_mixd'; did you mean 'fit_mixed'?
    """
    import sys

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            from coaffect.formats.errors import did_you_mean

            raise AttributeError(f"module {package!r} has no attribute {name!r}{did_you_mean(name, names)}")
        value = getattr(importlib.import_module(where, package), name)
        module = sys.modules.get(package)
        if module is not None:
            setattr(module, name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        module = sys.modules.get(package)
        return sorted(set(names) | set(vars(module) if module else ()))

    return sorted(names), __getattr__, __dir__
