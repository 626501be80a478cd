"""``python -m edgebench`` is the ``edgebench`` command."""

import sys

from .cli import main

sys.exit(main())
