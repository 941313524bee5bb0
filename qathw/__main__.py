"""``python -m qathw``: the same as the ``qathw`` command."""

import sys

from qathw.cli import main

if __name__ == "__main__":
    sys.exit(main())
