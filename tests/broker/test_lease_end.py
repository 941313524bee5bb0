"""A lease ends with its connection: the broker unmaps the lease's ranges, however the
holder ended, and hands them out again."""

from __future__ import annotations

from qathw.broker import client
from tests.broker.conftest import BDFS, Rig, wait_until


def test_a_killed_holders_range_is_unmapped(rig: Rig) -> None:
    holder = rig.holder()
    lent = holder.ask(f"lend {BDFS[0]}")
    holder.ask(f"map {BDFS[0]} 0 8192")
    holder.ask(f"map {BDFS[0]} 1048576 4096")
    holder.kill()  # SIGKILL: no goodbye, the kernel closes the connection
    wait_until("the broker unmapped the range", lambda: len(rig.unmaps()) == 1)
    assert rig.unmaps() == [
        {"bdf": BDFS[0], "iova": lent["iova_base"], "size": lent["iova_size"], "unmapped": 12288}
    ]


def test_an_other_holders_mappings_survive_a_holders_death(rig: Rig) -> None:
    dying, living = rig.holder(), rig.holder()
    dying.ask(f"map {BDFS[0]} 0 4096")
    living.ask(f"map {BDFS[0]} 0 4096")
    dying.kill()
    wait_until("the broker unmapped the range", lambda: len(rig.unmaps()) == 1)
    status = client.status(runtime_dir=rig.runtime_dir)
    assert status is not None
    assert status.unmapped_bytes == 4096
    assert [lease.pid for lease in status.leases] == [living.pid]


def test_a_range_of_an_ended_lease_is_handed_out_again(rig: Rig) -> None:
    keeper = rig.holder()  # keeps the broker up
    keeper.ask(f"lend {BDFS[0]}")
    first = rig.holder()
    freed = first.ask(f"lend {BDFS[0]}")["iova_base"]
    first.kill()
    wait_until("the lease ended", lambda: len(rig.unmaps()) == 1)
    assert rig.holder().ask(f"lend {BDFS[0]}")["iova_base"] == freed


def test_status_counts_ended_leases(rig: Rig) -> None:
    keeper = rig.holder()
    leaving = rig.holder()
    leaving.ask(f"lend {BDFS[1]}")
    leaving.ask("close")
    wait_until("the lease ended", lambda: len(rig.unmaps()) == 1)
    status = keeper.ask("status")
    assert status["ended_leases"] == 1
    assert [lease["pid"] for lease in status["leases"]] == [keeper.pid]
