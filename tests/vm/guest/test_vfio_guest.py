"""VFIO on a real kernel: run inside the guest by tests/vm/test_in_guest.py.

The guest has an ivshmem-plain function carrying an emulated QAT endpoint file written
by the host, and QEMU's edu device behind a PCIe-to-PCI bridge together with a
virtio-rng function (so the two share an IOMMU group). Every refusal here is the guest
kernel's own errno, turned into qathw's error.

QEMU 7.2's edu rejects a DMA of exactly 4096 bytes with a hardware error that ends the
whole VM (QEMU issue 1254), so transfers here stay below that.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import re
import resource
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from qathw import emulated, vfio
from qathw.discovery import Role, discover
from qathw.endpoint import Endpoint, open_endpoint
from qathw.errors import (
    DeviceError,
    DmaError,
    MemlockLimitError,
    VfioError,
    VfioGroupBusyError,
    VfioGroupNotViableError,
)
from qathw.fw.common import HDR_FLAG_VALID, NULL_REQ_SERV_ID, ServiceType
from qathw.mmio import Mmio
from qathw.paths import HostRoot
from qathw.pci_access import SysfsAccess, open_access
from qathw.pci_regs import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY
from qathw.vfio_dma import VfioDmaPool
from tests.vm.endpoint_file import EndpointFacts
from tests.vm.guest import pcitools

NOBODY = 65534
EDU_ID, EDU_ALIVE, EDU_IRQ_STATUS, EDU_IRQ_RAISE, EDU_IRQ_ACK = 0x00, 0x04, 0x24, 0x60, 0x64
EDU_DMA_SRC, EDU_DMA_DST, EDU_DMA_COUNT, EDU_DMA_CMD = 0x80, 0x88, 0x90, 0x98
EDU_DMA_START, EDU_DMA_TO_RAM, EDU_DMA_IRQ = 0x1, 0x2, 0x4
EDU_BUFFER = 0x40000
EDU_XFER = 2048
GUEST_MARK = b"written by the guest through VFIO BAR2"
MARK_SLOT = 64  # bytes from the end of the endpoint file


def vfio_addr(mem: mmap.mmap) -> int:
    """The address of an anonymous mapping, for VFIO_IOMMU_MAP_DMA."""
    anchor = ctypes.c_char.from_buffer(mem)
    try:
        return ctypes.addressof(anchor)
    finally:
        del anchor  # release the buffer export so the mapping can be closed


def _run_as_child(
    code: str, *, user: int | None = None, memlock: int | None = None
) -> dict[str, Any]:
    """Run ``code`` in a fresh Python that becomes ``user`` first; it prints one JSON line.

    The interpreter starts as root and drops to ``user`` once it has imported what it
    needs (:data:`CHILD_PRELUDE`): the virtual env's Python lives under /root, which
    ``nobody`` cannot enter.
    """
    prelude = CHILD_PRELUDE
    if user is not None:
        prelude += f"os.setgroups([]); os.setgid({user}); os.setuid({user})\n"

    def limit() -> None:
        if memlock is not None:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (memlock, memlock))

    proc = subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
        cwd=os.getcwd(),
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


CHILD_PRELUDE = """
import ctypes, json, mmap, os, sys
from qathw import vfio
from qathw.errors import QatError
from qathw.vfio_dma import VfioDmaPool
def report(fn):
    try:
        fn()
    except QatError as e:
        print(json.dumps({"cls": type(e).__name__, "msg": str(e), "errno": e.errno}))
    else:
        print(json.dumps({"cls": None}))
"""


# --- the emulated endpoint through VFIO ---------------------------------------------------


def test_emulated_endpoint_identity_is_read_from_the_control_page_through_vfio_region_2(
    endpoint_on_vfio: str, facts: EndpointFacts
) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        bar2 = dev.mmap_region(vfio.BAR2_REGION)
        with bar2.view(0, emulated.CONTROL_PAGE_SIZE) as page:
            info = emulated.read_control(page, mapped_size=bar2.size)
    assert (info.vendor_id, info.device_id) == (facts.vendor_id, facts.device_id)
    assert info.kind.is_vf and info.kind.class_name == "4xxxvf"
    assert (info.num_banks, info.rings_per_bank) == (facts.num_banks, facts.rings_per_bank)
    assert info.windows.devmem_offset == facts.devmem_offset
    assert info.backend_pid == facts.backend_pid  # the fakedev process serving on the host


def test_bar2_region_is_the_whole_shared_file_at_the_vfio_pci_offset(
    endpoint_on_vfio: str, facts: EndpointFacts
) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        region = dev.region_info(vfio.BAR2_REGION)
    assert region.size == facts.total_size
    assert region.offset == vfio.BAR2_REGION << 40
    assert region.mappable and region.readable and region.writable
    assert region.mmap_areas() == ((0, facts.total_size),)


def test_config_space_through_vfio_shows_the_ivshmem_identity(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        assert dev.config_read(0x00, 4) == 0x1110_1AF4
        assert dev.info().is_pci


def test_memory_and_bus_master_enable_set_the_command_register(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        dev.set_command_bits(PCI_COMMAND_MASTER, enable=False)
        assert not dev.command & PCI_COMMAND_MASTER
        dev.enable_memory()
        dev.enable_bus_master()
        assert dev.command & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) == 0x6


def test_guest_writes_through_the_vfio_mapping_land_in_the_host_file(
    endpoint_on_vfio: str, facts: EndpointFacts
) -> None:
    # The host test reads the file after this run and looks for the mark (in the last
    # bytes of device memory, clear of the rings the round-trip test allocates).
    with vfio.open_device(endpoint_on_vfio) as dev:
        bar2 = dev.mmap_region(vfio.BAR2_REGION)
        with bar2.view(facts.total_size - MARK_SLOT, len(GUEST_MARK)) as v:
            v[:] = GUEST_MARK


def test_mmap_outside_the_region_is_refused_with_the_allowed_span(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev, pytest.raises(VfioError) as exc:
        dev.mmap_region(vfio.BAR2_REGION, 0, dev.region_info(2).size * 2)
    assert "not inside an mmappable area" in str(exc.value)


def test_ivshmem_plain_has_no_interrupts_to_wire(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        assert dev.irq_info(vfio.MSIX_IRQ).count == 0
        with pytest.raises(VfioError, match="0 eventfd-capable vectors"):
            dev.enable_irqs(vfio.MSIX_IRQ, 1)


def test_reset_of_a_function_without_reset_says_so(endpoint_on_vfio: str) -> None:
    with (
        vfio.open_device(endpoint_on_vfio) as dev,
        pytest.raises(VfioError, match="no function reset"),
    ):
        dev.reset()


def test_closing_the_device_releases_the_group_for_the_next_open(endpoint_on_vfio: str) -> None:
    vfio.open_device(endpoint_on_vfio).close()
    with vfio.open_device(endpoint_on_vfio) as dev:
        assert not dev.closed


def test_access_path_is_vfio_when_bound_to_vfio_pci(endpoint_on_vfio: str) -> None:
    access = open_access(endpoint_on_vfio)
    try:
        assert isinstance(access, vfio.VfioDevice)
        with access.map_bar(2).view(0, 8) as magic:
            assert bytes(magic) == emulated.EMU_MAGIC
    finally:
        access.close()


def test_the_vfio_path_delivers_interrupts_and_maps_dma_memory(endpoint_on_vfio: str) -> None:
    with open_access(endpoint_on_vfio) as access:
        assert access.delivers_interrupts
        with pytest.raises(VfioError, match="eventfd-capable vectors"):
            access.msi_eventfd()  # ivshmem-plain has no MSI
        pool = access.dma_pool(1 << 21)
        assert isinstance(pool, VfioDmaPool)
        with pool:
            pool.alloc(4096)
            assert pool.pinned > 0


def test_an_emulated_endpoint_opened_through_vfio_has_no_interrupts(
    endpoint_on_vfio: str,
) -> None:
    with open_endpoint(endpoint_on_vfio, mailbox_timeout=10.0) as ep:
        ep.connect()
        pair = ep.ring_pair(1, slots=16)
        with pytest.raises(DeviceError, match="ivshmem-plain in a guest"):
            ep.interrupt(pair)


def test_access_path_is_sysfs_resource_when_unbound(endpoint_unbound: str) -> None:
    access = open_access(endpoint_unbound)
    try:
        assert isinstance(access, SysfsAccess)
        with access.map_bar(2).view(0, 8) as magic:
            assert bytes(magic) == emulated.EMU_MAGIC
        assert access.config_read(0, 4) == 0x1110_1AF4
    finally:
        access.close()


def test_opening_an_unbound_function_through_vfio_says_how_to_bind(endpoint_unbound: str) -> None:
    with pytest.raises(VfioError) as exc:
        vfio.open_device(endpoint_unbound)
    assert "not bound to a driver, not vfio-pci" in str(exc.value)
    assert "qathw bind" in str(exc.value)


def test_qathw_discovers_the_ivshmem_function_as_an_emulated_endpoint(
    endpoint_unbound: str, facts: EndpointFacts
) -> None:
    inventory = discover(HostRoot())
    (found,) = [fn for fn in inventory.emulated if fn.bdf == endpoint_unbound]
    assert found.role is Role.EMULATED
    assert (found.kind.device_id, found.class_name) == (facts.device_id, "4xxxvf")
    assert found.control is not None and found.control.backend_pid == facts.backend_pid


def test_qathw_bind_moves_the_endpoint_to_vfio_pci_and_back(endpoint_unbound: str) -> None:
    subprocess.run(["modprobe", "vfio-pci"], check=True)
    bind = [sys.executable, "-m", "qathw", "bind", endpoint_unbound]
    done = subprocess.run([*bind, "vfio-pci"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert pcitools.driver(endpoint_unbound) == "vfio-pci"
    assert os.path.exists(f"/dev/vfio/{pcitools.group(endpoint_unbound)}")
    done = subprocess.run([*bind, "none"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert pcitools.driver(endpoint_unbound) is None


def _null_requests(opaques: list[int], size: int) -> npt.NDArray[np.uint8]:
    rows = np.zeros((len(opaques), size), np.uint8)
    rows[:, 1] = NULL_REQ_SERV_ID
    rows[:, 2] = ServiceType.NULL
    rows[:, 3] = HDR_FLAG_VALID
    rows[:, 24:32] = np.asarray(opaques, dtype="<u8").view(np.uint8).reshape(-1, 8)
    return rows


def test_null_requests_complete_against_the_backend_on_the_host(
    endpoint_on_vfio: str, facts: EndpointFacts
) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        dev.enable_memory()
        dev.enable_bus_master()
        ep = Endpoint.from_emulated_bar(
            dev.mmap_region(vfio.BAR2_REGION), name=endpoint_on_vfio, mailbox_timeout=10.0
        )
        try:
            ep.connect()  # the PF/VF mailbox, answered by the host backend
            bank = 1
            pair = ep.ring_pair(bank, slots=16)
            opaques = [0x1000 + i for i in range(8)]
            pair.submit(_null_requests(opaques, ep.request_size(bank)))
            got: list[int] = []
            deadline = time.monotonic() + 30
            while len(got) < len(opaques):
                assert time.monotonic() < deadline, f"responses so far: {got}"
                got += [int(x) for x in pair.poll()["opaque_data"]]
                time.sleep(0.01)
            assert got == opaques
        finally:
            ep.close()


# --- DMA ---------------------------------------------------------------------------------


def test_dma_map_and_unmap_of_guest_memory_are_accepted(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev:
        info = dev.container.iommu_info()
        assert info.min_page_size == mmap.PAGESIZE
        assert info.iova_ranges  # the MSI window is carved out: several ranges
        mem = mmap.mmap(-1, 1 << 20)
        try:
            addr = vfio_addr(mem)
            iova = dev.container.iova_space.reserve(1 << 20)
            dev.container.map_dma(addr, iova, 1 << 20)
            with pytest.raises(DmaError, match="overlaps an existing mapping"):
                dev.container.map_dma(addr, iova, 1 << 20)
            assert dev.container.unmap_dma(iova, 1 << 20) == 1 << 20
            assert dev.container.unmap_dma(iova, 1 << 20) == 0
        finally:
            mem.close()


def test_dma_pool_buffers_are_aligned_and_freed_slabs_unmapped(endpoint_on_vfio: str) -> None:
    with vfio.open_device(endpoint_on_vfio) as dev, VfioDmaPool(dev.container, 16 << 20) as pool:
        small = pool.alloc(100, 64)
        page = pool.alloc(5000, 4096)
        big = pool.alloc(3 << 20, 1 << 21)
        assert small.iova % 64 == 0 and page.iova % 4096 == 0 and big.iova % (1 << 21) == 0
        assert pool.pinned == (2 << 20) + (3 << 20)
        pool.free(big)
        assert pool.pinned == 2 << 20
        # the freed slab's IOVA range is unmapped in the kernel: unmapping it again finds nothing
        assert dev.container.unmap_dma(big.iova, 3 << 20) == 0


def _edu_dma(bar: Mmio, src: int, dst: int, cmd: int) -> None:
    bar.write64(EDU_DMA_SRC, src)
    bar.write64(EDU_DMA_DST, dst)
    bar.write64(EDU_DMA_COUNT, EDU_XFER)
    bar.write64(EDU_DMA_CMD, cmd | EDU_DMA_START)
    deadline = time.monotonic() + 10
    while bar.read64(EDU_DMA_CMD) & EDU_DMA_START:
        assert time.monotonic() < deadline, "edu DMA did not finish"
        time.sleep(0.01)


def test_a_device_dmas_through_the_iommu_into_pool_buffers(edu_on_vfio: str) -> None:
    with vfio.open_device(edu_on_vfio) as dev, VfioDmaPool(dev.container, 4 << 20) as pool:
        dev.enable_memory()
        dev.enable_bus_master()
        bar = dev.mmap_region(vfio.BAR0_REGION)
        assert bar.read32(EDU_ID) == 0x010000ED
        src, dst = pool.alloc(EDU_XFER), pool.alloc(EDU_XFER)
        src.view[:] = os.urandom(EDU_XFER)
        _edu_dma(bar, src.iova, EDU_BUFFER, 0)  # RAM -> device
        _edu_dma(bar, EDU_BUFFER, dst.iova, EDU_DMA_TO_RAM)  # device -> RAM
        assert bytes(dst.view) == bytes(src.view)


def test_after_unmap_the_device_can_no_longer_reach_the_memory(edu_on_vfio: str) -> None:
    with vfio.open_device(edu_on_vfio) as dev:
        dev.enable_memory()
        dev.enable_bus_master()
        bar = dev.mmap_region(vfio.BAR0_REGION)
        mem = mmap.mmap(-1, 1 << 16)
        try:
            iova = dev.container.iova_space.reserve(1 << 16)
            dev.container.map_dma(vfio_addr(mem), iova, 1 << 16)
            _edu_dma(bar, iova, EDU_BUFFER, 0)  # device buffer := zeros from RAM
            mem[:EDU_XFER] = b"\xaa" * EDU_XFER
            dev.container.unmap_dma(iova, 1 << 16)
            _edu_dma(bar, EDU_BUFFER, iova, EDU_DMA_TO_RAM)  # blocked by the IOMMU
            assert mem[:EDU_XFER] == b"\xaa" * EDU_XFER
        finally:
            mem.close()


def test_msi_is_delivered_to_an_eventfd(edu_on_vfio: str) -> None:
    with vfio.open_device(edu_on_vfio) as dev:
        dev.enable_memory()
        dev.enable_bus_master()
        bar = dev.mmap_region(vfio.BAR0_REGION)
        assert dev.irq_info(vfio.MSI_IRQ).count == 1
        (efd,) = dev.enable_irqs(vfio.MSI_IRQ, 1)
        bar.write32(EDU_IRQ_RAISE, 0x1)
        ready, _, _ = select.select([efd], [], [], 10)
        assert ready, "no MSI arrived"
        assert int.from_bytes(os.read(efd, 8), "little") == 1
        assert bar.read32(EDU_IRQ_STATUS) == 0x1
        bar.write32(EDU_IRQ_ACK, 0x1)
        dev.disable_irqs(vfio.MSI_IRQ)


# --- the kernel's refusals, as qathw's actionable errors ---------------------------------


def test_group_with_a_function_on_another_driver_is_not_viable_and_names_it(
    edu_group_not_viable: str, rng_bdf: str
) -> None:
    with pytest.raises(VfioGroupNotViableError) as exc:
        vfio.open_device(edu_group_not_viable)
    assert f"{rng_bdf} (bound to virtio-pci)" in str(exc.value)
    assert "unbind" in str(exc.value)


def test_group_held_by_another_process_is_busy_and_names_it(endpoint_on_vfio: str) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from qathw import vfio; d = vfio.open_device(sys.argv[1]); "
            "print('ready', flush=True); sys.stdin.read()",
            endpoint_on_vfio,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(VfioGroupBusyError) as exc:
            vfio.open_device(endpoint_on_vfio)
        assert exc.value.errno == errno.EBUSY
        assert f"pid {holder.pid} (python" in str(exc.value)
    finally:
        holder.kill()
        holder.wait()


def test_user_without_access_to_the_group_node_gets_owner_mode_and_fix(
    endpoint_on_vfio: str,
) -> None:
    got = _run_as_child(f"report(lambda: vfio.open_device({endpoint_on_vfio!r}))", user=NOBODY)
    assert got["cls"] == "VfioPermissionError"
    assert got["errno"] == errno.EACCES
    assert "owner root:root, mode crw-------" in got["msg"]
    assert "chgrp qat" in got["msg"]


@pytest.fixture
def group_node_owned_by_nobody(endpoint_on_vfio: str) -> Iterator[str]:
    node = f"/dev/vfio/{pcitools.group(endpoint_on_vfio)}"
    os.chown(node, NOBODY, NOBODY)
    yield endpoint_on_vfio
    os.chown(node, 0, 0)


def test_kernel_refusing_to_pin_past_memlock_is_a_memlock_error(
    group_node_owned_by_nobody: str,
) -> None:
    code = f"""
dev = vfio.open_device({group_node_owned_by_nobody!r})
mem = mmap.mmap(-1, 1 << 20)
anchor = ctypes.c_char.from_buffer(mem); addr = ctypes.addressof(anchor); del anchor
report(lambda: dev.container.map_dma(addr, dev.container.iova_space.reserve(1 << 20), 1 << 20))
"""
    got = _run_as_child(code, user=NOBODY, memlock=64 * 1024)
    assert got["cls"] == "MemlockLimitError"
    assert got["errno"] == errno.ENOMEM
    assert re.search(
        r"RLIMIT_MEMLOCK is 64 KiB; pinning 1024 KiB more .* needs at least \d+ KiB", got["msg"]
    )
    assert "ulimit -l" in got["msg"]


def test_dma_pool_checks_memlock_before_pinning(group_node_owned_by_nobody: str) -> None:
    code = f"""
dev = vfio.open_device({group_node_owned_by_nobody!r})
pool = VfioDmaPool(dev.container, 8 << 20)
report(lambda: pool.alloc(4096))
"""
    got = _run_as_child(code, user=NOBODY, memlock=64 * 1024)
    assert got["cls"] == MemlockLimitError.__name__
    assert got["errno"] == errno.ENOMEM
    assert "RLIMIT_MEMLOCK is 64 KiB; pinning 2048 KiB more for DMA" in got["msg"]
