"""The seed scenario in a QEMU guest, through real VFIO and the section broker.

One guest for the module: two emulated 4xxx PF endpoints served on the host, seen by the
guest as ivshmem-plain functions and bound there to vfio-pci. The guest runs
:mod:`demo.vfio_seed` once (what ``python -m demo --vfio`` runs); each test checks one
outcome of that run from the JSON it wrote.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from demo.vfio_host import SCENARIO_TIMEOUT, served_endpoints, spec_for
from demo.vfio_seed import VICTIM
from vm.backend import HostProcess
from vm.guest import Guest, GuestSpec

pytestmark = pytest.mark.vm

RESULT = "/tmp/qathw-vfio-seed.json"  # in the guest's own /tmp
SSL_SECTIONS = {f"SSL_DEV{d}_INT_{n}" for d in (0, 1) for n in range(4)}


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HostProcess]]:
    with served_endpoints(tmp_path_factory.mktemp("vfio-seed")) as running:
        yield running


@pytest.fixture(scope="module")
def guest_spec(backends: list[HostProcess]) -> GuestSpec:
    return spec_for(backends)


@pytest.fixture(scope="module")
def run(guest: Guest, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The scenario's record; its printed steps go to the terminal (the timings with them)."""
    argv = [sys.executable, "-m", "demo.vfio_seed", "--result", RESULT]
    result = guest.run(argv, timeout=SCENARIO_TIMEOUT)
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"\nthe seed scenario in the guest took {result.seconds:.1f} s:")
        for line in result.stdout.splitlines():
            terminal.write_line(line)
    record = guest.run(["cat", RESULT])
    assert record.ok, f"the scenario wrote no record (rc {result.rc}):\n{result.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(record.stdout)
    return found


def test_eight_ssl_processes_and_one_ipsec_process_each_get_a_section(
    run: dict[str, Any],
) -> None:
    assert [s["error"] for s in run["started"]] == [None] * 9
    assert {s["section"] for s in run["started"]} == SSL_SECTIONS | {"IPSec_INT_0"}


def test_every_holder_opens_its_instances_through_vfio(run: dict[str, Any]) -> None:
    assert run["open_errors"] == []


def test_the_broker_holds_both_endpoints_and_one_lease_per_holder(run: dict[str, Any]) -> None:
    broker = run["held"]["broker"]
    assert broker is not None and run["broker_pids_held"] == [broker["pid"]]
    assert [(e["bdf"], e["open"]) for e in broker["endpoints"]] == [
        (bdf, True) for bdf in run["endpoints"]
    ]
    assert sorted(lease["pid"] for lease in broker["leases"]) == sorted(
        s["pid"] for s in run["started"]
    )


def test_a_ninth_ssl_process_is_refused_because_all_8_are_taken(run: dict[str, Any]) -> None:
    assert run["ninth"]["section"] is None
    assert "all 8 internal sections of [SSL] are taken" in run["ninth"]["error"]


def test_after_kill_9_of_a_holder_the_next_process_takes_its_section(
    run: dict[str, Any],
) -> None:
    retake = run["retake"]
    assert (retake["section"], retake["error"], retake["open_error"]) == (VICTIM, None, None)


def _ranges(status: dict[str, Any], pid: int) -> list[tuple[str, int]]:
    return [
        (r["bdf"], r["iova_base"])
        for lease in status["leases"]
        if lease["pid"] == pid
        for r in lease["ranges"]
    ]


def test_the_retake_happens_within_a_second_of_the_kill(run: dict[str, Any]) -> None:
    assert run["retake"]["seconds_after_kill"] <= 1.0, run["retake"]


def test_the_broker_unmapped_the_killed_holders_iova_range(run: dict[str, Any]) -> None:
    # The broker hands a range out again only after VFIO_IOMMU_UNMAP_DMA over it succeeded
    # (a failed unmap spoils it for good), and always the lowest free one: the replacement
    # getting the victim's range shows it was unmapped. The bytes stay 0 here: an emulated
    # endpoint's rings and buffers are in its BAR, so holders map nothing through the IOMMU.
    before, after = run["held"]["broker"], run["after_kill"]["broker"]
    victim = _ranges(before, run["retake"]["victim"])
    assert victim and _ranges(after, run["retake"]["victim"]) == []
    assert after["ended_leases"] > before["ended_leases"]
    assert _ranges(after, run["retake"]["pid"]) == victim


def test_discovery_keeps_the_numbering_while_the_endpoints_are_lent(run: dict[str, Any]) -> None:
    assert run["numbering_held"] == run["endpoints"]


def test_every_process_runs_crypto_that_matches_cryptography(run: dict[str, Any]) -> None:
    reports = run["reports"]
    assert sorted(r["algorithm"] for r in reports) == ["aes-128-cbc"] * 8 + ["aes-256-gcm"]
    assert all(r["error"] is None and r["ops"] > 0 for r in reports), reports
    assert sum(r["mismatches"] for r in reports) == 0


def test_no_broker_remains_after_the_last_holder_exits(run: dict[str, Any]) -> None:
    assert run["broker_pids_held"], "no broker ran"
    assert run["broker_pids_after"] == []
