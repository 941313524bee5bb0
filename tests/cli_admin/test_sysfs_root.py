"""``--sysfs-root DIR`` (and ``$QATHW_SYSFS_ROOT``): the same option, the same meaning, everywhere.

DIR is either the directory ``python -m fakedev.sysfs DIR`` built (it holds ``sys/``) or a
directory named ``sys`` that plays ``/sys``; which one is decided by what is there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw.cli import build_parser
from qathw.paths import ENV_SYSFS_ROOT
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

ROOT = Path(__file__).resolve().parents[2]
#: Commands that read no host: they check the files named on their command line, or
#: print a completion script.
FILE_ONLY = {"config check", "config expand", "completion"}


def leaf_parsers(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(command words, parser)`` of every command that runs (argparse keeps them private)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_parsers(sub, f"{prefix} {name}".strip())
            return
    yield prefix, parser


def test_every_command_that_reads_a_host_takes_the_same_sysfs_root() -> None:
    helps = {}
    for name, parser in leaf_parsers(build_parser()):
        option = next((a for a in parser._actions if "--sysfs-root" in a.option_strings), None)
        if name in FILE_ONLY:
            assert option is None, f"'{name}' reads no host, yet takes --sysfs-root"
        else:
            assert option is not None, f"'qathw {name}' has no --sysfs-root"
            helps[name] = option.help
    assert "sections" in helps and "sample cipher" in helps
    assert len(set(helps.values())) == 1  # one helper defines it


def test_the_directory_fakedev_sysfs_built_is_accepted(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    by_top = run_cli(None, "list", "--sysfs-root", str(fake.prefix))
    by_sys = run_cli(None, "list", "--sysfs-root", str(fake.sysfs_root))
    assert by_top.rc == 0, by_top.err
    assert by_top.out == by_sys.out
    assert by_top.out.splitlines()[1].startswith("0000:6b:00.0  4xxx PF")


def test_the_environment_means_the_same_as_the_option(
    make_fake: FakeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = make_fake("c62x-3dev")
    monkeypatch.setenv(ENV_SYSFS_ROOT, str(fake.prefix))
    r = run_cli(None, "status")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[0] == "There is 3 QAT acceleration device(s) in the system:"


def test_a_directory_that_is_neither_says_what_it_wants(tmp_path: Path) -> None:
    r = run_cli(None, "sections", "--sysfs-root", str(tmp_path))
    assert r.rc == 2
    assert r.err == (
        f"qathw: sysfs root {tmp_path} holds no sys/ directory and is not named 'sys': give "
        "--sysfs-root the top of a fake tree (it holds sys/, dev/, run/) or its sys directory\n"
    )


def test_help_says_which_directories_are_meant() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qathw", "list", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    text = " ".join(done.stdout.split())
    assert "the DIR 'python -m fakedev.sysfs DIR' built; it holds sys/" in text
    assert "a directory named sys that plays /sys" in text
