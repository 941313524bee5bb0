"""Leases: every holder connection gets IOVA ranges of its own, and status() shows them."""

from __future__ import annotations

import itertools

from qathw.broker import client
from tests.broker.conftest import BDFS, Rig


def test_concurrent_holders_get_disjoint_iova_ranges_on_each_endpoint(rig: Rig) -> None:
    holders = [rig.holder() for _ in range(4)]
    for bdf in BDFS:
        ranges = sorted(
            (lent["iova_base"], lent["iova_base"] + lent["iova_size"])
            for lent in (h.ask(f"lend {bdf}") for h in holders)
        )
        assert ranges[0][0] > 0  # IOVA 0 is never handed out
        for (_, end), (start, _) in itertools.pairwise(ranges):
            assert end <= start, f"overlapping IOVA ranges on {bdf}: {ranges}"


def test_the_lent_fds_are_the_endpoints_own(rig: Rig) -> None:
    holder = rig.holder()
    lent = [holder.ask(f"lend {bdf}") for bdf in BDFS]
    assert [x["device"] for x in lent] == [f"device {bdf}" for bdf in BDFS]
    assert lent[0]["group"] != lent[1]["group"]


def test_lending_the_same_endpoint_twice_gives_the_same_range(rig: Rig) -> None:
    holder = rig.holder()
    assert holder.ask(f"lend {BDFS[0]}") == holder.ask(f"lend {BDFS[0]}")


def test_status_lists_each_lease_with_its_holder_pid_and_ranges(rig: Rig) -> None:
    first, second = rig.holder(), rig.holder()
    a = first.ask(f"lend {BDFS[0]}")
    b = second.ask(f"lend {BDFS[1]}")
    status = client.status(runtime_dir=rig.runtime_dir)
    assert status is not None
    assert status.pid == first.hello["broker_pid"]
    leases = {lease.pid: lease for lease in status.leases}
    assert set(leases) == {first.pid, second.pid}
    assert [(r.bdf, r.iova_base) for r in leases[first.pid].ranges] == [(BDFS[0], a["iova_base"])]
    assert [(r.bdf, r.iova_base) for r in leases[second.pid].ranges] == [(BDFS[1], b["iova_base"])]
    assert {e.bdf for e in status.endpoints if e.open} == set(BDFS)


def test_status_is_none_when_no_broker_runs(rig: Rig) -> None:
    assert client.status(runtime_dir=rig.runtime_dir) is None


def test_an_unknown_endpoint_is_a_clear_error_and_the_lease_goes_on(rig: Rig) -> None:
    holder = rig.holder()
    answer = holder.ask("lend 0000:99:00.0")
    assert answer["error"] == "DeviceNotFoundError"
    assert "0000:99:00.0" in answer["message"]
    assert holder.ask(f"lend {BDFS[0]}")["device"] == f"device {BDFS[0]}"
