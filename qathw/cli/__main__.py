"""``python -m qathw.cli``."""

import sys

from qathw.cli import main

sys.exit(main())
