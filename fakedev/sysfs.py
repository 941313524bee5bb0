"""Fake sysfs (and debugfs) trees with the kernel's write rules.

:func:`build` lays out, under a directory that plays ``/``, what Linux shows for a
:class:`~fakedev.topologies.Topology`: ``sys/devices/pci<dom>:<bus>/<bdf>/`` with the
PCI attributes, ``sys/bus/pci/{devices,drivers}`` links, SR-IOV ``virtfnN``/``physfn``
links, the QAT driver's ``qat/`` group, IOMMU groups and ``dev/vfio`` nodes, debugfs
``qat_<class>_<bdf>/``, hugepage counters and firmware files.

The files are plain files, so reading them needs nothing special. Writing is where the
kernel refuses things, and a plain file cannot: :class:`FakeKernel` serves qathw's
sysfs seam (:class:`qathw.sysfsio.SysfsIO`) and applies each write with the kernel's
semantics and errnos (../shared/reference/qat-host-stack.md §2):

* ``qat/state``: ``up``/``down``; ``EBUSY`` in use or in reset; redundant writes are
  no-ops from 6.7 on and ``EINVAL`` before; ``down`` disables SR-IOV and drops every
  config section but GENERAL; ``up`` fails with ``EFAULT`` without firmware.
* ``qat/cfg_services`` and ``qat/pm_idle_enabled``: only while down (``EINVAL``), with
  the grammar of the kernel version (6.0 / 6.4 / 6.7 / token parser of 6.15, which
  canonicalises the order).
* ``sriov_numvfs``: all-or-nothing (any N > 0 enables ``sriov_totalvfs``); the same
  count again is a no-op, another non-zero count ``EBUSY``; N > total ``ERANGE``; no
  driver ``ENOENT``; no IOMMU ``EINVAL``; disabling while a VF is in use ``EBUSY``;
  enabling brings a down PF up.
* ``driver_override`` + ``drivers_probe``, ``drivers/<d>/bind`` and ``unbind``, with
  vfio-pci's gen2 denylist and its need for an IOMMU group; a failed probe leaves the
  device unbound and the write succeeds, as in the kernel.
* telemetry ``control`` (0-4), ``rp_<X>_data`` selection, reads ``EPERM`` while off;
  ``rp2srv`` (``EINVAL`` before a ring pair is selected).
* any attribute without a write bit: ``EACCES``; without privilege, ``config`` reads
  64 bytes.

Mutable kernel state that is not a file (version, in-use and in-reset marks, accel ids,
telemetry selections) lives in ``<prefix>/.fakedev/kernel.json`` so that a second
process (or a FakeKernel made later) sees the same host.

Run ``python -m fakedev.sysfs DIR --topology NAME`` to build a tree for trying the CLI.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakedev.topologies import AUTO, NAMED, EmulatedSpec, PfSpec, Topology
from qathw import ids
from qathw.paths import HostRoot
from qathw.sysfsio import OsSysfsIO

QAT_CLASS = 0x0B4000  # "Co-processor" (lspci: [0b40])
IVSHMEM_CLASS = 0x050000  # "RAM memory", as QEMU's ivshmem reports
VFIO_DRIVERS = ("vfio-pci", "qat_vfio_pci")
QAT_VFIO_PCI_IDS = frozenset({0x4941, 0x4943, 0x4945, 0x4949})  # drivers/vfio/pci/qat/main.c
STATE_FILE = ".fakedev/kernel.json"
# Files whose content the kernel computes at read time (see FakeKernel._special_read).
_SPECIAL_READS = frozenset({"config", "rp2srv", "device_data"})

# Kernel versions at which the QAT sysfs ABI changed (reference §2.1, §2.2).
V_PM_IDLE = (6, 5)
V_REDUNDANT_STATE_OK = (6, 7)
V_RP2SRV = (6, 7)
V_DCC = (6, 7)
V_AUTO_RESET = (6, 9)
V_SERVICES_LIST = (6, 4)
V_TOKEN_PARSER = (6, 15)
V_HEARTBEAT = (6, 6)
V_TELEMETRY = (6, 8)

_SVC_ORDER = ("asym", "sym", "dc", "decomp", "dcc")  # canonical bit order of the token parser
_SERVICES_6_0 = frozenset({"sym;asym", "dc"})
_SERVICES_6_4 = _SERVICES_6_0 | {
    "asym;sym",
    "sym",
    "asym",
    "asym;dc",
    "dc;asym",
    "sym;dc",
    "dc;sym",
}
_SERVICES_6_7 = _SERVICES_6_4 | {"dcc"}

# Gen4 telemetry device counters in print order (reference §2.5), one slice of each type.
_TL_DEVICE = (
    "pci_trans_cnt",
    "max_rd_lat",
    "rd_lat_acc_avg",
    "max_gp_lat",
    "gp_lat_acc_avg",
    "bw_in",
    "bw_out",
    "at_page_req_lat_avg",
    "at_trans_lat_avg",
    "at_max_tlb_used",
    "util_cpr0",
    "exec_cpr0",
    "util_xlt0",
    "exec_xlt0",
    "util_dcpr0",
    "exec_dcpr0",
    "util_pke0",
    "exec_pke0",
    "util_wat0",
    "exec_wat0",
    "util_wcp0",
    "exec_wcp0",
    "util_ucs0",
    "exec_ucs0",
    "util_cph0",
    "exec_cph0",
    "util_ath0",
    "exec_ath0",
)
_TL_RP = (
    "pci_trans_cnt",
    "gp_lat_acc_avg",
    "bw_in",
    "bw_out",
    "at_glob_devtlb_hit",
    "at_glob_devtlb_miss",
    "tl_at_payld_devtlb_hit",
    "tl_at_payld_devtlb_miss",
)


def family_of(product: str) -> ids.Family:
    """The family whose product (or class) name is ``product``, case-insensitive."""
    for fam in ids.FAMILIES:
        if product.lower() in (fam.product.lower(), fam.name.lower()):
            return fam
    known = ", ".join(sorted({f.product for f in ids.FAMILIES}))
    raise ValueError(f"unknown QAT product {product!r}; known: {known}")


def _parse_bdf(text: str) -> tuple[int, int, int, int]:
    dom, bus, rest = text.split(":")
    dev, fn = rest.split(".")
    return int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)


def _fmt_bdf(dom: int, bus: int, devfn: int) -> str:
    return f"{dom:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}"


def _err(code: int, path: Path | str) -> OSError:
    return OSError(code, os.strerror(code), str(path))


def _kstrtobool(text: str) -> bool:
    t = text.strip().lower()
    if t[:1] in ("y", "1") or t in ("on",):
        return True
    if t[:1] in ("n", "0") or t in ("off",):
        return False
    raise ValueError(text)


def _config_space(
    vendor: int,
    device: int,
    class_code: int,
    revision: int,
    subsys: tuple[int, int],
    *,
    sriov: bool,
    pcie: bool,
) -> bytes:
    """A 4 KiB config space with a capability list as QAT functions have one."""
    c = bytearray(4096 if pcie else 256)
    c[0:2] = vendor.to_bytes(2, "little")
    c[2:4] = device.to_bytes(2, "little")
    c[4:6] = (0x0006).to_bytes(2, "little")  # memory space + bus master
    c[6:8] = (0x0010).to_bytes(2, "little")  # capability list present
    c[8] = revision
    c[9:12] = class_code.to_bytes(3, "little")
    c[0x2C:0x2E] = subsys[0].to_bytes(2, "little")
    c[0x2E:0x30] = subsys[1].to_bytes(2, "little")
    if not pcie:  # ivshmem: conventional PCI, MSI-X only when doorbell; none here
        c[6:8] = b"\x00\x00"
        return bytes(c)
    c[0x34] = 0x40
    c[0x40], c[0x41] = 0x10, 0x50  # PCI Express
    c[0x50], c[0x51] = 0x11, 0x60  # MSI-X
    c[0x60], c[0x61] = 0x01, 0x00  # Power Management
    ext = [(0x100, 0x0001), (0x150, 0x000E)] + ([(0x160, 0x0010)] if sriov else [])
    for i, (off, cap) in enumerate(ext):
        nxt = ext[i + 1][0] if i + 1 < len(ext) else 0
        c[off : off + 4] = (cap | 1 << 16 | nxt << 20).to_bytes(4, "little")
    return bytes(c)


@dataclass(frozen=True)
class _Bar:
    index: int
    size: int
    flags: int


_MEM64_PREF = 0x0014_220C  # IORESOURCE_MEM | PREFETCH | MEM_64 | SIZEALIGN-ish, as lspci sees
_MEM32 = 0x0004_0200

# BAR sizes are the fake's choice (plausible, not published): gen4 PF ETR/PMISC/SRAM,
# gen4 VF ring CSRs (4 banks of 0x2000, rounded) and PMISC; gen2 likewise.
_PF_BARS = (
    _Bar(0, 0x20_0000, _MEM64_PREF),
    _Bar(2, 0x20_0000, _MEM64_PREF),
    _Bar(4, 0x2000, _MEM64_PREF),
)
_VF_BARS = (_Bar(0, 0x1_0000, _MEM64_PREF), _Bar(2, 0x4000, _MEM64_PREF))
# SR-IOV VF BARs follow the first six lines + ROM: index 7 (VF BAR0) and 9 (VF BAR2).
_IOV_BARS = ((7, 0x1_0000), (9, 0x4000))


def _resource_text(bars: list[tuple[int, int, int]], base: int) -> str:
    lines = [(0, 0, 0)] * 13
    addr = base
    for index, size, flags in bars:
        addr = (addr + size - 1) // size * size
        lines[index] = (addr, addr + size - 1, flags)
        addr += size
    return "".join(f"0x{s:016x} 0x{e:016x} 0x{f:016x}\n" for s, e, f in lines)


class FakeKernel(OsSysfsIO):
    """The kernel behind a fake tree: serves qathw's sysfs seam with the kernel's rules.

    Args:
        prefix: the directory that plays ``/`` (holds ``sys``, ``dev``, ``lib``...).

    It is the operating system's seam (:class:`~qathw.sysfsio.OsSysfsIO`) plus the
    kernel: reads are plain reads except where the kernel computes the answer; writes
    inside the tree follow the kernel's rules, writes outside go to the OS unchanged.
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.prefix = Path(prefix).absolute()
        self.host = HostRoot(self.prefix)
        self.sys = self.prefix / "sys"

    # --- persistent state ----------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        path = self.prefix / STATE_FILE
        try:
            with open(path) as f:
                state: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            state = {}
        state.setdefault("kernel", [6, 8])
        state.setdefault("iommu", "on")
        state.setdefault("next_group", 1)
        state.setdefault("in_use", [])
        state.setdefault("in_reset", [])
        state.setdefault("accel_ids", {})
        state.setdefault("vf_driver", {})
        state.setdefault("rp2srv", {})
        state.setdefault("telemetry", {})
        state.setdefault("new_ids", {})
        state.setdefault("denylist_disabled", False)
        state.setdefault("dmesg", [])
        return state

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        # Saved even when the operation fails: the kernel's log of a refusal stays, and
        # every refusal is checked before anything is changed.
        state = self._load()
        try:
            yield state
        finally:
            self._save(state)

    def _save(self, state: dict[str, Any]) -> None:
        path = self.prefix / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    @property
    def version(self) -> tuple[int, int]:
        v = self._load()["kernel"]
        return int(v[0]), int(v[1])

    def dmesg(self) -> list[str]:
        """What the fake kernel logged, oldest first (as ``dmesg`` would show)."""
        return list(self._load()["dmesg"])

    def _log(self, state: dict[str, Any], bdf: str, text: str) -> None:
        state["dmesg"].append(f"{bdf}: {text}")
        del state["dmesg"][:-200]

    # --- the seam --------------------------------------------------------------------

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
            raise _err(errno.ENOENT, path)
        if real.is_dir():
            raise _err(errno.EISDIR, path)
        # sysfs: an attribute without a store method refuses even root.
        if not real.stat().st_mode & 0o222 or not os.access(real, os.W_OK):
            raise _err(errno.EACCES, path)
        text = data.decode("utf-8", "replace")
        self._dispatch_write(real, text, path)

    # --- dispatch --------------------------------------------------------------------

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
            self.probe(text.strip(), shown)
            return
        if rel.parts[:3] == ("bus", "pci", "drivers") and len(rel.parts) == 5:
            drv, op = rel.parts[3], rel.parts[4]
            if op == "bind":
                self._bind_store(text.strip(), drv, shown)
                return
            if op == "unbind":
                self._unbind_store(text.strip(), drv, shown)
                return
            if op == "new_id":
                self._new_id(text, drv, shown)
                return
        dev = self._device_of(real)
        if dev is not None:
            dev_dir, attr = dev
            handler = {
                "qat/state": self._store_state,
                "qat/cfg_services": self._store_services,
                "qat/pm_idle_enabled": self._store_pm_idle,
                "qat/auto_reset": self._store_auto_reset,
                "qat/rp2srv": self._store_rp2srv,
                "sriov_numvfs": self._store_numvfs,
                "driver_override": self._store_override,
            }.get(attr)
            if handler is not None:
                handler(dev_dir, text, shown)
                return
        dbg = self._debugfs_of(real)
        if dbg is not None:
            bdf, inner = dbg
            if inner == "telemetry/control":
                self._store_tl_control(bdf, real, text, shown)
                return
            if inner.startswith("telemetry/rp_") and inner.endswith("_data"):
                self._store_tl_rp(bdf, inner.split("_")[1], text, shown)
                return
        real.write_text(text)

    def _special_read(self, real: Path) -> bytes | None:
        dev = self._device_of(real)
        if dev is not None:
            dev_dir, attr = dev
            if attr == "config" and os.geteuid() != 0:
                with open(real, "rb") as f:
                    return f.read(64)
            if attr == "qat/rp2srv":
                return self._show_rp2srv(dev_dir, real)
            return None
        dbg = self._debugfs_of(real)
        if dbg is not None:
            bdf, inner = dbg
            if inner == "telemetry/device_data" or (
                inner.startswith("telemetry/rp_") and inner.endswith("_data")
            ):
                # Still subject to the tree's own permissions (debugfs is root-only).
                with open(real, "rb"):
                    pass
                return self._show_telemetry(bdf, inner, real)
        return None

    # --- tree helpers ----------------------------------------------------------------

    def dev_dir(self, bdf: str) -> Path:
        """The real directory of a function (``sys/devices/pci<d>:<b>/<bdf>``)."""
        return Path(os.path.realpath(self.host.pci_device(bdf)))

    def _put(self, path: Path, text: str | bytes, mode: int = 0o444) -> None:
        data = text.encode() if isinstance(text, str) else text
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, mode)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)  # the mode of an existing file, and past the umask
        finally:
            os.close(fd)

    def _symlink(self, link: Path, target: Path) -> None:
        rel = os.path.relpath(target, link.parent)
        try:
            os.symlink(rel, link)
        except FileNotFoundError:
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(rel, link)
        except FileExistsError:
            link.unlink()
            os.symlink(rel, link)

    def _readtext(self, path: Path) -> str:
        return path.read_text().strip()

    def _kind(self, dev_dir: Path) -> ids.FunctionKind | None:
        return ids.lookup(
            int(self._readtext(dev_dir / "vendor"), 16), int(self._readtext(dev_dir / "device"), 16)
        )

    def _driver(self, dev_dir: Path) -> str | None:
        link = dev_dir / "driver"
        return Path(os.readlink(link)).name if os.path.lexists(link) else None

    def _group(self, dev_dir: Path) -> str | None:
        link = dev_dir / "iommu_group"
        return Path(os.readlink(link)).name if os.path.lexists(link) else None

    # --- creating and removing functions ---------------------------------------------

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
        state: dict[str, Any] | None = None,
    ) -> Path:
        """Create an unbound PCI function (and its IOMMU group when there is an IOMMU).

        ``state`` is the kernel state already loaded by a caller that will save it.
        """
        if state is None:
            with self._state() as fresh:
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
        dom, bus, dev, fn = _parse_bdf(bdf)
        d = self.sys / "devices" / f"pci{dom:04x}:{bus:02x}" / bdf
        if d.exists():
            raise FileExistsError(f"{bdf} already exists in the fake tree")
        d.mkdir(parents=True)
        self._put(d / "vendor", f"0x{vendor:04x}\n")
        self._put(d / "device", f"0x{device:04x}\n")
        self._put(d / "subsystem_vendor", f"0x{subsys[0]:04x}\n")
        self._put(d / "subsystem_device", f"0x{subsys[1]:04x}\n")
        self._put(d / "class", f"0x{class_code:06x}\n")
        self._put(d / "revision", f"0x{revision:02x}\n")
        self._put(d / "numa_node", f"{numa_node}\n", 0o644)
        self._put(d / "enable", "0\n", 0o644)
        self._put(d / "local_cpulist", "0-15\n" if numa_node <= 0 else "16-31\n")
        self._put(d / "driver_override", "(null)\n", 0o644)
        self._put(d / "irq", "0\n")
        modalias = (
            f"pci:v{vendor:08X}d{device:08X}sv{subsys[0]:08X}sd{subsys[1]:08X}"
            f"bc{class_code >> 16:02X}sc{class_code >> 8 & 0xFF:02X}i{class_code & 0xFF:02X}"
        )
        self._put(d / "modalias", modalias + "\n")
        self._put(
            d / "uevent",
            f"PCI_CLASS={class_code:X}\nPCI_ID={vendor:04X}:{device:04X}\n"
            f"PCI_SUBSYS_ID={subsys[0]:04X}:{subsys[1]:04X}\nPCI_SLOT_NAME={bdf}\n"
            f"MODALIAS={modalias}\n",
            0o644,
        )
        base = 0x38_0000_0000 + (bus << 28) + ((dev << 3 | fn) << 21)
        self._put(d / "resource", _resource_text(bars, base))
        for index, _size, _flags in bars:
            if index < 6:
                self._put(d / f"resource{index}", b"", 0o600)
        self._put(
            d / "config",
            _config_space(
                vendor, device, class_code, revision, subsys, sriov=sriov_total > 0, pcie=pcie
            ),
            0o644,
        )
        if sriov_total:
            self._put(d / "sriov_totalvfs", f"{sriov_total}\n")
            self._put(d / "sriov_numvfs", "0\n", 0o644)
            self._put(d / "sriov_offset", f"{sriov_offset}\n")
            self._put(d / "sriov_stride", "1\n")
            self._put(d / "sriov_vf_device", f"{vf_device:x}\n")
            self._put(d / "sriov_drivers_autoprobe", "1\n", 0o644)
        self._symlink(d / "subsystem", self.sys / "bus" / "pci")
        self._symlink(self.host.pci_device(bdf), d)
        if state["iommu"] != "off":
            group = state["next_group"]
            state["next_group"] = group + 1
            g = self.host.iommu_groups / str(group)
            self._symlink(g / "devices" / bdf, d)
            self._put(g / "type", "DMA\n")
            if state["iommu"] == "noiommu":
                self._put(g / "name", "vfio-noiommu\n")
            self._symlink(d / "iommu_group", g)
        return d

    def remove_function(self, bdf: str) -> None:
        """Take a function away as hot-unplug does (its VFs first, if it is a PF)."""
        d = self.dev_dir(bdf)
        if not d.is_dir():
            raise FileNotFoundError(f"{bdf} is not in the fake tree")
        with self._state() as state:
            self._remove(state, d)

    def _remove(self, state: dict[str, Any], d: Path) -> None:
        bdf = d.name
        if (d / "sriov_numvfs").exists():
            self._disable_vfs(state, d)
        if self._driver(d) is not None:
            self._detach(state, d)
        group = self._group(d)
        if group is not None:
            g = self.host.iommu_groups / group
            (g / "devices" / bdf).unlink(missing_ok=True)
            if not any((g / "devices").iterdir()):
                shutil.rmtree(g)
        self.host.pci_device(bdf).unlink(missing_ok=True)
        shutil.rmtree(d)
        state["in_use"] = [b for b in state["in_use"] if b != bdf]

    # --- drivers -----------------------------------------------------------------------

    def load_driver(self, name: str) -> None:
        """Present a PCI driver as loaded (``sys/bus/pci/drivers/<name>``)."""
        d = self.host.pci_drivers / name
        for op in ("bind", "unbind", "new_id", "remove_id"):
            if not (d / op).exists():
                self._put(d / op, "", 0o200)

    def _matches(self, state: dict[str, Any], d: Path, drv: str) -> bool:
        override = self._readtext(d / "driver_override")
        if override not in ("(null)", ""):
            return override == drv
        kind = self._kind(d)
        device = int(self._readtext(d / "device"), 16)
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

    def _attach(self, state: dict[str, Any], d: Path, drv: str) -> bool:
        """Probe ``drv`` on ``d``; False (and a dmesg line) when the probe fails."""
        bdf = d.name
        kind = self._kind(d)
        if drv in VFIO_DRIVERS:
            if kind is not None and kind.family.vfio_denylisted and not state["denylist_disabled"]:
                self._log(state, bdf, f"{drv}: device exists in vfio-pci device denylist")
                self._log(state, bdf, f"{drv}: probe failed with error -22")
                return False
            if self._group(d) is None:
                self._log(state, bdf, f"{drv}: probe failed with error -22 (no IOMMU group)")
                return False
        elif kind is not None and not kind.is_vf:
            missing = [f for f in kind.family.firmware if not self._firmware(f)]
            if missing:
                self._log(state, bdf, f"Failed to load MMP firmware {missing[0]}")
                self._log(state, bdf, f"{drv}: probe failed with error -14")
                return False
        self._symlink(d / "driver", self.host.pci_drivers / drv)
        self._symlink(self.host.pci_drivers / drv / bdf, d)
        self._put(d / "enable", "1\n", 0o644)
        uevent = (d / "uevent").read_text()
        self._put(d / "uevent", f"DRIVER={drv}\n{uevent}", 0o644)
        if drv in VFIO_DRIVERS:
            self._vfio_node(state, d, create=True)
        elif kind is not None and not kind.is_vf:
            self._pf_probe(state, d, kind)
        return True

    def _detach(self, state: dict[str, Any], d: Path) -> None:
        bdf = d.name
        drv = self._driver(d)
        kind = self._kind(d)
        if kind is not None and not kind.is_vf and drv == kind.family.pf_driver:
            if (d / "sriov_numvfs").exists():
                self._disable_vfs(state, d)
            shutil.rmtree(d / "qat", ignore_errors=True)
            shutil.rmtree(d / "qat_ras", ignore_errors=True)
            shutil.rmtree(self._debugfs_dir(kind, bdf), ignore_errors=True)
            state["accel_ids"].pop(bdf, None)
        (d / "driver").unlink(missing_ok=True)
        if drv is not None:
            (self.host.pci_drivers / drv / bdf).unlink(missing_ok=True)
        self._put(d / "enable", "0\n", 0o644)
        lines = [
            ln for ln in (d / "uevent").read_text().splitlines() if not ln.startswith("DRIVER=")
        ]
        self._put(d / "uevent", "\n".join(lines) + "\n", 0o644)
        if drv in VFIO_DRIVERS:
            self._vfio_node(state, d, create=False)

    def _vfio_node(self, state: dict[str, Any], d: Path, *, create: bool) -> None:
        group = self._group(d)
        if group is None:
            return
        name = f"noiommu-{group}" if state["iommu"] == "noiommu" else group
        node = self.host.vfio / name
        if create:
            if not node.exists():
                self._put(node, b"", 0o600)
            if not (self.host.vfio / "vfio").exists():
                self._put(self.host.vfio / "vfio", b"", 0o666)
        else:
            node.unlink(missing_ok=True)

    def _firmware(self, name: str) -> bool:
        fw = self.prefix / "lib" / "firmware"
        return any((fw / (name + ext)).exists() for ext in ("", ".xz", ".zst"))

    def probe(self, bdf: str, shown: Path | str = "drivers_probe") -> None:
        """``drivers_probe``: bind the first matching loaded driver, if any."""
        d = self.dev_dir(bdf) if os.path.lexists(self.host.pci_device(bdf)) else None
        if d is None:
            raise _err(errno.ENODEV, shown)
        with self._state() as state:
            if self._driver(d) is not None:
                return
            drivers = (
                sorted(p.name for p in self.host.pci_drivers.iterdir())
                if self.host.pci_drivers.exists()
                else []
            )
            for drv in drivers:
                if self._matches(state, d, drv):
                    self._attach(state, d, drv)
                    return

    def _bind_store(self, bdf: str, drv: str, shown: Path) -> None:
        if not os.path.lexists(self.host.pci_device(bdf)):
            raise _err(errno.ENODEV, shown)
        d = self.dev_dir(bdf)
        with self._state() as state:
            if not self._matches(state, d, drv):
                raise _err(errno.ENODEV, shown)
            if self._driver(d) is not None:
                raise _err(errno.EBUSY, shown)
            if not self._attach(state, d, drv):
                raise _err(errno.EINVAL, shown)

    def _unbind_store(self, bdf: str, drv: str, shown: Path) -> None:
        if not os.path.lexists(self.host.pci_device(bdf)):
            raise _err(errno.ENODEV, shown)
        d = self.dev_dir(bdf)
        with self._state() as state:
            if self._driver(d) != drv:
                raise _err(errno.ENODEV, shown)
            if bdf in state["in_use"] and drv in VFIO_DRIVERS:
                # The kernel would wait for the user to close the device; say busy.
                raise _err(errno.EBUSY, shown)
            self._detach(state, d)

    def _new_id(self, text: str, drv: str, shown: Path) -> None:
        parts = text.split()
        if len(parts) < 2:
            raise _err(errno.EINVAL, shown)
        try:
            device = int(parts[1], 16)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        with self._state() as state:
            state["new_ids"].setdefault(drv, []).append(device)

    def _store_override(self, d: Path, text: str, shown: Path) -> None:
        if len(text) >= 4096:
            raise _err(errno.EINVAL, shown)
        value = text.split("\n", 1)[0]
        self._put(d / "driver_override", (value or "(null)") + "\n", 0o644)

    # --- the QAT PF driver -------------------------------------------------------------

    def _debugfs_dir(self, kind: ids.FunctionKind, bdf: str) -> Path:
        return self.host.debugfs / f"qat_{kind.class_name}_{bdf}"

    def _pf_probe(self, state: dict[str, Any], d: Path, kind: ids.FunctionKind) -> None:
        bdf = d.name
        used = set(state["accel_ids"].values())
        accel = next(i for i in range(len(used) + 1) if i not in used)
        state["accel_ids"][bdf] = accel
        version = tuple(state["kernel"])
        gen4 = kind.generation >= ids.Generation.GEN4
        if gen4:
            q = d / "qat"
            default = "sym;asym" if accel % 2 == 0 else "dc"
            if version >= V_TOKEN_PARSER:
                default = _canonical(default)
            self._put(q / "state", "down\n", 0o644)
            self._put(q / "cfg_services", default + "\n", 0o644)
            if version >= V_PM_IDLE:
                self._put(q / "pm_idle_enabled", "1\n", 0o644)
            if version >= V_RP2SRV:
                self._put(q / "rp2srv", "", 0o644)
                self._put(q / "num_rps", f"{kind.family.pf_banks}\n")
                r = d / "qat_ras"
                for name in ("errors_correctable", "errors_nonfatal", "errors_fatal"):
                    self._put(r / name, "0\n")
                self._put(r / "reset_error_counters", "", 0o200)
            if version >= V_AUTO_RESET:
                self._put(q / "auto_reset", "off\n", 0o644)
        dbg = self._debugfs_dir(kind, bdf)
        dbg.mkdir(parents=True, exist_ok=True)
        self._write_dev_cfg(state, d, kind, up=False)
        self._start(state, d, kind)

    def _services(self, d: Path) -> str | None:
        f = d / "qat" / "cfg_services"
        return self._readtext(f) if f.exists() else None

    def _write_dev_cfg(
        self, state: dict[str, Any], d: Path, kind: ids.FunctionKind, *, up: bool
    ) -> None:
        lines = ["[GENERAL]"]
        services = self._services(d)
        if services is not None:
            lines.append(f"ServicesEnabled = {services}")
        pm = d / "qat" / "pm_idle_enabled"
        if pm.exists():
            lines.append(f"PmIdleSupport = {self._readtext(pm)}")
        if up:
            numvfs = d / "sriov_numvfs"
            sriov = numvfs.exists() and self._readtext(numvfs) != "0"
            lines.append(f"SriovEnabled = {int(sriov)}")
            kernel_inst = 0 if sriov else 1
            lines += [
                "[KERNEL]",
                f"NumberCyInstances = {kernel_inst}",
                f"NumberDcInstances = {kernel_inst}",
                "[Accelerator0]",
            ]
        self._put(self._debugfs_dir(kind, d.name) / "dev_cfg", "\n".join(lines) + "\n", 0o400)

    def _start(self, state: dict[str, Any], d: Path, kind: ids.FunctionKind) -> int:
        """Bring a PF up: 0, or the errno the driver fails with."""
        bdf = d.name
        missing = [f for f in kind.family.firmware if not self._firmware(f)]
        if missing:
            self._log(state, bdf, f"Failed to load MMP firmware {missing[0]}")
            self._log(state, bdf, f"Failed to start device qat_dev{state['accel_ids'].get(bdf)}")
            return errno.EFAULT
        if (d / "qat").exists():
            self._put(d / "qat" / "state", "up\n", 0o644)
        self._write_dev_cfg(state, d, kind, up=True)
        dbg = self._debugfs_dir(kind, bdf)
        version = tuple(state["kernel"])
        if version >= V_HEARTBEAT:
            hb = dbg / "heartbeat"
            self._put(hb / "status", "0\n\x00", 0o400)
            self._put(hb / "queries_sent", "0\n", 0o400)
            self._put(hb / "queries_failed", "0\n", 0o400)
            period = 200 if kind.generation >= ids.Generation.GEN4 else 500
            self._put(hb / "config", f"{period}\n", 0o600)
            engines = kind.family.engines or 1
            rows = ["AE " + f"{'Requests':>16}{'Responses':>16}"]
            rows += [f"{ae:2d}:{0:>16}{0:>16}" for ae in range(max(engines - 1, 1))]
            self._put(dbg / "fw_counters", "\n".join(rows) + "\n", 0o400)
        if version >= V_TELEMETRY and kind.generation >= ids.Generation.GEN4:
            tl = dbg / "telemetry"
            self._put(tl / "control", "0\n", 0o644)
            self._put(tl / "device_data", "", 0o444)
            for slot in "ABCD":
                self._put(tl / f"rp_{slot}_data", "", 0o644)
            state["telemetry"][bdf] = {"samples": 0, "reads": 0, "rp": {}}
        return 0

    def _stop(self, state: dict[str, Any], d: Path, kind: ids.FunctionKind) -> None:
        bdf = d.name
        if (d / "sriov_numvfs").exists():
            self._disable_vfs(state, d)
        if (d / "qat").exists():
            self._put(d / "qat" / "state", "down\n", 0o644)
        dbg = self._debugfs_dir(kind, bdf)
        for name in ("heartbeat", "telemetry"):
            shutil.rmtree(dbg / name, ignore_errors=True)
        (dbg / "fw_counters").unlink(missing_ok=True)
        state["telemetry"].pop(bdf, None)
        self._write_dev_cfg(state, d, kind, up=False)

    def _pf(self, d: Path) -> ids.FunctionKind:
        kind = self._kind(d)
        assert kind is not None and not kind.is_vf
        return kind

    def _busy(self, state: dict[str, Any], bdf: str) -> bool:
        return bdf in state["in_use"] or bdf in state["in_reset"]

    def _store_state(self, d: Path, text: str, shown: Path) -> None:
        bdf = d.name
        kind = self._pf(d)
        want = text.strip()
        with self._state() as state:
            if want not in ("up", "down"):
                raise _err(errno.EINVAL, shown)
            if self._busy(state, bdf):
                self._log(state, bdf, f"Device qat_dev{state['accel_ids'].get(bdf)} is busy")
                raise _err(errno.EBUSY, shown)
            current = self._readtext(d / "qat" / "state")
            if want == current:
                self._log(state, bdf, f"Device qat_dev{state['accel_ids'].get(bdf)} already {want}")
                if tuple(state["kernel"]) >= V_REDUNDANT_STATE_OK:
                    return
                raise _err(errno.EINVAL, shown)
            if want == "down":
                self._stop(state, d, kind)
                return
            code = self._start(state, d, kind)
            if code:
                raise _err(code, shown)

    def _store_services(self, d: Path, text: str, shown: Path) -> None:
        bdf = d.name
        kind = self._pf(d)
        with self._state() as state:
            if self._readtext(d / "qat" / "state") != "down":
                self._log(
                    state,
                    bdf,
                    f"Device qat_dev{state['accel_ids'].get(bdf)} must be down to reconfigure "
                    "the service.",
                )
                raise _err(errno.EINVAL, shown)
            value = services_accepted(text, tuple(state["kernel"]), kind.generation)
            if value is None:
                raise _err(errno.EINVAL, shown)
            self._put(d / "qat" / "cfg_services", value + "\n", 0o644)
            state["rp2srv"].pop(bdf, None)
            self._write_dev_cfg(state, d, kind, up=False)

    def _store_pm_idle(self, d: Path, text: str, shown: Path) -> None:
        try:
            value = _kstrtobool(text)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        if self._readtext(d / "qat" / "state") != "down":
            raise _err(errno.EINVAL, shown)
        self._put(d / "qat" / "pm_idle_enabled", f"{int(value)}\n", 0o644)
        with self._state() as state:
            self._write_dev_cfg(state, d, self._pf(d), up=False)

    def _store_auto_reset(self, d: Path, text: str, shown: Path) -> None:
        try:
            value = _kstrtobool(text)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        self._put(d / "qat" / "auto_reset", ("on" if value else "off") + "\n", 0o644)

    def _store_rp2srv(self, d: Path, text: str, shown: Path) -> None:
        kind = self._pf(d)
        try:
            rp = int(text.strip(), 10)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        if not 0 <= rp < (kind.family.pf_banks or 0):
            raise _err(errno.EINVAL, shown)
        with self._state() as state:
            state["rp2srv"][d.name] = rp

    def _show_rp2srv(self, d: Path, real: Path) -> bytes:
        state = self._load()
        rp = state["rp2srv"].get(d.name)
        if rp is None:
            raise _err(errno.EINVAL, real)
        services = ring_services(self._services(d) or "")
        return f"{services[rp % len(services)]}\n".encode()

    # --- SR-IOV --------------------------------------------------------------------------

    def _store_numvfs(self, d: Path, text: str, shown: Path) -> None:
        try:
            want = int(text.strip(), 0)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        if not 0 <= want <= 0xFFFF:
            raise _err(errno.EINVAL, shown)
        bdf = d.name
        total = int(self._readtext(d / "sriov_totalvfs"))
        current = int(self._readtext(d / "sriov_numvfs"))
        with self._state() as state:
            if want > total:
                raise _err(errno.ERANGE, shown)
            if want == current:
                return
            drv = self._driver(d)
            kind = self._kind(d)
            if drv is None or kind is None or drv != kind.family.pf_driver:
                self._log(state, bdf, "no driver bound to device; cannot configure SR-IOV")
                raise _err(errno.ENOENT, shown)
            if want == 0:
                vfs = [self.dev_dir(v) for v in self._virtfns(d)]
                if self._busy(state, bdf) or any(v.name in state["in_use"] for v in vfs):
                    self._log(state, bdf, "Cannot disable SR-IOV, device in use")
                    raise _err(errno.EBUSY, shown)
                self._disable_vfs(state, d)
                self._write_dev_cfg(state, d, kind, up=self._is_up(d))
                return
            if current:
                self._log(
                    state, bdf, f"{current} VFs already enabled. Disable before enabling {want} VFs"
                )
                raise _err(errno.EBUSY, shown)
            if state["iommu"] == "off":
                self._log(state, bdf, "IOMMU should be enabled for SR-IOV to work correctly")
                raise _err(errno.EINVAL, shown)
            if self._busy(state, bdf):
                self._log(state, bdf, "Device busy")
                raise _err(errno.EBUSY, shown)
            if not self._is_up(d):
                code = self._start(state, d, kind)
                if code:
                    raise _err(code, shown)
            if want != total:
                self._log(state, bdf, f"{want} VFs requested; only {total} enabled")
            self._enable_vfs(state, d, kind)

    def _is_up(self, d: Path) -> bool:
        f = d / "qat" / "state"
        return self._readtext(f) == "up" if f.exists() else self._driver(d) is not None

    def _virtfns(self, d: Path) -> list[str]:
        links = sorted((int(p.name[6:]), p) for p in d.iterdir() if p.name.startswith("virtfn"))
        return [Path(os.readlink(p)).name for _, p in links]

    def _enable_vfs(self, state: dict[str, Any], d: Path, kind: ids.FunctionKind) -> None:
        dom, bus, dev, fn = _parse_bdf(d.name)
        total = int(self._readtext(d / "sriov_totalvfs"))
        offset = int(self._readtext(d / "sriov_offset"))
        numa = int(self._readtext(d / "numa_node"))
        rev = int(self._readtext(d / "revision"), 16)
        fam = kind.family
        vf_driver = state["vf_driver"].get(d.name, {})
        for n in range(total):
            rid = (bus << 8 | (dev << 3 | fn)) + offset + n
            vf_bdf = _fmt_bdf(dom, rid >> 8 & 0xFF, rid & 0xFF)
            vd = self.create_function(
                vf_bdf,
                ids.INTEL_VENDOR_ID,
                fam.vf_id,
                class_code=QAT_CLASS,
                revision=rev,
                subsys=(ids.INTEL_VENDOR_ID, 0),
                numa_node=numa,
                bars=[(b.index, b.size, b.flags) for b in _VF_BARS],
                state=state,
            )
            self._symlink(vd / "physfn", d)
            self._symlink(d / f"virtfn{n}", vd)
            drv = vf_driver.get(str(n), vf_driver.get("*"))
            if drv is not None:
                self.load_driver(drv)
                if drv in VFIO_DRIVERS:
                    # As qatlib's qat_init.sh binds them: driver_override, then probe.
                    self._put(vd / "driver_override", f"{drv}\n", 0o644)
                self._attach(state, vd, drv)
        self._put(d / "sriov_numvfs", f"{total}\n", 0o644)
        self._write_dev_cfg(state, d, kind, up=True)

    def _disable_vfs(self, state: dict[str, Any], d: Path) -> None:
        for vf in self._virtfns(d):
            if os.path.lexists(self.host.pci_device(vf)):
                self._remove(state, self.dev_dir(vf))
        for p in list(d.iterdir()):
            if p.name.startswith("virtfn"):
                p.unlink()
        self._put(d / "sriov_numvfs", "0\n", 0o644)

    # --- telemetry -----------------------------------------------------------------------

    def _store_tl_control(self, bdf: str, real: Path, text: str, shown: Path) -> None:
        try:
            n = int(text.strip(), 10)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        if not 0 <= n <= 4:
            raise _err(errno.EINVAL, shown)
        with self._state() as state:
            tl = state["telemetry"].setdefault(bdf, {"samples": 0, "reads": 0, "rp": {}})
            tl["samples"] = n
            tl["reads"] = 0
        self._put(real, f"{n}\n", 0o644)

    def _store_tl_rp(self, bdf: str, slot: str, text: str, shown: Path) -> None:
        try:
            rp = int(text.strip(), 10)
        except ValueError:
            raise _err(errno.EINVAL, shown) from None
        kind = self._pf(self.dev_dir(bdf))
        if not 0 <= rp < (kind.family.pf_banks or 0):
            raise _err(errno.EINVAL, shown)
        with self._state() as state:
            tl = state["telemetry"].setdefault(bdf, {"samples": 0, "reads": 0, "rp": {}})
            if rp in tl["rp"].values():
                return  # already watched by another slot: success, no change
            tl["rp"][slot] = rp

    def _show_telemetry(self, bdf: str, inner: str, real: Path) -> bytes:
        with self._state() as state:
            tl = state["telemetry"].get(bdf)
            if not tl or not tl["samples"]:
                raise _err(errno.EPERM, real)
            rp = None
            if inner != "telemetry/device_data":
                rp = tl["rp"].get(inner.split("_")[1])
                if rp is None:
                    raise _err(errno.EPERM, real)
            tl["reads"] += 1
            reads = tl["reads"]
            samples = tl["samples"]
        d = self.dev_dir(bdf)
        lines = []
        counters = _TL_DEVICE if rp is None else _TL_RP

        def row(name: str, value: int) -> str:
            line = f"{name:<23}{value:>20}"
            if samples >= 2:
                line += f"{value // 2:>20}{value * 2:>20}{value:>20}"
            return line

        lines.append(row("sample_cnt", reads))
        if rp is not None:
            lines.append(f"{'rp_num':<23}{rp:>20}")
            services = ring_services(self._services(d) or "")
            lines.append(f"{'service_type':<23}{services[rp % len(services)]:>20}")
        for i, name in enumerate(counters):
            # Deterministic, distinct, growing with each sample.
            lines.append(row(name, (i + 1) * 100 + reads))
        return ("\n".join(lines) + "\n").encode()


def services_accepted(text: str, version: tuple[int, int], generation: int) -> str | None:
    """What the kernel ``version`` stores for a ``cfg_services`` write, ``None`` if EINVAL."""
    value = text[:-1] if text.endswith("\n") else text
    if version >= V_TOKEN_PARSER:
        tokens = value.split(";")
        if (
            not tokens
            or any(t not in _SVC_ORDER for t in tokens)
            or len(set(tokens)) != len(tokens)
        ):
            return None
        if "dcc" in tokens and len(tokens) > 1:
            return None
        if generation < ids.Generation.GEN6 and ("decomp" in tokens or len(tokens) > 2):
            return None
        if len(tokens) > 3:
            return None
        return _canonical(value)
    allowed = (
        _SERVICES_6_7
        if version >= V_DCC
        else _SERVICES_6_4
        if version >= V_SERVICES_LIST
        else _SERVICES_6_0
    )
    return value if value in allowed else None


def _canonical(value: str) -> str:
    tokens = value.split(";")
    return ";".join(t for t in _SVC_ORDER if t in tokens)


def ring_services(services: str) -> list[str]:
    """Service of ring pairs 0..3 of a VF (and, modulo 4, of the PF) for ``services``."""
    tokens = [t for t in _canonical(services).split(";") if t] or ["sym"]
    tokens = ["dc" if t == "dcc" else t for t in tokens]
    return [tokens[i % len(tokens)] for i in range(4)]


@dataclass
class FakeHost:
    """A built fake tree and its kernel.

    Attributes:
        prefix: the directory that plays ``/``.
        host: the :class:`~qathw.paths.HostRoot` for qathw.
        kernel: the :class:`FakeKernel` to install with :func:`qathw.sysfsio.using`.
    """

    prefix: Path
    host: HostRoot
    kernel: FakeKernel

    @property
    def sysfs_root(self) -> Path:
        """The directory to pass as ``--sysfs-root``."""
        return self.host.sys

    def add_pf(self, spec: PfSpec) -> None:
        """Add (hot-plug) a PF as ``spec`` describes, probing its driver."""
        _add_pf(self.kernel, spec)

    def add_emulated(self, spec: EmulatedSpec) -> None:
        """Present an emulated endpoint's file as an ivshmem function."""
        _add_emulated(self.kernel, spec)

    def unplug(self, bdf: str) -> None:
        """Remove a function as hot-unplug does."""
        self.kernel.remove_function(bdf)

    def set_in_use(self, bdf: str, in_use: bool = True) -> None:
        """Mark a PF as used by kernel crypto users, or a VF as opened by a process."""
        with self.kernel._state() as state:
            marks = set(state["in_use"])
            (marks.add if in_use else marks.discard)(bdf)
            state["in_use"] = sorted(marks)

    def set_in_reset(self, bdf: str, in_reset: bool = True) -> None:
        """Mark a PF as being reset (every state change gets EBUSY)."""
        with self.kernel._state() as state:
            marks = set(state["in_reset"])
            (marks.add if in_reset else marks.discard)(bdf)
            state["in_reset"] = sorted(marks)

    def remove_firmware(self) -> None:
        """Delete every firmware file (a PF coming up then fails with EFAULT)."""
        shutil.rmtree(self.prefix / "lib" / "firmware", ignore_errors=True)


def _add_pf(kernel: FakeKernel, spec: PfSpec) -> None:
    fam = family_of(spec.product)
    kind = ids.FunctionKind(fam, False)
    revision = (
        spec.revision if spec.revision is not None else (0x40 if fam.generation >= 4 else 0x04)
    )
    # VF routing: gen4 VFs start at function 1 (offset 1); gen2 at device 1 (offset 8),
    # as lspci listings show (reference §1.3; C3xxx VF 7 at 01:01.7).
    offset = 1 if fam.generation >= ids.Generation.GEN4 else 8
    bars = [(b.index, b.size, b.flags) for b in _PF_BARS]
    total = fam.max_vfs or 0
    bars += [(i, size * total, _MEM64_PREF) for i, size in _IOV_BARS] if total else []
    d = kernel.create_function(
        spec.bdf,
        ids.INTEL_VENDOR_ID,
        fam.pf_id,
        class_code=QAT_CLASS,
        revision=revision,
        subsys=(ids.INTEL_VENDOR_ID, 0),
        numa_node=spec.numa_node,
        bars=bars,
        sriov_total=total,
        sriov_offset=offset,
        vf_device=fam.vf_id,
    )
    vf_default = fam.vf_name if spec.vf_driver == AUTO else spec.vf_driver
    with kernel._state() as state:
        per_vf: dict[str, str | None] = {"*": vf_default}
        per_vf.update({str(k): v for k, v in spec.vf_drivers.items()})
        state["vf_driver"][spec.bdf] = per_vf
    driver = fam.pf_driver if spec.driver == AUTO else spec.driver
    if driver is None:
        return
    kernel.load_driver(driver)
    for drv in {v for v in per_vf.values() if v}:
        kernel.load_driver(drv)
    with kernel._state() as state:
        if not kernel._attach(state, d, driver):
            return
    q = d / "qat"
    if spec.services is not None and q.exists():
        with kernel._state() as state:
            kernel._stop(state, d, kind)
        kernel.write(q / "cfg_services", spec.services.encode())
        with kernel._state() as state:
            kernel._start(state, d, kind)
    if spec.num_vfs:
        kernel.write(d / "sriov_numvfs", f"{spec.num_vfs}\n".encode())
    if spec.state == "down" and q.exists():
        # The mid-reset picture: state reads down while the VFs still exist.
        kernel._put(q / "state", "down\n", 0o644)


def _add_emulated(kernel: FakeKernel, spec: EmulatedSpec) -> None:
    path = Path(spec.path).absolute()
    size = path.stat().st_size
    d = kernel.create_function(
        spec.bdf,
        ids.IVSHMEM_VENDOR_ID,
        ids.IVSHMEM_DEVICE_ID,
        class_code=IVSHMEM_CLASS,
        revision=1,
        subsys=(0x1AF4, 0x1100),
        numa_node=spec.numa_node,
        bars=[(0, 0x100, _MEM32), (2, size, _MEM64_PREF)],
        pcie=False,
    )
    (d / "resource2").unlink(missing_ok=True)
    os.symlink(path, d / "resource2")
    if spec.driver is not None:
        kernel.load_driver(spec.driver)
        with kernel._state() as state:
            kernel._attach(state, d, spec.driver)


def _write_host_files(kernel: FakeKernel, topo: Topology) -> None:
    p = kernel.prefix
    kernel._put(p / "sys" / "bus" / "pci" / "drivers_probe", "", 0o200)
    kernel._put(p / "sys" / "bus" / "pci" / "drivers_autoprobe", "1\n", 0o644)
    (p / "sys" / "kernel" / "iommu_groups").mkdir(parents=True, exist_ok=True)
    debug = p / "sys" / "kernel" / "debug"
    debug.mkdir(parents=True, exist_ok=True)
    os.chmod(debug, 0o700)
    for size, count in (("2048kB", topo.hugepages_2m), ("1048576kB", 0)):
        hp = p / "sys" / "kernel" / "mm" / "hugepages" / f"hugepages-{size}"
        for name in ("nr_hugepages", "free_hugepages"):
            kernel._put(hp / name, f"{count}\n", 0o644)
    kernel._put(p / "sys" / "module" / "vfio_pci" / "parameters" / "disable_denylist", "N\n")
    kernel._put(
        p / "sys" / "module" / "vfio" / "parameters" / "enable_unsafe_noiommu_mode",
        "Y\n" if topo.iommu == "noiommu" else "N\n",
        0o644,
    )
    if topo.firmware:
        for fam in ids.FAMILIES:
            for name in fam.firmware:
                kernel._put(p / "lib" / "firmware" / name, b"fake firmware\n", 0o644)
    (p / "dev").mkdir(exist_ok=True)
    (p / "run").mkdir(exist_ok=True)


def build(prefix: str | os.PathLike[str], topology: Topology | str) -> FakeHost:
    """Build a fake host tree under ``prefix``.

    Args:
        prefix: an empty (or missing) directory that will play ``/``.
        topology: a :class:`Topology` or the name of one in :data:`NAMED`.

    Returns:
        The host: ``host.sysfs_root`` for ``--sysfs-root``, ``host.kernel`` for
        :func:`qathw.sysfsio.using`.

    Raises:
        ValueError: unknown topology or product, or ``prefix`` is not empty.
    """
    if isinstance(topology, str):
        if topology not in NAMED:
            raise ValueError(f"unknown topology {topology!r}; known: {', '.join(sorted(NAMED))}")
        topology = NAMED[topology]
    root = Path(prefix).absolute()
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty; build a fake tree in an empty directory")
    root.mkdir(parents=True, exist_ok=True)
    kernel = FakeKernel(root)
    with kernel._state() as state:
        state["kernel"] = list(topology.kernel)
        state["iommu"] = topology.iommu
    _write_host_files(kernel, topology)
    if topology.iommu != "off":
        kernel.load_driver("vfio-pci")
    for drv in topology.loaded_drivers:
        kernel.load_driver(drv)
    for pf in sorted(topology.pfs, key=lambda s: _parse_bdf(s.bdf)):
        _add_pf(kernel, pf)
    for em in topology.emulated:
        _add_emulated(kernel, em)
    return FakeHost(root, HostRoot(root), kernel)


def main(argv: list[str] | None = None) -> int:
    """``python -m fakedev.sysfs DIR --topology NAME``: build a tree to try the CLI on."""
    parser = argparse.ArgumentParser(prog="python -m fakedev.sysfs", description=main.__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--topology", default="seed", choices=sorted(NAMED))
    parser.add_argument(
        "--emulated",
        action="append",
        default=[],
        metavar="BDF=FILE",
        help="present an emulated endpoint file as an ivshmem function",
    )
    args = parser.parse_args(argv)
    topo = NAMED[args.topology]
    extra = []
    for item in args.emulated:
        bdf, _, file = item.partition("=")
        extra.append(EmulatedSpec(bdf, Path(file)))
    if extra:
        topo = Topology(**{**topo.__dict__, "emulated": topo.emulated + tuple(extra)})
    try:
        fake = build(args.directory, topo)
    except (ValueError, OSError) as exc:
        print(f"fakedev: {exc}", file=sys.stderr)
        return 1
    print(f"built topology {topo.name!r}: qathw list --sysfs-root {fake.sysfs_root}")
    return 0


def describe(fake: FakeHost) -> Mapping[str, Any]:
    """The fake kernel's non-file state (for debugging a test)."""
    return fake.kernel._load()


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "NAMED",
    "EmulatedSpec",
    "FakeHost",
    "FakeKernel",
    "PfSpec",
    "Topology",
    "build",
    "ring_services",
    "services_accepted",
]
