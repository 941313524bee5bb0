"""``python -m qathw.cli``."""

import sys

from qathw.cli import main

if __name__ == "__main__":
    sys.exit(main())
