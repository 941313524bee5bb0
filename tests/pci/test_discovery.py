"""Discovery over fake trees: every generation and topology, numbering, PF/VF relations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakedev import sysfs
from fakedev.topologies import EmulatedSpec, PfSpec, Topology
from qathw import discovery, sysfsio
from qathw.discovery import Role
from qathw.errors import DeviceNotFoundError
from qathw.pci_regs import PciAddress
from tests.fakedev_sysfs.helpers import (
    NOBODY,
    FakeFactory,
    as_user,
    world_readable_dir,
    write_endpoint_file,
)


@pytest.mark.parametrize(
    ("topology", "pfs", "vfs", "classes"),
    [
        ("seed", 2, 32, {"4xxx", "4xxxvf"}),
        ("spr-2s", 8, 128, {"4xxx", "4xxxvf"}),
        ("c62x-3dev", 3, 0, {"c6xx"}),
        ("dh895xcc", 1, 32, {"dh895xcc", "dh895xccvf"}),
        ("gen4-mix", 4, 48, {"4xxx", "4xxxvf", "420xx", "420xxvf"}),
        ("awkward", 4, 48, {"4xxx", "4xxxvf", "c6xx", "c6xxvf"}),
        ("empty", 0, 0, set()),
    ],
)
def test_every_topology_is_found_whole(
    make_fake: FakeFactory, topology: str, pfs: int, vfs: int, classes: set[str]
) -> None:
    inv = discovery.discover(make_fake(topology).host)
    assert (len(inv.pfs), len(inv.vfs)) == (pfs, vfs)
    assert {f.class_name for f in inv} == classes
    assert inv.vanished == () and inv.unidentified == ()


def test_products_of_gen4_are_told_apart_but_share_the_class(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("gen4-mix").host)
    products = {f.bdf: (f.kind.family.product, f.class_name) for f in inv.pfs}
    assert products == {
        "0000:6b:00.0": ("4xxx", "4xxx"),
        "0000:76:00.0": ("401xx", "4xxx"),
        "0000:e8:00.0": ("402xx", "4xxx"),
        "0000:f3:00.0": ("420xx", "420xx"),
    }


def test_pf_and_vfs_are_related_both_ways(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("seed").host)
    pf = inv.get("0000:70:00.0")
    vfs = inv.vfs_of(pf)
    assert len(vfs) == 16 and all(v.pf == pf.address for v in vfs)
    assert [str(a) for a in pf.vfs] == [v.bdf for v in vfs]
    assert inv.pf_of(vfs[0]) == pf


def test_vfs_carry_their_pfs_state_and_services(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("awkward").host)
    down_vf = inv.get("0000:70:00.1")
    assert (down_vf.state, down_vf.services) == ("down", "dc")  # a VF whose PF is down
    assert inv.get("0000:6b:00.5").services == "sym;asym"


def test_a_pf_with_vfs_on_different_drivers(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("awkward").host)
    pf = inv.get("0000:6b:00.0")
    drivers = [v.pci.driver for v in inv.vfs_of(pf)]
    assert drivers[:4] == ["vfio-pci", None, "qat_vfio_pci", None]
    assert drivers.count("vfio-pci") == 13


def test_accel_numbering_is_bound_pfs_then_vfs_then_emulated(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    ep = write_endpoint_file(tmp_path / "ep")
    topo = Topology(
        "n",
        (
            PfSpec("0000:70:00.0", services="dc", num_vfs=16, vf_drivers={0: None}),
            PfSpec("0000:6b:00.0", num_vfs=16),
            PfSpec("0000:75:00.0", driver=None),
        ),
        emulated=(EmulatedSpec("0000:00:04.0", ep),),
    )
    inv = discovery.discover(make_fake(topo).host)
    order = [(f.bdf, f.class_name, f.inst_id) for f in inv.accel_devices]
    assert order[:2] == [("0000:6b:00.0", "4xxx", 0), ("0000:70:00.0", "4xxx", 1)]
    assert order[2] == ("0000:6b:00.1", "4xxxvf", 0)
    assert order[18] == ("0000:70:00.2", "4xxxvf", 16)  # 70:00.1 is unbound: not numbered
    assert order[-1] == ("0000:00:04.0", "4xxxvf", 31)  # emulated continue the class count
    assert [f.accel_id for f in inv.accel_devices] == list(range(len(order)))
    assert inv.get("0000:75:00.0").accel_id is None
    assert inv.get("0000:70:00.1").accel_id is None


def test_numbering_does_not_depend_on_enumeration_order(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("seed").host)
    again = discovery.number_accel_devices(list(reversed(inv.functions)))
    assert [(f.bdf, f.accel_id, f.inst_id) for f in again] == [
        (f.bdf, f.accel_id, f.inst_id) for f in inv.functions
    ]


def test_gen2_pf_is_up_while_its_driver_is_bound(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("c62x-3dev").host)
    assert [f.state for f in inv.pfs] == ["up", "up", "up"]
    assert [f.pci.numa_node for f in inv.pfs] == [0, 0, 1]


def test_emulated_endpoint_is_identified_by_its_control_page(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    ep = write_endpoint_file(tmp_path / "ep", "420xxvf")
    inv = discovery.discover(
        make_fake(Topology("e", emulated=(EmulatedSpec("0000:00:04.0", ep),))).host
    )
    (fn,) = inv.functions
    assert fn.role is Role.EMULATED and fn.label == "420xxvf (emulated)"
    assert fn.control is not None and fn.control.backend_epoch != 0
    assert fn.control.backend_pid == os.getpid()
    assert fn.state == "up"  # a backend has connected: serving


def test_an_endpoint_nobody_serves_is_down(make_fake: FakeFactory, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep", serving=False)
    inv = discovery.discover(
        make_fake(Topology("e", emulated=(EmulatedSpec("0000:00:04.0", ep),))).host
    )
    (fn,) = inv.functions
    assert fn.state == "down" and fn.accel_id == 0  # still an accel device, just not served


def test_ivshmem_without_the_magic_is_not_qat(make_fake: FakeFactory, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"\0" * (1 << 16))
    inv = discovery.discover(
        make_fake(Topology("p", emulated=(EmulatedSpec("0000:00:04.0", plain),))).host
    )
    assert inv.functions == () and inv.unidentified == ()


def test_corrupt_control_page_is_reported_not_raised(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    ep = write_endpoint_file(tmp_path / "ep")
    with open(ep, "r+b") as f:  # layout version 99
        f.seek(8)
        f.write((99).to_bytes(4, "little"))
    inv = discovery.discover(
        make_fake(Topology("c", emulated=(EmulatedSpec("0000:00:04.0", ep),))).host
    )
    (u,) = inv.unidentified
    assert "layout version 99" in u.reason


def test_unreadable_bar2_leaves_the_ivshmem_function_unidentified() -> None:
    with world_readable_dir() as d:
        ep = write_endpoint_file(d / "ep")
        os.chmod(ep, 0o600)  # as BAR2 of a real ivshmem: root only
        fake = sysfs.build(d / "host", Topology("u", emulated=(EmulatedSpec("0000:00:04.0", ep),)))
        os.chmod(d / "host", 0o755)

        def look() -> tuple[int, list[tuple[str, str]]]:
            inv = discovery.discover(fake.host)
            return len(inv.functions), [(u.pci.bdf, u.reason) for u in inv.unidentified]

        assert as_user(NOBODY, look) == (0, [("0000:00:04.0", "access denied")])


def test_a_vf_unplugged_during_discovery_is_listed_as_vanished(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")

    class Unplug(sysfsio.OsSysfsIO):
        done = False

        def read(self, path: Path) -> bytes:
            if not self.done and "0000:70:00.5" in str(path):
                self.done = True
                fake.unplug("0000:70:00.5")
            return super().read(path)

    inv = discovery.discover(fake.host, io=Unplug())
    assert [str(a) for a, _ in inv.vanished] == ["0000:70:00.5"]
    assert len(inv.vfs) == 31
    with pytest.raises(DeviceNotFoundError, match="disappeared"):
        inv.get("0000:70:00.5")


def test_get_explains_a_function_that_is_not_qat(make_fake: FakeFactory) -> None:
    inv = discovery.discover(make_fake("seed").host)
    with pytest.raises(DeviceNotFoundError, match=r"0000:00:1f\.0 is not a QAT function"):
        inv.get(PciAddress.parse("0000:00:1f.0"))
