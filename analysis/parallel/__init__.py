"""The executor that runs heavy work on Dask (a local cluster, or an existing one by address).

Public names (:data:`analysis.public.TABLE`) are imported on first use.
"""

from ..public import exports

__all__, __getattr__, __dir__ = exports(__name__)
