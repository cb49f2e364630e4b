"""Flags that set a :class:`~analysis.simulate.spec.SimulationSpec` field: ``coaffect simulate-study`` and ``coaffect power``.

Each flag is the field's name with dashes; its type and default are read from the
dataclass, so a default changed there is the CLI's default too (and its help says so).
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from .default_options import add_default_argument


def add_spec_arguments(parser, helps: dict[str, str]) -> None:
    """Add ``--<field>`` for each :class:`SimulationSpec` field named in ``helps`` (field -> what it sets).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_spec_arguments(p, {"n_alone": "alone sessions", "sd_residual_group": "residual SD in groups"})
    >>> p.parse_args(["--n-alone", "6"])
    Namespace(n_alone=6, sd_residual_group=None)
    >>> [a.help for a in p._actions[1:]]
    ['alone sessions (default 24)', 'residual SD in groups']
    """
    from analysis.simulate.spec import SimulationSpec

    spec_fields = {f.name: f for f in fields(SimulationSpec)}
    for name, what in helps.items():
        default = spec_fields[name].default
        if default is MISSING or isinstance(default, (tuple, dict)):
            raise ValueError(f"{name}: not a number field of SimulationSpec")
        add_default_argument(parser, "--" + name.replace("_", "-"), default, what)
