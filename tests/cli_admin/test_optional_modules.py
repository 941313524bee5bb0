"""Commands that need neither ``cryptography`` nor ``numpy`` run where neither can be imported.

A Debian 12 host's own python3-cryptography is 38, without ``hazmat.decrepit``; the CLI
imports every command module at start-up, so one module importing it at the top would
break ``qathw list`` there. Here a ``sitecustomize`` on ``PYTHONPATH`` installs a
meta-path finder that refuses both packages, and each command runs in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import write_seed_configs
from fakedev.sysfs import FakeHost
from tests.fakedev_sysfs.helpers import FakeFactory

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = """\
import importlib.abc
import sys


class RefuseOptional(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("cryptography", "numpy"):
            raise ImportError(f"{name} is not installed here (blocked by the test)")
        return None


sys.meta_path.insert(0, RefuseOptional())
"""


@pytest.fixture
def blocked_env(tmp_path: Path, make_fake: FakeFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """An environment without cryptography and numpy, a seed host and its config files."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    fake: FakeHost = make_fake("seed")
    etc = tmp_path / "etc"
    write_seed_configs(etc)
    env = {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
        "QATHW_SYSFS_ROOT": str(fake.prefix),
        "QATHW_CONFIG_DIR": str(etc),
        "QATHW_RUNTIME_DIR": str(tmp_path / "run"),
    }
    yield env, etc


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_environment_really_lacks_them(blocked_env: tuple[dict[str, str], Path]) -> None:
    env, _ = blocked_env
    for module in ("cryptography", "numpy"):
        done = run(env, "-c", f"import {module}")
        assert done.returncode == 1 and "blocked by the test" in done.stderr


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["list"], "0000:6b:00.0  4xxx PF"),
        (["status"], "There is 34 QAT acceleration device(s) in the system:"),
        (["doctor"], "[pass] QAT device present"),
        (["config", "check", "{etc}/4xxx_dev0.conf"], "4xxx_dev0.conf (qat_dev0, 4xxx): valid"),
        (["sections"], "SSL_DEV0_INT_0"),
    ],
)
def test_an_inspection_command_runs_without_them(
    blocked_env: tuple[dict[str, str], Path], argv: list[str], expect: str
) -> None:
    env, etc = blocked_env
    done = run(env, "-m", "qathw", *(a.format(etc=etc) for a in argv))
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
