"""``--workers`` and ``--scheduler``: the options of every verb that runs heavy work on the executor.

Shared by ``coaffect score`` and any verb that maps simulation replicates
(e.g. ``coaffect power``): ``add_cluster_arguments(parser)`` in
``add_arguments``, then ``open_executor(args.scheduler, args.workers)`` from
:mod:`analysis.parallel.executor`. Not a verb itself (not in ``VERBS``).
"""

from __future__ import annotations


def add_cluster_arguments(parser) -> None:
    """Add ``--workers N`` and ``--scheduler ADDRESS`` (see docs/scale-out.md).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_cluster_arguments(p)
    >>> p.parse_args(["--workers", "3"])
    Namespace(workers=3, scheduler=None)
    """
    parser.add_argument(
        "--workers",
        type=int,
        help="local Dask worker processes (default: one per core; 1 runs in this process)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://head:8786 (default: $COAFFECT_SCHEDULER; "
        "see docs/scale-out.md)",
    )
