"""The device in a background thread and in its own process (``python -m fakedev serve``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.endpoint_file import EndpointFileError
from fakedev.runner import DeviceThread
from qathw.emulated import XenbusState
from qathw.endpoint import open_emulated
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import RingPairEvent
from tests.fakedev_cli import run_fakedev
from tests.transport.emu import null_requests

ROOT = Path(__file__).resolve().parents[2]


def _fakedev(*args: str) -> subprocess.CompletedProcess[str]:
    return run_fakedev(*args)


def _drain(pair: object, n: int, timeout: float = 10.0) -> list[int]:
    from qathw.transport.ring import RingPair

    assert isinstance(pair, RingPair)
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += [int(x) for x in pair.poll()["opaque_data"]]
    return got


def test_round_trips_with_the_device_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=2 << 20)
    with DeviceThread(path), open_emulated(path) as ep:
        ep.connect()
        pairs = [ep.ring_pair(b, slots=64) for b in range(ep.num_banks)]
        for b, p in enumerate(pairs):
            p.submit(null_requests(range(b * 1000, b * 1000 + 40), p.request_size))
        for b, p in enumerate(pairs):
            assert _drain(p, 40) == list(range(b * 1000, b * 1000 + 40))
    assert endpoint_file.read_info(path).backend_state == XenbusState.CLOSED


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=2 << 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakedev", "serve", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert "serving" in proc.stdout.readline()
    yield path, proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def test_round_trips_with_the_device_in_another_process(
    served: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = served
    info = endpoint_file.read_info(path)
    assert info.backend_state == XenbusState.INIT_WAIT and info.backend_pid == proc.pid
    with open_emulated(path) as ep:
        ep.connect()
        pairs = [ep.ring_pair(b, slots=128) for b in range(ep.num_banks)]
        for rnd in range(3):
            for b, p in enumerate(pairs):
                base = rnd * 10_000 + b * 1000
                p.submit(null_requests(range(base, base + 100), p.request_size))
            for b, p in enumerate(pairs):
                base = rnd * 10_000 + b * 1000
                assert _drain(p, 100) == list(range(base, base + 100))


def test_sigterm_leaves_the_endpoint_closed(served: tuple[Path, subprocess.Popen[str]]) -> None:
    path, proc = served
    st1 = json.loads(_fakedev("status", str(path), "--json").stdout)
    time.sleep(0.05)
    st2 = json.loads(_fakedev("status", str(path), "--json").stdout)
    assert st2["backend_heartbeat"] > st1["backend_heartbeat"]  # it is alive
    assert st1["backend_alive"] and st1["backend_state"] == "INIT_WAIT"  # no frontend yet
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    info = endpoint_file.read_info(path)
    assert info.backend_state == XenbusState.CLOSED and info.backend_pid == 0


def test_a_second_backend_is_refused_in_one_line_and_the_first_keeps_serving(
    served: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = served
    before = json.loads(_fakedev("status", str(path), "--json").stdout)
    second = _fakedev("serve", str(path))
    assert second.returncode == 1
    assert second.stderr.startswith(f"fakedev: {path} is already served by pid {proc.pid}; ")
    assert second.stderr.count("\n") == 1 and "stop that backend first" in second.stderr
    time.sleep(0.05)
    after = json.loads(_fakedev("status", str(path), "--json").stdout)
    assert proc.poll() is None
    for field in ("backend_pid", "backend_epoch", "backend_state"):
        assert after[field] == before[field]
    assert after["backend_heartbeat"] > before["backend_heartbeat"]
    with open_emulated(path) as ep:
        ep.connect()
        pair = ep.ring_pair(0, slots=64)
        pair.submit(null_requests(range(5), pair.request_size))
        assert _drain(pair, 5) == list(range(5))


def test_a_device_thread_on_a_served_endpoint_is_refused_and_lets_go_of_the_file(
    served: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = served
    thread = DeviceThread(path)
    with pytest.raises(EndpointFileError, match=f"already served by pid {proc.pid}"):
        thread.start()
    assert thread.device.file.control is None  # mapping released, nothing written
    assert endpoint_file.read_info(path).backend_pid == proc.pid


def _not_an_endpoint(path: Path) -> None:
    path.write_bytes(b"x" * 8192)


def _truncated(path: Path) -> None:
    endpoint_file.create(path, size=2 << 20)
    os.truncate(path, 1 << 20)


def _tiny(path: Path) -> None:
    path.write_bytes(b"QATHWEMU")


@pytest.mark.parametrize(
    ("make", "what", "hint"),
    [
        (None, "cannot read {p}: No such file or directory", "create it with"),
        (_not_an_endpoint, "not an emulated QAT endpoint", "create the endpoint with"),
        (_truncated, "does not fit a mapping of 0x100000 bytes", "recreate it"),
        (_tiny, "{p} is 8 bytes, too small for an emulated endpoint", "create one with"),
    ],
    ids=["missing", "not-an-endpoint", "truncated", "tiny"],
)
def test_serve_refuses_a_bad_file_in_one_line_with_a_hint(
    tmp_path: Path, make: Callable[[Path], None] | None, what: str, hint: str
) -> None:
    path = tmp_path / "ep.qat"
    if make is not None:
        make(path)
    done = _fakedev("serve", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith("fakedev: ") and done.stderr.count("\n") == 1
    assert what.format(p=path) in done.stderr and hint in done.stderr


def test_an_idle_backend_does_not_burn_a_core(
    served: tuple[Path, subprocess.Popen[str]],
) -> None:
    _, proc = served

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    time.sleep(0.2)  # past the spinning phase
    before, t0 = cpu_seconds(), time.monotonic()
    time.sleep(1.0)
    used = (cpu_seconds() - before) / (time.monotonic() - t0)
    assert used < 0.5, f"idle backend used {used:.0%} of a core"


def test_inject_restart_through_the_cli(served: tuple[Path, subprocess.Popen[str]]) -> None:
    path, _ = served
    with open_emulated(path) as ep:
        ep.connect()
        pair = ep.ring_pair(1, slots=64)
        events: list[RingPairEvent] = []
        pair.add_listener(events.append)
        pair.submit(null_requests(range(10)))
        assert _drain(pair, 10) == list(range(10))
        result = _fakedev("inject", str(path), "restart")
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            pair.poll()
            time.sleep(0.001)
        assert [e.event for e in events] == [PfEvent.RESTARTING, PfEvent.RESTARTED]
        pair.submit(null_requests(range(20, 25)))
        assert _drain(pair, 5) == list(range(20, 25))
