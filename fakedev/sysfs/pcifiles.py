"""What a PCI function's sysfs files hold: config space, ``resource``, BAR layouts.

The numbers are Linux's (:mod:`qathw.pci_regs`); the BAR sizes are the fake's choice
(plausible, not published): gen4 PF ETR/PMISC/SRAM, gen4 VF ring CSRs (4 banks of
0x2000, rounded) and PMISC; gen2 likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

from qathw.pci_regs import (
    IORESOURCE_MEM,
    IORESOURCE_MEM_64,
    IORESOURCE_PREFETCH,
    IORESOURCE_SIZEALIGN,
    PCI_BASE_ADDRESS_MEM_PREFETCH,
    PCI_BASE_ADDRESS_MEM_TYPE_64,
    PCI_BRIDGE_RESOURCES,
    PCI_CAP_ID_EXP,
    PCI_CAP_ID_MSIX,
    PCI_CAP_ID_PM,
    PCI_CAP_LIST_ID,
    PCI_CAP_LIST_NEXT,
    PCI_CAPABILITY_LIST,
    PCI_CFG_SPACE_EXP_SIZE,
    PCI_CFG_SPACE_SIZE,
    PCI_CLASS_MEMORY_RAM,
    PCI_CLASS_PROCESSOR_CO,
    PCI_CLASS_PROG,
    PCI_COMMAND,
    PCI_COMMAND_MASTER,
    PCI_COMMAND_MEMORY,
    PCI_DEVICE_ID,
    PCI_EXT_CAP_ID_ARI,
    PCI_EXT_CAP_ID_ERR,
    PCI_EXT_CAP_ID_SRIOV,
    PCI_IOV_RESOURCES,
    PCI_REVISION_ID,
    PCI_STATUS,
    PCI_STATUS_CAP_LIST,
    PCI_STD_NUM_BARS,
    PCI_SUBSYSTEM_ID,
    PCI_SUBSYSTEM_VENDOR_ID,
    PCI_VENDOR_ID,
)

QAT_CLASS = PCI_CLASS_PROCESSOR_CO << 8  # lspci: [0b40]
IVSHMEM_CLASS = PCI_CLASS_MEMORY_RAM << 8  # as QEMU's ivshmem reports

# `resource` flags of a BAR as lspci sees them: the IORESOURCE_* bits, and the BAR's own
# low bits (64-bit, prefetchable) that the kernel keeps in the flags.
MEM64_PREF = (
    IORESOURCE_MEM
    | IORESOURCE_PREFETCH
    | IORESOURCE_SIZEALIGN
    | IORESOURCE_MEM_64
    | PCI_BASE_ADDRESS_MEM_TYPE_64
    | PCI_BASE_ADDRESS_MEM_PREFETCH
)
MEM32 = IORESOURCE_MEM | IORESOURCE_SIZEALIGN

# Where the fake puts the standard capabilities (the first at 0x40, past the header) and
# the extended ones (from the start of extended config space).
_CAP_OFFSETS = (0x40, 0x50, 0x60)
_EXT_CAP_OFFSETS = (PCI_CFG_SPACE_SIZE, 0x150, 0x160)


@dataclass(frozen=True)
class Bar:
    """One line of the ``resource`` file the fake fills in."""

    index: int
    size: int
    flags: int


PF_BARS = (Bar(0, 0x20_0000, MEM64_PREF), Bar(2, 0x20_0000, MEM64_PREF), Bar(4, 0x2000, MEM64_PREF))
VF_BARS = (Bar(0, 0x1_0000, MEM64_PREF), Bar(2, 0x4000, MEM64_PREF))
# The PF's SR-IOV VF BARs (one VF's size each): VF BAR0 and VF BAR2.
IOV_BARS = ((PCI_IOV_RESOURCES, 0x1_0000), (PCI_IOV_RESOURCES + 2, 0x4000))


def _put16(c: bytearray, offset: int, value: int) -> None:
    c[offset : offset + 2] = value.to_bytes(2, "little")


def config_space(
    vendor: int,
    device: int,
    class_code: int,
    revision: int,
    subsys: tuple[int, int],
    *,
    sriov: bool,
    pcie: bool,
) -> bytes:
    """Config space with a capability list as QAT functions have one (4 KiB for PCIe).

    Args:
        vendor / device / class_code / revision / subsys: the identity.
        sriov: add the SR-IOV extended capability (a PF).
        pcie: PCI Express (QAT); a conventional function (ivshmem) has 256 bytes and no
            capabilities.
    """
    c = bytearray(PCI_CFG_SPACE_EXP_SIZE if pcie else PCI_CFG_SPACE_SIZE)
    _put16(c, PCI_VENDOR_ID, vendor)
    _put16(c, PCI_DEVICE_ID, device)
    _put16(c, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
    _put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST)
    c[PCI_REVISION_ID] = revision
    c[PCI_CLASS_PROG : PCI_CLASS_PROG + 3] = class_code.to_bytes(3, "little")
    _put16(c, PCI_SUBSYSTEM_VENDOR_ID, subsys[0])
    _put16(c, PCI_SUBSYSTEM_ID, subsys[1])
    if not pcie:  # ivshmem: conventional PCI, MSI-X only when doorbell; none here
        _put16(c, PCI_STATUS, 0)
        return bytes(c)
    chain = list(zip(_CAP_OFFSETS, (PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX, PCI_CAP_ID_PM), strict=True))
    c[PCI_CAPABILITY_LIST] = chain[0][0]
    for i, (off, cap) in enumerate(chain):
        c[off + PCI_CAP_LIST_ID] = cap
        c[off + PCI_CAP_LIST_NEXT] = chain[i + 1][0] if i + 1 < len(chain) else 0
    ext_ids = (PCI_EXT_CAP_ID_ERR, PCI_EXT_CAP_ID_ARI) + ((PCI_EXT_CAP_ID_SRIOV,) if sriov else ())
    ext = list(zip(_EXT_CAP_OFFSETS, ext_ids, strict=False))
    for i, (off, cap) in enumerate(ext):
        nxt = ext[i + 1][0] if i + 1 < len(ext) else 0
        # An extended capability's header: id, version 1, next offset (PCI_EXT_CAP_*).
        c[off : off + 4] = (cap | 1 << 16 | nxt << 20).to_bytes(4, "little")
    return bytes(c)


def resource_text(bars: list[tuple[int, int, int]], base: int) -> str:
    """A ``resource`` file: one ``start end flags`` line per resource, unused ones zero.

    Args:
        bars: ``(index, size, flags)`` of the resources in use.
        base: the bus address to lay them out from (each aligned to its size).
    """
    lines = [(0, 0, 0)] * PCI_BRIDGE_RESOURCES
    addr = base
    for index, size, flags in bars:
        addr = (addr + size - 1) // size * size
        lines[index] = (addr, addr + size - 1, flags)
        addr += size
    return "".join(f"0x{s:016x} 0x{e:016x} 0x{f:016x}\n" for s, e, f in lines)


def is_bar(index: int) -> bool:
    """Whether a ``resource`` line is a BAR (and so has a ``resourceN`` file)."""
    return index < PCI_STD_NUM_BARS
