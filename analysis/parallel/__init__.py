"""The executor that runs heavy work on Dask (local cluster or an existing one)."""
