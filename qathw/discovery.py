"""Which QAT functions a host has, how they relate, and how they are numbered.

:func:`discover` reads every PCI function of a :class:`~qathw.paths.HostRoot` and keeps
the QAT ones: PFs and VFs by PCI id (:mod:`qathw.ids`), and emulated endpoints — QEMU
ivshmem functions (1af4:1110) whose BAR2 starts with the ``QATHWEMU`` magic — by their
control page (:mod:`qathw.emulated`).

Accel numbering (:func:`number_accel_devices`) — ``qat_devN`` in ``qathw status`` and the
``<class>_dev<inst_id>.conf`` file of a device — is decided here and nowhere else:

1. Only *accel devices* are numbered: PFs bound to their QAT driver, VFs bound to a QAT
   VF driver or to VFIO (``vfio-pci``, ``qat_vfio_pci``), and identified emulated
   endpoints. An unbound function is not an accelerator to anyone yet.
2. PFs first, in address order — the kernel gives ``accel_id`` in probe order, and at
   boot the PF drivers probe in bus-scan (address) order; then VFs, which exist only
   after SR-IOV is enabled, in address order; then emulated endpoints, in address order.
3. ``inst_id`` counts per class name (``4xxx``, ``4xxxvf``, ``c6xx``...) in that same
   order, as the kernel's per-class ``instances`` counter does; emulated endpoints of a
   class continue the count of real functions of that class.

VFs bound to VFIO are numbered although ``adf_ctl status`` (which asks the kernel) does
not list them: they are the devices user space drives, and not seeing them is a known
pain (intel/qatlib#83; docs/hardware.md#host-setup).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from qathw import debugfs, emulated, ids, sysfsio
from qathw.broker import client as broker_client
from qathw.errors import DeviceError, DeviceNotFoundError, QatError
from qathw.paths import HostRoot
from qathw.pci import PciFunction, list_addresses, read_function, reason
from qathw.pci_regs import PciAddress
from qathw.sysfsio import SysfsIO

VFIO_DRIVERS = frozenset({"vfio-pci", "qat_vfio_pci"})
VF_KERNEL_DRIVERS = frozenset(
    {f.vf_name for f in ids.FAMILIES}
    | {f.vf_driver for f in ids.FAMILIES if f.vf_driver and f.vf_driver not in VFIO_DRIVERS}
)

# XenbusState values in which an emulated endpoint's backend is serving.
_BACKEND_UP = frozenset(
    {
        emulated.XenbusState.INIT_WAIT,
        emulated.XenbusState.INITIALISED,
        emulated.XenbusState.CONNECTED,
    }
)


class Role(enum.Enum):
    """What a QAT function is."""

    PF = "pf"
    VF = "vf"
    EMULATED = "emulated"


@dataclass(frozen=True)
class QatFunction:
    """A QAT function: its PCI snapshot plus what qathw concluded about it.

    Attributes:
        pci: the sysfs snapshot (for an emulated endpoint: the ivshmem function).
        kind: family and PF/VF (for an emulated endpoint: the identity it emulates).
        role: PF, VF or emulated endpoint.
        control: the control page of an emulated endpoint.
        pf: the PF of a VF (from ``physfn``).
        vfs: the VFs of a PF (from ``virtfnN``).
        state: ``up``/``down``: a PF's ``qat/state`` (gen2: up while its driver is
            bound); a VF's PF's state; an emulated endpoint's backend. ``None`` if unknown.
        services: ``cfg_services`` of the PF (a VF carries its PF's services), or
            ``ServicesEnabled`` from debugfs on gen2. ``None`` if unknown.
        accel_id: ``N`` of ``qat_devN``, ``None`` for a function that is not an accel
            device (see the module docstring).
        inst_id: per-class instance number, ``None`` like ``accel_id``.
    """

    pci: PciFunction
    kind: ids.FunctionKind
    role: Role
    control: emulated.ControlInfo | None = None
    pf: PciAddress | None = None
    vfs: tuple[PciAddress, ...] = ()
    state: str | None = None
    services: str | None = None
    accel_id: int | None = None
    inst_id: int | None = None

    @property
    def address(self) -> PciAddress:
        return self.pci.address

    @property
    def bdf(self) -> str:
        return self.pci.bdf

    @property
    def class_name(self) -> str:
        """Kernel class name: ``4xxx``, ``4xxxvf``, ``c6xx``..."""
        return self.kind.class_name

    @property
    def is_vf(self) -> bool:
        return self.kind.is_vf

    @property
    def generation(self) -> ids.Generation:
        return self.kind.generation

    @property
    def label(self) -> str:
        """``4xxx PF``, ``401xx VF``, ``4xxxvf (emulated)``."""
        if self.role is Role.EMULATED:
            return f"{self.class_name} (emulated)"
        return f"{self.kind.family.product} {'VF' if self.is_vf else 'PF'}"

    @property
    def is_accel_device(self) -> bool:
        """Whether the function counts as an accelerator (numbering rule 1)."""
        if self.role is Role.EMULATED:
            return True
        driver = self.pci.driver
        if driver is None:
            return False
        if self.is_vf:
            return driver in VFIO_DRIVERS or driver in VF_KERNEL_DRIVERS
        return driver == self.kind.family.pf_driver


@dataclass(frozen=True)
class Unidentified:
    """An ivshmem function whose control page could not be read (``reason`` says why)."""

    pci: PciFunction
    reason: str


@dataclass(frozen=True)
class Inventory:
    """Every QAT function of a host, in address order.

    Attributes:
        functions: the QAT functions (PFs, VFs and emulated endpoints).
        unidentified: ivshmem functions that may be emulated endpoints but could not be
            checked (typically "access denied": reading BAR2 needs root).
        vanished: addresses that disappeared while being read, with the reason.
        host: the host root it was read from.
    """

    functions: tuple[QatFunction, ...]
    unidentified: tuple[Unidentified, ...]
    vanished: tuple[tuple[PciAddress, str], ...]
    host: HostRoot

    def __iter__(self) -> Iterator[QatFunction]:
        return iter(self.functions)

    def __len__(self) -> int:
        return len(self.functions)

    def get(self, address: PciAddress | str) -> QatFunction:
        """The QAT function at ``address``.

        Raises:
            ValueError: not a PCI address.
            DeviceNotFoundError: no QAT function there (the hint says what is there).
        """
        addr = address if isinstance(address, PciAddress) else PciAddress.parse(address)
        for fn in self.functions:
            if fn.address == addr:
                return fn
        hint = "see 'qathw list' for the QAT functions of this host"
        for gone, why in self.vanished:
            if gone == addr:
                raise DeviceNotFoundError(why, hint="it was removed while being read; retry")
        for u in self.unidentified:
            if u.pci.address == addr:
                hint = f"it is an ivshmem function whose BAR2 could not be read ({u.reason})"
        raise DeviceNotFoundError(f"{addr} is not a QAT function", hint=hint)

    @property
    def pfs(self) -> tuple[QatFunction, ...]:
        return tuple(f for f in self.functions if f.role is Role.PF)

    @property
    def vfs(self) -> tuple[QatFunction, ...]:
        return tuple(f for f in self.functions if f.role is Role.VF)

    @property
    def emulated(self) -> tuple[QatFunction, ...]:
        return tuple(f for f in self.functions if f.role is Role.EMULATED)

    @property
    def accel_devices(self) -> tuple[QatFunction, ...]:
        """The numbered functions, in ``qat_devN`` order."""
        numbered = [f for f in self.functions if f.accel_id is not None]
        return tuple(sorted(numbered, key=lambda f: f.accel_id or 0))

    def vfs_of(self, pf: QatFunction) -> tuple[QatFunction, ...]:
        """The VFs of ``pf`` that were read."""
        return tuple(f for f in self.functions if f.role is Role.VF and f.pf == pf.address)

    def pf_of(self, vf: QatFunction) -> QatFunction | None:
        """The PF of ``vf``, if it was read."""
        for f in self.functions:
            if f.role is Role.PF and f.address == vf.pf:
                return f
        return None


def _pf_state(pci: PciFunction, kind: ids.FunctionKind) -> str | None:
    if pci.qat is not None:
        return pci.qat.state
    # Gen2 has no qat/state: its in-tree driver starts the device at probe.
    if pci.driver is not None and pci.driver == kind.family.pf_driver:
        return "up"
    return None


def _identify_emulated(
    host: HostRoot, pci: PciFunction, io: SysfsIO
) -> tuple[emulated.ControlInfo | None, str | None]:
    """The control page of an ivshmem function, or why it could not be read.

    Read through a sysfs map of ``resource2``; when the kernel refuses that map for a
    function bound to vfio-pci, from the section broker that owns it (:func:`_from_broker`).

    Returns ``(None, None)`` for an ivshmem function that is not an emulated endpoint.
    """
    bar2 = pci.bar(2)
    size = bar2.size if bar2 is not None else None
    if size is not None and size < emulated.CONTROL_PAGE_SIZE:
        return None, None
    try:
        head = io.read_mapped(pci.sysfs_path / "resource2", emulated.CONTROL_PAGE_SIZE)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        lent = _from_broker(host, pci) if pci.driver in VFIO_DRIVERS else None
        if lent is None:
            return None, reason(exc)
        head = lent
    except ValueError:  # mmap of an empty file
        return None, None
    if not emulated.has_magic(head):
        return None, None
    try:
        return emulated.read_control(head, mapped_size=size), None
    except DeviceError as exc:
        return None, str(exc)


def _from_broker(host: HostRoot, pci: PciFunction) -> bytes | None:
    """The control-page head as the running section broker reads it through its device
    fd; ``None`` when no broker runs or it cannot say (the sysfs reason then stands).

    Why: once vfio-pci has claimed the function's BARs (a holder mapped them), the kernel
    refuses every sysfs map of them (``pci_mmap_resource``: ``iomem_is_exclusive`` under
    ``CONFIG_IO_STRICT_DEVMEM``), so a host whose endpoints are shared through the broker
    would otherwise lose them from the list, and renumber the rest. The bytes are the
    endpoint's: the caller parses them as it parses the mapped ones.
    """
    try:
        return broker_client.control_head(pci.bdf, emulated.CONTROL_PAGE_SIZE, host)
    except QatError:
        return None  # not the broker's (another VFIO user holds it), or a broker fault


def _candidate(host: HostRoot, addr: PciAddress, io: SysfsIO) -> bool:
    """Whether a function may be QAT (by id) or an emulated endpoint (ivshmem).

    Only two small reads: a server has hundreds of PCI functions and few are QAT. A
    function whose id cannot be read is read in full, so that the reason shows.
    """
    base = host.pci_device(str(addr))
    try:
        vendor = int(io.read(base / "vendor"), 16)
        device = int(io.read(base / "device"), 16)
    except (OSError, ValueError):
        return True
    if (vendor, device) == (ids.IVSHMEM_VENDOR_ID, ids.IVSHMEM_DEVICE_ID):
        return True
    return ids.lookup(vendor, device) is not None


def _classify(host: HostRoot, pci: PciFunction, io: SysfsIO) -> QatFunction | Unidentified | None:
    kind = pci.kind
    if kind is not None:
        if kind.is_vf:
            return QatFunction(pci, kind, Role.VF, pf=pci.physfn)
        return QatFunction(
            pci,
            kind,
            Role.PF,
            vfs=pci.sriov.vfs if pci.sriov else (),
            state=_pf_state(pci, kind),
            services=pci.qat.cfg_services if pci.qat else None,
        )
    if pci.is_ivshmem:
        control, why = _identify_emulated(host, pci, io)
        if control is not None:
            state = "up" if control.backend_state in _BACKEND_UP else "down"
            return QatFunction(pci, control.kind, Role.EMULATED, control=control, state=state)
        if why is not None:
            return Unidentified(pci, why)
    return None


def _gen2_services(host: HostRoot, fn: QatFunction, io: SysfsIO) -> str | None:
    # Gen2 PFs have no cfg_services attribute; the config store in debugfs says.
    return debugfs.read(host, fn.class_name, fn.bdf, io=io).services


def number_accel_devices(functions: Sequence[QatFunction]) -> tuple[QatFunction, ...]:
    """Give every accel device its ``accel_id`` and ``inst_id`` (rules in the module doc).

    Args:
        functions: QAT functions in any order.

    Returns:
        The same functions, in address order, with ``accel_id``/``inst_id`` set (``None``
        for functions that are not accel devices).
    """
    order = {Role.PF: 0, Role.VF: 1, Role.EMULATED: 2}
    ranked = sorted(
        (f for f in functions if f.is_accel_device), key=lambda f: (order[f.role], f.address)
    )
    ids_by_addr: dict[PciAddress, tuple[int, int]] = {}
    per_class: dict[str, int] = {}
    for accel_id, fn in enumerate(ranked):
        inst = per_class.get(fn.class_name, 0)
        per_class[fn.class_name] = inst + 1
        ids_by_addr[fn.address] = (accel_id, inst)
    out = []
    for fn in sorted(functions, key=lambda f: f.address):
        numbers = ids_by_addr.get(fn.address)
        out.append(
            replace(
                fn,
                accel_id=numbers[0] if numbers else None,
                inst_id=numbers[1] if numbers else None,
            )
        )
    return tuple(out)


def discover(host: HostRoot | None = None, *, io: SysfsIO | None = None) -> Inventory:
    """Find every QAT function of ``host``.

    Args:
        host: the host root; ``$QATHW_SYSFS_ROOT`` or the real ``/`` by default.
        io: the sysfs seam; the current one by default.

    Returns:
        The inventory. An empty one is a valid answer (no QAT device).

    Raises:
        DeviceError: the PCI bus directory cannot be listed.
    """
    host = host if host is not None else HostRoot.from_env()
    io = io or sysfsio.current()
    found: list[QatFunction] = []
    unidentified: list[Unidentified] = []
    vanished: list[tuple[PciAddress, str]] = []
    for addr in list_addresses(host, io=io):
        if not _candidate(host, addr, io):
            continue
        try:
            pci = read_function(host, addr, io=io)
        except DeviceNotFoundError:
            # Listed a moment ago, gone now: hot-unplug, or SR-IOV disabled meanwhile.
            vanished.append((addr, f"{addr} disappeared while being read"))
            continue
        item = _classify(host, pci, io)
        if isinstance(item, QatFunction):
            found.append(item)
        elif isinstance(item, Unidentified):
            unidentified.append(item)
    # PFs first (gen2 keeps its services in debugfs), then VFs take their PF's.
    pfs = {
        f.address: replace(f, services=_gen2_services(host, f, io))
        if f.services is None and f.pci.qat is None and f.state
        else f
        for f in found
        if f.role is Role.PF
    }
    resolved = [
        pfs.get(f.address, f)
        if f.role is not Role.VF or f.pf not in pfs
        else replace(f, state=pfs[f.pf].state, services=pfs[f.pf].services)
        for f in found
    ]
    return Inventory(
        functions=number_accel_devices(resolved),
        unidentified=tuple(unidentified),
        vanished=tuple(vanished),
        host=host,
    )
