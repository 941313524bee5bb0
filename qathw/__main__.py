"""``python -m qathw``: the same as the ``qathw`` command."""

import sys

from qathw.cli import main

sys.exit(main())
