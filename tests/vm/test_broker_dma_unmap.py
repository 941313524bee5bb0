"""The section broker's IOVA ranges and its unmapping of a dead holder's DMA, on real VFIO.

In a guest (intel-iommu vIOMMU), holder processes borrow one vfio-bound ivshmem function
through the broker and map DMA memory into the container it lent
(tests/vm/broker_dma_unmap_guest.py, one run for the module): two holders pin 4 MiB each
inside their own IOVA range; one is killed with SIGKILL, its mapping live, and the broker
unmaps its range and counts the bytes; the survivor's mappings stay; a new holder gets
the freed range and maps at the same IOVA, which ``VFIO_IOMMU_MAP_DMA`` refuses while a
mapping is there; a holder with a 64 KiB ``RLIMIT_MEMLOCK`` (and no ``CAP_IPC_LOCK``) gets
qathw's memlock error while the broker and the other holders carry on.

The endpoint is a PF-style emulated one (no PF/VF mailbox): nothing here sends requests,
so no backend serves it.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from tests.vm.endpoint_file import EndpointFacts, create_endpoint_file
from vm.guest import Guest, GuestSpec

pytestmark = pytest.mark.vm

MIB = 1 << 20
Report = dict[str, Any]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> EndpointFacts:
    path = tmp_path_factory.mktemp("vm") / "4xxx.qat"
    return create_endpoint_file(path, device="4xxx", total_size=16 << 20)


@pytest.fixture(scope="module")
def guest_spec(endpoint: EndpointFacts) -> GuestSpec:
    return GuestSpec(shared_memory=(Path(endpoint.path),))


@pytest.fixture(scope="module")
def run(guest: Guest, endpoint: EndpointFacts) -> Report:
    result = guest.python("-m", "tests.vm.broker_dma_unmap_guest", timeout=300)
    assert result.ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report: Report = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _step(run: Report, *keys: str) -> list[Any]:
    """The answers of these steps, failing with the guest's error and broker log if one
    did not happen."""
    missing = [k for k in keys if k not in run]
    assert not missing, (
        f"steps {missing} did not run: {run.get('error')}\n{run.get('ends')}\n"
        f"broker log: {run.get('broker_log')}"
    )
    return [run[k] for k in keys]


def _window(hello: Report) -> tuple[int, int]:
    start, end = hello["window"]
    return int(start), int(end)


def _lease_pids(status: Report) -> set[int]:
    return {int(lease["pid"]) for lease in status["leases"]}


def test_two_holders_pin_dma_memory_inside_disjoint_iova_ranges_of_one_container(
    run: Report,
) -> None:
    a, b, a_pool, b_pool, status = _step(run, "a", "b", "a_pool", "b_pool", "status_both")
    assert a["broker_pid"] == b["broker_pid"] == status["pid"]
    (a_lo, a_hi), (b_lo, b_hi) = _window(a), _window(b)
    assert a_hi <= b_lo or b_hi <= a_lo, (a["window"], b["window"])
    for hello, pool in ((a, a_pool), (b, b_pool)):
        lo, hi = _window(hello)
        assert lo <= pool["iova"] < pool["iova"] + pool["size"] <= hi, (hello, pool)
        assert pool["pinned"] == 4 * MIB
        assert pool["locked"] >= 4 * MIB  # the kernel pinned the holder's own pages
    ranges = {
        int(lease["pid"]): [
            (r["iova_base"], r["iova_base"] + r["iova_size"]) for r in lease["ranges"]
        ]
        for lease in status["leases"]
    }
    assert ranges == {a["pid"]: [(a_lo, a_hi)], b["pid"]: [(b_lo, b_hi)]}
    assert status["unmapped_bytes"] == 0


def test_a_holder_killed_with_live_dma_loses_its_lease_and_the_broker_unmaps_its_bytes(
    run: Report,
) -> None:
    a, a_pool, a_rc, before, after = _step(
        run, "a", "a_pool", "a_rc", "status_both", "status_after_kill"
    )
    assert a_rc == -9
    assert not after.get("waited_out"), after
    assert a["pid"] not in _lease_pids(after)
    assert after["ended_leases"] == before["ended_leases"] + 1
    assert after["unmapped_bytes"] - before["unmapped_bytes"] == a_pool["pinned"] == 4 * MIB


def test_the_surviving_holders_dma_mappings_outlive_the_killed_holder(run: Report) -> None:
    b, after, check, more, check_after, unmap = _step(
        run, "b", "status_after_kill", "b_check", "b_more", "b_check_after", "b_unmap"
    )
    assert b["pid"] in _lease_pids(after)
    assert check == {"intact": True} and check_after == {"intact": True}
    assert more["pinned"] == 6 * MIB  # it maps more after the other holder's death
    # Its mappings are all still in the kernel: unmapping its range removes 4 + 2 MiB.
    assert unmap == {"unmapped": 6 * MIB}


def test_a_new_holder_gets_the_freed_range_and_maps_at_the_dead_holders_iova(
    run: Report,
) -> None:
    a, c, c_map = _step(run, "a", "c", "c_map")
    assert _window(c) == _window(a)
    assert c_map["first"] is None, c_map
    # The same IOVA again is refused (EEXIST): the first map succeeded only because the
    # broker had unmapped the killed holder's buffer there.
    assert c_map["again"]["cls"] == "DmaError", c_map
    assert c_map["again"]["errno"] == errno.EEXIST


def test_a_holder_past_its_memlock_limit_gets_the_memlock_error(run: Report) -> None:
    (got,) = _step(run, "d_memlock")
    assert got["mapped"] is False
    assert got["error"]["cls"] == "MemlockLimitError", got
    assert got["error"]["errno"] == errno.ENOMEM
    assert "RLIMIT_MEMLOCK is 64 KiB; pinning 1024 KiB more" in got["error"]["msg"]


def test_a_holder_refused_for_memlock_leaves_the_broker_and_other_holders_alone(
    run: Report,
) -> None:
    b, c, d, d_end, before, after = _step(
        run, "b", "c", "d", "d_end", "status_after_kill", "status_after_memlock"
    )
    assert d_end["rc"] == 0, d_end
    assert not after.get("waited_out"), after
    assert after["pid"] == before["pid"] == d["broker_pid"]
    assert _lease_pids(after) == {b["pid"], c["pid"]}
    assert after["unmapped_bytes"] == before["unmapped_bytes"]  # it pinned nothing
