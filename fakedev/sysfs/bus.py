"""The PCI core of the fake kernel: functions appear and go, drivers bind, VFs are made.

:class:`PciBus` creates a function's directory with its attributes, IOMMU group and
links; removes it as hot-unplug does; binds and unbinds drivers (matching by
``driver_override``, ``new_id`` and the drivers' id tables), with vfio-pci's gen2
denylist and its need for an IOMMU group; and creates and removes SR-IOV VFs. What the
QAT PF driver does when it binds and unbinds is the driver's (:class:`PfDriver`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from fakedev.sysfs import pcifiles
from fakedev.sysfs.tree import State, Tree
from qathw import ids
from qathw.pci_regs import PciAddress

VFIO_DRIVERS = ("vfio-pci", "qat_vfio_pci")
QAT_VFIO_PCI_IDS = frozenset({0x4941, 0x4943, 0x4945, 0x4949})  # drivers/vfio/pci/qat/main.c
_DRIVER_FILES = ("bind", "unbind", "new_id", "remove_id")


class PfDriver(Protocol):
    """What the QAT PF driver does when the core binds it to a PF and unbinds it."""

    def probe_error(self, state: State, d: Path, kind: ids.FunctionKind) -> int:
        """The errno probing ``d`` would fail with (the driver logs why), else 0."""
        ...

    def probe(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Set up a PF just bound to the driver."""
        ...

    def remove(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Tear down a PF being unbound from the driver (its VFs first)."""
        ...


class PciBus:
    """The PCI core over a :class:`~fakedev.sysfs.tree.Tree`.

    Args:
        tree: the fake host's files and state.

    Attributes:
        pf_driver: the QAT PF driver, set by whoever wires the kernel together (the
            driver enables VFs through this bus, and the bus probes through the driver).
    """

    pf_driver: PfDriver

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    # --- functions ------------------------------------------------------------------------

    def create_function(
        self,
        bdf: str,
        vendor: int,
        device: int,
        *,
        class_code: int,
        revision: int,
        subsys: tuple[int, int],
        numa_node: int,
        bars: list[tuple[int, int, int]],
        pcie: bool = True,
        sriov_total: int = 0,
        sriov_offset: int = 0,
        vf_device: int = 0,
        state: State | None = None,
    ) -> Path:
        """Create an unbound PCI function (and its IOMMU group when there is an IOMMU).

        ``state`` is the kernel state already loaded by a caller that will save it.

        Raises:
            ValueError: ``bdf`` is not a PCI address.
            FileExistsError: the function exists already.
        """
        if state is None:
            with self.tree.state() as fresh:
                return self.create_function(
                    bdf,
                    vendor,
                    device,
                    class_code=class_code,
                    revision=revision,
                    subsys=subsys,
                    numa_node=numa_node,
                    bars=bars,
                    pcie=pcie,
                    sriov_total=sriov_total,
                    sriov_offset=sriov_offset,
                    vf_device=vf_device,
                    state=fresh,
                )
        addr = PciAddress.parse(bdf)
        bdf = str(addr)
        t = self.tree
        d = t.sys / "devices" / f"pci{addr.domain:04x}:{addr.bus:02x}" / bdf
        if d.exists():
            raise FileExistsError(f"{bdf} already exists in the fake tree")
        d.mkdir(parents=True)
        t.put(d / "vendor", f"0x{vendor:04x}\n")
        t.put(d / "device", f"0x{device:04x}\n")
        t.put(d / "subsystem_vendor", f"0x{subsys[0]:04x}\n")
        t.put(d / "subsystem_device", f"0x{subsys[1]:04x}\n")
        t.put(d / "class", f"0x{class_code:06x}\n")
        t.put(d / "revision", f"0x{revision:02x}\n")
        t.put(d / "numa_node", f"{numa_node}\n", 0o644)
        t.put(d / "enable", "0\n", 0o644)
        t.put(d / "local_cpulist", "0-15\n" if numa_node <= 0 else "16-31\n")
        t.put(d / "driver_override", "(null)\n", 0o644)
        t.put(d / "irq", "0\n")
        modalias = (
            f"pci:v{vendor:08X}d{device:08X}sv{subsys[0]:08X}sd{subsys[1]:08X}"
            f"bc{class_code >> 16:02X}sc{class_code >> 8 & 0xFF:02X}i{class_code & 0xFF:02X}"
        )
        t.put(d / "modalias", modalias + "\n")
        t.put(
            d / "uevent",
            f"PCI_CLASS={class_code:X}\nPCI_ID={vendor:04X}:{device:04X}\n"
            f"PCI_SUBSYS_ID={subsys[0]:04X}:{subsys[1]:04X}\nPCI_SLOT_NAME={bdf}\n"
            f"MODALIAS={modalias}\n",
            0o644,
        )
        base = 0x38_0000_0000 + (addr.bus << 28) + (addr.devfn << 21)
        t.put(d / "resource", pcifiles.resource_text(bars, base))
        for index, _size, _flags in bars:
            if pcifiles.is_bar(index):
                t.put(d / f"resource{index}", b"", 0o600)
        config = pcifiles.config_space(
            vendor, device, class_code, revision, subsys, sriov=sriov_total > 0, pcie=pcie
        )
        t.put(d / "config", config, 0o644)
        if sriov_total:
            t.put(d / "sriov_totalvfs", f"{sriov_total}\n")
            t.put(d / "sriov_numvfs", "0\n", 0o644)
            t.put(d / "sriov_offset", f"{sriov_offset}\n")
            t.put(d / "sriov_stride", "1\n")
            t.put(d / "sriov_vf_device", f"{vf_device:x}\n")
            t.put(d / "sriov_drivers_autoprobe", "1\n", 0o644)
        t.symlink(d / "subsystem", t.sys / "bus" / "pci")
        t.symlink(t.host.pci_device(bdf), d)
        if state["iommu"] != "off":
            group = state["next_group"]
            state["next_group"] = group + 1
            g = t.host.iommu_groups / str(group)
            t.symlink(g / "devices" / bdf, d)
            t.put(g / "type", "DMA\n")
            if state["iommu"] == "noiommu":
                t.put(g / "name", "vfio-noiommu\n")
            t.symlink(d / "iommu_group", g)
        return d

    def remove_function(self, bdf: str) -> None:
        """Take a function away as hot-unplug does (its VFs first, if it is a PF).

        Raises:
            FileNotFoundError: no such function.
        """
        d = self.tree.dev_dir(bdf)
        if not d.is_dir():
            raise FileNotFoundError(f"{bdf} is not in the fake tree")
        with self.tree.state() as state:
            self.remove(state, d)

    def remove(self, state: State, d: Path) -> None:
        """Remove the function at ``d`` (its VFs, its driver, its group's entry)."""
        t = self.tree
        bdf = d.name
        if (d / "sriov_numvfs").exists():
            self.disable_vfs(state, d)
        if t.driver(d) is not None:
            self.detach(state, d)
        group = t.group(d)
        if group is not None:
            g = t.host.iommu_groups / group
            (g / "devices" / bdf).unlink(missing_ok=True)
            if not any((g / "devices").iterdir()):
                shutil.rmtree(g)
        t.host.pci_device(bdf).unlink(missing_ok=True)
        shutil.rmtree(d)
        state["in_use"] = [b for b in state["in_use"] if b != bdf]

    # --- drivers --------------------------------------------------------------------------

    def load_driver(self, name: str) -> None:
        """Present a PCI driver as loaded (``sys/bus/pci/drivers/<name>``)."""
        d = self.tree.host.pci_drivers / name
        for op in _DRIVER_FILES:
            if not (d / op).exists():
                self.tree.put(d / op, "", 0o200)

    def loaded_drivers(self) -> list[str]:
        """The loaded drivers' names, sorted (the order ``drivers_probe`` tries them in)."""
        drivers = self.tree.host.pci_drivers
        return sorted(p.name for p in drivers.iterdir()) if drivers.exists() else []

    def matches(self, state: State, d: Path, drv: str) -> bool:
        """Whether ``drv`` would take the function: its override, ``new_id`` or id table."""
        t = self.tree
        override = t.text(d / "driver_override")
        if override not in ("(null)", ""):
            return override == drv
        kind = t.kind(d)
        device = int(t.text(d / "device"), 16)
        if device in state["new_ids"].get(drv, []):
            return True
        if kind is None:
            return False
        if drv == "qat_vfio_pci":
            return device in QAT_VFIO_PCI_IDS
        if kind.is_vf:
            return drv == kind.family.vf_name or (
                drv == kind.family.vf_driver and drv not in VFIO_DRIVERS
            )
        return drv == kind.family.pf_driver

    def attach(self, state: State, d: Path, drv: str) -> bool:
        """Probe ``drv`` on ``d``; False (and a dmesg line) when the probe fails."""
        t = self.tree
        bdf = d.name
        kind = t.kind(d)
        is_pf = kind is not None and not kind.is_vf
        if drv in VFIO_DRIVERS:
            if kind is not None and kind.family.vfio_denylisted and not state["denylist_disabled"]:
                t.log(state, bdf, f"{drv}: device exists in vfio-pci device denylist")
                t.log(state, bdf, f"{drv}: probe failed with error -22")
                return False
            if t.group(d) is None:
                t.log(state, bdf, f"{drv}: probe failed with error -22 (no IOMMU group)")
                return False
        elif kind is not None and is_pf:
            code = self.pf_driver.probe_error(state, d, kind)
            if code:
                t.log(state, bdf, f"{drv}: probe failed with error -{code}")
                return False
        t.symlink(d / "driver", t.host.pci_drivers / drv)
        t.symlink(t.host.pci_drivers / drv / bdf, d)
        t.put(d / "enable", "1\n", 0o644)
        uevent = (d / "uevent").read_text()
        t.put(d / "uevent", f"DRIVER={drv}\n{uevent}", 0o644)
        if drv in VFIO_DRIVERS:
            self._vfio_node(state, d, create=True)
        elif kind is not None and is_pf:
            self.pf_driver.probe(state, d, kind)
        return True

    def detach(self, state: State, d: Path) -> None:
        """Unbind ``d`` from its driver (the QAT PF driver tears down first)."""
        t = self.tree
        bdf = d.name
        drv = t.driver(d)
        kind = t.kind(d)
        if kind is not None and not kind.is_vf and drv == kind.family.pf_driver:
            self.pf_driver.remove(state, d, kind)
        (d / "driver").unlink(missing_ok=True)
        if drv is not None:
            (t.host.pci_drivers / drv / bdf).unlink(missing_ok=True)
        t.put(d / "enable", "0\n", 0o644)
        lines = [
            ln for ln in (d / "uevent").read_text().splitlines() if not ln.startswith("DRIVER=")
        ]
        t.put(d / "uevent", "\n".join(lines) + "\n", 0o644)
        if drv in VFIO_DRIVERS:
            self._vfio_node(state, d, create=False)

    def _vfio_node(self, state: State, d: Path, *, create: bool) -> None:
        t = self.tree
        group = t.group(d)
        if group is None:
            return
        name = f"noiommu-{group}" if state["iommu"] == "noiommu" else group
        node = t.host.vfio / name
        if create:
            if not node.exists():
                t.put(node, b"", 0o600)
            if not (t.host.vfio / "vfio").exists():
                t.put(t.host.vfio / "vfio", b"", 0o666)
        else:
            node.unlink(missing_ok=True)

    # --- SR-IOV ---------------------------------------------------------------------------

    @staticmethod
    def virtfns(d: Path) -> list[str]:
        """The addresses of a PF's VFs, in VF order."""
        links = sorted((int(p.name[6:]), p) for p in d.iterdir() if p.name.startswith("virtfn"))
        return [Path(os.readlink(p)).name for _, p in links]

    def enable_vfs(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Create all ``sriov_totalvfs`` VFs of the PF at ``d`` and probe their drivers."""
        t = self.tree
        pf = PciAddress.parse(d.name)
        total = int(t.text(d / "sriov_totalvfs"))
        offset = int(t.text(d / "sriov_offset"))
        numa = int(t.text(d / "numa_node"))
        rev = int(t.text(d / "revision"), 16)
        vf_driver = state["vf_driver"].get(d.name, {})
        for n in range(total):
            rid = (pf.bus << 8 | pf.devfn) + offset + n  # routing id: bus, then devfn
            devfn = rid & 0xFF
            vf_bdf = str(PciAddress(pf.domain, rid >> 8 & 0xFF, devfn >> 3, devfn & 7))
            vd = self.create_function(
                vf_bdf,
                ids.INTEL_VENDOR_ID,
                kind.family.vf_id,
                class_code=pcifiles.QAT_CLASS,
                revision=rev,
                subsys=(ids.INTEL_VENDOR_ID, 0),
                numa_node=numa,
                bars=[(b.index, b.size, b.flags) for b in pcifiles.VF_BARS],
                state=state,
            )
            t.symlink(vd / "physfn", d)
            t.symlink(d / f"virtfn{n}", vd)
            drv = vf_driver.get(str(n), vf_driver.get("*"))
            if drv is not None:
                self.load_driver(drv)
                if drv in VFIO_DRIVERS:
                    # As qatlib's qat_init.sh binds them: driver_override, then probe.
                    t.put(vd / "driver_override", f"{drv}\n", 0o644)
                self.attach(state, vd, drv)
        t.put(d / "sriov_numvfs", f"{total}\n", 0o644)

    def disable_vfs(self, state: State, d: Path) -> None:
        """Remove every VF of the PF at ``d``."""
        t = self.tree
        for vf in self.virtfns(d):
            if t.exists(vf):
                self.remove(state, t.dev_dir(vf))
        for p in list(d.iterdir()):
            if p.name.startswith("virtfn"):
                p.unlink()
        t.put(d / "sriov_numvfs", "0\n", 0o644)
