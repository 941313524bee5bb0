"""The fake kernel: qathw's sysfs seam, with each write going to its attribute's rule.

:class:`FakeKernel` is the operating system's seam (:class:`~qathw.sysfsio.OsSysfsIO`)
plus the kernel: reads are plain reads except where the kernel computes the answer
(``config`` for an unprivileged reader, ``qat/rp2srv``, telemetry data); writes inside
the tree go to the rule of the attribute written — driver binding
(:mod:`~fakedev.sysfs.binding`), ``sriov_numvfs`` (:mod:`~fakedev.sysfs.sriov`), the QAT
driver's ``qat/`` group (:mod:`~fakedev.sysfs.qat_pf`), telemetry
(:mod:`~fakedev.sysfs.telemetry`); writes outside the tree go to the OS unchanged. An
attribute without a write bit is ``EACCES``, even for root.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from fakedev.sysfs import binding, sriov, telemetry
from fakedev.sysfs.bus import PciBus
from fakedev.sysfs.qat_pf import QatPfDriver
from fakedev.sysfs.tree import Tree, kernel_error
from qathw.pci_regs import PCI_STD_HEADER_SIZEOF
from qathw.sysfsio import OsSysfsIO

# Files whose content the kernel computes at read time (see FakeKernel._special_read).
_SPECIAL_READS = frozenset({"config", "rp2srv", "device_data"})

_Store = Callable[[Path, str, Path], None]  # (device directory, text, path as written)


class FakeKernel(OsSysfsIO):
    """The kernel behind a fake tree: serves qathw's sysfs seam with the kernel's rules.

    Args:
        prefix: the directory that plays ``/`` (holds ``sys``, ``dev``, ``lib``...).

    Attributes:
        tree: the tree's files and the kernel's state.
        bus: the PCI core (functions, drivers, VFs).
        qat: the QAT PF driver.
        telemetry: the QAT driver's debugfs telemetry.
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.tree = Tree(prefix)
        self.prefix = self.tree.prefix
        self.host = self.tree.host
        self.sys = self.tree.sys
        self.bus = PciBus(self.tree)
        self.telemetry = telemetry.Telemetry(self.tree)
        self.qat = QatPfDriver(self.tree, self.bus, self.telemetry)
        # The core probes through the driver; the driver enables VFs through the core.
        self.bus.pf_driver = self.qat
        # The core's operations, as the kernel offers them.
        self.create_function = self.bus.create_function
        self.remove_function = self.bus.remove_function
        self.load_driver = self.bus.load_driver
        self.dev_dir = self.tree.dev_dir
        self._device_attrs: Mapping[str, _Store] = {
            "qat/state": self.qat.store_state,
            "qat/cfg_services": self.qat.store_services,
            "qat/pm_idle_enabled": self.qat.store_pm_idle,
            "qat/auto_reset": self.qat.store_auto_reset,
            "qat/rp2srv": self.qat.store_rp2srv,
            "sriov_numvfs": partial(sriov.store_numvfs, self.bus, self.qat),
            "driver_override": partial(binding.store_override, self.bus),
        }

    @property
    def version(self) -> tuple[int, int]:
        """The kernel version the tree shows (major, minor)."""
        v = self.tree.load()["kernel"]
        return int(v[0]), int(v[1])

    def dmesg(self) -> list[str]:
        """What the fake kernel logged, oldest first (as ``dmesg`` would show)."""
        return list(self.tree.load()["dmesg"])

    def probe(self, bdf: str, shown: Path | str = "drivers_probe") -> None:
        """``drivers_probe``: bind the first matching loaded driver, if any."""
        binding.probe(self.bus, bdf, shown)

    # --- the seam ---------------------------------------------------------------------

    def read(self, path: Path) -> bytes:
        name = Path(path).name
        if name in _SPECIAL_READS or (name.startswith("rp_") and name.endswith("_data")):
            real = self._resolve(path)
            if real is not None:
                special = self._special_read(real)
                if special is not None:
                    return special
        return super().read(path)

    def write(self, path: Path, data: bytes) -> None:
        real = self._resolve(path)
        if real is None:
            super().write(path, data)
            return
        if not real.exists():
            raise kernel_error(errno.ENOENT, path)
        if real.is_dir():
            raise kernel_error(errno.EISDIR, path)
        # sysfs: an attribute without a store method refuses even root.
        if not real.stat().st_mode & 0o222 or not os.access(real, os.W_OK):
            raise kernel_error(errno.EACCES, path)
        text = data.decode("utf-8", "replace")
        self._dispatch_write(real, text, path)

    # --- dispatch ---------------------------------------------------------------------

    def _resolve(self, path: Path) -> Path | None:
        real = Path(os.path.realpath(path))
        try:
            real.relative_to(self.sys)
        except ValueError:
            return None
        return real

    def _device_of(self, real: Path) -> tuple[Path, str] | None:
        """(device directory, attribute path inside it) for a path in a device dir."""
        for parent in real.parents:
            if parent == self.sys:
                return None
            if (parent / "vendor").is_file() and parent.name.count(":") == 2:
                return parent, str(real.relative_to(parent))
        return None

    def _debugfs_of(self, real: Path) -> tuple[str, str] | None:
        """(PF bdf, path inside its debugfs dir)."""
        try:
            rel = real.relative_to(self.host.debugfs)
        except ValueError:
            return None
        top = rel.parts[0]
        if not top.startswith("qat_"):
            return None
        return top.rsplit("_", 1)[1], str(Path(*rel.parts[1:]))

    def _dispatch_write(self, real: Path, text: str, shown: Path) -> None:
        rel = real.relative_to(self.sys)
        if rel == Path("bus/pci/drivers_probe"):
            binding.probe(self.bus, text.strip(), shown)
            return
        if rel.parts[:3] == ("bus", "pci", "drivers") and len(rel.parts) == 5:
            drv, op = rel.parts[3], rel.parts[4]
            if op == "bind":
                binding.store_bind(self.bus, text.strip(), drv, shown)
                return
            if op == "unbind":
                binding.store_unbind(self.bus, text.strip(), drv, shown)
                return
            if op == "new_id":
                binding.store_new_id(self.bus, text, drv, shown)
                return
        dev = self._device_of(real)
        if dev is not None:
            dev_dir, attr = dev
            store = self._device_attrs.get(attr)
            if store is not None:
                store(dev_dir, text, shown)
                return
        dbg = self._debugfs_of(real)
        if dbg is not None:
            bdf, inner = dbg
            if inner == "telemetry/control":
                self.telemetry.store_control(bdf, real, text, shown)
                return
            if telemetry.is_rp_file(inner):
                self.telemetry.store_rp(bdf, inner, text, shown)
                return
        real.write_text(text)

    def _special_read(self, real: Path) -> bytes | None:
        dev = self._device_of(real)
        if dev is not None:
            dev_dir, attr = dev
            if attr == "config" and os.geteuid() != 0:
                with open(real, "rb") as f:
                    return f.read(PCI_STD_HEADER_SIZEOF)
            if attr == "qat/rp2srv":
                return self.qat.show_rp2srv(dev_dir, real)
            return None
        dbg = self._debugfs_of(real)
        if dbg is not None:
            bdf, inner = dbg
            if telemetry.is_data_file(inner):
                return self.telemetry.show(bdf, inner, real)
        return None
