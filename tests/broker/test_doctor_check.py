"""``qathw doctor``'s section-broker check says why a broker cannot start."""

from __future__ import annotations

import fcntl
import os

from qathw.broker import protocol
from qathw.doctor import Status, broker_finding
from qathw.paths import HostRoot
from tests.broker.conftest import Rig


def test_a_running_broker_passes_with_its_pid(rig: Rig) -> None:
    broker = rig.start_broker()
    found = broker_finding(HostRoot(), rig.runtime_dir)
    assert found.status is Status.PASS
    assert f"pid {broker.pid}" in found.detail


def test_a_directory_writable_by_others_fails_and_says_chmod(rig: Rig) -> None:
    os.chmod(rig.runtime_dir, 0o777)
    found = broker_finding(HostRoot(), rig.runtime_dir)
    assert found.status is Status.FAIL
    assert "writable by group or others" in found.detail
    assert found.hint == f"chmod 0700 {rig.runtime_dir}"


def test_a_lock_held_by_a_silent_process_fails_naming_it(rig: Rig) -> None:
    fd = os.open(rig.runtime_dir / protocol.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        fcntl.flock(fd, fcntl.LOCK_EX)
        found = broker_finding(HostRoot(), rig.runtime_dir)
    finally:
        os.close(fd)
    assert found.status is Status.FAIL
    assert f"pid {os.getpid()} holds" in found.detail


def test_a_failed_start_shows_the_logs_last_error(rig: Rig) -> None:
    (rig.runtime_dir / protocol.LOG_NAME).write_text("qathw: cannot listen on x: No space\n")
    found = broker_finding(HostRoot(), rig.runtime_dir)
    assert found.status is Status.WARN
    assert "cannot listen on x" in found.detail
