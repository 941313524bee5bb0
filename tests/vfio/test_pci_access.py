"""Choosing the access path, and the sysfs path itself, on a fake host root.

The sysfs path maps ``resourceN`` files and reads and writes the ``config`` file; in a
fake tree those are plain files, which is how the kernel presents them to user space.
The VFIO path on a real kernel is in tests/vm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qathw import emulated
from qathw.errors import DeviceAccessError, DeviceError, DeviceNotFoundError
from qathw.pci_access import SYSFS, VFIO, SysfsAccess, access_path, open_access
from qathw.pci_regs import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY
from tests.vfio.fake_tree import FakeTree

BDF = "0000:00:10.0"


@pytest.fixture
def tree(tmp_path: Path) -> FakeTree:
    tree = FakeTree(tmp_path)
    dev = tree.function(BDF, group=9)
    config = bytearray(256)
    config[0:4] = (0x1110_1AF4).to_bytes(4, "little")
    (dev / "config").write_bytes(bytes(config))
    bar2 = bytearray(1 << 16)
    bar2[: len(emulated.EMU_MAGIC)] = emulated.EMU_MAGIC
    (dev / "resource2").write_bytes(bytes(bar2))
    return tree


def test_an_unbound_function_is_reached_through_sysfs(tree: FakeTree) -> None:
    assert access_path(BDF, tree.root) == SYSFS
    with open_access(BDF, root=tree.root) as access:
        assert isinstance(access, SysfsAccess)


def test_a_function_on_vfio_pci_is_reached_through_vfio(tree: FakeTree) -> None:
    (tree.root.pci_device(BDF) / "driver").symlink_to("../../drivers/vfio-pci")
    assert access_path(BDF, tree.root) == VFIO


def test_a_bar_maps_its_resource_file(tree: FakeTree) -> None:
    with SysfsAccess(BDF, root=tree.root) as access:
        bar = access.map_bar(2)
        with bar.view(0, 8) as magic:
            assert bytes(magic) == emulated.EMU_MAGIC
        assert bar.size == 1 << 16


def test_closing_closes_the_bars_it_mapped(tree: FakeTree) -> None:
    access = SysfsAccess(BDF, root=tree.root)
    bar = access.map_bar(2)
    access.close()
    assert bar.closed


def test_config_reads_are_little_endian(tree: FakeTree) -> None:
    with SysfsAccess(BDF, root=tree.root) as access:
        assert access.config_read(0, 4) == 0x1110_1AF4
        assert access.config_read(2, 2) == 0x1110


def test_enabling_memory_and_bus_master_sets_the_command_bits(tree: FakeTree) -> None:
    with SysfsAccess(BDF, root=tree.root) as access:
        access.enable_memory()
        access.enable_bus_master()
        assert access.config_read(4, 2) == PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER


def test_a_missing_bar_names_the_file(tree: FakeTree) -> None:
    with (
        SysfsAccess(BDF, root=tree.root) as access,
        pytest.raises(DeviceAccessError, match="has no memory BAR 0"),
    ):
        access.map_bar(0)


def test_config_beyond_what_the_kernel_shows_says_why(tree: FakeTree) -> None:
    (tree.root.pci_device(BDF) / "config").write_bytes(bytes(64))  # what non-root sees
    with (
        SysfsAccess(BDF, root=tree.root) as access,
        pytest.raises(DeviceAccessError, match="only the first 64 bytes; run as root"),
    ):
        access.config_read(0x40, 4)


@pytest.mark.parametrize(("offset", "width"), [(1, 2), (2, 4), (0, 3), (-4, 4)])
def test_misaligned_config_access_is_a_value_error(tree: FakeTree, offset: int, width: int) -> None:
    with SysfsAccess(BDF, root=tree.root) as access, pytest.raises(ValueError):
        access.config_read(offset, width)


def test_a_missing_function_is_not_found(tree: FakeTree) -> None:
    with pytest.raises(DeviceNotFoundError, match=r"no PCI function 0000:00:11\.0"):
        open_access("00:11.0", root=tree.root)


def test_sysfs_delivers_no_interrupts_and_says_how_to_get_them(tree: FakeTree) -> None:
    with SysfsAccess(BDF, root=tree.root) as access:
        assert not access.delivers_interrupts
        with pytest.raises(DeviceError) as exc:
            access.msi_eventfd()
    assert "reached through sysfs, which delivers no interrupts" in exc.value.what
    assert exc.value.hint is not None and f"qathw bind {BDF} vfio-pci" in exc.value.hint


def test_sysfs_maps_no_dma_memory(tree: FakeTree) -> None:
    with SysfsAccess(BDF, root=tree.root) as access:
        assert access.dma_pool(1 << 20) is None
