"""The QAT PF driver of the fake kernel, and the write rules of its ``qat/`` attributes.

Probing a PF creates its ``qat/`` group (by kernel version), ``qat_ras/``, its debugfs
directory, an accel id, and starts it. The write rules (docs/hardware.md#sysfs-abi):

* ``qat/state``: ``up``/``down``; ``EBUSY`` in use or in reset; redundant writes are
  no-ops from 6.7 on and ``EINVAL`` before; ``down`` disables SR-IOV and drops every
  config section but GENERAL; ``up`` fails with ``EFAULT`` without firmware.
* ``qat/cfg_services`` and ``qat/pm_idle_enabled``: only while down (``EINVAL``), with
  the grammar of the kernel version (:mod:`fakedev.sysfs.services`).
* ``qat/rp2srv``: a ring pair to ask about; reading it before one is selected is
  ``EINVAL``.
* ``sriov_numvfs`` reaches the driver through :func:`fakedev.sysfs.sriov.store_numvfs`.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from fakedev.sysfs import services
from fakedev.sysfs.bus import PciBus
from fakedev.sysfs.telemetry import Telemetry
from fakedev.sysfs.tree import State, Tree, kernel_error
from fakedev.sysfs.versions import (
    V_AUTO_RESET,
    V_HEARTBEAT,
    V_PM_IDLE,
    V_REDUNDANT_STATE_OK,
    V_RP2SRV,
    V_TELEMETRY,
    V_TOKEN_PARSER,
)
from qathw import ids

_RAS_COUNTERS = ("errors_correctable", "errors_nonfatal", "errors_fatal")


def kstrtobool(text: str) -> bool:
    """The kernel's ``kstrtobool``: y/1/on, n/0/off.

    Raises:
        ValueError: anything else.
    """
    t = text.strip().lower()
    if t[:1] in ("y", "1") or t in ("on",):
        return True
    if t[:1] in ("n", "0") or t in ("off",):
        return False
    raise ValueError(text)


class QatPfDriver:
    """The in-tree QAT PF driver (``4xxx``, ``c6xx``, ...) of a fake tree.

    Args:
        tree: the fake host's files and state.
        bus: the PCI core, which enables and disables VFs.
        telemetry: the debugfs telemetry a started gen4 PF gets.
    """

    def __init__(self, tree: Tree, bus: PciBus, telemetry: Telemetry) -> None:
        self.tree = tree
        self.bus = bus
        self.telemetry = telemetry

    def debugfs_dir(self, kind: ids.FunctionKind, bdf: str) -> Path:
        """``sys/kernel/debug/qat_<class>_<bdf>``."""
        return self.tree.host.debugfs / f"qat_{kind.class_name}_{bdf}"

    # --- bound and unbound ----------------------------------------------------------------

    def probe_error(self, state: State, d: Path, kind: ids.FunctionKind) -> int:
        """``EFAULT``, logged, when the firmware is missing; else 0."""
        missing = [f for f in kind.family.firmware if not self.tree.firmware(f)]
        if missing:
            self.tree.log(state, d.name, f"Failed to load MMP firmware {missing[0]}")
            return errno.EFAULT
        return 0

    def probe(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Create the PF's attributes and debugfs directory, then start it."""
        t = self.tree
        bdf = d.name
        used = set(state["accel_ids"].values())
        accel = next(i for i in range(len(used) + 1) if i not in used)
        state["accel_ids"][bdf] = accel
        version = tuple(state["kernel"])
        if kind.family.traits.sysfs_control:
            q = d / "qat"
            default = "sym;asym" if accel % 2 == 0 else "dc"
            if version >= V_TOKEN_PARSER:
                default = services.canonical(default)
            t.put(q / "state", "down\n", 0o644)
            t.put(q / "cfg_services", default + "\n", 0o644)
            if version >= V_PM_IDLE:
                t.put(q / "pm_idle_enabled", "1\n", 0o644)
            if version >= V_RP2SRV:
                t.put(q / "rp2srv", "", 0o644)
                t.put(q / "num_rps", f"{kind.family.pf_banks}\n")
                r = d / "qat_ras"
                for name in _RAS_COUNTERS:
                    t.put(r / name, "0\n")
                t.put(r / "reset_error_counters", "", 0o200)
            if version >= V_AUTO_RESET:
                t.put(q / "auto_reset", "off\n", 0o644)
        self.debugfs_dir(kind, bdf).mkdir(parents=True, exist_ok=True)
        self.write_dev_cfg(state, d, kind, up=False)
        self.start(state, d, kind)

    def remove(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Disable SR-IOV and take away what :meth:`probe` made."""
        bdf = d.name
        if (d / "sriov_numvfs").exists():
            self.bus.disable_vfs(state, d)
        shutil.rmtree(d / "qat", ignore_errors=True)
        shutil.rmtree(d / "qat_ras", ignore_errors=True)
        shutil.rmtree(self.debugfs_dir(kind, bdf), ignore_errors=True)
        state["accel_ids"].pop(bdf, None)

    # --- up and down ----------------------------------------------------------------------

    def write_dev_cfg(self, state: State, d: Path, kind: ids.FunctionKind, *, up: bool) -> None:
        """The debugfs ``dev_cfg``: GENERAL always, the rest only while up."""
        t = self.tree
        lines = ["[GENERAL]"]
        configured = services.configured(d)
        if configured is not None:
            lines.append(f"ServicesEnabled = {configured}")
        pm = d / "qat" / "pm_idle_enabled"
        if pm.exists():
            lines.append(f"PmIdleSupport = {t.text(pm)}")
        if up:
            numvfs = d / "sriov_numvfs"
            sriov = numvfs.exists() and t.text(numvfs) != "0"
            lines.append(f"SriovEnabled = {int(sriov)}")
            kernel_inst = 0 if sriov else 1
            lines += [
                "[KERNEL]",
                f"NumberCyInstances = {kernel_inst}",
                f"NumberDcInstances = {kernel_inst}",
                "[Accelerator0]",
            ]
        t.put(self.debugfs_dir(kind, d.name) / "dev_cfg", "\n".join(lines) + "\n", 0o400)

    def start(self, state: State, d: Path, kind: ids.FunctionKind) -> int:
        """Bring a PF up: 0, or the errno the driver fails with."""
        t = self.tree
        bdf = d.name
        missing = [f for f in kind.family.firmware if not t.firmware(f)]
        if missing:
            t.log(state, bdf, f"Failed to load MMP firmware {missing[0]}")
            t.log(state, bdf, f"Failed to start device qat_dev{state['accel_ids'].get(bdf)}")
            return errno.EFAULT
        if (d / "qat").exists():
            t.put(d / "qat" / "state", "up\n", 0o644)
        self.write_dev_cfg(state, d, kind, up=True)
        dbg = self.debugfs_dir(kind, bdf)
        version = tuple(state["kernel"])
        if version >= V_HEARTBEAT:
            hb = dbg / "heartbeat"
            t.put(hb / "status", "0\n\x00", 0o400)
            t.put(hb / "queries_sent", "0\n", 0o400)
            t.put(hb / "queries_failed", "0\n", 0o400)
            period = kind.family.traits.heartbeat_ms
            t.put(hb / "config", f"{period}\n", 0o600)
            engines = kind.family.engines or 1
            rows = ["AE " + f"{'Requests':>16}{'Responses':>16}"]
            rows += [f"{ae:2d}:{0:>16}{0:>16}" for ae in range(max(engines - 1, 1))]
            t.put(dbg / "fw_counters", "\n".join(rows) + "\n", 0o400)
        if version >= V_TELEMETRY and kind.family.traits.telemetry:
            self.telemetry.create(state, dbg, bdf)
        return 0

    def stop(self, state: State, d: Path, kind: ids.FunctionKind) -> None:
        """Bring a PF down: its VFs go, and the debugfs files of a running device."""
        bdf = d.name
        if (d / "sriov_numvfs").exists():
            self.bus.disable_vfs(state, d)
        if (d / "qat").exists():
            self.tree.put(d / "qat" / "state", "down\n", 0o644)
        dbg = self.debugfs_dir(kind, bdf)
        for name in ("heartbeat", "telemetry"):
            shutil.rmtree(dbg / name, ignore_errors=True)
        (dbg / "fw_counters").unlink(missing_ok=True)
        state["telemetry"].pop(bdf, None)
        self.write_dev_cfg(state, d, kind, up=False)

    def is_up(self, d: Path) -> bool:
        """Up: ``qat/state`` says so, or (gen2, no ``qat/``) a driver is bound."""
        f = d / "qat" / "state"
        return self.tree.text(f) == "up" if f.exists() else self.tree.driver(d) is not None

    # --- write rules of qat/ ----------------------------------------------------------------

    def store_state(self, d: Path, text: str, shown: Path) -> None:
        """``qat/state``."""
        t = self.tree
        bdf = d.name
        kind = t.pf(d)
        want = text.strip()
        with t.state() as state:
            if want not in ("up", "down"):
                raise kernel_error(errno.EINVAL, shown)
            if t.busy(state, bdf):
                t.log(state, bdf, f"Device qat_dev{state['accel_ids'].get(bdf)} is busy")
                raise kernel_error(errno.EBUSY, shown)
            current = t.text(d / "qat" / "state")
            if want == current:
                t.log(state, bdf, f"Device qat_dev{state['accel_ids'].get(bdf)} already {want}")
                if tuple(state["kernel"]) >= V_REDUNDANT_STATE_OK:
                    return
                raise kernel_error(errno.EINVAL, shown)
            if want == "down":
                self.stop(state, d, kind)
                return
            code = self.start(state, d, kind)
            if code:
                raise kernel_error(code, shown)

    def store_services(self, d: Path, text: str, shown: Path) -> None:
        """``qat/cfg_services``."""
        t = self.tree
        bdf = d.name
        kind = t.pf(d)
        with t.state() as state:
            if t.text(d / "qat" / "state") != "down":
                t.log(
                    state,
                    bdf,
                    f"Device qat_dev{state['accel_ids'].get(bdf)} must be down to reconfigure "
                    "the service.",
                )
                raise kernel_error(errno.EINVAL, shown)
            value = services.services_accepted(text, tuple(state["kernel"]), kind.generation)
            if value is None:
                raise kernel_error(errno.EINVAL, shown)
            t.put(d / "qat" / "cfg_services", value + "\n", 0o644)
            state["rp2srv"].pop(bdf, None)
            self.write_dev_cfg(state, d, kind, up=False)

    def store_pm_idle(self, d: Path, text: str, shown: Path) -> None:
        """``qat/pm_idle_enabled``."""
        t = self.tree
        try:
            value = kstrtobool(text)
        except ValueError:
            raise kernel_error(errno.EINVAL, shown) from None
        if t.text(d / "qat" / "state") != "down":
            raise kernel_error(errno.EINVAL, shown)
        t.put(d / "qat" / "pm_idle_enabled", f"{int(value)}\n", 0o644)
        with t.state() as state:
            self.write_dev_cfg(state, d, t.pf(d), up=False)

    def store_auto_reset(self, d: Path, text: str, shown: Path) -> None:
        """``qat/auto_reset``."""
        try:
            value = kstrtobool(text)
        except ValueError:
            raise kernel_error(errno.EINVAL, shown) from None
        self.tree.put(d / "qat" / "auto_reset", ("on" if value else "off") + "\n", 0o644)

    def store_rp2srv(self, d: Path, text: str, shown: Path) -> None:
        """``qat/rp2srv``: select a ring pair to ask about."""
        kind = self.tree.pf(d)
        try:
            rp = int(text.strip(), 10)
        except ValueError:
            raise kernel_error(errno.EINVAL, shown) from None
        if not 0 <= rp < (kind.family.pf_banks or 0):
            raise kernel_error(errno.EINVAL, shown)
        with self.tree.state() as state:
            state["rp2srv"][d.name] = rp

    def show_rp2srv(self, d: Path, real: Path) -> bytes:
        """``qat/rp2srv`` read: the service of the selected ring pair."""
        rp = self.tree.load()["rp2srv"].get(d.name)
        if rp is None:
            raise kernel_error(errno.EINVAL, real)
        generation = self.tree.pf(d).generation
        served = services.ring_services(services.configured(d) or "", generation)
        return f"{served[rp % len(served)]}\n".encode()
