"""Opening endpoints: through a sysfs tree's resource2, through the file, and bad inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.device import Device
from qathw.emulated import XenbusState
from qathw.endpoint import bar2_path, open_emulated
from qathw.errors import DeviceAccessError, DeviceError, RingConfigError
from qathw.pci_regs import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY
from tests.transport.emu import fake_ivshmem_dir, null_requests


def test_opening_through_a_sysfs_tree_maps_resource2(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    devdir = fake_ivshmem_dir(tmp_path, path)
    assert bar2_path(devdir) == devdir / "resource2"
    with Device(path) as dev, open_emulated(devdir, mailbox_idle=dev.step) as ep:
        assert ep.name == "0000:00:04.0"
        assert ep.kind.class_name == "4xxxvf" and ep.num_banks == 4
        ep.connect()
        pair = ep.ring_pair(3, slots=16)
        pair.submit(null_requests([42]))
        dev.step()
        assert list(pair.poll()["opaque_data"]) == [42]


def test_open_sets_bus_master_and_the_frontend_state(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    with Device(path) as dev:
        ep = open_emulated(path, mailbox_idle=dev.step)
        page = dev.file.control
        assert page is not None
        assert page.pci_command & PCI_COMMAND_MASTER
        assert page.frontend_state == XenbusState.INITIALISED
        ep.connect()
        assert page.frontend_state == XenbusState.CONNECTED
        ep.close()
        ep.close()
        assert page.frontend_state == XenbusState.CLOSED
        assert dev.agent is not None and not dev.agent.vf_init  # SHUTDOWN was sent
        del page  # a ctypes view of the mapping: drop it before the device closes


def test_a_device_does_nothing_before_bus_master(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    with Device(path) as dev, open_emulated(path, mailbox_idle=dev.step) as ep:
        pair = ep.ring_pair(1, slots=16)
        page = dev.file.control
        assert page is not None
        page.pci_command = 0
        pair.submit(null_requests([1]))
        assert dev.step() == 0
        assert pair.poll().shape == (0,)
        page.pci_command = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER
        assert dev.step() == 1
        assert list(pair.poll()["opaque_data"]) == [1]
        del page


def test_a_pf_style_endpoint_has_64_banks_and_no_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "pf.qat"
    info = endpoint_file.create(path, "4xxx", size=8 << 20)
    assert info.windows.csr_size >= 0x100000 + 64 * 0x2000
    with Device(path) as dev, open_emulated(path) as ep:
        assert ep.mailbox is None and ep.num_banks == 64
        ep.connect()  # nothing to negotiate
        pairs = [ep.ring_pair(b, slots=16) for b in (0, 37, 63)]
        for i, p in enumerate(pairs):
            p.submit(null_requests([i]))
        dev.step()
        assert [int(p.poll()["opaque_data"][0]) for p in pairs] == [0, 1, 2]
        # Bank 63's registers sit at 0x100000 + 63 * 0x2000 of BAR0.
        assert pairs[2].bank.mmio.name.endswith("bank 63")
        tail = ep.csr.read32(0x100000 + 63 * 0x2000 + 0x100)
        assert tail == 128
        with pytest.raises(RingConfigError, match=r"banks 0\.\.63"):
            ep.bank(64)


def test_a_gen2_vf_runs_on_the_same_code(tmp_path: Path) -> None:
    path = tmp_path / "c6xxvf.qat"
    endpoint_file.create(path, "c6xxvf", size=1 << 20)
    with Device(path) as dev, open_emulated(path) as ep:
        assert ep.layout.rings_per_bank == 16 and ep.mailbox is None
        pairs = [ep.ring_pair(0, tx_ring=t, slots=16, request_size=128) for t in (2, 3, 7)]
        for t, p in zip((2, 3, 7), pairs, strict=True):
            assert p.rx_ring == t + 8
            p.submit(null_requests(range(t, t + 3)))
        dev.step()
        for t, p in zip((2, 3, 7), pairs, strict=True):
            assert list(p.poll()["opaque_data"]) == [t, t + 1, t + 2]
        # gen2 bases are in 64-byte units (docs/hardware.md#ring-config).
        base = ep.csr.read32(0x040 + 4 * 2)
        assert base << 6 == pairs[0]._tx_buf.iova & 0xFFFF_FFFF_FFC0


def test_a_directory_that_is_not_ivshmem_is_refused(tmp_path: Path) -> None:
    devdir = tmp_path / "0000:6b:00.1"
    devdir.mkdir()
    (devdir / "vendor").write_text("0x8086\n")
    (devdir / "device").write_text("0x4941\n")
    with pytest.raises(DeviceError, match="not an ivshmem function"):
        open_emulated(devdir)


def test_an_ivshmem_directory_without_resource2(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    devdir = fake_ivshmem_dir(tmp_path, path)
    os.unlink(devdir / "resource2")
    with pytest.raises(DeviceError, match="no resource2") as info:
        open_emulated(devdir)
    assert info.value.hint


def test_a_file_that_is_not_an_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "zeros"
    path.write_bytes(bytes(1 << 16))
    with pytest.raises(DeviceError, match="no QATHWEMU magic"):
        open_emulated(path)


def test_a_truncated_endpoint_file(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    os.truncate(path, 1 << 16)
    with pytest.raises(DeviceError, match="truncated or corrupt"):
        open_emulated(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DeviceAccessError, match="No such file"):
        open_emulated(tmp_path / "nope")


def test_closing_releases_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    with Device(path) as dev:
        ep = open_emulated(path, mailbox_idle=dev.step)
        ep.connect()
        pair = ep.ring_pair(1, slots=16)
        pair.submit(null_requests([1]))
        ep.close()  # ring pairs, pool and BAR: would raise BufferError if a view leaked
        assert ep.csr.closed and ep.pmisc.closed


def test_opening_an_endpoint_presented_by_the_fake_sysfs_builder(tmp_path: Path) -> None:
    from fakedev import sysfs
    from fakedev.topologies import EmulatedSpec, Topology

    path = tmp_path / "ep.qat"
    endpoint_file.create(path, size=1 << 20)
    host = sysfs.build(
        tmp_path / "root", Topology("one-emulated", emulated=(EmulatedSpec("0000:00:10.0", path),))
    )
    devdir = host.kernel.host.pci_device("0000:00:10.0")
    with Device(path) as dev, open_emulated(devdir, mailbox_idle=dev.step) as ep:
        ep.connect()
        pair = ep.ring_pair(1, slots=16)
        pair.submit(null_requests([5]))
        dev.step()
        assert list(pair.poll()["opaque_data"]) == [5]
