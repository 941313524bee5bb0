"""Guest-side PCI plumbing for the VM tests: find functions by id, bind and unbind drivers.

The kernel's own sysfs protocol (``driver_override`` + ``drivers_probe``, ``unbind``);
run as root inside the guest.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEVICES = Path("/sys/bus/pci/devices")

IVSHMEM = (0x1AF4, 0x1110)
EDU = (0x1234, 0x11E8)
VIRTIO_RNG = (0x1AF4, 0x1005)


def find(ids: tuple[int, int]) -> list[str]:
    """BDFs of every function with (vendor, device) ``ids``."""
    out = []
    for d in sorted(DEVICES.iterdir()):
        vendor = int((d / "vendor").read_text(), 16)
        device = int((d / "device").read_text(), 16)
        if (vendor, device) == ids:
            out.append(d.name)
    return out


def driver(bdf: str) -> str | None:
    link = DEVICES / bdf / "driver"
    return os.path.basename(os.readlink(link)) if link.exists() else None


def group(bdf: str) -> int:
    return int(os.path.basename(os.readlink(DEVICES / bdf / "iommu_group")))


def unbind(bdf: str) -> None:
    if driver(bdf) is not None:
        (DEVICES / bdf / "driver" / "unbind").write_text(bdf)


def bind(bdf: str, drv: str | None) -> None:
    """Bind ``bdf`` to ``drv`` (``None``: leave it unbound); no-op when already so."""
    if driver(bdf) == drv:
        return
    unbind(bdf)
    (DEVICES / bdf / "driver_override").write_text((drv or "") + "\n")
    if drv is not None:
        if drv == "vfio-pci":
            subprocess.run(["modprobe", "vfio-pci"], check=True)
        Path("/sys/bus/pci/drivers_probe").write_text(bdf)
        if driver(bdf) != drv:
            raise RuntimeError(f"{bdf} did not bind to {drv} (bound to {driver(bdf)})")
