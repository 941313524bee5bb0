"""``python -m fakedev.sysfs DIR --topology NAME``."""

import sys

from fakedev.sysfs.cli import main

if __name__ == "__main__":
    sys.exit(main())
