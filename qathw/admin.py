"""Root actions on QAT functions, with the kernel's semantics.

Each action checks first what the kernel would refuse — wrong kind of function, device
up where it must be down, services the generation does not take, driver not loaded,
vfio-pci's gen2 denylist, no IOMMU — and says what to do, so that nothing is
half-changed. Then it writes the attribute through the sysfs seam (:mod:`qathw.sysfsio`)
and turns the kernel's errno into an error that names the cause. Whether root is needed
is the kernel's answer too: a write refused with ``EACCES``/``EPERM`` becomes "needs
root" (a fake tree its user owns needs none). A multi-step action that fails midway
(``bind``, ``services --restart``, ``restart``) puts back what it changed.

Every action returns a :class:`Change` (``changed`` is ``False`` when the function was
already as asked: the kernel is not asked to repeat itself, since before Linux 6.7 a
redundant ``down`` was an ``EINVAL``).

Sources: docs/hardware.md#sysfs-abi and #host-setup; Linux ``Documentation/ABI/testing/
sysfs-bus-pci`` (``driver_override``, ``drivers_probe``).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from qathw import cfg_services, ids, sysfsio
from qathw.discovery import VFIO_DRIVERS
from qathw.errors import (
    DeviceAccessError,
    DeviceError,
    DeviceNotFoundError,
    DeviceStateError,
    NoIommuError,
    QatError,
)
from qathw.paths import HostRoot
from qathw.pci import PciFunction, read_function
from qathw.pci_regs import PciAddress
from qathw.sysfsio import NOT_KERNEL_HINT, SysfsIO

SERVICE_TOKENS = cfg_services.TOKENS
#: The hint of every "needs root" error.
ROOT_HINT = (
    "run it as root (sudo qathw ...); inspection commands work without root, and so do "
    "actions on a fake tree you own"
)
PF_MODULES = {"c6xx": "qat_c62x"}  # module name when it is not "qat_" + class name


def pf_module(family: ids.Family) -> str:
    """The kernel module that drives a family's PF (``qat_4xxx``, ``qat_c62x``)."""
    return PF_MODULES.get(family.name, f"qat_{family.name}")


@dataclass(frozen=True)
class Change:
    """What an action did.

    Attributes:
        bdf: the function acted on.
        action: ``up``, ``down``, ``restart``, ``services``, ``vfs``, ``bind``.
        before / after: the value before and after (state, services, VF count, driver).
        changed: whether anything was written.
        notes: side effects worth telling (VFs removed, canonicalised services...).
    """

    bdf: str
    action: str
    before: str | None
    after: str | None
    changed: bool
    notes: tuple[str, ...] = ()


def parse_services(text: str) -> list[str]:
    """Check a ``cfg_services`` value's syntax (:func:`qathw.cfg_services.parse`).

    Raises:
        ValueError: empty, unknown token, or repeated token.
    """
    return cfg_services.parse(text)


def check_services(kind: ids.FunctionKind, bdf: str, services: str) -> None:
    """Refuse services that no kernel takes on this function's generation.

    Which of them an older kernel also refuses is the kernel's answer (``EINVAL``).

    Raises:
        ValueError: not a service list.
        DeviceError: the generation does not take these services.
    """
    cfg_services.parse(services)
    why = cfg_services.refusal(services.strip(), int(kind.generation))
    if why is not None:
        traits = kind.family.traits
        raise DeviceError(
            f"{bdf} is a {kind.family.product} ({traits.label}): services '{services.strip()}' "
            f"are refused ({why})",
            hint=f"{cfg_services.ERAS}; e.g. 'sym;asym', 'dc' or 'asym;dc'",
        )


class _Actor:
    def __init__(
        self, host: HostRoot, address: PciAddress | str, io: SysfsIO | None, action: str = ""
    ) -> None:
        self.host = host
        self.io = io or sysfsio.current()
        self.fn = read_function(host, address, io=self.io)
        self.action = action

    @property
    def bdf(self) -> str:
        return self.fn.bdf

    def reread(self) -> PciFunction:
        self.fn = read_function(self.host, self.fn.address, io=self.io)
        return self.fn

    def write(self, path: Path, value: str) -> None:
        try:
            self.io.write(path, value.encode())
        except OSError as exc:
            raise self.os_error(exc, path, value) from exc

    def os_error(self, exc: OSError, path: Path, value: str) -> QatError:
        what = f"writing '{value.strip()}' to {path}"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return needs_root(self.action, what, exc.errno, path)
        if exc.errno in (errno.ENODEV, errno.ENOENT) and not self.io.exists(self.fn.sysfs_path):
            return DeviceNotFoundError(
                f"{self.bdf} disappeared", hint="it was removed; see 'qathw list'", path=path
            )
        return DeviceError.from_oserror(exc, what)

    def qat_pf(self, action: str) -> ids.FunctionKind:
        kind = self.fn.kind
        if kind is None:
            raise DeviceError(
                f"{self.bdf} is not a QAT function ({self.fn.vendor:04x}:{self.fn.device:04x})",
                hint="see 'qathw list' for the QAT functions of this host",
            )
        if kind.is_vf:
            pf = f" (its PF is {self.fn.physfn})" if self.fn.physfn else ""
            raise DeviceError(
                f"{self.bdf} is a VF{pf}; '{action}' acts on a PF",
                hint=f"run 'qathw {action}' on the PF",
            )
        return kind

    def qat_attr(self, action: str, name: str) -> Path:
        kind = self.qat_pf(action)
        path = self.fn.sysfs_path / "qat" / name
        if self.fn.qat is None or not self.io.exists(path):
            if self.fn.driver != kind.family.pf_driver:
                raise DeviceStateError(
                    f"{self.bdf} is not bound to its QAT driver "
                    f"({kind.family.pf_driver}; bound: {self.fn.driver or 'none'})",
                    hint=f"load it with 'modprobe {pf_module(kind.family)}' or "
                    f"'qathw bind {self.bdf} {kind.family.pf_driver}'",
                )
            traits = kind.family.traits
            if not traits.sysfs_control:
                raise DeviceStateError(
                    f"{self.bdf} is a {kind.family.product} ({traits.label}): its driver has no "
                    f"qat/{name} attribute",
                    hint=f"{traits.label} devices start when their driver binds; restart one with "
                    f"'qathw bind {self.bdf} none' then 'qathw bind {self.bdf} "
                    f"{kind.family.pf_driver}'",
                )
            raise DeviceStateError(
                f"this kernel has no qat/{name} for {self.bdf}",
                hint="qat/state and cfg_services need Linux 6.0; pm_idle 6.5; "
                "rp2srv 6.7; auto_reset 6.9",
            )
        return path

    def read_attr(self, path: Path) -> str:
        try:
            data = self.io.read(path)
        except OSError as exc:
            raise DeviceError.from_oserror(exc, f"reading {path}") from exc
        try:
            return data.decode().strip()
        except UnicodeDecodeError as exc:
            raise DeviceError(
                f"{path} holds byte 0x{data[exc.start]:02x} at offset {exc.start}, which is "
                "not UTF-8; the kernel writes ASCII there",
                hint=NOT_KERNEL_HINT,
                path=path,
            ) from exc


def needs_root(action: str, what: str, code: int | None, path: Path | None) -> DeviceAccessError:
    """The error for a write the kernel refused with ``EACCES``/``EPERM``.

    Args:
        action: the qathw command (``down``, ``bind``...).
        what: what was being written, and where.
        code: the errno.
        path: the attribute.
    """
    return DeviceAccessError(
        f"{what}: permission denied; 'qathw {action or 'this'}' needs root",
        hint=ROOT_HINT + " (if you are root, the attribute is read-only on this kernel)",
        errno=code,
        path=path,
    )


def set_state(
    host: HostRoot, address: PciAddress | str, state: str, *, io: SysfsIO | None = None
) -> Change:
    """Bring a gen4+ PF ``up`` or ``down`` (``qat/state``).

    ``down`` also disables SR-IOV (the kernel removes the VFs) and drops every config
    section but GENERAL; the services survive.

    Args:
        host: the host root.
        address: the PF.
        state: ``up`` or ``down``.
        io: the sysfs seam.

    Returns:
        What changed.

    Raises:
        ValueError: ``state`` is neither ``up`` nor ``down``.
        DeviceAccessError: the kernel refused the write (not root).
        DeviceStateError: busy (``EBUSY``), or failed to start (firmware, ``EFAULT``).
        DeviceError: not a QAT PF with ``qat/state``.
    """
    if state not in ("up", "down"):
        raise ValueError(f"state must be 'up' or 'down', not {state!r}")
    a = _Actor(host, address, io, state)
    path = a.qat_attr(state, "state")
    before = a.read_attr(path)
    if before == state:
        return Change(a.bdf, state, before, state, False, (f"{a.bdf} is already {state}",))
    vfs = a.fn.sriov.num_vfs if a.fn.sriov else 0
    try:
        a.io.write(path, f"{state}\n".encode())
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise DeviceStateError(
                f"{a.bdf} is busy; the kernel refused to bring it {state}",
                hint="kernel crypto users hold it or it is resetting; stop them "
                "(or wait for the reset) and retry",
                errno=exc.errno,
                path=path,
            ) from exc
        if state == "up" and exc.errno not in (errno.EACCES, errno.EPERM):
            kind = a.fn.kind
            fw = ", ".join(kind.family.firmware) if kind else "its firmware"
            raise DeviceStateError(
                f"{a.bdf} failed to start ({os.strerror(exc.errno or 0)})",
                hint=f"check that /lib/firmware has {fw} (see 'qathw doctor') and read "
                "the kernel log (dmesg)",
                errno=exc.errno,
                path=path,
            ) from exc
        raise a.os_error(exc, path, state) from exc
    after = a.read_attr(path)
    notes = []
    if state == "down" and vfs:
        notes.append(f"SR-IOV disabled: the kernel removed {vfs} VFs")
    return Change(a.bdf, state, before, after, True, tuple(notes))


def set_services(
    host: HostRoot,
    address: PciAddress | str,
    services: str,
    *,
    restart: bool = False,
    io: SysfsIO | None = None,
) -> Change:
    """Set ``qat/cfg_services`` of a gen4+ PF.

    The kernel takes a new value only while the device is down. With ``restart`` a PF
    that is up is brought down, configured and brought up again; if the kernel refuses
    the value, the PF is brought back up with its old services.

    Args:
        host: the host root.
        address: the PF.
        services: e.g. ``sym;asym``, ``dc``, ``asym;dc``.
        restart: take an up device down and up around the change.
        io: the sysfs seam.

    Returns:
        What changed; a note says when the kernel stored another spelling.

    Raises:
        ValueError: the value is not a service list.
        DeviceError: the generation takes no such services.
        DeviceAccessError: the kernel refused the write (not root).
        DeviceStateError: the device is up (and ``restart`` is not set), or the kernel
            rejected the combination (``EINVAL``).
    """
    parse_services(services)
    services = services.strip()
    a = _Actor(host, address, io, "services")
    path = a.qat_attr("services", "cfg_services")
    state_path = a.qat_attr("services", "state")
    before = a.read_attr(path)
    if before == services or cfg_services.same(before, services):
        return Change(a.bdf, "services", before, before, False, (f"services already {before}",))
    kind = a.fn.kind
    if kind is not None:
        check_services(kind, a.bdf, services)
    was_up = a.read_attr(state_path) == "up"
    if was_up and not restart:
        raise DeviceStateError(
            f"{a.bdf} is up; the kernel changes services only while a device is down",
            hint=f"run 'qathw down {a.bdf}' first (or add --restart to do down, change, up)",
        )
    notes: list[str] = []
    # Going down removes the VFs; remember their drivers to put them back after.
    vf_drivers = [_driver_of(host, v, a.io) for v in a.fn.sriov.vfs] if a.fn.sriov else []
    if was_up:
        set_state(host, a.fn.address, "down", io=a.io)
    try:
        a.io.write(path, f"{services}\n".encode())
    except OSError as exc:
        if was_up:
            set_state(host, a.fn.address, "up", io=a.io)
            notes.append(f"{a.bdf} brought back up with its old services {before}")
            notes.extend(_restore_vfs(host, a.fn.address, vf_drivers, a.io))
        if exc.errno == errno.EINVAL:
            raise DeviceStateError(
                f"the kernel refused services '{services}' for {a.bdf}",
                hint=cfg_services.ERAS + (f" ({'; '.join(notes)})" if notes else ""),
                errno=exc.errno,
                path=path,
            ) from exc
        raise a.os_error(exc, path, services) from exc
    after = a.read_attr(path)
    if after != services:
        notes.append(f"the kernel stores it as '{after}'")
    if was_up:
        set_state(host, a.fn.address, "up", io=a.io)
        notes.append(f"{a.bdf} restarted")
        notes.extend(_restore_vfs(host, a.fn.address, vf_drivers, a.io))
    return Change(a.bdf, "services", before, after, True, tuple(notes))


def restart(host: HostRoot, address: PciAddress | str, *, io: SysfsIO | None = None) -> Change:
    """Restart a gen4+ PF: ``down`` then ``up``, its VFs enabled again on their drivers.

    A PF that is down is just brought up. Going down removes the VFs (the kernel disables
    SR-IOV); they are enabled again and each bound to the driver it had.

    Args:
        host: the host root.
        address: the PF.
        io: the sysfs seam.

    Returns:
        What changed (``before``/``after`` are states).

    Raises:
        DeviceAccessError: the kernel refused the write (not root).
        DeviceStateError: busy, or failed to start.
        DeviceError: not a QAT PF with ``qat/state``.
    """
    a = _Actor(host, address, io, "restart")
    before = a.read_attr(a.qat_attr("restart", "state"))
    if before != "up":
        up = set_state(host, a.fn.address, "up", io=a.io)
        return Change(a.bdf, "restart", before, up.after, True, (f"{a.bdf} was {before}",))
    vf_drivers = [_driver_of(host, v, a.io) for v in a.fn.sriov.vfs] if a.fn.sriov else []
    set_state(host, a.fn.address, "down", io=a.io)
    up = set_state(host, a.fn.address, "up", io=a.io)
    notes = _restore_vfs(host, a.fn.address, vf_drivers, a.io)
    return Change(a.bdf, "restart", before, up.after, True, tuple(notes))


def _restore_vfs(
    host: HostRoot, pf: PciAddress, drivers: list[str | None], io: SysfsIO
) -> list[str]:
    """Enable the VFs again and bind VF ``i`` to ``drivers[i]``; say what was done."""
    if not drivers:
        return []
    set_vfs(host, pf, True, io=io)
    fn = read_function(host, pf, io=io)
    vfs = fn.sriov.vfs if fn.sriov else ()
    failed = []
    for vf, want in zip(vfs, drivers, strict=False):
        if want is not None and _driver_of(host, vf, io) != want:
            try:
                bind(host, vf, want, io=io)
            except QatError as exc:
                failed.append(f"{vf}: {exc.what}")
    used = ", ".join(sorted({d for d in drivers if d})) or "no driver"
    notes = [f"{len(vfs)} VFs enabled again and bound as before ({used})"]
    if failed:
        notes.append(f"could not re-bind {len(failed)} VFs: {'; '.join(failed[:3])}")
    return notes


def set_vfs(
    host: HostRoot, address: PciAddress | str, enable: bool, *, io: SysfsIO | None = None
) -> Change:
    """Enable (all) or disable the SR-IOV VFs of a PF (``sriov_numvfs``).

    QAT drivers enable every VF whatever count is written, so enabling writes
    ``sriov_totalvfs``. Enabling brings a down PF up.

    Args:
        host: the host root.
        address: the PF.
        enable: True to enable all VFs, False to disable them.
        io: the sysfs seam.

    Returns:
        What changed (``before``/``after`` are VF counts).

    Raises:
        DeviceAccessError: the kernel refused the write (not root).
        NoIommuError: enabling without an IOMMU.
        DeviceStateError: no driver bound, VFs partly enabled, or busy (``EBUSY``).
    """
    action = "vfs --enable" if enable else "vfs --disable"
    a = _Actor(host, address, io, action)
    kind = a.qat_pf("vfs")
    sriov = a.fn.sriov
    if sriov is None or sriov.total_vfs is None or sriov.num_vfs is None:
        why = a.fn.unreadable.get("sriov_numvfs", "no SR-IOV capability")
        raise DeviceStateError(f"{a.bdf} has no usable SR-IOV attributes ({why})")
    total, current = sriov.total_vfs, sriov.num_vfs
    want = total if enable else 0
    if current == want:
        return Change(
            a.bdf, "vfs", str(current), str(current), False, (f"VFs already {current}/{total}",)
        )
    if a.fn.driver != kind.family.pf_driver:
        raise DeviceStateError(
            f"{a.bdf} is not bound to its QAT driver; the kernel cannot change its VFs",
            hint=f"'qathw bind {a.bdf} {kind.family.pf_driver}' (or 'modprobe "
            f"{pf_module(kind.family)}') first",
        )
    if enable and current:
        raise DeviceStateError(
            f"{a.bdf} has {current} of {total} VFs enabled; the kernel refuses another count",
            hint=f"'qathw vfs {a.bdf} --disable' first",
        )
    if enable and a.fn.iommu_group is None:
        raise NoIommuError(
            f"{a.bdf} has no IOMMU group; the QAT driver refuses SR-IOV without an IOMMU",
            hint="boot with intel_iommu=on and VT-d enabled in the BIOS (see 'qathw doctor')",
        )
    path = a.fn.sysfs_path / "sriov_numvfs"
    try:
        a.io.write(path, f"{want}\n".encode())
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            who = "a VF is in use (opened by a process or a VM)" if not enable else "it is busy"
            raise DeviceStateError(
                f"the kernel refused to {'enable' if enable else 'disable'} the VFs of "
                f"{a.bdf}: {who}",
                hint="stop what uses it and retry",
                errno=exc.errno,
                path=path,
            ) from exc
        if exc.errno == errno.EINVAL and enable:
            raise NoIommuError(
                f"the kernel refused SR-IOV on {a.bdf} (EINVAL)",
                hint="the QAT driver needs the IOMMU on: boot with intel_iommu=on",
                errno=exc.errno,
                path=path,
            ) from exc
        raise a.os_error(exc, path, str(want)) from exc
    fn = a.reread()
    after = fn.sriov.num_vfs if fn.sriov else None
    notes = []
    if enable and fn.sriov:
        drivers = sorted({_driver_of(host, v, a.io) or "none" for v in fn.sriov.vfs})
        notes.append(f"VF drivers: {', '.join(drivers)}")
    return Change(a.bdf, "vfs", str(current), str(after), True, tuple(notes))


def _driver_of(host: HostRoot, addr: PciAddress, io: SysfsIO) -> str | None:
    try:
        return Path(io.readlink(host.pci_device(str(addr)) / "driver")).name
    except OSError:
        return None


def bind(
    host: HostRoot, address: PciAddress | str, driver: str | None, *, io: SysfsIO | None = None
) -> Change:
    """Bind a QAT (or ivshmem) function to ``driver``, or unbind it (``None``).

    Done the way the kernel documents it: unbind from the current driver, set
    ``driver_override`` (so a later re-probe keeps the choice), write the address to
    ``drivers_probe``, then check the ``driver`` link — a probe that fails still returns
    success to the writer. On failure the previous driver and override are restored.

    Args:
        host: the host root.
        address: the function.
        driver: ``vfio-pci``, the QAT driver (``4xxx``, ``c6xxvf``...), or ``None``.
        io: the sysfs seam.

    Returns:
        What changed (``before``/``after`` are driver names, ``None`` unbound).

    Raises:
        DeviceAccessError: the kernel refused the write (not root).
        DeviceError: not a QAT or ivshmem function, or the driver is not loaded.
        DeviceStateError: vfio-pci would refuse (gen2 denylist), the probe failed, or the
            kernel left the function bound after ``unbind``.
        NoIommuError: a VFIO driver without an IOMMU group.
    """
    a = _Actor(host, address, io, "bind")
    fn = a.fn
    kind = fn.kind
    if kind is None and not fn.is_ivshmem:
        raise DeviceError(
            f"{a.bdf} ({fn.vendor:04x}:{fn.device:04x}) is neither a QAT nor an ivshmem function",
            hint="qathw binds QAT functions and emulated endpoints only",
        )
    before = fn.driver
    if before == driver:
        return Change(a.bdf, "bind", before, before, False, (f"already bound to {driver}",))
    if driver is not None:
        _check_bindable(a, kind, driver)
    notes = []
    if before is not None and kind is not None and not kind.is_vf and fn.sriov:
        if fn.sriov.num_vfs:
            notes.append(f"unbinding the PF driver removed its {fn.sriov.num_vfs} VFs")
    override_path = fn.sysfs_path / "driver_override"
    old_override = fn.driver_override or ""
    if before is not None:
        a.write(host.pci_drivers / before / "unbind", a.bdf)
    if driver is None:
        # The unbind write's success is not the answer; the driver link is.
        still = _driver_of(host, fn.address, a.io)
        if still is not None:
            raise DeviceStateError(
                f"the kernel left {a.bdf} on {still} after unbinding it from {before}",
                hint="the kernel log says why (dmesg | tail); a driver may have taken it back",
            )
        return Change(a.bdf, "bind", before, None, True, tuple(notes))
    try:
        a.write(override_path, f"{driver}\n")
        a.write(host.sys / "bus" / "pci" / "drivers_probe", a.bdf)
    except QatError:
        _restore(a, override_path, old_override, before)
        raise
    after = _driver_of(host, fn.address, a.io)
    if after != driver:
        restored = _restore(a, override_path, old_override, before)
        raise DeviceStateError(
            f"the kernel did not bind {a.bdf} to {driver} (probe failed)",
            hint="the kernel log says why (dmesg | tail); " + restored,
        )
    return Change(a.bdf, "bind", before, after, True, tuple(notes))


def _restore(a: _Actor, override_path: Path, old_override: str, before: str | None) -> str:
    try:
        a.io.write(override_path, f"{old_override}\n".encode())
        if before is not None:
            a.io.write(a.host.sys / "bus" / "pci" / "drivers_probe", a.bdf.encode())
        now = _driver_of(a.host, a.fn.address, a.io)
    except OSError as exc:
        return f"restoring the previous driver failed too ({exc.strerror})"
    if now == before:
        return f"it is back on {before or 'no driver'}"
    return f"it is now on {now or 'no driver'} (was {before or 'none'})"


def allowed_drivers(kind: ids.FunctionKind | None) -> frozenset[str]:
    """Drivers qathw will bind a function to: VFIO, pci-stub, and the function's own."""
    allowed = set(VFIO_DRIVERS) | {"pci-stub"}
    if kind is not None:
        fam = kind.family
        own = {fam.vf_name, fam.vf_driver} if kind.is_vf else {fam.pf_driver}
        allowed |= {d for d in own if d}
    return frozenset(allowed)


def check_driver(
    host: HostRoot,
    kind: ids.FunctionKind | None,
    driver: str,
    bdf: str,
    *,
    io: SysfsIO | None = None,
) -> None:
    """Refuse a driver for a kind of function: not one that drives it, not loaded, or
    vfio-pci for a gen2 function (its denylist).

    Args:
        host: the host root.
        kind: the function's kind (``None``: an ivshmem function).
        driver: the driver asked for.
        bdf: the function (or, for a whole PF's VFs, a description of them) for messages.
        io: the sysfs seam.

    Raises:
        DeviceError: the driver does not drive it, or is not loaded.
        DeviceStateError: vfio-pci's gen2 denylist.
    """
    io = io or sysfsio.current()
    allowed = allowed_drivers(kind)
    if driver not in allowed:
        what = f"a {kind.class_name}" if kind is not None else "an ivshmem function"
        raise DeviceError(
            f"{bdf} is {what}; {driver} does not drive it",
            hint=f"choose one of {', '.join(sorted(allowed))} (or 'none' to unbind)",
        )
    if not io.exists(host.pci_drivers / driver):
        module = {"vfio-pci": "vfio-pci"}.get(driver)
        if module is None and kind is not None and not kind.is_vf:
            module = pf_module(kind.family)
        raise DeviceError(
            f"driver {driver} is not loaded (no {host.pci_drivers / driver})",
            hint=f"load it: modprobe {module or driver}",
        )
    if driver in VFIO_DRIVERS and kind is not None and kind.family.vfio_denylisted:
        kernel_driver = kind.family.vf_name if kind.is_vf else kind.family.pf_driver
        param = host.sys / "module" / "vfio_pci" / "parameters" / "disable_denylist"
        try:
            disabled = io.read(param).strip() in (b"Y", b"1")
        except OSError:
            disabled = False
        if not disabled:
            raise DeviceStateError(
                f"{bdf} is a {kind.family.product} (gen2); vfio-pci refuses gen2 "
                "QAT functions (its denylist, Linux 5.9+)",
                hint=f"use the kernel driver ({kernel_driver}) with the out-of-tree "
                "stack, or boot with "
                "vfio_pci.disable_denylist=1 (unsupported by qatlib)",
            )


def _check_bindable(a: _Actor, kind: ids.FunctionKind | None, driver: str) -> None:
    check_driver(a.host, kind, driver, a.bdf, io=a.io)
    if driver in VFIO_DRIVERS:
        if a.fn.iommu_group is None:
            raise NoIommuError(
                f"{a.bdf} has no IOMMU group; {driver} cannot take it",
                hint="boot with intel_iommu=on (or enable VFIO's no-IOMMU mode for tests)",
            )
