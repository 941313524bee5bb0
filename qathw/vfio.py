"""VFIO: drive a PCI function from user space through the kernel's ``vfio-pci``.

The objects follow the kernel's own three: a :class:`VfioContainer` (``/dev/vfio/vfio``,
one IOMMU address space), a :class:`VfioGroup` (``/dev/vfio/<group>``, the unit of
isolation) and a :class:`VfioDevice` (a file descriptor for one function: regions,
config space, reset, interrupts). :func:`open_device` does the usual sequence for a BDF
(qatlib's ``vfio_lib.c`` order; docs/hardware.md#vfio) and turns
the kernel's errno into errors a user can act on: a group that is not viable names the
devices in the way and their drivers; a busy group names the process holding it when
``/proc`` tells; a refused open shows the node's owner and mode; a missing IOMMU says
how to enable one; a pinned-memory limit says what it is and what is needed.

The ctypes layer is private (``qathw._uapi.vfio``); nothing here hands out its types.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import grp
import mmap
import os
import pwd
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from qathw import sysfsio
from qathw._uapi import vfio as uapi
from qathw.errors import (
    DeviceNotFoundError,
    DmaError,
    NoIommuError,
    QatError,
    VfioError,
    VfioGroupBusyError,
    VfioGroupNotViableError,
    VfioPermissionError,
)
from qathw.iova import IovaSpace, lease_space
from qathw.memlock import memlock_error
from qathw.mmio import Mmio
from qathw.paths import HostRoot
from qathw.pci_regs import (
    PCI_CLASS_BRIDGE_PCI,
    PCI_CLASS_BRIDGE_PCI_SEMI,
    CommandRegister,
    PciAddress,
)
from qathw.vfio_dma import VfioDmaPool

VFIO_PCI_DRIVER = "vfio-pci"
# Drivers the kernel accepts in a viable group besides vfio-pci (vfio_driver_allowed).
_VIABLE_DRIVERS = frozenset({VFIO_PCI_DRIVER, "pci-stub"})

# Region and interrupt indexes of a vfio-pci device, re-exported without the ctypes layer.
BAR0_REGION = uapi.VFIO_PCI_BAR0_REGION_INDEX
BAR2_REGION = uapi.VFIO_PCI_BAR2_REGION_INDEX
ROM_REGION = uapi.VFIO_PCI_ROM_REGION_INDEX
CONFIG_REGION = uapi.VFIO_PCI_CONFIG_REGION_INDEX
INTX_IRQ = uapi.VFIO_PCI_INTX_IRQ_INDEX
MSI_IRQ = uapi.VFIO_PCI_MSI_IRQ_INDEX
MSIX_IRQ = uapi.VFIO_PCI_MSIX_IRQ_INDEX


# --- the few sysfs facts VFIO needs (private; the lead may swap in qathw.pci) ------------


@dataclass(frozen=True)
class _SysfsFunction:
    """One PCI function's sysfs directory, read for the links VFIO needs."""

    bdf: str
    root: HostRoot

    @property
    def path(self) -> Path:
        return self.root.pci_device(self.bdf)

    def exists(self) -> bool:
        return self.path.exists()

    def iommu_group(self) -> int | None:
        try:
            return int(os.path.basename(os.readlink(self.path / "iommu_group")))
        except (OSError, ValueError):
            return None

    def driver(self) -> str | None:
        try:
            return os.path.basename(os.readlink(self.path / "driver"))
        except OSError:
            return None

    def is_bridge(self) -> bool:
        try:
            cls = int(sysfsio.current().read(self.path / "class"), 16)
        except (OSError, ValueError):
            return False
        return cls >> 8 in (PCI_CLASS_BRIDGE_PCI, PCI_CLASS_BRIDGE_PCI_SEMI)


def group_members(group: int, root: HostRoot | None = None) -> list[str]:
    """The BDFs of every function in IOMMU group ``group``, sorted."""
    root = root or HostRoot.from_env()
    try:
        return sorted(os.listdir(root.iommu_groups / str(group) / "devices"))
    except OSError:
        return []


def iommu_group_of(bdf: str, root: HostRoot | None = None) -> int:
    """The IOMMU group of a PCI function.

    Raises:
        DeviceNotFoundError: no such function.
        NoIommuError: the function has no IOMMU group (the kernel runs without an IOMMU).
    """
    fn = _SysfsFunction(str(PciAddress.parse(bdf)), root or HostRoot.from_env())
    if not fn.exists():
        raise DeviceNotFoundError(
            f"no PCI function {fn.bdf}",
            hint="list the functions with 'lspci -D' (or 'qathw list') and use one of those",
            path=fn.path,
        )
    group = fn.iommu_group()
    if group is None:
        raise NoIommuError(
            f"{fn.bdf} has no IOMMU group: the kernel runs without an IOMMU",
            hint="enable VT-d (AMD-Vi) in the firmware and boot with intel_iommu=on "
            "(amd_iommu=on); in a QEMU guest add '-device intel-iommu' on q35",
            path=fn.path / "iommu_group",
        )
    return group


def driver_of(bdf: str, root: HostRoot | None = None) -> str | None:
    """The driver a PCI function is bound to, or ``None`` when unbound."""
    return _SysfsFunction(str(PciAddress.parse(bdf)), root or HostRoot.from_env()).driver()


# --- diagnosing the kernel's refusals ----------------------------------------------------


def holders(node: Path) -> list[tuple[int, str]]:
    """Other processes with ``node`` open, as far as ``/proc`` lets us see: (pid, command)."""
    target = os.fspath(node)
    found: list[tuple[int, str]] = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        fd_dir = f"/proc/{entry.name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    break
            except OSError:
                continue
        else:
            continue
        try:
            comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
        except OSError:
            comm = "?"
        found.append((int(entry.name), comm))
    return found


def _owner_and_mode(node: Path) -> str:
    try:
        st = os.stat(node)
    except OSError:
        return "cannot stat it"
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"owner {user}:{group}, mode {stat.filemode(st.st_mode)}"


def _permission_error(node: Path, exc: OSError, what: str) -> VfioPermissionError:
    detail = _owner_and_mode(node)
    return VfioPermissionError(
        f"{what}: permission denied ({detail})",
        hint=f"run as root, or give your user the node: 'chgrp qat {node} && chmod g+rw {node}' "
        "and add the user to group qat (qatlib's qat service and udev rule do this)",
        errno=exc.errno,
        path=node,
    )


def _open_node(node: Path, what: str) -> int:
    try:
        return os.open(node, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise _permission_error(node, exc, what) from exc
        if exc.errno == errno.ENOENT:
            raise VfioError(
                f"{node} does not exist: VFIO is not loaded",
                hint="load it with 'modprobe vfio-pci' (root)",
                errno=exc.errno,
                path=node,
            ) from exc
        raise VfioError(f"{what}: {exc.strerror}", errno=exc.errno, path=node) from exc


def _ioctl(fd: int, request: int, arg: int | bytearray | ctypes.Structure, what: str) -> int:
    """One ioctl; ``arg`` is an int or a mutable buffer the kernel fills in."""
    try:
        return fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        if exc.errno == errno.ENOTTY:
            raise VfioError(
                f"{what}: the file is not a VFIO node",
                hint="check that /dev/vfio is the kernel's (vfio-pci loaded) and the path right",
                errno=exc.errno,
            ) from exc
        raise VfioError(f"{what}: {exc.strerror}", errno=exc.errno) from exc


def _walk_caps(buf: bytes | bytearray, first: int) -> Iterator[tuple[int, int, int]]:
    """(id, version, offset) of each capability in an info chain starting at ``first``."""
    seen = 0
    off = first
    while off and seen < 64:  # a chain longer than this is corrupt, not real
        if off + ctypes.sizeof(uapi.vfio_info_cap_header) > len(buf):
            return
        hdr = uapi.vfio_info_cap_header.from_buffer_copy(buf, off)
        yield hdr.id, hdr.version, off
        off = hdr.next
        seen += 1


# --- fds lent by another process (the section broker) -----------------------------------


@dataclass(frozen=True)
class _LentFd:
    """An fd another process lent, and the IOVA window of the lease (containers)."""

    fd: int
    window: tuple[int, int] = (0, 0)

    def dup(self) -> int:
        # A view owns a duplicate: closing either never closes the other's fd number,
        # which the process may already have reused.
        try:
            return os.dup(self.fd)
        except OSError as exc:
            raise VfioError(
                f"the lent fd {self.fd} cannot be used: {exc.strerror}",
                hint="the broker session that lent it was closed; open the endpoint again",
                errno=exc.errno,
            ) from exc


# --- container ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IommuInfo:
    """What the container's IOMMU offers.

    Attributes:
        page_sizes: bitmap of supported IOMMU page sizes (bit n = 2**n bytes).
        iova_ranges: valid IOVA ranges, half-open ``(start, end)``; empty if not reported.
        dma_mappings_available: how many more DMA mappings the kernel allows, if reported.
    """

    page_sizes: int
    iova_ranges: tuple[tuple[int, int], ...]
    dma_mappings_available: int | None

    @property
    def min_page_size(self) -> int:
        return self.page_sizes & -self.page_sizes if self.page_sizes else mmap.PAGESIZE


class VfioContainer:
    """``/dev/vfio/vfio``: one IOMMU address space shared by the groups attached to it.

    Args:
        root: the host root whose ``/dev/vfio`` is used.

    Raises:
        VfioError: no VFIO in this kernel, or an API version this code does not speak.
        VfioPermissionError: the container node cannot be opened by this user.
    """

    def __init__(self, root: HostRoot | None = None, *, _lent: _LentFd | None = None) -> None:
        self.root = root or HostRoot.from_env()
        self.path = self.root.vfio / "vfio"
        self._fd: int | None = (
            _open_node(self.path, f"opening {self.path}") if _lent is None else _lent.dup()
        )
        self._lock = threading.Lock()
        self.iommu_type: int | None = None
        self._iova: IovaSpace | None = None
        # A lent container: DMA goes only inside the lease's IOVA window (the broker's).
        self.iova_window: tuple[int, int] | None = None if _lent is None else _lent.window
        try:
            version = _ioctl(self._fd, uapi.VFIO_GET_API_VERSION, 0, "VFIO_GET_API_VERSION")
            if version != uapi.VFIO_API_VERSION:
                raise VfioError(
                    f"VFIO API version {version}; qathw speaks version {uapi.VFIO_API_VERSION}",
                    hint="use a kernel whose VFIO API qathw supports",
                )
            if _lent is not None:
                # The lender attached a group and chose the IOMMU (open_device picks the
                # best type, as here); the kernel does not report which one.
                self.iommu_type = self.best_iommu_type()
        except BaseException:
            self.close()
            raise

    @classmethod
    def adopt(
        cls, fd: int, iova_window: tuple[int, int], *, root: HostRoot | None = None
    ) -> VfioContainer:
        """A view of a container another process set up and lent (the section broker).

        The view works on its own duplicate of ``fd`` (closed by :meth:`close`; the
        lender's fd stays the lender's). DMA memory is mapped only inside
        ``iova_window``, the IOVA range the lender gave this process: the container is
        shared, and ``VFIO_IOMMU_MAP_DMA`` still pins this process's pages and charges
        this process's ``RLIMIT_MEMLOCK`` (``vfio_dma_do_map``: ``dma->task`` and
        ``dma->mm`` are the caller's; drivers/vfio/vfio_iommu_type1.c).

        Args:
            fd: the lent container fd (its group attached, its IOMMU set).
            iova_window: ``(start, end)``, half-open.
            root: the host root.

        Returns:
            The view; close it when done (the lender's mappings are untouched).

        Raises:
            ValueError: an empty or misaligned window.
            VfioError: ``fd`` is not a VFIO container, or has no type1 IOMMU.
        """
        start, end = iova_window
        if not 0 < start < end or start % mmap.PAGESIZE or end % mmap.PAGESIZE:
            raise ValueError(f"IOVA window [{start:#x}, {end:#x}) is empty or not page aligned")
        return cls(root, _lent=_LentFd(fd, (start, end)))

    @property
    def lent(self) -> bool:
        """Whether this is a view of a container another process lent (:meth:`adopt`)."""
        return self.iova_window is not None

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise VfioError("the VFIO container is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def check_extension(self, extension: int) -> bool:
        """Whether the kernel offers ``extension`` (``VFIO_TYPE1v2_IOMMU``, ...)."""
        return bool(_ioctl(self.fd, uapi.VFIO_CHECK_EXTENSION, extension, "VFIO_CHECK_EXTENSION"))

    def best_iommu_type(self) -> int:
        """Type1v2 when offered, else type1.

        Raises:
            NoIommuError: neither is offered (no IOMMU, or vfio_iommu_type1 not loaded).
        """
        for kind in (uapi.VFIO_TYPE1v2_IOMMU, uapi.VFIO_TYPE1_IOMMU):
            if self.check_extension(kind):
                return kind
        raise NoIommuError(
            "VFIO offers no type1 IOMMU",
            hint="boot with intel_iommu=on (amd_iommu=on) and load vfio_iommu_type1",
            path=self.path,
        )

    def set_iommu(self, iommu_type: int | None = None) -> None:
        """Choose the IOMMU model; needs at least one group attached first."""
        kind = iommu_type if iommu_type is not None else self.best_iommu_type()
        _ioctl(self.fd, uapi.VFIO_SET_IOMMU, kind, "VFIO_SET_IOMMU")
        self.iommu_type = kind

    def iommu_info(self) -> IommuInfo:
        """Page sizes, valid IOVA ranges and remaining mappings of the IOMMU."""
        base = ctypes.sizeof(uapi.vfio_iommu_type1_info)
        argsz = base
        for _ in range(2):
            buf = bytearray(argsz)
            info = uapi.vfio_iommu_type1_info.from_buffer(buf)
            info.argsz = argsz
            del info
            _ioctl(self.fd, uapi.VFIO_IOMMU_GET_INFO, buf, "VFIO_IOMMU_GET_INFO")
            info = uapi.vfio_iommu_type1_info.from_buffer_copy(buf)
            if info.argsz <= argsz:
                break
            argsz = info.argsz
        return parse_iommu_info(buf)

    @property
    def iova_space(self) -> IovaSpace:
        """The container's IOVA allocator (valid ranges from the IOMMU, from 2 MiB up)."""
        with self._lock:
            if self._iova is None:
                if self.iommu_type is None:
                    raise VfioError(
                        "the container has no IOMMU yet",
                        hint="attach a group (open_device does) before allocating DMA memory",
                    )
                info = self.iommu_info()
                ranges = list(info.iova_ranges) or [(0, 1 << 39)]
                granule = max(info.min_page_size, mmap.PAGESIZE)
                if self.iova_window is None:
                    self._iova = IovaSpace(ranges, granule=granule)
                else:
                    self._iova = lease_space(ranges, self.iova_window, granule=granule)
            return self._iova

    def map_dma(
        self, vaddr: int, iova: int, size: int, *, read: bool = True, write: bool = True
    ) -> None:
        """Map ``size`` bytes of this process at ``vaddr`` to device address ``iova``.

        The kernel pins the pages (they count against ``RLIMIT_MEMLOCK``).

        Raises:
            MemlockLimitError: the kernel refused to pin more memory (ENOMEM).
            DmaError: the IOVA range overlaps a mapping, or the kernel's mapping limit hit.
            VfioError: any other refusal (errno kept).
        """
        window = self.iova_window
        if window is not None and not window[0] <= iova < iova + size <= window[1]:
            raise DmaError(
                f"IOVA [{iova:#x}, {iova + size:#x}) is outside this process's lease "
                f"[{window[0]:#x}, {window[1]:#x}) of a shared container",
                hint="allocate IOVAs from the container's iova_space: other processes map "
                "the rest of the shared container",
            )
        m = uapi.vfio_iommu_type1_dma_map()
        m.argsz = ctypes.sizeof(m)
        m.flags = (uapi.VFIO_DMA_MAP_FLAG_READ if read else 0) | (
            uapi.VFIO_DMA_MAP_FLAG_WRITE if write else 0
        )
        m.vaddr, m.iova, m.size = vaddr, iova, size
        try:
            fcntl.ioctl(self.fd, uapi.VFIO_IOMMU_MAP_DMA, m)
        except OSError as exc:
            what = f"mapping {size:#x} bytes for DMA at IOVA {iova:#x}"
            if exc.errno == errno.ENOMEM:
                raise memlock_error(size, exc.errno) from exc
            if exc.errno == errno.EEXIST:
                raise DmaError(
                    f"{what}: the IOVA range overlaps an existing mapping",
                    hint="allocate IOVAs from the container's iova_space",
                    errno=exc.errno,
                ) from exc
            if exc.errno == errno.ENOSPC:
                raise DmaError(
                    f"{what}: the kernel's limit of DMA mappings is reached",
                    hint="use fewer, larger DMA buffers (vfio_iommu_type1 dma_entry_limit)",
                    errno=exc.errno,
                ) from exc
            raise VfioError(f"{what}: {exc.strerror}", errno=exc.errno) from exc

    def unmap_dma(self, iova: int, size: int) -> int:
        """Remove the DMA mapping(s) covering ``[iova, iova + size)``.

        Returns:
            Bytes unmapped, as the kernel reports; 0 on a closed lent view (the lender
            removes a lease's mappings when the lease ends, and the kernel removes every
            mapping when the group leaves the container).
        """
        if self._fd is None and self.lent:
            return 0
        u = uapi.vfio_iommu_type1_dma_unmap()
        u.argsz = ctypes.sizeof(u)
        u.iova, u.size = iova, size
        _ioctl(self.fd, uapi.VFIO_IOMMU_UNMAP_DMA, u, f"unmapping IOVA {iova:#x}")
        return int(u.size)

    def close(self) -> None:
        """Close the container; the kernel drops every DMA mapping with it (a lent view
        closes only its duplicate: the lender's container and mappings stay)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> VfioContainer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- group -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupStatus:
    viable: bool
    container_set: bool


class VfioGroup:
    """``/dev/vfio/<group>``: the IOMMU group of one or more functions.

    Args:
        group: the IOMMU group number.
        root: the host root.

    Raises:
        VfioGroupBusyError: another process holds the group (EBUSY); names it if /proc tells.
        VfioPermissionError: this user may not open the node (shows its owner and mode).
        VfioError: no such node (the group's devices are not bound to vfio-pci), or other.
    """

    def __init__(
        self, group: int, root: HostRoot | None = None, *, _lent: _LentFd | None = None
    ) -> None:
        self.root = root or HostRoot.from_env()
        self.group = group
        self.path = self.root.vfio / str(group)
        self.container: VfioContainer | None = None
        self._fd: int | None = None
        self.lent = _lent is not None
        if _lent is not None:
            self._fd = _lent.dup()
            return
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise _permission_error(self.path, exc, f"opening {self.path}") from exc
            if exc.errno == errno.EBUSY:
                raise self._busy_error(exc.errno) from exc
            if exc.errno == errno.ENOENT:
                members = ", ".join(group_members(group, self.root)) or "none listed"
                raise VfioError(
                    f"{self.path} does not exist (group {group}: {members})",
                    hint="bind the group's functions to vfio-pci first "
                    "('qathw bind <bdf> vfio-pci', or write vfio-pci to driver_override "
                    "and the BDF to /sys/bus/pci/drivers_probe)",
                    errno=exc.errno,
                    path=self.path,
                ) from exc
            raise VfioError(
                f"opening {self.path}: {exc.strerror}", errno=exc.errno, path=self.path
            ) from exc

    def _busy_error(self, err: int) -> VfioGroupBusyError:
        found = holders(self.path)
        if found:
            who = ", ".join(f"pid {pid} ({comm})" for pid, comm in found)
            what = f"IOMMU group {self.group} is in use by {who}"
            hint = "stop that process, or let it pass you the device (one owner per group)"
        else:
            what = f"IOMMU group {self.group} is in use by another process or a VM"
            hint = (
                "find the holder with 'fuser -v "
                f"{self.path}' (as root) and stop it; a group has one owner at a time"
            )
        return VfioGroupBusyError(what, hint=hint, errno=err, path=self.path)

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise VfioError(f"{self.path} is closed")
        return self._fd

    def status(self) -> GroupStatus:
        st = uapi.vfio_group_status()
        st.argsz = ctypes.sizeof(st)
        _ioctl(self.fd, uapi.VFIO_GROUP_GET_STATUS, st, f"VFIO_GROUP_GET_STATUS on {self.path}")
        return GroupStatus(
            viable=bool(st.flags & uapi.VFIO_GROUP_FLAGS_VIABLE),
            container_set=bool(st.flags & uapi.VFIO_GROUP_FLAGS_CONTAINER_SET),
        )

    def check_viable(self) -> None:
        """Raise :class:`VfioGroupNotViableError` naming the functions in the way."""
        if self.status().viable:
            return
        blockers: list[str] = []
        members = group_members(self.group, self.root)
        for bdf in members:
            fn = _SysfsFunction(bdf, self.root)
            drv = fn.driver()
            if drv is not None and drv not in _VIABLE_DRIVERS and not fn.is_bridge():
                blockers.append(f"{bdf} (bound to {drv})")
        if not blockers:  # the kernel knows more than sysfs showed us; list everything
            blockers = [f"{b} ({driver_of(b, self.root) or 'no driver'})" for b in members]
        first = blockers[0].split(" ", 1)[0]
        raise VfioGroupNotViableError(
            f"IOMMU group {self.group} is not viable: {', '.join(blockers)} "
            "must be bound to vfio-pci or unbound",
            hint=f"unbind them ('echo {first} > /sys/bus/pci/devices/{first}/driver/unbind') "
            "or bind them to vfio-pci too; every function of a group goes together",
            path=self.path,
        )

    def set_container(self, container: VfioContainer) -> None:
        """Attach the group to ``container`` (and choose its IOMMU if it has none yet)."""
        fd = ctypes.c_int(container.fd)
        try:
            fcntl.ioctl(self.fd, uapi.VFIO_GROUP_SET_CONTAINER, fd)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise VfioGroupBusyError(
                    f"IOMMU group {self.group} is already attached to a container",
                    hint="close the other container first; one container per group",
                    errno=exc.errno,
                    path=self.path,
                ) from exc
            raise VfioError(
                f"attaching {self.path} to a container: {exc.strerror}",
                errno=exc.errno,
                path=self.path,
            ) from exc
        self.container = container
        if container.iommu_type is None:
            container.set_iommu()

    def unset_container(self) -> None:
        if self.container is not None and self._fd is not None:
            _ioctl(self._fd, uapi.VFIO_GROUP_UNSET_CONTAINER, 0, "VFIO_GROUP_UNSET_CONTAINER")
            self.container = None

    def device_fd(self, bdf: str) -> int:
        """A new file descriptor for function ``bdf`` of this group."""
        name = bytearray(str(PciAddress.parse(bdf)).encode() + b"\0")
        try:
            return int(fcntl.ioctl(self.fd, uapi.VFIO_GROUP_GET_DEVICE_FD, name))
        except OSError as exc:
            hint = None
            if exc.errno == errno.EINVAL and self.container is None:
                hint = "attach the group to a container first"
            raise VfioError(
                f"getting a device fd for {bdf} from {self.path}: {exc.strerror}",
                hint=hint,
                errno=exc.errno,
                path=self.path,
            ) from exc

    @classmethod
    def adopt(
        cls, fd: int, group: int, container: VfioContainer, *, root: HostRoot | None = None
    ) -> VfioGroup:
        """A view of a group another process opened and attached to ``container``.

        The view works on its own duplicate of ``fd``, and never detaches the group from
        its container (every holder of the lent group shares that container).
        """
        view = cls(group, root, _lent=_LentFd(fd))
        view.container = container
        return view

    def close(self) -> None:
        if self._fd is not None:
            if not self.lent:  # a lent group stays attached for the other holders
                with contextlib.suppress(VfioError):
                    self.unset_container()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> VfioGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- device ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    flags: int
    num_regions: int
    num_irqs: int

    @property
    def is_pci(self) -> bool:
        return bool(self.flags & uapi.VFIO_DEVICE_FLAGS_PCI)

    @property
    def can_reset(self) -> bool:
        return bool(self.flags & uapi.VFIO_DEVICE_FLAGS_RESET)


@dataclass(frozen=True)
class RegionInfo:
    """One region of a VFIO device (a BAR, the ROM, config space, ...).

    Attributes:
        index: region index (BAR n is index n; config space is 7).
        flags: ``VFIO_REGION_INFO_FLAG_*`` bits.
        size: bytes in the region (0: the BAR is not implemented).
        offset: where the region starts in the device fd (``index << 40`` on vfio-pci).
        sparse_areas: the only parts that may be mmapped, ``(offset, size)`` each, when
            the kernel reports a sparse-mmap capability; ``None`` means all of it.
        region_type: ``(type, subtype)`` for device-specific regions.
    """

    index: int
    flags: int
    size: int
    offset: int
    sparse_areas: tuple[tuple[int, int], ...] | None = None
    region_type: tuple[int, int] | None = None

    @property
    def readable(self) -> bool:
        return bool(self.flags & uapi.VFIO_REGION_INFO_FLAG_READ)

    @property
    def writable(self) -> bool:
        return bool(self.flags & uapi.VFIO_REGION_INFO_FLAG_WRITE)

    @property
    def mappable(self) -> bool:
        return bool(self.flags & uapi.VFIO_REGION_INFO_FLAG_MMAP)

    def mmap_areas(self) -> tuple[tuple[int, int], ...]:
        """The parts of the region that may be mmapped."""
        if not self.mappable or self.size == 0:
            return ()
        return self.sparse_areas if self.sparse_areas is not None else ((0, self.size),)


@dataclass(frozen=True)
class IrqInfo:
    index: int
    flags: int
    count: int

    @property
    def eventfd(self) -> bool:
        return bool(self.flags & uapi.VFIO_IRQ_INFO_EVENTFD)


class VfioDevice(CommandRegister):
    """One PCI function opened through VFIO.

    Made by :func:`open_device`; owns its device fd, and (when it opened them) its group
    and container. Closing it closes every register window it mapped and every eventfd
    it wired, then the fds.
    """

    def __init__(
        self,
        bdf: str,
        fd: int,
        group: VfioGroup,
        container: VfioContainer,
        *,
        owns_group: bool = True,
        owns_container: bool = True,
    ) -> None:
        self.bdf = bdf
        self.group = group
        self.container = container
        self._fd: int | None = fd
        self._owns_group = owns_group
        self._owns_container = owns_container
        self._windows: list[Mmio] = []
        self._mappings: list[mmap.mmap] = []
        self._eventfds: dict[int, tuple[int, ...]] = {}
        self._regions: dict[int, RegionInfo] = {}

    @classmethod
    def adopt(
        cls,
        bdf: str,
        *,
        container_fd: int,
        group_fd: int,
        device_fd: int,
        group: int,
        iova_window: tuple[int, int],
        root: HostRoot | None = None,
    ) -> Self:
        """A view of a function another process opened and lent (the section broker).

        No group is opened here (it is open in the lender, and a group is open in one
        process at a time). The view owns duplicates of the three fds, so closing it
        never closes the lender's; DMA memory goes only inside ``iova_window``.

        Shared-device rules, because every holder of the lent fds drives the same
        function: no ``VFIO_DEVICE_SET_IRQS`` (it would rewire the vectors of every
        holder) and no ``VFIO_DEVICE_RESET`` (it would reset every holder's banks) —
        both are refused with a clear error; config-space writes only set bits
        (:meth:`~qathw.pci_regs.CommandRegister.set_command_bits`).

        Args:
            bdf: the function's PCI address.
            container_fd, group_fd, device_fd: the lent fds (not taken over).
            group: the IOMMU group number.
            iova_window: ``(start, end)`` of this process's IOVA range, half-open.
            root: the host root.

        Raises:
            ValueError: a bad IOVA window.
            VfioError: an fd is not what it should be.
        """
        cont = VfioContainer.adopt(container_fd, iova_window, root=root)
        view: VfioGroup | None = None
        try:
            view = VfioGroup.adopt(group_fd, group, cont, root=root)
            fd = _LentFd(device_fd).dup()
        except BaseException:
            if view is not None:
                view.close()
            cont.close()
            raise
        return cls(str(PciAddress.parse(bdf)), fd, view, cont)

    @property
    def lent(self) -> bool:
        """Whether the function was lent by another process (:meth:`adopt`)."""
        return self.group.lent

    def _refuse_on_lent(self, what: str, why: str) -> None:
        if self.lent:
            raise VfioError(
                f"{what} of {self.bdf} refused: the function is shared through the section "
                f"broker, and {why}",
                hint="use polled instances (IsPolled = 1); a single-process tool may open "
                "the function itself with QATHW_BROKER=off",
            )

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise VfioError(f"VFIO device {self.bdf} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def info(self) -> DeviceInfo:
        di = uapi.vfio_device_info()
        di.argsz = ctypes.sizeof(di)
        _ioctl(self.fd, uapi.VFIO_DEVICE_GET_INFO, di, f"VFIO_DEVICE_GET_INFO on {self.bdf}")
        return DeviceInfo(di.flags, di.num_regions, di.num_irqs)

    def region_info(self, index: int) -> RegionInfo:
        """Size, offset, flags and capabilities (sparse mmap areas, type) of a region.

        Raises:
            VfioError: no such region (EINVAL), with the number of regions in the hint.
        """
        cached = self._regions.get(index)
        if cached is not None:
            return cached
        argsz = ctypes.sizeof(uapi.vfio_region_info)
        for _ in range(2):
            buf = bytearray(argsz)
            ri = uapi.vfio_region_info.from_buffer(buf)
            ri.argsz, ri.index = argsz, index
            del ri
            try:
                fcntl.ioctl(self.fd, uapi.VFIO_DEVICE_GET_REGION_INFO, buf)
            except OSError as exc:
                count = self.info().num_regions
                hint = (
                    f"the device has regions 0..{count - 1}"
                    if not 0 <= index < count
                    else "the device does not implement it (VGA, index 8, exists only on VGA)"
                )
                raise VfioError(
                    f"region {index} of {self.bdf}: {exc.strerror}", hint=hint, errno=exc.errno
                ) from exc
            ri = uapi.vfio_region_info.from_buffer_copy(buf)
            if ri.argsz <= argsz:
                break
            argsz = ri.argsz  # the capability chain needs a larger buffer
        info = parse_region_info(buf)
        self._regions[index] = info
        return info

    def regions(self) -> list[RegionInfo]:
        """Every region the device implements (unimplemented BARs have size 0)."""
        found: list[RegionInfo] = []
        for index in range(self.info().num_regions):
            try:
                found.append(self.region_info(index))
            except VfioError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        return found

    def mmap_region(
        self,
        index: int,
        offset: int = 0,
        size: int | None = None,
        *,
        writable: bool = True,
        name: str | None = None,
    ) -> Mmio:
        """Map part of a region (a BAR) as a register window.

        Args:
            index: region index (``BAR0_REGION``, ``BAR2_REGION``, ...).
            offset: where the window starts in the region; a multiple of the page size.
            size: bytes to map; the rest of the mmappable area when ``None``.
            writable: map read-write.
            name: how errors name the window ("BAR2 of 0000:00:10.0" by default).

        Returns:
            An :class:`~qathw.mmio.Mmio` that owns its mapping; closed with the device.

        Raises:
            VfioError: the region cannot be mmapped there (not mmappable, outside the
                region or its sparse areas, misaligned), or the kernel refused.
        """
        region = self.region_info(index)
        label = name or f"BAR{index} of {self.bdf}"
        areas = region.mmap_areas()
        if not areas:
            raise VfioError(
                f"{label} cannot be mmapped (size {region.size:#x}, flags {region.flags:#x})",
                hint="use read_region/write_region for regions without the MMAP flag",
            )
        if size is None:
            area = next((a for a in areas if a[0] <= offset < a[0] + a[1]), None)
            size = area[0] + area[1] - offset if area else 0
        if offset % mmap.PAGESIZE or size <= 0:
            raise VfioError(
                f"{label}: cannot map {size:#x} bytes at {offset:#x}",
                hint=f"offsets must be page aligned and inside an mmappable area {_fmt(areas)}",
            )
        if not any(a <= offset and offset + size <= a + n for a, n in areas):
            raise VfioError(
                f"{label}: [{offset:#x}, {offset + size:#x}) is not inside an mmappable area",
                hint=f"the kernel allows mmap of {_fmt(areas)} only",
            )
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        try:
            mapping = mmap.mmap(self.fd, size, mmap.MAP_SHARED, prot, offset=region.offset + offset)
        except OSError as exc:
            raise VfioError(
                f"mapping {label}: {exc.strerror}",
                hint="enable memory decoding first (enable_memory) and check the BAR",
                errno=exc.errno,
            ) from exc
        window = Mmio(mapping, 0, size, name=label, owns_mapping=True)
        self._windows.append(window)
        self._mappings.append(mapping)
        return window

    def map_bar(self, bar: int, offset: int = 0, size: int | None = None) -> Mmio:
        """Map (part of) PCI BAR ``bar``: :meth:`mmap_region` of region ``bar``.

        The name :class:`~qathw.pci_access.PciAccess` uses, so callers need not know
        whether a function is reached through VFIO or sysfs.
        """
        return self.mmap_region(bar, offset, size)

    def read_region(self, index: int, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset`` of a region through the device fd."""
        region = self.region_info(index)
        self._check_span(region, offset, length)
        try:
            data = os.pread(self.fd, length, region.offset + offset)
        except OSError as exc:
            raise VfioError(
                f"reading region {index} of {self.bdf} at {offset:#x}: {exc.strerror}",
                errno=exc.errno,
            ) from exc
        if len(data) != length:
            raise VfioError(f"short read of region {index} of {self.bdf} at {offset:#x}")
        return data

    def write_region(self, index: int, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of a region through the device fd."""
        region = self.region_info(index)
        self._check_span(region, offset, len(data))
        try:
            done = os.pwrite(self.fd, data, region.offset + offset)
        except OSError as exc:
            raise VfioError(
                f"writing region {index} of {self.bdf} at {offset:#x}: {exc.strerror}",
                errno=exc.errno,
            ) from exc
        if done != len(data):
            raise VfioError(f"short write to region {index} of {self.bdf} at {offset:#x}")

    def _check_span(self, region: RegionInfo, offset: int, length: int) -> None:
        if offset < 0 or length <= 0 or offset + length > region.size:
            raise VfioError(
                f"region {region.index} of {self.bdf}: [{offset:#x}, {offset + length:#x}) "
                f"outside its {region.size:#x} bytes"
            )

    # --- config space ----------------------------------------------------------------

    def config_read(self, offset: int, width: int = 4) -> int:
        """Read a 1-, 2- or 4-byte config-space register (little-endian)."""
        if width not in (1, 2, 4) or offset % width:
            raise ValueError(f"config access of width {width} at {offset:#x} is not aligned")
        return int.from_bytes(self.read_region(CONFIG_REGION, offset, width), "little")

    def config_write(self, offset: int, value: int, width: int = 4) -> None:
        """Write a 1-, 2- or 4-byte config-space register (little-endian)."""
        if width not in (1, 2, 4) or offset % width:
            raise ValueError(f"config access of width {width} at {offset:#x} is not aligned")
        if not 0 <= value < 1 << (8 * width):
            raise ValueError(f"value {value:#x} does not fit in {width} bytes")
        self.write_region(CONFIG_REGION, offset, value.to_bytes(width, "little"))

    def reset(self) -> None:
        """Reset the function (``VFIO_DEVICE_RESET``).

        Raises:
            VfioError: the function has no reset method the kernel can use.
        """
        self._refuse_on_lent("a function reset", "it would reset every holder's banks")
        if not self.info().can_reset:
            raise VfioError(
                f"{self.bdf} offers no function reset to VFIO",
                hint="reset it another way (the device's own reset register, or a bus reset)",
            )
        _ioctl(self.fd, uapi.VFIO_DEVICE_RESET, 0, f"resetting {self.bdf}")

    # --- interrupts ------------------------------------------------------------------

    def irq_info(self, index: int) -> IrqInfo:
        ii = uapi.vfio_irq_info()
        ii.argsz, ii.index = ctypes.sizeof(ii), index
        _ioctl(self.fd, uapi.VFIO_DEVICE_GET_IRQ_INFO, ii, f"IRQ index {index} of {self.bdf}")
        return IrqInfo(ii.index, ii.flags, ii.count)

    def enable_irqs(self, index: int, count: int = 1) -> tuple[int, ...]:
        """Wire ``count`` vectors of an interrupt index (MSI, MSI-X) to new eventfds.

        Each interrupt adds 1 to its eventfd; read 8 bytes to consume. The eventfds are
        non-blocking and belong to the device (closed by :meth:`disable_irqs`/:meth:`close`).
        MSI and MSI-X need bus mastering (:meth:`enable_bus_master`) to be delivered.

        Raises:
            VfioError: the index has fewer vectors than ``count``, or no eventfd support.
        """
        self._refuse_on_lent(
            "wiring interrupts",
            "VFIO_DEVICE_SET_IRQS on the shared device would take the vectors of every holder",
        )
        info = self.irq_info(index)
        if count <= 0 or count > info.count or not info.eventfd:
            raise VfioError(
                f"{self.bdf} IRQ index {index} has {info.count} eventfd-capable vectors; "
                f"{count} asked",
                hint="check irq_info(index) first; ivshmem-plain, for one, has no interrupts",
            )
        self.disable_irqs(index)
        fds = tuple(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(count))
        try:
            self._set_irqs(index, uapi.VFIO_IRQ_SET_DATA_EVENTFD, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self._eventfds[index] = fds
        return fds

    def disable_irqs(self, index: int) -> None:
        """Tear down the vectors of an interrupt index and close their eventfds."""
        fds = self._eventfds.pop(index, None)
        if fds is None:
            return
        try:
            self._set_irqs(index, uapi.VFIO_IRQ_SET_DATA_NONE, ())
        finally:
            for fd in fds:
                os.close(fd)

    def _set_irqs(self, index: int, data_type: int, fds: tuple[int, ...]) -> None:
        head = ctypes.sizeof(uapi.vfio_irq_set)
        buf = bytearray(head + 4 * len(fds))
        s = uapi.vfio_irq_set.from_buffer(buf)
        s.argsz, s.index, s.start, s.count = len(buf), index, 0, len(fds)
        s.flags = data_type | uapi.VFIO_IRQ_SET_ACTION_TRIGGER
        del s
        for k, fd in enumerate(fds):
            buf[head + 4 * k : head + 4 * k + 4] = fd.to_bytes(4, "little", signed=True)
        _ioctl(self.fd, uapi.VFIO_DEVICE_SET_IRQS, buf, f"VFIO_DEVICE_SET_IRQS on {self.bdf}")

    @property
    def delivers_interrupts(self) -> bool:
        """True: VFIO wires the function's interrupts to eventfds (:meth:`enable_irqs`)."""
        return True

    def msi_eventfd(self) -> int:
        """The function's MSI vector wired to a new eventfd (closed with the device).

        Raises:
            VfioError: the function has no MSI vector (ivshmem-plain, for one).
        """
        return self.enable_irqs(MSI_IRQ, 1)[0]

    # --- DMA -------------------------------------------------------------------------

    def dma_pool(self, capacity: int) -> VfioDmaPool:
        """DMA memory for the function, pinned and mapped in its container's IOMMU.

        Args:
            capacity: most bytes the pool may pin.

        Returns:
            A new pool; the caller closes it.

        Raises:
            ValueError: ``capacity`` is not a positive multiple of the page size.
        """
        return VfioDmaPool(self.container, capacity)

    # --- lifetime --------------------------------------------------------------------

    def broken(self) -> QatError | None:
        """``None``: a function this process opened itself stays reachable until closed."""
        return None

    def let_go(self) -> None:
        """Stop reaching the function at once, leaving this process's objects usable.

        Every BAR mapping is replaced in place by private zero-filled memory (``mmap``
        with ``MAP_FIXED``), which drops the mapping's reference to the device file
        without invalidating the views into it; then the fds are closed. Used when the
        lender of a shared function is gone: the group becomes free for a new lender
        only once no process holds its device fd or a mapping of it ("Device FDs hold a
        group file reference", ``vfio_group_fops_release``, drivers/vfio/group.c).
        :meth:`close` still closes the (now anonymous) windows. Idempotent.
        """
        if self._fd is None:
            return
        for mapping in self._mappings:
            if not mapping.closed:
                _replace_with_anonymous(mapping)
        self._mappings.clear()
        self._eventfds.clear()  # a lent device wires none; the kernel drops them with the fd
        os.close(self._fd)
        self._fd = None
        if self._owns_group:
            self.group.close()
        if self._owns_container:
            self.container.close()

    def close(self) -> None:
        """Close windows, eventfds, the device fd, and the group/container it owns."""
        if self._fd is None:
            for window in self._windows:  # after let_go(): the anonymous stand-ins
                window.close()
            self._windows.clear()
            return
        for window in self._windows:
            window.close()
        self._windows.clear()
        self._mappings.clear()
        for index in list(self._eventfds):
            with contextlib.suppress(VfioError):
                self.disable_irqs(index)
        os.close(self._fd)
        self._fd = None
        if self._owns_group:
            self.group.close()
        if self._owns_container:
            self.container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<VfioDevice {self.bdf} group {self.group.group}{' closed' if self.closed else ''}>"


def parse_region_info(buf: bytes | bytearray) -> RegionInfo:
    """Decode a filled ``vfio_region_info`` buffer, capability chain included."""
    ri = uapi.vfio_region_info.from_buffer_copy(buf)
    sparse: tuple[tuple[int, int], ...] | None = None
    rtype: tuple[int, int] | None = None
    if ri.flags & uapi.VFIO_REGION_INFO_FLAG_CAPS and ri.cap_offset:
        for cap_id, _ver, off in _walk_caps(buf, ri.cap_offset):
            if cap_id == uapi.VFIO_REGION_INFO_CAP_SPARSE_MMAP:
                cap = uapi.vfio_region_info_cap_sparse_mmap.from_buffer_copy(buf, off)
                at = off + ctypes.sizeof(cap)
                step = ctypes.sizeof(uapi.vfio_region_sparse_mmap_area)
                areas = [
                    uapi.vfio_region_sparse_mmap_area.from_buffer_copy(buf, at + k * step)
                    for k in range(cap.nr_areas)
                    if at + (k + 1) * step <= len(buf)
                ]
                sparse = tuple((a.offset, a.size) for a in areas if a.size)
            elif cap_id == uapi.VFIO_REGION_INFO_CAP_TYPE:
                ct = uapi.vfio_region_info_cap_type.from_buffer_copy(buf, off)
                rtype = (ct.type, ct.subtype)
    return RegionInfo(ri.index, ri.flags, ri.size, ri.offset, sparse, rtype)


def parse_iommu_info(buf: bytes | bytearray) -> IommuInfo:
    """Decode a filled ``vfio_iommu_type1_info`` buffer, capability chain included."""
    info = uapi.vfio_iommu_type1_info.from_buffer_copy(buf)
    ranges: list[tuple[int, int]] = []
    avail: int | None = None
    if info.flags & uapi.VFIO_IOMMU_INFO_CAPS and info.cap_offset:
        for cap_id, _ver, off in _walk_caps(buf, info.cap_offset):
            if cap_id == uapi.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
                cap = uapi.vfio_iommu_type1_info_cap_iova_range.from_buffer_copy(buf, off)
                at = off + ctypes.sizeof(cap)
                step = ctypes.sizeof(uapi.vfio_iova_range)
                for k in range(cap.nr_iovas):
                    if at + (k + 1) * step > len(buf):
                        break
                    r = uapi.vfio_iova_range.from_buffer_copy(buf, at + k * step)
                    ranges.append((r.start, r.end + 1))  # the kernel's end is inclusive
            elif cap_id == uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
                avail = uapi.vfio_iommu_type1_info_dma_avail.from_buffer_copy(buf, off).avail
    pgsizes = info.iova_pgsizes if info.flags & uapi.VFIO_IOMMU_INFO_PGSIZES else 0
    return IommuInfo(pgsizes, tuple(ranges), avail)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_MAP_FIXED = 0x10  # <asm-generic/mman-common.h>; Python's mmap module does not export it


def _replace_with_anonymous(mapping: mmap.mmap) -> None:
    """Put private zero-filled pages where ``mapping`` is, dropping what it mapped."""
    anchor = ctypes.c_char.from_buffer(mapping)
    try:
        addr = ctypes.addressof(anchor)
    finally:
        del anchor
    got = _libc.mmap(
        addr,
        len(mapping),
        mmap.PROT_READ | mmap.PROT_WRITE,
        mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED,
        -1,
        0,
    )
    if got != addr:
        err = ctypes.get_errno()
        raise VfioError(f"cannot release a BAR mapping: {os.strerror(err)}", errno=err)


def _fmt(areas: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"[{a:#x}, {a + n:#x})" for a, n in areas) or "(none)"


def open_device(
    bdf: str,
    *,
    root: HostRoot | None = None,
    container: VfioContainer | None = None,
) -> VfioDevice:
    """Open a PCI function bound to ``vfio-pci``.

    The sequence: check the function and its driver, open the container (API version,
    type1v2/type1), open the group (busy? permitted?), check it is viable, attach it to
    the container (choosing the IOMMU), and get the device fd.

    Args:
        bdf: the function's PCI address (``0000:6b:00.1``; ``6b:00.1`` means domain 0).
        root: the host root (``$QATHW_SYSFS_ROOT`` or ``/``).
        container: share an open container (one IOMMU space for several devices);
            a new one is opened (and owned by the device) when ``None``.

    Returns:
        The open device; close it (or use it as a context manager) when done.

    Raises:
        ValueError: ``bdf`` is not a PCI address.
        DeviceNotFoundError: no such function.
        NoIommuError: no IOMMU group, or no type1 IOMMU.
        VfioError: the function is not bound to vfio-pci, or another refusal.
        VfioPermissionError, VfioGroupBusyError, VfioGroupNotViableError: as named.
    """
    root = root or HostRoot.from_env()
    bdf = str(PciAddress.parse(bdf))
    group_no = iommu_group_of(bdf, root)
    drv = driver_of(bdf, root)
    if drv != VFIO_PCI_DRIVER:
        bound = f"bound to {drv}" if drv else "not bound to a driver"
        raise VfioError(
            f"{bdf} is {bound}, not vfio-pci",
            hint=f"bind it first: 'qathw bind {bdf} vfio-pci' (or write vfio-pci to its "
            "driver_override and the BDF to /sys/bus/pci/drivers_probe)",
            path=root.pci_device(bdf),
        )
    owns_container = container is None
    cont = container if container is not None else VfioContainer(root)
    group: VfioGroup | None = None
    try:
        group = VfioGroup(group_no, root)
        group.check_viable()
        if group.container is None:
            group.set_container(cont)
        fd = group.device_fd(bdf)
    except BaseException:
        if group is not None:
            group.close()
        if owns_container:
            cont.close()
        raise
    return VfioDevice(bdf, fd, group, cont, owns_group=True, owns_container=owns_container)
