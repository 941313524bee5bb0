"""PCI words: addresses, config-space registers and bits, capability ids, class codes.

Every PCI number qathw and fakedev use is defined here, under the name Linux gives it.
The config-space names are those of ``include/uapi/linux/pci_regs.h``, and
tests/pci/test_pci_regs.py checks each against the installed header. The others come from
kernel-internal headers, named next to them: class codes from ``include/linux/pci_ids.h``,
``IORESOURCE_*`` from ``include/linux/ioport.h``, resource indexes from
``include/linux/pci.h``.

:class:`PciAddress` is the one parser and printer of PCI addresses. It lives here, with
the numbers, because the fake device (which may import pure layouts only) needs it too.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# --- addresses ---------------------------------------------------------------------------

# The one rule for a PCI address: as the kernel prints it, domain optional (lspci -s).
_BDF_RE = re.compile(
    r"(?:(?P<domain>[0-9a-f]{4}):)?(?P<bus>[0-9a-f]{2}):(?P<dev>[0-9a-f]{2})\.(?P<fn>[0-7])",
    re.IGNORECASE,
)


@dataclass(frozen=True, order=True)
class PciAddress:
    """A PCI function address (domain, bus, device, function); prints as ``0000:6b:00.0``."""

    domain: int
    bus: int
    device: int
    function: int

    def __post_init__(self) -> None:
        if not (
            0 <= self.domain <= 0xFFFF
            and 0 <= self.bus <= 0xFF
            and 0 <= self.device <= 0x1F
            and 0 <= self.function <= 7
        ):
            raise ValueError(
                f"PCI address out of range: domain {self.domain:#x}, bus {self.bus:#x}, "
                f"device {self.device:#x}, function {self.function}"
            )

    @classmethod
    def parse(cls, text: str) -> PciAddress:
        """Parse ``dddd:bb:dd.f``, or ``bb:dd.f`` meaning domain 0, as the kernel prints it.

        The one parser of PCI addresses: hex digits in either case, surrounding
        whitespace ignored, every field at its full width.

        Args:
            text: the address.

        Returns:
            The address.

        Raises:
            ValueError: not a PCI address (the message gives the expected form).
        """
        m = _BDF_RE.fullmatch(text.strip())
        if m is None or int(m["dev"], 16) > 0x1F:
            raise ValueError(
                f"{text!r} is not a PCI address: write it as dddd:bb:dd.f or bb:dd.f "
                "(device 00-1f, function 0-7), e.g. 0000:6b:00.1"
            )
        return cls(int(m["domain"] or "0", 16), int(m["bus"], 16), int(m["dev"], 16), int(m["fn"]))

    @property
    def devfn(self) -> int:
        """Device and function as one byte (``device << 3 | function``)."""
        return self.device << 3 | self.function

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.device:02x}.{self.function:x}"


# --- config space: the type 0 header (pci_regs.h) --------------------------------------

PCI_STD_HEADER_SIZEOF = 64  # all the kernel shows an unprivileged reader of `config`
PCI_CFG_SPACE_SIZE = 256  # conventional PCI; extended capabilities start here
PCI_CFG_SPACE_EXP_SIZE = 4096  # PCI Express

PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_COMMAND_IO = 0x1
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x10
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09  # the 24-bit class code: prog-if here, then sub-class, base class
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_CAPABILITY_LIST = 0x34
PCI_CAP_LIST_ID = 0
PCI_CAP_LIST_NEXT = 1

# Low bits of a memory BAR, which the `resource` file's flags carry too.
PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04
PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08

PCI_STD_NUM_BARS = 6
PCI_SRIOV_NUM_BARS = 6

# --- capability ids (pci_regs.h) ------------------------------------------------------

PCI_CAP_ID_PM = 0x01
PCI_CAP_ID_MSI = 0x05
PCI_CAP_ID_VNDR = 0x09
PCI_CAP_ID_EXP = 0x10
PCI_CAP_ID_MSIX = 0x11

PCI_EXT_CAP_ID_ERR = 0x01
PCI_EXT_CAP_ID_VNDR = 0x0B
PCI_EXT_CAP_ID_ACS = 0x0D
PCI_EXT_CAP_ID_ARI = 0x0E
PCI_EXT_CAP_ID_ATS = 0x0F
PCI_EXT_CAP_ID_SRIOV = 0x10
PCI_EXT_CAP_ID_PRI = 0x13
PCI_EXT_CAP_ID_TPH = 0x17
PCI_EXT_CAP_ID_LTR = 0x18
PCI_EXT_CAP_ID_SECPCI = 0x19
PCI_EXT_CAP_ID_PASID = 0x1B
PCI_EXT_CAP_ID_L1SS = 0x1E
PCI_EXT_CAP_ID_DVSEC = 0x23

# The names lspci prints for them.
CAP_NAMES: Mapping[int, str] = MappingProxyType(
    {
        PCI_CAP_ID_PM: "Power Management",
        PCI_CAP_ID_MSI: "MSI",
        PCI_CAP_ID_VNDR: "Vendor Specific",
        PCI_CAP_ID_EXP: "Express",
        PCI_CAP_ID_MSIX: "MSI-X",
    }
)
EXT_CAP_NAMES: Mapping[int, str] = MappingProxyType(
    {
        PCI_EXT_CAP_ID_ERR: "Advanced Error Reporting",
        PCI_EXT_CAP_ID_VNDR: "Vendor Specific",
        PCI_EXT_CAP_ID_ACS: "Access Control Services",
        PCI_EXT_CAP_ID_ARI: "Alternative Routing-ID Interpretation",
        PCI_EXT_CAP_ID_ATS: "Address Translation Service",
        PCI_EXT_CAP_ID_SRIOV: "Single Root I/O Virtualization",
        PCI_EXT_CAP_ID_PRI: "Page Request Interface",
        PCI_EXT_CAP_ID_TPH: "TLP Processing Hints",
        PCI_EXT_CAP_ID_LTR: "Latency Tolerance Reporting",
        PCI_EXT_CAP_ID_SECPCI: "Secondary PCI Express",
        PCI_EXT_CAP_ID_PASID: "Process Address Space ID",
        PCI_EXT_CAP_ID_L1SS: "L1 PM Substates",
        PCI_EXT_CAP_ID_DVSEC: "Designated Vendor-Specific",
    }
)

# --- class codes, base class and sub-class (pci_ids.h) ---------------------------------

PCI_CLASS_MEMORY_RAM = 0x0500  # what QEMU's ivshmem reports
PCI_CLASS_BRIDGE_PCI = 0x0604
PCI_CLASS_BRIDGE_PCI_SEMI = 0x0609  # semi-transparent PCI-to-PCI (pci.ids; no kernel name)
PCI_CLASS_PROCESSOR_CO = 0x0B40  # "Co-processor": every QAT function

# --- the sysfs `resource` file (ioport.h, pci.h) -----------------------------------------

IORESOURCE_IO = 0x0000_0100
IORESOURCE_MEM = 0x0000_0200
IORESOURCE_PREFETCH = 0x0000_2000
IORESOURCE_SIZEALIGN = 0x0004_0000
IORESOURCE_MEM_64 = 0x0010_0000

# Its lines: BARs 0-5, the expansion ROM, the SR-IOV VF BARs; a non-bridge shows no more.
PCI_ROM_RESOURCE = PCI_STD_NUM_BARS
PCI_IOV_RESOURCES = PCI_ROM_RESOURCE + 1
PCI_IOV_RESOURCE_END = PCI_IOV_RESOURCES + PCI_SRIOV_NUM_BARS - 1
PCI_BRIDGE_RESOURCES = PCI_IOV_RESOURCE_END + 1


class CommandRegister(abc.ABC):
    """``PCI_COMMAND`` through a function's config space: one read-modify-write for every
    way of reaching it (VFIO's config region, sysfs's ``config`` file).

    Subclasses give the config-space accessors; this class does no I/O of its own.
    """

    @abc.abstractmethod
    def config_read(self, offset: int, width: int = 4) -> int:
        """Read a 1-, 2- or 4-byte config-space register (little-endian)."""

    @abc.abstractmethod
    def config_write(self, offset: int, value: int, width: int = 4) -> None:
        """Write a 1-, 2- or 4-byte config-space register (little-endian)."""

    @property
    def command(self) -> int:
        """The PCI command register."""
        return self.config_read(PCI_COMMAND, 2)

    def set_command_bits(self, bits: int, enable: bool = True) -> None:
        """Set (or clear) bits of the PCI command register; no write when nothing changes."""
        cmd = self.command
        new = cmd | bits if enable else cmd & ~bits
        if new != cmd:
            self.config_write(PCI_COMMAND, new, 2)

    def enable_memory(self) -> None:
        """Let the function decode its memory BARs (PCI_COMMAND_MEMORY)."""
        self.set_command_bits(PCI_COMMAND_MEMORY)

    def enable_bus_master(self) -> None:
        """Let the function master the bus: DMA and MSI writes (PCI_COMMAND_MASTER)."""
        self.set_command_bits(PCI_COMMAND_MASTER)
