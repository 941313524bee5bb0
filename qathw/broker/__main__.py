"""``python -m qathw.broker``: the section broker, without importing the whole CLI."""

import sys

from qathw.broker.daemon import main

if __name__ == "__main__":
    sys.exit(main())
