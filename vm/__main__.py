import sys

from vm.cli import main

sys.exit(main())
