"""PCI functions as sysfs shows them, read from a :class:`~qathw.paths.HostRoot`.

:func:`read_function` takes one snapshot of ``/sys/bus/pci/devices/<bdf>``: identity,
driver, IOMMU group, NUMA node, BARs, SR-IOV links and the QAT driver's ``qat/``
attributes. Nothing here is QAT-specific beyond knowing the names of those attributes;
:mod:`qathw.discovery` decides what the functions are.

An attribute this user may not read is not an error: the field is ``None`` and
:attr:`PciFunction.unreadable` says why (``"access denied"``), as ``lspci`` prints
``<access denied>``. A function that disappears while it is being read (hot-unplug,
SR-IOV disabled) raises :class:`~qathw.errors.DeviceNotFoundError`.

The PCI numbers, and :class:`~qathw.pci_regs.PciAddress` (the one parser of PCI
addresses), are in :mod:`qathw.pci_regs`.

Sources: Linux ``Documentation/ABI/testing/sysfs-bus-pci``, ``sysfs-driver-qat``
(docs/hardware.md#device-ids, #sysfs-abi).
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from qathw import ids, sysfsio
from qathw.errors import DeviceError, DeviceNotFoundError
from qathw.paths import HostRoot
from qathw.pci_regs import (
    CAP_NAMES,
    EXT_CAP_NAMES,
    IORESOURCE_IO,
    IORESOURCE_MEM_64,
    IORESOURCE_PREFETCH,
    PCI_CAP_LIST_ID,
    PCI_CAP_LIST_NEXT,
    PCI_CAPABILITY_LIST,
    PCI_CFG_SPACE_SIZE,
    PCI_COMMAND,
    PCI_IOV_RESOURCE_END,
    PCI_IOV_RESOURCES,
    PCI_ROM_RESOURCE,
    PCI_STATUS,
    PCI_STATUS_CAP_LIST,
    PciAddress,
)
from qathw.sysfsio import SysfsIO

ACCESS_DENIED = "access denied"


@dataclass(frozen=True)
class Bar:
    """One line of the ``resource`` file that is in use.

    Attributes:
        index: line number: 0-5 BARs, 6 ROM, 7-12 SR-IOV VF BARs.
        start / end: bus addresses, inclusive.
        flags: ``IORESOURCE_*`` bits.
    """

    index: int
    start: int
    end: int
    flags: int

    @property
    def name(self) -> str:
        """``BAR0``, ``ROM``, ``VF BAR0`` ..."""
        if self.index < PCI_ROM_RESOURCE:
            return f"BAR{self.index}"
        if self.index == PCI_ROM_RESOURCE:
            return "ROM"
        if PCI_IOV_RESOURCES <= self.index <= PCI_IOV_RESOURCE_END:
            return f"VF BAR{self.index - PCI_IOV_RESOURCES}"
        return f"resource{self.index}"

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def is_io(self) -> bool:
        return bool(self.flags & IORESOURCE_IO)

    @property
    def is_64bit(self) -> bool:
        return bool(self.flags & IORESOURCE_MEM_64)

    @property
    def is_prefetchable(self) -> bool:
        return bool(self.flags & IORESOURCE_PREFETCH)


@dataclass(frozen=True)
class Sriov:
    """The SR-IOV attributes of a physical function (``sriov_*`` and ``virtfnN``)."""

    total_vfs: int | None
    num_vfs: int | None
    vf_device: int | None
    offset: int | None
    stride: int | None
    vfs: tuple[PciAddress, ...]


@dataclass(frozen=True)
class QatAttributes:
    """The QAT driver's ``qat/`` group (gen4 and later PFs; absent on gen2).

    ``None`` means the attribute does not exist on this kernel or could not be read;
    :attr:`PciFunction.unreadable` tells the two apart.
    """

    state: str | None
    cfg_services: str | None
    pm_idle_enabled: int | None
    num_rps: int | None
    auto_reset: str | None


@dataclass(frozen=True)
class PciFunction:
    """One PCI function as sysfs showed it at the moment it was read.

    Attributes:
        address: its address.
        sysfs_path: ``<sys>/bus/pci/devices/<bdf>``.
        vendor / device / subsystem_vendor / subsystem_device / class_code / revision:
            identity (``class_code`` is the 24-bit class, e.g. ``0x0b4000``).
        driver: name of the bound driver, ``None`` when unbound.
        driver_override: the ``driver_override`` attribute, ``None`` when unset.
        iommu_group: IOMMU group number, ``None`` without an IOMMU.
        noiommu: the group is a VFIO no-IOMMU group (``/dev/vfio/noiommu-<g>``).
        numa_node: NUMA node (``-1`` when the platform does not say).
        enable: the ``enable`` count (how many users enabled the function).
        local_cpulist: CPUs close to the function.
        resources: BARs, ROM and VF BARs that are in use.
        sriov: SR-IOV attributes of a PF, ``None`` if the function has none.
        physfn: the PF of a VF.
        qat: the ``qat/`` attributes, ``None`` if the directory does not exist.
        config: the readable part of config space (64 bytes without privilege).
        unreadable: field name → why it could not be read (``"access denied"``).
    """

    address: PciAddress
    sysfs_path: Path
    vendor: int
    device: int
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    class_code: int | None = None
    revision: int | None = None
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: int | None = None
    noiommu: bool = False
    numa_node: int | None = None
    enable: int | None = None
    local_cpulist: str | None = None
    resources: tuple[Bar, ...] = ()
    sriov: Sriov | None = None
    physfn: PciAddress | None = None
    qat: QatAttributes | None = None
    config: bytes | None = None
    unreadable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def bdf(self) -> str:
        """The canonical address string, ``0000:6b:00.0``."""
        return str(self.address)

    @property
    def kind(self) -> ids.FunctionKind | None:
        """The QAT family and role of this function, ``None`` if it is not QAT."""
        return ids.lookup(self.vendor, self.device)

    @property
    def is_ivshmem(self) -> bool:
        """A QEMU ivshmem function: possibly an emulated QAT endpoint."""
        return self.vendor == ids.IVSHMEM_VENDOR_ID and self.device == ids.IVSHMEM_DEVICE_ID

    def vfio_node(self, host: HostRoot) -> Path | None:
        """``/dev/vfio/<group>`` (or ``noiommu-<group>``), ``None`` without a group."""
        if self.iommu_group is None:
            return None
        name = f"noiommu-{self.iommu_group}" if self.noiommu else str(self.iommu_group)
        return host.vfio / name

    def bar(self, index: int) -> Bar | None:
        """The resource at ``index``, if it is in use."""
        for bar in self.resources:
            if bar.index == index:
                return bar
        return None


def reason(exc: OSError) -> str:
    """Why a read failed, in the words ``show`` and ``--json`` use."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ACCESS_DENIED
    if exc.errno == errno.ENODEV:
        return "device removed"
    if exc.errno == errno.EIO:
        return "I/O error"
    return (exc.strerror or f"errno {exc.errno}").lower()


class AttrReader:
    """Reads attributes below one directory, noting instead of raising what it cannot read.

    Missing files (``ENOENT``) are simply absent. Any other failure is recorded in
    :attr:`unreadable` under the caller's field name.
    """

    def __init__(self, io: SysfsIO, base: Path) -> None:
        self.io = io
        self.base = base
        self.unreadable: dict[str, str] = {}

    def _failed(self, exc: OSError, name: str) -> None:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            self.unreadable[name] = reason(exc)

    def raw(self, rel: str, name: str) -> bytes | None:
        try:
            return self.io.read(self.base / rel)
        except OSError as exc:
            self._failed(exc, name)
            return None

    def text(self, rel: str, name: str | None = None) -> str | None:
        data = self.raw(rel, name or rel)
        if data is None:
            return None
        # heartbeat/status ends with a NUL after the newline (docs/hardware.md#debugfs).
        return data.decode("utf-8", "replace").strip("\x00\n\t ")

    def integer(self, rel: str, name: str | None = None, *, base: int = 10) -> int | None:
        text = self.text(rel, name)
        if text is None:
            return None
        try:
            return int(text, base)
        except ValueError:
            self.unreadable[name or rel] = f"unexpected content {text[:20]!r}"
            return None

    def link(self, rel: str, name: str | None = None) -> str | None:
        """Basename of a link's target."""
        try:
            return Path(self.io.readlink(self.base / rel)).name
        except OSError as exc:
            self._failed(exc, name or rel)
            return None

    def names(self, rel: str = "", name: str | None = None) -> list[str] | None:
        try:
            return self.io.listdir(self.base / rel if rel else self.base)
        except OSError as exc:
            self._failed(exc, name or rel or "directory")
            return None


def _address(text: str | None) -> PciAddress | None:
    if text is None:
        return None
    try:
        return PciAddress.parse(text)
    except ValueError:
        return None


def parse_resources(text: str) -> tuple[Bar, ...]:
    """The in-use lines of a ``resource`` file (``start end flags`` in hex per line)."""
    bars = []
    for index, line in enumerate(text.splitlines()):
        parts = line.split()
        if len(parts) != 3:
            continue
        start, end, flags = (int(p, 16) for p in parts)
        if flags and end > start:
            bars.append(Bar(index, start, end, flags))
    return tuple(bars)


def list_addresses(host: HostRoot, *, io: SysfsIO | None = None) -> list[PciAddress]:
    """Every PCI function under ``<sys>/bus/pci/devices``, in address order.

    Args:
        host: the host root.
        io: the sysfs seam; the current one by default.

    Returns:
        The addresses; empty when the bus directory does not exist (no PCI at all).

    Raises:
        DeviceError: the directory exists but cannot be listed.
    """
    io = io or sysfsio.current()
    try:
        names = io.listdir(host.pci_devices)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DeviceError.from_oserror(exc, f"cannot list {host.pci_devices}") from exc
    return sorted(a for a in map(_address, names) if a is not None)


def read_function(
    host: HostRoot, address: PciAddress | str, *, io: SysfsIO | None = None
) -> PciFunction:
    """Read one PCI function's sysfs directory.

    Args:
        host: the host root.
        address: the function's address (a :class:`PciAddress` or its string).
        io: the sysfs seam; the current one by default.

    Returns:
        A snapshot; fields this user may not read are ``None`` and listed in
        :attr:`PciFunction.unreadable`.

    Raises:
        ValueError: ``address`` is not a PCI address.
        DeviceNotFoundError: no such function, or it disappeared while being read.
        DeviceError: the directory is not a PCI function (no ``vendor``/``device``).
    """
    io = io or sysfsio.current()
    addr = address if isinstance(address, PciAddress) else PciAddress.parse(address)
    path = host.pci_device(str(addr))
    if not io.exists(path):
        raise DeviceNotFoundError(
            f"no PCI function {addr}",
            hint="see 'qathw list' (or 'lspci -D') for the functions present",
            path=path,
        )
    r = AttrReader(io, path)
    vendor = r.integer("vendor", base=16)
    device = r.integer("device", base=16)
    fn = _read_rest(host, addr, path, r, vendor, device)
    # A function removed while we read it leaves holes that look like absent files;
    # its directory going away is the one reliable sign.
    if not io.exists(path):
        raise DeviceNotFoundError(
            f"PCI function {addr} disappeared while being read",
            hint="it was removed (hot-unplug or SR-IOV disabled); run the command again",
            path=path,
        )
    if vendor is None or device is None:
        why = r.unreadable.get("vendor") or r.unreadable.get("device") or "missing"
        raise DeviceError(
            f"{path} has no readable vendor/device ({why})",
            hint="this is not a PCI function directory; check --sysfs-root",
            path=path,
        )
    return fn


def _read_rest(
    host: HostRoot,
    addr: PciAddress,
    path: Path,
    r: AttrReader,
    vendor: int | None,
    device: int | None,
) -> PciFunction:
    override = r.text("driver_override")
    group_name = r.link("iommu_group")
    group = int(group_name) if group_name and group_name.isdigit() else None
    noiommu = False
    if group is not None:
        g = AttrReader(r.io, host.iommu_groups / str(group))
        noiommu = g.text("name") == "vfio-noiommu"
    resource_text = r.text("resource")
    names = r.names(name="directory") or []
    sriov = None
    if "sriov_totalvfs" in names:
        virtfns = sorted(
            (int(n[len("virtfn") :]), n)
            for n in names
            if n.startswith("virtfn") and n[6:].isdigit()
        )
        sriov = Sriov(
            total_vfs=r.integer("sriov_totalvfs"),
            num_vfs=r.integer("sriov_numvfs"),
            vf_device=r.integer("sriov_vf_device", base=16),
            offset=r.integer("sriov_offset"),
            stride=r.integer("sriov_stride"),
            vfs=tuple(a for a in (_address(r.link(n)) for _, n in virtfns) if a is not None),
        )
    qat = None
    if "qat" in names:
        qat = QatAttributes(
            state=r.text("qat/state"),
            cfg_services=r.text("qat/cfg_services"),
            pm_idle_enabled=r.integer("qat/pm_idle_enabled"),
            num_rps=r.integer("qat/num_rps"),
            auto_reset=r.text("qat/auto_reset"),
        )
    return PciFunction(
        address=addr,
        sysfs_path=path,
        vendor=vendor if vendor is not None else 0,
        device=device if device is not None else 0,
        subsystem_vendor=r.integer("subsystem_vendor", base=16),
        subsystem_device=r.integer("subsystem_device", base=16),
        class_code=r.integer("class", base=16),
        revision=r.integer("revision", base=16),
        driver=r.link("driver"),
        driver_override=None if override in (None, "(null)", "") else override,
        iommu_group=group,
        noiommu=noiommu,
        numa_node=r.integer("numa_node"),
        enable=r.integer("enable"),
        local_cpulist=r.text("local_cpulist"),
        resources=parse_resources(resource_text) if resource_text else (),
        sriov=sriov,
        physfn=_address(r.link("physfn")),
        qat=qat,
        config=r.raw("config", "config"),
        unreadable=MappingProxyType(dict(r.unreadable)),
    )


# --- config space: just enough for `show` ---------------------------------------------


@dataclass(frozen=True)
class Capability:
    """A capability found in config space."""

    offset: int
    cap_id: int
    extended: bool

    @property
    def name(self) -> str:
        table = EXT_CAP_NAMES if self.extended else CAP_NAMES
        return table.get(self.cap_id, f"capability {self.cap_id:#x}")


def command_register(config: bytes) -> int | None:
    """PCI_COMMAND from a config-space dump, if it is long enough."""
    if len(config) < PCI_COMMAND + 2:
        return None
    return int.from_bytes(config[PCI_COMMAND : PCI_COMMAND + 2], "little")


def capabilities(config: bytes) -> tuple[Capability, ...]:
    """The capability lists reachable in ``config`` (standard, then extended at 0x100).

    Lists are followed only within the bytes given; without privilege the kernel
    serves 64 bytes, which holds no capability.
    """
    caps: list[Capability] = []
    if len(config) > PCI_CAPABILITY_LIST:
        status = int.from_bytes(config[PCI_STATUS : PCI_STATUS + 2], "little")
        ptr = config[PCI_CAPABILITY_LIST] & 0xFC if status & PCI_STATUS_CAP_LIST else 0
        seen: set[int] = set()
        while ptr and ptr + PCI_CAP_LIST_NEXT < len(config) and ptr not in seen:
            seen.add(ptr)
            caps.append(Capability(ptr, config[ptr + PCI_CAP_LIST_ID], False))
            ptr = config[ptr + PCI_CAP_LIST_NEXT] & 0xFC
    ptr = PCI_CFG_SPACE_SIZE
    seen = set()
    while ptr and ptr + 4 <= len(config) and ptr not in seen:
        seen.add(ptr)
        header = int.from_bytes(config[ptr : ptr + 4], "little")
        if header in (0, 0xFFFFFFFF):
            break
        caps.append(Capability(ptr, header & 0xFFFF, True))
        ptr = (header >> 20) & 0xFFC
    return tuple(caps)
