"""No QEMU, helper process or run file outlives a guest, whatever ends it.

Each scenario runs in its own Python process, as a user's test run would, and is ended
the way real runs end: a failing test, Ctrl-C (SIGINT) and SIGTERM during a boot. The
processes are recorded while they run and checked afterwards, by pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vm.errors import VmError
from vm.guest import PROJECT_ROOT, Guest, GuestSpec

FAILING_TEST = """
import json, os

def test_fails_while_its_guest_is_up(guest):
    trace = {"pids": guest.pids, "qemu": guest.qemu_pid, "run_dir": str(guest.run_dir)}
    with open(os.environ["QATHW_TRACE"], "w") as f:
        json.dump(trace, f)
    assert guest.run("true").ok
    assert False, "failing on purpose"
"""

BOOT_ONLY = """
import sys
from vm.guest import Guest, GuestSpec
Guest(GuestSpec(), workdir=sys.argv[1])
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _descendants(root: int) -> set[int]:
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - found
        found |= frontier
    return found


def _wait_for_qemu(workdir: Path, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pidfile in workdir.glob("qathw-vm-*/qemu.pid"):
            text = pidfile.read_text().strip()
            if text and _alive(int(text)):
                return int(text)
        time.sleep(0.1)
    raise AssertionError(f"QEMU did not start under {workdir}")


@pytest.mark.vm
def test_nothing_outlives_a_failing_test_that_used_a_guest(tmp_path: Path) -> None:
    test_file = tmp_path / "test_failing.py"
    test_file.write_text(FAILING_TEST)
    trace = tmp_path / "trace.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.vm.fixtures", "-p",
         "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env={**_env(), "QATHW_TRACE": str(trace)},
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "failing on purpose" in run.stdout
    seen = json.loads(trace.read_text())
    assert seen["qemu"] in seen["pids"]
    assert [pid for pid in seen["pids"] if _alive(pid)] == []
    assert not Path(seen["run_dir"]).exists()


@pytest.mark.vm
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_nothing_outlives_a_boot_ended_by_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", BOOT_ONLY, str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        qemu = _wait_for_qemu(tmp_path)
        started = _descendants(proc.pid) | {qemu}
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    else:
        assert proc.returncode == -signal.SIGTERM
    assert sorted(pid for pid in started if _alive(pid)) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.vm
def test_a_shared_memory_file_that_is_not_a_power_of_two_is_refused_before_boot(
    tmp_path: Path,
) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(bytes(3 << 20))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(VmError, match="ivshmem needs a power of two"):
        Guest(GuestSpec(shared_memory=(odd,)), workdir=work)
    assert list(work.iterdir()) == []


def test_a_machine_without_qemu_is_told_how_to_enable_vm_tests() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "vm", "check"],
        cwd=PROJECT_ROOT,
        env={**_env(), "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "qemu-system-x86" in run.stderr
    assert (
        "'make test' installs qemu-system-x86, linux-image-amd64 and busybox-static" in run.stderr
    )
