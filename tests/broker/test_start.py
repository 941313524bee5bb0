"""Starting the broker on a slow machine: a lean entry point, a generous wait that ends
early when the broker dies, one broker for holders starting together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qathw.broker import client
from qathw.errors import BrokerUnavailableError
from tests.broker.conftest import ROOT, Rig, pid_alive, wait_until


def _imported(argv: list[str]) -> str:
    """What ``python -X importtime ARGV`` imported (its import-time report)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def test_the_broker_entry_point_imports_neither_the_cli_nor_prometheus() -> None:
    report = _imported(["-m", "qathw.broker", "--help"])
    assert "qathw.broker.server" in report
    assert "qathw.cli" not in report
    assert "prometheus_client" not in report


def test_the_cli_does_not_import_prometheus_for_other_commands() -> None:
    assert "prometheus_client" not in _imported(["-m", "qathw", "--version"])


def test_connect_starts_the_lean_entry_point(tmp_path: Path) -> None:
    from qathw.paths import HostRoot

    argv = client.broker_command(HostRoot(tmp_path), tmp_path / "run")
    assert argv[1:4] == ["-m", "qathw.broker", "--foreground"]


def test_the_lean_entry_point_serves(rig: Rig, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "qathw.broker", "--foreground", "--sysfs-root", str(tmp_path)]
    argv += ["--runtime-dir", str(rig.runtime_dir), "--linger", "-1"]
    with open(rig.state / "broker.err", "ab") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stderr=err)
    rig.procs.append(proc)
    wait_until("the broker answers", lambda: client.status(runtime_dir=rig.runtime_dir) is not None)
    running = client.status(runtime_dir=rig.runtime_dir)
    assert running is not None and running.pid == proc.pid


def test_a_broker_that_dies_while_starting_is_reported_with_its_log(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wait far longer than the test takes: the death must end it, not the timeout.
    monkeypatch.setenv(client.ENV_START_TIMEOUT, "600")
    command = rig.broker_cmd(0.2, 1024, "--start-delay", "0.3", "--crash", "boom: no IOMMU")
    with pytest.raises(BrokerUnavailableError, match="boom: no IOMMU") as info:
        client.connect(runtime_dir=rig.runtime_dir, command=command)
    assert "exited with status 3" in str(info.value)


def test_the_start_timeout_comes_from_the_environment(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(client.ENV_START_TIMEOUT, "0.5")
    command = rig.broker_cmd(0.2, 1024, "--start-delay", "600")
    with pytest.raises(BrokerUnavailableError, match=r"no answer within 0\.5 s") as info:
        client.connect(runtime_dir=rig.runtime_dir, command=command)
    assert client.ENV_START_TIMEOUT in (info.value.hint or "")


def test_a_start_timeout_that_is_not_a_number_is_refused(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(client.ENV_START_TIMEOUT, "soon")
    with pytest.raises(BrokerUnavailableError, match="not a positive number of seconds"):
        client.connect(runtime_dir=rig.runtime_dir, command=rig.broker_cmd())
    assert rig.started() == []


def test_nine_holders_starting_together_share_one_slow_broker(rig: Rig) -> None:
    holders = rig.holders(9, broker_args=("--start-delay", "1.0"))
    assert [h.hello.get("error") for h in holders] == [None] * 9
    assert len(rig.started()) == 1
    assert {h.hello["broker_pid"] for h in holders} == {rig.broker_pid()}
    assert len({h.hello["lease"] for h in holders}) == 9


def test_a_broker_that_loses_the_lock_race_exits_quietly(rig: Rig) -> None:
    errs = [rig.state / f"broker{n}.err" for n in range(2)]
    procs = []
    for path in errs:
        with open(path, "wb") as err:
            procs.append(subprocess.Popen(rig.broker_cmd(-1), cwd=ROOT, stderr=err))
    rig.procs.extend(procs)
    wait_until("one broker serves", lambda: rig.broker_pid() in {p.pid for p in procs})
    winner = next(p for p in procs if p.pid == rig.broker_pid())
    loser = next(p for p in procs if p is not winner)
    assert loser.wait() == 0
    assert errs[procs.index(loser)].read_text() == ""
    assert rig.holder(start=False).hello["broker_pid"] == winner.pid
    assert pid_alive(winner.pid)


def test_the_runtime_directory_rule_lives_once() -> None:
    from qathw import paths, sections
    from qathw.broker import rundir

    assert sections.default_runtime_dir is paths.default_runtime_dir
    assert rundir.default_runtime_dir is paths.default_runtime_dir
