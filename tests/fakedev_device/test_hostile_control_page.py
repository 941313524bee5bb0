"""A hostile guest cannot hurt the host: nothing the guest can write is trusted.

In a VM the guest can write every byte of the endpoint file, control page included. Which
host process serves the endpoint is known from the host-side backend lock only; the file
is allocated for real; paths that are not regular files are refused at once.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.endpoint_file import EndpointFileError
from qathw import emulated
from qathw.emulated import XenbusState, qathw_emu_control
from tests.fakedev_cli import run_fakedev

ROOT = Path(__file__).resolve().parents[2]


def _fakedev(*args: str) -> subprocess.CompletedProcess[str]:
    return run_fakedev(*args, timeout=20)


def _guest_writes(path: Path, **fields: int) -> None:
    """Write control-page fields as a guest could (straight into the shared memory)."""
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), emulated.CONTROL_PAGE_SIZE) as mm:
        page = qathw_emu_control.from_buffer(mm)
        for name, value in fields.items():
            setattr(page, name, value)
        del page


def _still_running(proc: subprocess.Popen[str]) -> bool:
    try:
        proc.wait(0.5)
    except subprocess.TimeoutExpired:
        return True
    return False


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[str]]:
    """An unrelated host process, whose pid the guest writes into the control page."""
    proc = subprocess.Popen(["sleep", "60"], text=True)
    yield proc
    proc.kill()
    proc.wait(10)


def _start_backend(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakedev", "serve", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving" not in line:
        assert proc.stderr is not None
        err = proc.stderr.read()
        _stop(proc)
        pytest.fail(f"the backend did not start: {err}")
    return proc


@pytest.fixture
def endpoint(tmp_path: Path) -> Path:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=2 << 20)
    return path


@pytest.fixture
def backend(endpoint: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _start_backend(endpoint)
    yield proc
    _stop(proc)


def test_inject_does_not_signal_a_pid_the_guest_wrote(
    endpoint: Path, bystander: subprocess.Popen[str]
) -> None:
    _guest_writes(endpoint, backend_pid=bystander.pid, backend_state=XenbusState.CONNECTED)
    result = _fakedev("inject", str(endpoint), "fatal")
    assert result.returncode == 1 and "no backend is serving" in result.stderr
    assert _still_running(bystander)


def test_inject_signals_the_lock_holder_whatever_pid_the_guest_wrote(
    endpoint: Path, backend: subprocess.Popen[str], bystander: subprocess.Popen[str]
) -> None:
    _guest_writes(endpoint, backend_pid=bystander.pid)
    result = _fakedev("inject", str(endpoint), "restart")
    assert result.returncode == 0 and f"(pid {backend.pid})" in result.stdout
    assert _still_running(bystander) and _still_running(backend)


def test_inject_does_not_signal_a_lock_record_whose_start_time_is_not_its_pids(
    endpoint: Path, bystander: subprocess.Popen[str]
) -> None:
    # the recorded pid died and was reused by an unrelated process
    _guest_writes(endpoint, backend_pid=bystander.pid, backend_state=XenbusState.CONNECTED)
    with endpoint_file.BackendLock(endpoint) as lock:
        lock.path.write_text(f"{bystander.pid} 1\n")
        result = _fakedev("inject", str(endpoint), "fatal")
    assert result.returncode == 1 and "no backend is serving" in result.stderr
    assert _still_running(bystander)


def test_serve_starts_although_the_guest_wrote_a_live_pid(
    endpoint: Path, bystander: subprocess.Popen[str]
) -> None:
    _guest_writes(endpoint, backend_pid=bystander.pid, backend_state=XenbusState.CONNECTED)
    proc = _start_backend(endpoint)
    try:
        assert _still_running(proc)
    finally:
        _stop(proc)


def test_status_names_the_lock_holder_not_the_pid_the_guest_wrote(
    endpoint: Path, backend: subprocess.Popen[str], bystander: subprocess.Popen[str]
) -> None:
    _guest_writes(endpoint, backend_pid=bystander.pid)
    st = json.loads(_fakedev("status", str(endpoint), "--json").stdout)
    assert (st["backend_pid"], st["backend_alive"]) == (backend.pid, True)


def test_a_backend_whose_file_is_truncated_under_it_says_so_and_exits_1(
    endpoint: Path, backend: subprocess.Popen[str]
) -> None:
    os.truncate(endpoint, 0)
    assert backend.wait(10) == 1  # not killed by SIGBUS: no core
    assert backend.stderr is not None
    err = backend.stderr.read()
    assert err.startswith("fakedev: ") and "SIGBUS" in err and err.count("\n") == 1


def test_create_allocates_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "ep"
    endpoint_file.create(path, size=4 << 20)
    assert os.stat(path).st_blocks * 512 >= 4 << 20  # not sparse


def test_create_without_room_says_where_and_how_much_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    path = tmp_path / "ep"
    with pytest.raises(EndpointFileError, match=r"MiB free, the endpoint needs 16 MiB") as info:
        endpoint_file.create(path, size=16 << 20)
    assert f"{tmp_path} has " in str(info.value)
    assert sorted(tmp_path.iterdir()) == []


def _fifo(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path, "a FIFO"


def _directory(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path, "a directory"


def _dev_zero(tmp_path: Path) -> tuple[Path, str]:
    return Path("/dev/zero"), "a character device"


@pytest.mark.parametrize("command", [["status"], ["serve"], ["inject", "restart"]])
@pytest.mark.parametrize("make", [_fifo, _directory, _dev_zero])
def test_a_path_that_is_no_regular_file_is_refused_at_once_in_one_line(
    tmp_path: Path, command: list[str], make: object
) -> None:
    assert callable(make)
    path, what = make(tmp_path)
    result = _fakedev(command[0], str(path), *command[1:])  # a hang is a timeout
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"fakedev: {path} is {what}, not an endpoint file; create")


def test_serve_forgets_its_lock_when_it_stops(endpoint: Path) -> None:
    proc = _start_backend(endpoint)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    _stop(proc)
    assert not endpoint_file.lock_path(endpoint).exists()
