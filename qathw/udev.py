"""pyudev, for the machine's real ``/sys``: enumeration and PCI event monitoring.

This is the only module that imports :mod:`pyudev`. libudev has ``/sys`` built in, so
everything here is about the real machine; fake trees are read by :mod:`qathw.pci`
(and a test checks that both agree on the real devices).

Events come from the kernel's uevent netlink socket. Where ``udevd`` runs, its
re-broadcast (source ``udev``) carries the rules' properties; where it does not (a
container, a minimal VM) only the kernel's own messages (source ``kernel``) arrive, so
:func:`default_source` picks the one that will deliver.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qathw import ids
from qathw.errors import QatError

PCI_ACTIONS = ("add", "remove", "bind", "unbind", "change", "move", "online", "offline")


def _pyudev() -> Any:
    try:
        import pyudev
    except ImportError as exc:  # pragma: no cover - pyudev is a dependency
        raise QatError("pyudev is not installed", hint="pip install pyudev (and libudev1)") from exc
    return pyudev


@dataclass(frozen=True)
class UdevPciDevice:
    """A PCI function as libudev enumerates it."""

    bdf: str
    vendor: int | None
    device: int | None
    subsystem_vendor: int | None
    subsystem_device: int | None
    class_code: int | None
    driver: str | None
    sys_path: str


def _ids(value: str | None) -> tuple[int | None, int | None]:
    if not value or ":" not in value:
        return None, None
    a, _, b = value.partition(":")
    try:
        return int(a, 16), int(b, 16)
    except ValueError:
        return None, None


def _hex(value: str | None) -> int | None:
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _from_properties(props: Mapping[str, str], sys_path: str, driver: str | None) -> UdevPciDevice:
    vendor, device = _ids(props.get("PCI_ID"))
    svendor, sdevice = _ids(props.get("PCI_SUBSYS_ID"))
    return UdevPciDevice(
        bdf=props.get("PCI_SLOT_NAME") or Path(sys_path).name,
        vendor=vendor,
        device=device,
        subsystem_vendor=svendor,
        subsystem_device=sdevice,
        class_code=_hex(props.get("PCI_CLASS")),
        driver=driver,
        sys_path=sys_path,
    )


def list_pci() -> list[UdevPciDevice]:
    """Every PCI function libudev knows, in address order.

    Returns:
        One entry per function of the real ``/sys``.
    """
    pyudev = _pyudev()
    ctx = pyudev.Context()
    out = []
    for dev in ctx.list_devices(subsystem="pci"):
        props = {k: dev.properties[k] for k in dev.properties}
        out.append(_from_properties(props, dev.sys_path, dev.driver))
    return sorted(out, key=lambda d: d.bdf)


def default_source() -> str:
    """``udev`` when udevd is running (its control socket exists), else ``kernel``."""
    return "udev" if os.path.exists("/run/udev/control") else "kernel"


@dataclass(frozen=True)
class PciEvent:
    """One PCI uevent.

    Attributes:
        action: ``add``, ``remove``, ``bind``, ``unbind``, ``change``...
        bdf: the function's address.
        vendor / device: its PCI id (from the event, so known even on ``remove``).
        driver: the driver named by the event (set on ``bind``, absent on ``unbind``).
        seqnum: the kernel's event sequence number.
        timestamp: when qathw received it (seconds since the epoch).
        qat: the QAT class name (``4xxxvf``), ``ivshmem`` for a possible emulated
            endpoint, ``None`` otherwise.
    """

    action: str
    bdf: str
    vendor: int | None
    device: int | None
    driver: str | None
    seqnum: int | None
    timestamp: float
    qat: str | None

    @property
    def is_qat(self) -> bool:
        return self.qat is not None


def classify(vendor: int | None, device: int | None) -> str | None:
    """QAT class name for a PCI id, ``ivshmem`` for QEMU's ivshmem, else ``None``."""
    if vendor is None or device is None:
        return None
    kind = ids.lookup(vendor, device)
    if kind is not None:
        return kind.class_name
    if (vendor, device) == (ids.IVSHMEM_VENDOR_ID, ids.IVSHMEM_DEVICE_ID):
        return "ivshmem"
    return None


def _event(dev: Any) -> PciEvent:
    props = {k: dev.properties[k] for k in dev.properties}
    info = _from_properties(props, dev.sys_path, props.get("DRIVER"))
    seq = props.get("SEQNUM")
    return PciEvent(
        action=dev.action or props.get("ACTION", "?"),
        bdf=info.bdf,
        vendor=info.vendor,
        device=info.device,
        driver=info.driver,
        seqnum=int(seq) if seq and seq.isdigit() else None,
        timestamp=time.time(),
        qat=classify(info.vendor, info.device),
    )


def monitor(
    *,
    source: str | None = None,
    qat_only: bool = False,
    actions: tuple[str, ...] = ("add", "remove", "bind", "unbind"),
    timeout: float | None = None,
    count: int | None = None,
) -> Iterator[PciEvent]:
    """Listen to PCI uevents.

    The netlink socket is open when this returns, so a caller can start the monitor,
    then cause events, then iterate. Iteration ends after ``count`` events or
    ``timeout`` seconds (counted from this call), whichever comes first; never if
    neither is given.

    Args:
        source: ``udev`` or ``kernel``; :func:`default_source` when ``None``.
        qat_only: only QAT functions and ivshmem functions.
        actions: the actions to report.
        timeout: stop after this many seconds.
        count: stop after this many events.

    Returns:
        An iterator of events.

    Raises:
        QatError: the netlink socket cannot be opened.
    """
    pyudev = _pyudev()
    ctx = pyudev.Context()
    src = source or default_source()
    try:
        mon = pyudev.Monitor.from_netlink(ctx, source=src)
        mon.filter_by("pci")
        mon.start()
    except (OSError, ValueError) as exc:
        raise QatError(
            f"cannot listen to {src} uevents: {exc}",
            hint="try --source kernel (no udevd) or run as root",
        ) from exc
    deadline = None if timeout is None else time.monotonic() + timeout
    return _events(mon, deadline, count, actions, qat_only)


def _events(
    mon: Any,
    deadline: float | None,
    count: int | None,
    actions: tuple[str, ...],
    qat_only: bool,
) -> Iterator[PciEvent]:
    seen = 0
    while count is None or seen < count:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        dev = mon.poll(timeout=remaining)
        if dev is None:
            return
        ev = _event(dev)
        if ev.action not in actions or (qat_only and not ev.is_qat):
            continue
        seen += 1
        yield ev
