"""``python -m fakedev.withhost COMMAND``: one command on a fake host, for shells and CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _withhost(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fakedev.withhost", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_sees_the_host_which_is_gone_after_it() -> None:
    done = _withhost(sys.executable, "-m", "qathw", "sections", "--json")
    assert done.returncode == 0, done.stderr
    assert '"SSL_INT_0"' in done.stdout
    where = _withhost(sys.executable, "-c", "import os; print(os.environ['QATHW_CONFIG_DIR'])")
    assert where.returncode == 0, where.stderr
    assert not Path(where.stdout.strip()).exists()


def test_the_exit_status_is_the_command_s() -> None:
    assert _withhost("sh", "-c", "exit 3").returncode == 3


def test_without_a_command_it_prints_its_usage() -> None:
    done = _withhost()
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m fakedev.withhost COMMAND [ARGS...]")


def test_a_command_that_does_not_exist_is_named() -> None:
    done = _withhost("no-such-program-here")
    assert done.returncode == 1
    assert done.stderr == "fakedev: cannot run no-such-program-here: No such file or directory\n"
