"""The device in a background thread and in its own process (``python -m fakedev serve``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.runner import DeviceThread
from qathw.emulated import XenbusState
from qathw.endpoint import open_emulated
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import RingPairEvent
from tests.transport.emu import null_requests

ROOT = Path(__file__).resolve().parents[2]


def _fakedev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fakedev", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


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
    assert info.backend_state == XenbusState.CONNECTED and info.backend_pid == proc.pid
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
    assert st1["backend_alive"] and st1["backend_state"] == "CONNECTED"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    info = endpoint_file.read_info(path)
    assert info.backend_state == XenbusState.CLOSED and info.backend_pid == 0


def test_a_second_backend_is_refused(served: tuple[Path, subprocess.Popen[str]]) -> None:
    path, proc = served
    second = _fakedev("serve", str(path))
    assert second.returncode == 1
    assert f"already served by pid {proc.pid}" in second.stderr


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
