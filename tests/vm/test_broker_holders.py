"""Two processes share one vfio-bound endpoint in a guest, through the section broker.

A VFIO group is open in one process at a time; the broker holds it and lends its fds.
Here two holder processes (tests/vm/broker_holders_guest.py) each start a section of the
one ivshmem function bound to vfio-pci in the guest, open its instances — the BAR mapped
through the lent device fd — and run an AES request checked against ``cryptography``,
both at once, against the fakedev backend on the host.

Twice: on a PF-style endpoint (no PF/VF mailbox), and on an emulated 4xxxvf, whose one
mailbox the broker owns — it runs the handshake once and relays PF notifications. There
the host then injects a restart (``python -m fakedev inject FILE restart``) while both
holders keep encrypting, and each must be reached by it: the broker's relayed RESTARTING,
then the error its requests failed with or the reopened function's verified request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw import emulated
from qathw.mmio import Mmio
from tests.vm.endpoint_file import EndpointFacts, create_endpoint_file
from vm.backend import HostProcess, fakedev_backend
from vm.guest import PROJECT_ROOT, Guest, GuestSpec

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> EndpointFacts:
    # PF-style: 64 banks share the device memory: 64 MiB gives each bank 1 MiB (the demo's
    # size). The VF (4 banks) has a PF/VF mailbox, which the broker speaks on.
    device = str(request.param)
    path = tmp_path_factory.mktemp("vm") / f"{device}.qat"
    size = 64 << 20 if device == "4xxx" else 16 << 20
    return create_endpoint_file(path, device=device, total_size=size)


@pytest.fixture(scope="module")
def backend(endpoint: EndpointFacts) -> Iterator[HostProcess]:
    with fakedev_backend(endpoint.path, services="asym;sym") as proc:
        yield proc


@pytest.fixture(scope="module")
def guest_spec(endpoint: EndpointFacts, backend: HostProcess) -> GuestSpec:
    return GuestSpec(shared_memory=(Path(endpoint.path),))


@pytest.mark.parametrize("endpoint", ["4xxx"], indirect=True, scope="module")
def test_two_holders_run_verified_aes_on_one_vfio_endpoint_through_the_broker(
    guest: Guest, endpoint: EndpointFacts
) -> None:
    result = guest.python("-m", "tests.vm.broker_holders_guest", timeout=300)
    assert result.ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    holders = report["holders"]
    assert len(holders) == 2, f"{holders}\nbroker log: {report['broker_log']}"
    assert all(h.get("verified") is True for h in holders), holders
    assert all(h["lent"] for h in holders), holders
    assert holders[0]["broker_pid"] == holders[1]["broker_pid"], holders
    assert {h["section"] for h in holders} == {"SSL_INT_0", "SSL_INT_1"}, holders


def _requests(path: str) -> int:
    """Requests the backend took off the endpoint's rings so far (its counters)."""
    with (
        Mmio.map_file(Path(path), name="endpoint") as bar,
        bar.view(0, emulated.CONTROL_PAGE_SIZE) as page,
    ):
        info = emulated.read_control(page, mapped_size=bar.size)
        return sum(c.requests for c in emulated.read_counters(page, info.num_banks))


def _inject_restart_on_traffic(path: str, done: threading.Event, said: list[str]) -> None:
    # Each holder sends one request, reports, and loops only once both reported: a third
    # request means both are past their first and looping.
    while not done.is_set():
        if _requests(path) >= 3:
            cmd = [sys.executable, "-m", "fakedev", "inject", path, "restart"]
            run = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
            said.append(f"inject rc {run.returncode} {run.stderr.strip()}")
            return
        time.sleep(0.2)


@pytest.mark.parametrize("endpoint", ["4xxxvf"], indirect=True, scope="module")
def test_a_host_restart_reaches_both_holders_of_one_vf_through_the_broker(
    guest: Guest, endpoint: EndpointFacts
) -> None:
    done, said = threading.Event(), list[str]()
    injector = threading.Thread(
        target=_inject_restart_on_traffic, args=(endpoint.path, done, said), daemon=True
    )
    injector.start()
    try:
        result = guest.python(
            "-m", "tests.vm.broker_holders_guest", "--device", "4xxxvf", "--restart", timeout=420
        )
    finally:
        done.set()
        injector.join(5)
    assert result.ok, f"{said}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    holders, log = report["holders"], report["broker_log"]
    assert len(holders) == 2, f"{holders}\nbroker log: {log}"
    assert all(h.get("verified") is True for h in holders), holders
    assert not any(h["own_mailbox"] for h in holders) and all(h["relayed"] for h in holders)
    assert log.count("PF/VF handshake done for its holders") == 1, log
    assert said and said[0].startswith("inject rc 0"), said
    for h in holders:
        seen = h["restart"]
        assert "restarting" in seen.get("relayed_events", []), f"{holders}\nbroker log: {log}"
        assert seen["errors"] or seen["reopened"], holders
