"""Doctest set-up for every module's Examples section (``--doctest-modules``).

Examples run from the project root, so they can name committed files
(``protocols/bittersweet-demo.yaml``, ``stimuli/manifest.yaml``), and get
``tmp``, a fresh temporary folder, in their namespace.
"""

from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _doctest_environment(request, doctest_namespace, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(ROOT)
        doctest_namespace["tmp"] = tmp_path
    yield
