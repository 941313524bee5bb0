"""Refusals name the device's own generation: a c4xxx is gen3, not "gen2"."""

from __future__ import annotations

from fakedev.topologies import PfSpec, Topology
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

C4XXX = "0000:01:00.0"


def c4xxx() -> Topology:
    return Topology("c4xxx", (PfSpec(C4XXX, "C4xxx"),))


def test_telemetry_on_a_c4xxx_says_gen3_and_where_telemetry_exists(
    make_fake: FakeFactory,
) -> None:
    r = run_cli(make_fake(c4xxx()), "telemetry", C4XXX)
    assert r.rc == 1
    assert "is a C4xxx (gen3): it has no telemetry" in r.err
    assert "telemetry exists on gen4, gen6 PFs" in r.err


def test_up_on_a_c4xxx_says_gen3_devices_start_when_their_driver_binds(
    make_fake: FakeFactory,
) -> None:
    r = run_cli(make_fake(c4xxx()), "up", C4XXX)
    assert r.rc == 1
    assert "is a C4xxx (gen3): its driver has no qat/state" in r.err
    assert "gen3 devices start when their driver binds" in r.err
