"""coaffect: run and analyse group-vs-alone emotion studies.

The package is layered (see ``docs/architecture.md``):

1. :mod:`coaffect.formats`: the shared contract (protocol, stimulus manifest,
   session folder, faces table, errors). Pure Python, no hardware.
2. ``experiments`` (the session runner) and ``analysis`` (offline analysis),
   each importing only :mod:`coaffect.formats`, never each other.
3. :mod:`coaffect.cli` and :mod:`coaffect.demo`, which may import both.

Importing :mod:`coaffect` itself loads nothing heavy.

Examples
--------
>>> import coaffect
>>> coaffect.__version__
'0.2.0'
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
