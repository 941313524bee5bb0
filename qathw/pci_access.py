"""Reaching a PCI function's BARs and config space by whatever path the system offers.

:func:`open_access` chooses: **VFIO** when the function is bound to ``vfio-pci`` (IOMMU
isolation, DMA mapping, interrupts; :class:`~qathw.vfio.VfioDevice`), otherwise **sysfs**
(``resourceN`` mmap and the ``config`` file; root only, no DMA isolation and no
interrupts — enough for an emulated endpoint, whose device memory lives in its own BAR).
Both give the same :class:`PciAccess` surface, so the code above never asks which: what
differs between the paths (interrupts, DMA memory) is something the surface says.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from qathw import vfio_lent
from qathw.dma import DmaPool
from qathw.errors import DeviceAccessError, DeviceError, DeviceNotFoundError, QatError
from qathw.mmio import Mmio
from qathw.paths import HostRoot
from qathw.pci_regs import (
    CommandRegister,
    PciAddress,
)
from qathw.vfio import VFIO_PCI_DRIVER, driver_of, open_device

VFIO = "vfio"
SYSFS = "sysfs"


@runtime_checkable
class PciAccess(Protocol):
    """Register and config-space access to one PCI function."""

    @property
    def bdf(self) -> str: ...

    def map_bar(self, bar: int, offset: int = 0, size: int | None = None) -> Mmio: ...

    def config_read(self, offset: int, width: int = 4) -> int: ...

    def config_write(self, offset: int, value: int, width: int = 4) -> None: ...

    def enable_memory(self) -> None: ...

    def enable_bus_master(self) -> None: ...

    @property
    def delivers_interrupts(self) -> bool:
        """Whether the kernel delivers the function's own interrupts on this path."""
        ...

    def msi_eventfd(self) -> int:
        """The function's MSI vector wired to a new eventfd, owned by the access.

        Raises:
            DeviceError: this path delivers no interrupts, or the function has no MSI.
        """
        ...

    def dma_pool(self, capacity: int) -> DmaPool | None:
        """Memory the function may DMA to, mapped for it by this path's IOMMU.

        Args:
            capacity: most bytes the pool may pin.

        Returns:
            A new pool the caller closes, or ``None`` when this path maps no memory for
            the device.
        """
        ...

    def broken(self) -> QatError | None:
        """Why this path no longer reaches the function for good (the section broker
        that lent it ended), else ``None``. Cheap and non-blocking: asked out of band."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def access_path(bdf: str, root: HostRoot | None = None) -> str:
    """``"vfio"`` when the function is bound to vfio-pci, else ``"sysfs"``."""
    return VFIO if driver_of(bdf, root) == VFIO_PCI_DRIVER else SYSFS


def open_access(bdf: str, *, root: HostRoot | None = None, broker: bool | None = None) -> PciAccess:
    """Open a function through VFIO when it is bound to vfio-pci, else through sysfs.

    A vfio-pci function is reached through the section broker by default: it lends the
    group's fds, so that several processes (sections of one function) can share it
    (:mod:`qathw.vfio_lent`); the broker starts on first use. A function reached through
    sysfs never involves the broker.

    Args:
        bdf: the function's PCI address.
        root: the host root.
        broker: through the broker (True) or by opening the group here (False, for a
            single-process tool); default: ``$QATHW_BROKER`` (``off`` disables it).

    Returns:
        A :class:`~qathw.vfio.VfioDevice` (a :class:`~qathw.vfio_lent.LentDevice` through
        the broker) or a :class:`SysfsAccess`; close it when done.

    Raises:
        DeviceNotFoundError: no such function.
        VfioError: (VFIO path) as :func:`qathw.vfio.open_device` raises, or the broker
            could not open it (its error).
        BrokerUnavailableError, BrokerPermissionError, BrokerError: no broker could lend it.
    """
    root = root or HostRoot.from_env()
    bdf = str(PciAddress.parse(bdf))
    if access_path(bdf, root) == VFIO:
        if broker if broker is not None else vfio_lent.wanted():
            return vfio_lent.open_lent(bdf, root)
        return open_device(bdf, root=root)
    return SysfsAccess(bdf, root=root)


class SysfsAccess(CommandRegister):
    """A function reached through sysfs: ``resourceN`` for BARs, ``config`` for config space.

    The kernel delivers no interrupts and maps no DMA memory on this path.

    Args:
        bdf: the function's PCI address.
        root: the host root.

    Raises:
        DeviceNotFoundError: no such function.
    """

    def __init__(self, bdf: str, *, root: HostRoot | None = None) -> None:
        self._root = root or HostRoot.from_env()
        self._bdf = str(PciAddress.parse(bdf))
        self.path: Path = self._root.pci_device(self._bdf)
        if not self.path.exists():
            raise DeviceNotFoundError(
                f"no PCI function {self._bdf}",
                hint="list the functions with 'lspci -D' (or 'qathw list') and use one of those",
                path=self.path,
            )
        self._windows: list[Mmio] = []

    @property
    def bdf(self) -> str:
        return self._bdf

    def map_bar(self, bar: int, offset: int = 0, size: int | None = None) -> Mmio:
        """Map (part of) BAR ``bar`` through ``resource<bar>`` (root; the kernel checks)."""
        resource = self.path / f"resource{bar}"
        if not resource.exists():
            raise DeviceAccessError(
                f"{self._bdf} has no memory BAR {bar} ({resource} is missing)",
                hint="check the BAR number against 'lspci -v'",
                path=resource,
            )
        window = Mmio.map_file(resource, size, offset=offset, name=f"BAR{bar} of {self._bdf}")
        self._windows.append(window)
        return window

    def _config(self, flags: int) -> int:
        try:
            return os.open(self.path / "config", flags | os.O_CLOEXEC)
        except OSError as exc:
            raise DeviceAccessError.from_oserror(
                exc, f"opening config space of {self._bdf}"
            ) from exc

    def config_read(self, offset: int, width: int = 4) -> int:
        """Read a 1-, 2- or 4-byte config register (beyond 64 bytes needs root)."""
        _check_width(offset, width)
        fd = self._config(os.O_RDONLY)
        try:
            data = os.pread(fd, width, offset)
        finally:
            os.close(fd)
        if len(data) != width:
            raise DeviceAccessError(
                f"config space of {self._bdf} ends before {offset + width:#x}",
                hint="unprivileged users see only the first 64 bytes; run as root",
                path=self.path / "config",
            )
        return int.from_bytes(data, "little")

    def config_write(self, offset: int, value: int, width: int = 4) -> None:
        """Write a 1-, 2- or 4-byte config register (root)."""
        _check_width(offset, width)
        if not 0 <= value < 1 << (8 * width):
            raise ValueError(f"value {value:#x} does not fit in {width} bytes")
        fd = self._config(os.O_RDWR)
        try:
            os.pwrite(fd, value.to_bytes(width, "little"), offset)
        except OSError as exc:
            raise DeviceAccessError.from_oserror(
                exc, f"writing config space of {self._bdf}"
            ) from exc
        finally:
            os.close(fd)

    @property
    def delivers_interrupts(self) -> bool:
        """False: sysfs gives user space no interrupts."""
        return False

    def msi_eventfd(self) -> int:
        """Refused: sysfs gives user space no interrupts.

        Raises:
            DeviceError: always, saying how to get interrupts.
        """
        raise DeviceError(
            f"{self._bdf} is reached through sysfs, which delivers no interrupts",
            hint=f"bind it to vfio-pci ('qathw bind {self._bdf} vfio-pci'), or use polled "
            "instances (IsPolled = 1)",
            path=self.path,
        )

    def dma_pool(self, capacity: int) -> DmaPool | None:
        """``None``: sysfs maps no memory into the function's IOMMU space."""
        return None

    def broken(self) -> QatError | None:
        """``None``: nothing lent this path (a function that leaves is the watch's)."""
        return None

    def close(self) -> None:
        for window in self._windows:
            window.close()
        self._windows.clear()

    def __enter__(self) -> SysfsAccess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_width(offset: int, width: int) -> None:
    if width not in (1, 2, 4) or offset < 0 or offset % width:
        raise ValueError(f"config access of width {width} at {offset:#x} is not aligned")
