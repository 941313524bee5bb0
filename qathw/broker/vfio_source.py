"""The broker's real fd source: VFIO container, group and device fds of one endpoint.

Each endpoint's IOMMU group is opened once, in its own container (so every endpoint has
an IOVA space of its own and a lease's range on it is unmapped independently), with
qathw's usual sequence and errors (:func:`qathw.vfio.open_device`'s order): the
container, the group (a group held by a process outside the broker is a
:class:`~qathw.errors.VfioGroupBusyError` naming it), ``check_viable``,
``set_container`` (which chooses the IOMMU) and ``VFIO_GROUP_GET_DEVICE_FD``.

Only QAT functions and ivshmem functions (emulated endpoints in a guest) bound to
``vfio-pci`` under the broker's host root are opened: a BDF a client sends is checked
against sysfs before any node is touched.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from qathw import ids
from qathw.broker.pf_owner import MailboxWindow, emulated_window
from qathw.errors import DeviceNotFoundError, QatError, VfioError
from qathw.paths import HostRoot
from qathw.transport.csr import layout_for
from qathw.vfio import (
    VFIO_PCI_DRIVER,
    VfioContainer,
    VfioDevice,
    VfioGroup,
    driver_of,
    iommu_group_of,
)

_CONTROL_BAR = 2  # an emulated endpoint's control page starts ivshmem's BAR2


@dataclass
class VfioEndpoint:
    """One opened endpoint (satisfies :class:`qathw.broker.server.EndpointFds`).

    Attributes:
        bdf: the function.
        container: its container (shared with the other functions of its group).
        vfio_group: its group.
        device_fd: the device fd (owned).
        iova_ranges: the container's valid IOVA ranges.
        is_ivshmem: whether the function is an ivshmem one (an emulated endpoint's).
        kind: the QAT function's identity (``None`` for an ivshmem one).
    """

    bdf: str
    container: VfioContainer
    vfio_group: VfioGroup
    device_fd: int
    iova_ranges: tuple[tuple[int, int], ...]
    is_ivshmem: bool = False
    kind: ids.FunctionKind | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def container_fd(self) -> int:
        return self.container.fd

    @property
    def group_fd(self) -> int:
        return self.vfio_group.fd

    @property
    def group(self) -> int | None:
        return self.vfio_group.group

    def unmap_range(self, iova: int, size: int) -> int:
        """Remove every DMA mapping inside ``[iova, iova + size)`` (``VFIO_IOMMU_UNMAP_DMA``).

        Returns:
            Bytes unmapped, as the kernel reports (0 when the holder mapped nothing).

        Raises:
            VfioError: the kernel refused (e.g. type1v2: a mapping straddles the range).
        """
        return self.container.unmap_dma(iova, size)

    def control_head(self, length: int) -> bytes:
        """The first ``length`` bytes of BAR2, read through the device fd
        (``VFIO_DEVICE_GET_REGION_INFO`` and ``pread``: no mapping, nothing claimed anew).

        Args:
            length: bytes to read (the control page's size).

        Returns:
            The bytes, as the endpoint wrote them (unchecked: the asker parses them).

        Raises:
            DeviceNotFoundError: not an ivshmem function (a QAT function's BAR2 holds
                registers, which the broker does not read for anyone).
            VfioError: the region is smaller, or the read failed.
        """
        if not self.is_ivshmem:
            raise DeviceNotFoundError(
                f"{self.bdf} is not an ivshmem function, so not an emulated endpoint",
                hint="only emulated endpoints have a control page",
                path=self.bdf,
            )
        # A view that owns a duplicate of the device fd only: closing it closes neither
        # the lent fd nor the group and container.
        view = VfioDevice(
            self.bdf,
            os.dup(self.device_fd),
            self.vfio_group,
            self.container,
            owns_group=False,
            owns_container=False,
        )
        try:
            return view.read_region(_CONTROL_BAR, 0, length)
        finally:
            view.close()

    def pf_mailbox(self) -> MailboxWindow | None:
        """The PMISC BAR of a VF with a PF/VF mailbox, mapped through a duplicate of the
        device fd (region 2 of a QAT VF; the PMISC window of an emulated VF endpoint in
        ivshmem's BAR2), for the broker to speak on for every holder.

        Returns:
            The window, or ``None`` for a PF, a generation without a gen4 mailbox, or a
            PF-style emulated endpoint.

        Raises:
            VfioError: the BAR cannot be mapped.
            DeviceError: an ivshmem function that holds no emulated endpoint.
        """
        if not self.is_ivshmem and (
            self.kind is None
            or not self.kind.is_vf
            or layout_for(self.kind.generation).vintmsk_pf2vm is None
        ):
            return None
        # The view owns a duplicate of the device fd only, and the mapping lives as long
        # as the view: the window's close closes both, never the lent fd.
        view = VfioDevice(
            self.bdf,
            os.dup(self.device_fd),
            self.vfio_group,
            self.container,
            owns_group=False,
            owns_container=False,
        )
        try:
            view.enable_memory()
            bar = view.map_bar(_CONTROL_BAR)
        except BaseException:
            view.close()
            raise
        if self.is_ivshmem:
            return emulated_window(bar, view)
        assert self.kind is not None
        return MailboxWindow(bar, layout_for(self.kind.generation), view)

    def close(self) -> None:
        """Close the device fd; the source closes the group and container."""
        if not self._closed:
            os.close(self.device_fd)
            self._closed = True


class VfioSource:
    """Opens endpoints bound to ``vfio-pci`` under ``host`` (an :class:`FdSource`).

    Args:
        host: the host root whose sysfs and ``/dev/vfio`` are used.
    """

    def __init__(self, host: HostRoot) -> None:
        self.host = host
        self._groups: dict[int, tuple[VfioContainer, VfioGroup]] = {}

    def open(self, bdf: str) -> VfioEndpoint:
        """Open ``bdf``: check it, open (or reuse) its group's container and group, get
        its device fd.

        Raises:
            DeviceNotFoundError: no such function under the host root, or not a QAT or
                ivshmem function.
            VfioError: not bound to vfio-pci, or the kernel refused.
            VfioGroupBusyError, VfioPermissionError, VfioGroupNotViableError,
            NoIommuError: as named, with their hints.
        """
        is_ivshmem, kind = self._check_function(bdf)
        group_no = iommu_group_of(bdf, self.host)
        pair = self._groups.get(group_no)
        if pair is None:
            pair = self._open_group(group_no)
            self._groups[group_no] = pair
        container, group = pair
        fd = group.device_fd(bdf)
        try:
            ranges = container.iommu_info().iova_ranges or ((0, 1 << 39),)
        except QatError:
            os.close(fd)
            raise
        return VfioEndpoint(bdf, container, group, fd, tuple(ranges), is_ivshmem, kind)

    def _open_group(self, group_no: int) -> tuple[VfioContainer, VfioGroup]:
        container = VfioContainer(self.host)
        group: VfioGroup | None = None
        try:
            group = VfioGroup(group_no, self.host)
            group.check_viable()
            group.set_container(container)
        except BaseException:
            if group is not None:
                group.close()
            container.close()
            raise
        return container, group

    def _check_function(self, bdf: str) -> tuple[bool, ids.FunctionKind | None]:
        """Check that ``bdf`` may be lent; return whether it is an ivshmem function, and
        its QAT identity."""
        path = self.host.pci_device(bdf)
        try:
            vendor = int((path / "vendor").read_text().strip(), 16)
            device = int((path / "device").read_text().strip(), 16)
        except (OSError, ValueError):
            raise DeviceNotFoundError(
                f"no PCI function {bdf} under {self.host.pci_devices}",
                hint="'qathw list' shows the QAT functions of this host",
                path=path,
            ) from None
        is_ivshmem = (vendor, device) == (ids.IVSHMEM_VENDOR_ID, ids.IVSHMEM_DEVICE_ID)
        kind = ids.lookup(vendor, device)
        if kind is None and not is_ivshmem:
            raise DeviceNotFoundError(
                f"{bdf} ({vendor:04x}:{device:04x}) is not a QAT or ivshmem function; "
                "the broker lends nothing else",
                hint="'qathw list' shows the QAT functions of this host",
                path=path,
            )
        drv = driver_of(bdf, self.host)
        if drv != VFIO_PCI_DRIVER:
            bound = f"bound to {drv}" if drv else "not bound to a driver"
            raise VfioError(
                f"{bdf} is {bound}, not vfio-pci",
                hint=f"bind it first: 'qathw bind {bdf} vfio-pci'",
                path=path,
            )
        return is_ivshmem, kind

    def close(self) -> None:
        """Close every group and container opened."""
        for container, group in self._groups.values():
            with contextlib.suppress(QatError):
                group.close()
            container.close()
        self._groups.clear()
