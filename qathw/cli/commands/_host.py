"""What the admin commands share: ``--sysfs-root``, addresses, tables, JSON of a function."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qathw import discovery
from qathw.admin import Change
from qathw.cli import UsageError
from qathw.discovery import Inventory, QatFunction, Role
from qathw.errors import DeviceNotFoundError
from qathw.paths import ENV_SYSFS_ROOT, HostRoot
from qathw.pci_regs import PciAddress

UNREADABLE_MARK = "?"


def add_host_args(parser: argparse.ArgumentParser) -> None:
    """``--sysfs-root DIR``: which host a command looks at (every command that reads one)."""
    parser.add_argument(
        "--sysfs-root",
        metavar="DIR",
        help="look at the host under DIR instead of this machine: a fake tree's top (the DIR "
        "'python -m fakedev.sysfs DIR' built; it holds sys/), or a directory named sys that "
        f"plays /sys (its parent plays /). Default: ${ENV_SYSFS_ROOT}, same meaning, or /sys",
    )


def host_from(args: argparse.Namespace) -> HostRoot:
    """The host root named by ``--sysfs-root`` (or the environment, or the machine).

    A directory holding ``sys/`` is the top of a tree; otherwise it must itself be named
    ``sys`` (:meth:`qathw.paths.HostRoot.from_dir`), since ``/dev`` and ``/run`` are
    found next to it.

    Raises:
        UsageError: the directory does not exist, or is neither of the two.
    """
    flag = getattr(args, "sysfs_root", None)
    root = flag or os.environ.get(ENV_SYSFS_ROOT)
    if not root:
        return HostRoot()
    origin = "--sysfs-root" if flag else f"${ENV_SYSFS_ROOT}"
    path = Path(root)
    if not path.is_dir():
        raise UsageError(
            f"sysfs root {root} is not a directory",
            hint=f"give {origin} the top of a fake tree (it holds sys/, dev/, run/) "
            "or its sys directory",
        )
    host = HostRoot.from_dir(path)
    if host.sys != path.absolute() and host.prefix != path.absolute():
        raise UsageError(
            f"sysfs root {root} holds no sys/ directory and is not named 'sys'",
            hint=f"give {origin} the top of a fake tree (it holds sys/, dev/, run/) "
            "or its sys directory",
        )
    return host


def address(text: str) -> PciAddress:
    """Parse a BDF argument.

    Raises:
        UsageError: not a PCI address.
    """
    try:
        return PciAddress.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc), hint="see 'qathw list' for the addresses") from exc


DEVICE_HELP = "a PCI address (0000:6b:00.0) or a device name (qat_dev0)"


def pci_id(value: int | None) -> str | None:
    """A PCI id as JSON carries it: ``"0x4940"`` (``None`` stays ``None``)."""
    return None if value is None else f"0x{value:04x}"


def find(inv: Inventory, name: str) -> QatFunction:
    """The QAT function ``name`` names: a BDF, or ``qat_devN`` as ``qathw status`` numbers.

    Raises:
        UsageError: neither a PCI address nor ``qat_devN``.
        DeviceNotFoundError: no such QAT function or accel device.
    """
    if name.startswith("qat_dev"):
        number = name[len("qat_dev") :]
        if not number.isdigit():
            raise UsageError(f"'{name}' is not a device name", hint="write qat_devN, e.g. qat_dev0")
        for fn in inv.accel_devices:
            if fn.accel_id == int(number):
                return fn
        known = [f"qat_dev{f.accel_id}" for f in inv.accel_devices]
        span = f"{known[0]} .. {known[-1]}" if known else "none"
        raise DeviceNotFoundError(
            f"no QAT acceleration device {name} (this host has {span})",
            hint="'qathw status' lists them (unbound functions are not accel devices)",
        )
    return inv.get(address(name))


def resolve(host: HostRoot, names: Sequence[str]) -> list[PciAddress]:
    """The addresses of ``names`` (BDFs or ``qat_devN``), in the order given, without repeats.

    The host is read only when a ``qat_devN`` name needs its numbering.

    Raises:
        UsageError: a name is neither a PCI address nor ``qat_devN``.
        DeviceNotFoundError: a ``qat_devN`` the host does not have.
    """
    inv = discovery.discover(host) if any(n.startswith("qat_dev") for n in names) else None
    out: list[PciAddress] = []
    for name in names:
        addr = (
            find(inv, name).address
            if inv is not None and name.startswith("qat_dev")
            else address(name)
        )
        if addr not in out:
            out.append(addr)
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, as wide as their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip()] + [fmt.format(*r).rstrip() for r in rows]


def cell(value: object, fn: QatFunction | None = None, field: str | None = None) -> str:
    """A table cell: ``-`` for nothing, ``?`` for what could not be read."""
    if value is None:
        if fn is not None and field is not None and field in fn.pci.unreadable:
            return UNREADABLE_MARK
        return "-"
    return str(value)


def function_doc(fn: QatFunction, host: HostRoot) -> dict[str, Any]:
    """The JSON record of one QAT function (``list`` and ``show``)."""
    pci = fn.pci
    sriov = pci.sriov
    node = pci.vfio_node(host)
    doc: dict[str, Any] = {
        "bdf": fn.bdf,
        "name": f"qat_dev{fn.accel_id}" if fn.accel_id is not None else None,
        "role": fn.role.value,
        "class_name": fn.class_name,
        "product": fn.kind.family.product,
        "generation": int(fn.generation),
        "vendor": pci_id(pci.vendor),
        "device": pci_id(pci.device),
        "qat_device": pci_id(fn.kind.device_id),
        "driver": pci.driver,
        "driver_override": pci.driver_override,
        "state": fn.state,
        "services": fn.services,
        "vfs_enabled": sriov.num_vfs if sriov else None,
        "vfs_total": sriov.total_vfs if sriov else None,
        "pf": str(fn.pf) if fn.pf else None,
        "vfs": [str(v) for v in fn.vfs],
        "iommu_group": pci.iommu_group,
        "vfio_node": str(node) if node else None,
        "numa_node": pci.numa_node,
        "accel_id": fn.accel_id,
        "inst_id": fn.inst_id,
        "emulated": None,
        "unreadable": dict(pci.unreadable),
    }
    if fn.role is Role.EMULATED and fn.control is not None:
        c = fn.control
        doc["emulated"] = {
            "backend_state": c.backend_state.name.lower(),
            "frontend_state": c.frontend_state.name.lower(),
            "backend_epoch": c.backend_epoch,
            "backend_pid": c.backend_pid,
            "num_banks": c.num_banks,
            "rings_per_bank": c.rings_per_bank,
            "total_size": c.windows.total_size,
            "devmem_iova": c.windows.devmem_iova,
            "devmem_size": c.windows.devmem_size,
        }
    return doc


def change_doc(change: Change) -> dict[str, Any]:
    """The JSON record of a root action's result."""
    return {
        "bdf": change.bdf,
        "action": change.action,
        "before": change.before,
        "after": change.after,
        "changed": change.changed,
        "notes": list(change.notes),
    }


def change_text(change: Change) -> list[str]:
    """Human lines for a root action's result."""
    if not change.changed:
        return [f"{change.bdf}: unchanged ({'; '.join(change.notes)})"]
    lines = [f"{change.bdf}: {change.action} {change.before or 'none'} -> {change.after or 'none'}"]
    lines += [f"  {n}" for n in change.notes]
    return lines
