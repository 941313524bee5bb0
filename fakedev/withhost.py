"""``python -m fakedev.withhost COMMAND [ARGS...]``: run a command on a fake QAT host.

The host is :func:`fakedev.running`'s default — two emulated 4xxx VFs (crypto,
compression) and ``[SSL]`` with one Cy and one Dc instance — with its three environment
variables set for the command. It is stopped and removed when the command ends; the exit
status is the command's. For shells and CI scripts; Python code uses
:func:`fakedev.running`, pytest the ``qat_host`` fixture (docs/testing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from fakedev.host import running
from fakedev.hostspec import FakeHostError

_USAGE = (
    "usage: python -m fakedev.withhost COMMAND [ARGS...]\n"
    "run COMMAND on a fake QAT host (two emulated 4xxx VFs, [SSL] with a Cy and a Dc\n"
    "instance), removed when it ends"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``argv`` (default: this program's arguments) on a fake host; its exit status.

    Exit status: the command's; 1 when the host cannot start or the command cannot run
    (``fakedev: <what>`` on stderr); 2 with no command.
    """
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command or command[0] in ("-h", "--help"):
        print(_USAGE, file=sys.stderr)
        return 2 if not command else 0
    try:
        with running() as host:
            return subprocess.run(command, env={**os.environ, **host.env}, check=False).returncode
    except FakeHostError as exc:
        print(f"fakedev: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # no such program, not executable
        print(f"fakedev: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the command had the Ctrl-C too; the host is gone
        return 130


if __name__ == "__main__":
    sys.exit(main())
