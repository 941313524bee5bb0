"""Reading one PCI function from a sysfs root: every field, unreadable ones, hot-unplug."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fakedev import sysfs
from qathw import pci
from qathw.errors import DeviceError, DeviceNotFoundError
from qathw.sysfsio import OsSysfsIO
from tests.fakedev_sysfs.helpers import NOBODY, FakeFactory, as_user, world_readable_dir


def test_a_gen4_pf_reads_in_full(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fn = pci.read_function(fake.host, "0000:6b:00.0")
    assert (fn.vendor, fn.device, fn.class_code, fn.revision) == (0x8086, 0x4940, 0x0B4000, 0x40)
    assert (fn.subsystem_vendor, fn.subsystem_device) == (0x8086, 0)
    assert fn.driver == "4xxx" and fn.driver_override is None
    assert fn.numa_node == 0 and fn.enable == 1
    assert fn.iommu_group is not None
    assert fn.vfio_node(fake.host) == fake.host.vfio / str(fn.iommu_group)
    assert [b.name for b in fn.resources] == ["BAR0", "BAR2", "BAR4", "VF BAR0", "VF BAR2"]
    assert fn.resources[0].size == 2 << 20 and fn.resources[0].is_64bit
    assert fn.sriov is not None
    assert (fn.sriov.total_vfs, fn.sriov.num_vfs, fn.sriov.vf_device) == (16, 16, 0x4941)
    assert str(fn.sriov.vfs[0]) == "0000:6b:00.1" and len(fn.sriov.vfs) == 16
    assert fn.qat is not None
    assert (fn.qat.state, fn.qat.cfg_services, fn.qat.num_rps) == ("up", "sym;asym", 64)
    assert fn.unreadable == {}
    assert fn.kind is not None and fn.kind.class_name == "4xxx"


def test_a_vf_knows_its_pf(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fn = pci.read_function(fake.host, "0000:70:01.0")
    assert str(fn.physfn) == "0000:70:00.0"
    assert fn.sriov is None and fn.qat is None
    assert fn.driver == "vfio-pci" and fn.driver_override == "vfio-pci"


def test_virtfn_links_are_ordered_numerically_not_by_name(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fn = pci.read_function(fake.host, "0000:6b:00.0")
    assert fn.sriov is not None
    assert [str(v) for v in fn.sriov.vfs[8:11]] == ["0000:6b:01.1", "0000:6b:01.2", "0000:6b:01.3"]


def test_capabilities_are_found_in_full_config_space(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fn = pci.read_function(fake.host, "0000:6b:00.0")
    assert fn.config is not None
    names = [c.name for c in pci.capabilities(fn.config)]
    assert names[:3] == ["Express", "MSI-X", "Power Management"]
    assert "Single Root I/O Virtualization" in names
    assert pci.command_register(fn.config) == 0x0006


def test_missing_function_is_device_not_found(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    with pytest.raises(DeviceNotFoundError, match=r"no PCI function 0000:99:00\.0"):
        pci.read_function(fake.host, "0000:99:00.0")


def test_a_directory_without_vendor_is_not_a_function(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    (fake.host.pci_device("0000:6b:00.0") / "vendor").unlink()
    with pytest.raises(DeviceError, match="no readable vendor"):
        pci.read_function(fake.host, "0000:6b:00.0")


class VanishAfter(OsSysfsIO):
    """The real system calls, but the function is hot-unplugged after N reads of it."""

    def __init__(self, fake: sysfs.FakeHost, bdf: str, reads: int) -> None:
        self.fake, self.bdf = fake, bdf
        self.left: int | None = reads

    def read(self, path: Path) -> bytes:
        if self.bdf in str(path) and self.left is not None:
            self.left -= 1
            if self.left < 0:
                self.fake.unplug(self.bdf)
                self.left = None
        return super().read(path)


@pytest.mark.parametrize("reads", [0, 1, 5, 11])  # a VF has 12 attribute reads
def test_a_function_that_vanishes_while_read_is_reported_gone(
    make_fake: FakeFactory, reads: int
) -> None:
    fake = make_fake("seed")
    io = VanishAfter(fake, "0000:6b:00.3", reads)
    with pytest.raises(DeviceNotFoundError, match="disappeared while being read"):
        pci.read_function(fake.host, "0000:6b:00.3", io=io)


def test_unreadable_attributes_say_access_denied_and_do_not_crash() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        pf = fake.host.pci_device("0000:6b:00.0")
        os.chmod(Path(os.path.realpath(pf)) / "qat" / "cfg_services", 0o600)
        os.chmod(Path(os.path.realpath(pf)) / "resource", 0o400)

        def read() -> tuple[dict[str, str], str | None, str | None, int]:
            fn = pci.read_function(fake.host, "0000:6b:00.0", io=fake.kernel)
            assert fn.qat is not None
            config = len(fn.config) if fn.config else 0
            return dict(fn.unreadable), fn.qat.cfg_services, fn.qat.state, config

        unreadable, services, state, config = as_user(NOBODY, read)
    assert unreadable == {"qat/cfg_services": "access denied", "resource": "access denied"}
    assert services is None
    assert state == "up"  # the rest is still read
    assert config == 64  # config space beyond the header needs privilege


def test_list_addresses_of_a_tree_without_pci_is_empty(tmp_path: Path) -> None:
    from qathw.paths import HostRoot

    assert pci.list_addresses(HostRoot(tmp_path)) == []


def test_resource_lines_that_are_unused_are_skipped() -> None:
    text = "0x0 0x0 0x0\n0x1000 0x1fff 0x40200\n"
    (bar,) = pci.parse_resources(text)
    assert (bar.index, bar.start, bar.size, bar.is_io) == (1, 0x1000, 0x1000, False)


def test_noiommu_group_node_is_prefixed(make_fake: FakeFactory) -> None:
    from fakedev.topologies import PfSpec, Topology

    fake = make_fake(Topology("n", (PfSpec("0000:6b:00.0", num_vfs=16),), iommu="noiommu"))
    fn = pci.read_function(fake.host, "0000:6b:00.1")
    node = fn.vfio_node(fake.host)
    assert fn.noiommu and node is not None and node.name == f"noiommu-{fn.iommu_group}"
    assert node.exists()
    shutil.rmtree(fake.prefix)
