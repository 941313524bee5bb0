"""The fixture's host is gone however a test ends: failed, errored, or the run interrupted.

Each case is a project of its own run by ``python -m pytest`` (its tests write the pids
of their device processes before they end), then checked against ``/proc``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.plugin.procs import RECORD, hosts_seen, is_device_process, run_pytest

FAILING = (
    """
import os, signal

import pytest
"""
    + RECORD
    + """

def test_fails(qat_host):
    record(qat_host, "fails")
    assert 1 == 2


def test_errors(qat_host):
    record(qat_host, "errors")
    raise RuntimeError("boom")


@pytest.mark.qat_host(endpoints=["9xxxvf"])
def test_unknown_kind(qat_host):
    pass


@pytest.mark.qat_host(endpoints=["4xxxvf"], sections=["SSL", "IPSec", "Web"])
def test_impossible_section(qat_host):
    pass


@pytest.mark.qat_host("4xxxvf")
def test_positional_marker(qat_host):
    pass
"""
)

INTERRUPTED = (
    """
import os, signal
"""
    + RECORD
    + """

def test_interrupted(qat_host):
    record(qat_host, "interrupted")
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, to pytest alone


def test_never_run(qat_host):
    record(qat_host, "never")
"""
)


def _project(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "test_app.py").write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def failing(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CompletedProcess[str], Path]]:
    tmp = tmp_path_factory.mktemp("failing")
    done = run_pytest(_project(tmp, FAILING), "-p", "no:xdist", "-rA", seen=tmp / "seen")
    yield done, tmp / "seen"


def _outcome(done: CompletedProcess[str], test: str) -> str:
    """``PASSED``, ``FAILED`` or ``ERROR``: the ``-rA`` summary's word for ``test``."""
    line = next(ln for ln in done.stdout.splitlines() if f" test_app.py::{test}" in ln)
    return line.split()[0]


def test_a_failing_test_leaves_no_device_process_and_no_files(
    failing: tuple[CompletedProcess[str], Path],
) -> None:
    done, seen = failing
    assert [_outcome(done, t) for t in ("test_fails", "test_errors")] == ["FAILED", "FAILED"]
    hosts = [h for h in hosts_seen(seen) if h["test"] in ("fails", "errors")]
    assert len(hosts) == 2
    assert [p for h in hosts for p in h["pids"] if is_device_process(p)] == []  # type: ignore[attr-defined]
    assert [h["root"] for h in hosts if Path(str(h["root"])).exists()] == []


def test_an_unknown_kind_in_the_marker_is_a_setup_error_that_says_what_to_use(
    failing: tuple[CompletedProcess[str], Path],
) -> None:
    done, _ = failing
    assert _outcome(done, "test_unknown_kind") == "ERROR"
    assert (
        "qat_host: unknown device '9xxxvf'; use a QAT class name such as 4xxxvf, 4xxx or c6xxvf"
        in done.stdout
    )


def test_an_impossible_section_in_the_marker_is_a_setup_error_with_qathw_s_reason(
    failing: tuple[CompletedProcess[str], Path],
) -> None:
    done, _ = failing
    assert _outcome(done, "test_impossible_section") == "ERROR"
    assert "qat_host: qathw finds the configuration for these endpoints and sections" in done.stdout
    assert "R8: Don't have enough rings for instance Web0 in process Web_INT_0" in done.stdout


def test_a_positional_marker_argument_is_a_setup_error(
    failing: tuple[CompletedProcess[str], Path],
) -> None:
    done, _ = failing
    assert _outcome(done, "test_positional_marker") == "ERROR"
    assert "qat_host: give the qat_host marker keywords only" in done.stdout


def test_an_interrupted_run_leaves_no_device_process_and_no_files(tmp_path: Path) -> None:
    done = run_pytest(_project(tmp_path, INTERRUPTED), "-p", "no:xdist", seen=tmp_path / "seen")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout + done.stderr
    hosts = hosts_seen(tmp_path / "seen")
    assert [h["test"] for h in hosts] == ["interrupted"]
    assert [p for p in hosts[0]["pids"] if is_device_process(p)] == []  # type: ignore[attr-defined]
    assert not Path(str(hosts[0]["root"])).exists()
