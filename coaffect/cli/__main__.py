"""``python -m coaffect.cli``: the same as the ``coaffect`` command."""

import sys

from coaffect.cli import main

sys.exit(main())
