"""A tiny fake host root for VFIO's sysfs lookups (functions, drivers, IOMMU groups, nodes).

Only what ``qathw.vfio`` reads: the ``iommu_group`` and ``driver`` links of a function,
the group's ``devices`` directory, ``class``, and ``/dev/vfio`` nodes (plain files here,
so any ioctl on them fails the way it fails on a non-VFIO file: ENOTTY).
"""

from __future__ import annotations

import os
from pathlib import Path

from qathw.paths import HostRoot


class FakeTree:
    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.root = HostRoot(prefix)
        self.root.pci_devices.mkdir(parents=True, exist_ok=True)
        self.root.pci_drivers.mkdir(parents=True, exist_ok=True)
        self.root.iommu_groups.mkdir(parents=True, exist_ok=True)

    def function(
        self,
        bdf: str,
        *,
        group: int | None = None,
        driver: str | None = None,
        pci_class: int = 0x050000,
    ) -> Path:
        dev = self.root.pci_devices / bdf
        dev.mkdir(parents=True)
        (dev / "class").write_text(f"{pci_class:#08x}\n")
        if group is not None:
            members = self.root.iommu_groups / str(group) / "devices"
            members.mkdir(parents=True, exist_ok=True)
            os.symlink(f"../../../kernel/iommu_groups/{group}", dev / "iommu_group")
            os.symlink(f"../../../../bus/pci/devices/{bdf}", members / bdf)
        if driver is not None:
            (self.root.pci_drivers / driver).mkdir(exist_ok=True)
            os.symlink(f"../../drivers/{driver}", dev / "driver")
        return dev

    def vfio_nodes(self, *groups: int, container: bool = True, mode: int = 0o600) -> None:
        self.root.vfio.mkdir(parents=True, exist_ok=True)
        if container:
            (self.root.vfio / "vfio").write_bytes(b"")
            os.chmod(self.root.vfio / "vfio", 0o666)
        for g in groups:
            (self.root.vfio / str(g)).write_bytes(b"")
            os.chmod(self.root.vfio / str(g), mode)
