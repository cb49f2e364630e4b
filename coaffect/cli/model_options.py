"""Flags that ``coaffect stats``, ``coaffect report`` and ``coaffect power`` share for fitting models."""

from __future__ import annotations

#: Library parameters shown as these flags (merged into a verb's ``FLAGS``).
MODEL_FLAGS = {"formulas": "--formula", "n_boot": "--boot"}

#: The library's ``engine`` values (``analysis.stats.fit.ENGINES``; not imported, to keep ``--help`` fast).
ENGINE_CHOICES = ("auto", "lme4", "statsmodels")


def add_engine_argument(parser) -> None:
    """``--engine`` (the library's ``engine``)."""
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="auto",
        help="auto (default): R lme4 + lmerTest (Satterthwaite t) when Rscript is installed, "
        "else the statsmodels fallback (Wald z)",
    )


def add_model_arguments(parser) -> None:
    """``--formula``, ``--engine``, ``--ddf``, ``--mixed-sources`` and ``--boot``.

    The library's ``formulas``, ``engine``, ``ddf``, ``mixed_sources`` and ``n_boot``.
    """
    parser.add_argument(
        "--formula",
        action="append",
        default=None,
        help="fixed part, e.g. 'AU12 ~ condition * valence' (repeatable; "
        "default: the protocol's analysis.models)",
    )
    add_engine_argument(parser)
    parser.add_argument(
        "--ddf",
        choices=("Satterthwaite", "Kenward-Roger"),
        default="Satterthwaite",
        help="denominator df of the lme4 engine's t and F tests (Kenward-Roger needs r-cran-pbkrtest)",
    )
    parser.add_argument(
        "--mixed-sources",
        action="store_true",
        help="fit facial models whose trials were scored by different tools (coaffect, openface, "
        "pyfeat) together; refused by default, as their units differ",
    )
    parser.add_argument(
        "--boot",
        type=int,
        default=200,
        help="parametric bootstrap draws for effect-size CIs (default 200; 0: none)",
    )


def model_keywords(args) -> dict:
    """The library's keywords for the flags of :func:`add_model_arguments`.

    Examples
    --------
    >>> from coaffect.cli import build_parser
    >>> args = build_parser().parse_args(["report", "sim-data", "--boot", "0"])
    >>> sorted(model_keywords(args).items())  # doctest: +NORMALIZE_WHITESPACE
    [('ddf', 'Satterthwaite'), ('engine', 'auto'), ('formulas', None),
     ('mixed_sources', False), ('n_boot', 0)]
    """
    return {
        "formulas": args.formula,
        "engine": args.engine,
        "ddf": args.ddf,
        "n_boot": args.boot,
        "mixed_sources": args.mixed_sources,
    }
