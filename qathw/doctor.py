"""``qathw doctor``: why QAT does not work here, as a list of checks.

The checks are one table, :data:`CHECKS` (id, title, the function that checks, whether
it needs a QAT device), and each result is data — :class:`Check` (id, title, status,
detail, hint). They run in the order a QAT user space stack needs things to be true: a
device, up, with firmware and the service wanted; VFs enabled and bound to vfio-pci;
their ``/dev/vfio`` nodes open to this user; enough locked memory; hugepages as
configured; an IOMMU. A check that cannot apply (no device at all) is ``skip`` and says
why.

What is checked is real: sysfs through the host root, ``os.access`` on the VFIO nodes
for this process's user, :func:`resource.getrlimit`, the hugepage counters, firmware
files. The process-level facts (uid, limits, command line, environment) are gathered
once in :class:`Environment` so that a test can state them.

Sources: docs/hardware.md#device-ids, #sysfs-abi, #vfio and #host-setup.
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
import resource
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from qathw import sysfsio
from qathw.admin import pf_module
from qathw.broker import client as broker_client
from qathw.broker import rundir as broker_rundir
from qathw.discovery import VFIO_DRIVERS, Inventory, QatFunction, Role
from qathw.errors import QatError
from qathw.paths import HostRoot
from qathw.pci import list_addresses
from qathw.sysfsio import SysfsIO

MIB = 1 << 20
MEMLOCK_PER_VF = 16 * MIB  # qatlib INSTALL: "16 MB per VF plus what the application needs"
CAP_IPC_LOCK = 14
HUGEPAGE_ENV = "QAT_MAX_2M_HPG_PER_PROCESS"
SERVICE_NEEDS = {
    "sym": ("sym",),
    "asym": ("asym",),
    "cy": ("sym", "asym"),
    "dc": ("dc",),
    "decomp": ("decomp",),
    "dcc": ("dcc",),
}


class Status(enum.Enum):
    """Outcome of a check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One check's result.

    Attributes:
        id: stable identifier (``vf-driver``), for scripts.
        title: what is checked, in a few words.
        status: pass, warn, fail or skip.
        detail: what was found.
        hint: what to do about a warn/fail, ``None`` otherwise.
    """

    id: str
    title: str
    status: Status
    detail: str
    hint: str | None = None


@dataclass(frozen=True)
class Finding:
    """What a check found, before the table names it.

    Attributes:
        status: pass, warn, fail or skip.
        detail: what was found.
        hint: what to do about a warn/fail.
    """

    status: Status
    detail: str
    hint: str | None = None


@dataclass(frozen=True)
class Environment:
    """Facts about this process and host that the checks need.

    Attributes:
        host: the host root (sysfs, /dev).
        euid: effective uid.
        cap_ipc_lock: whether this process may lock memory without limit.
        memlock: ``RLIMIT_MEMLOCK`` soft limit in bytes (``None`` = unlimited).
        cmdline: the kernel command line, ``None`` when it does not describe ``host``.
        firmware_dirs: where firmware files are looked for.
        env: the environment variables that matter (``QAT_MAX_2M_HPG_PER_PROCESS``).
    """

    host: HostRoot
    euid: int
    cap_ipc_lock: bool
    memlock: int | None
    cmdline: str | None
    firmware_dirs: tuple[Path, ...]
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_system(cls, host: HostRoot, *, firmware_dir: Path | None = None) -> Environment:
        """The facts of this process on ``host``.

        Args:
            host: the host root; ``/proc/cmdline`` is used only for the real one.
            firmware_dir: where firmware is; default ``<prefix>/lib/firmware`` (and
                ``updates/`` below it, as the kernel's loader looks).
        """
        soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        cmdline = None
        if host.is_real:
            try:
                cmdline = Path("/proc/cmdline").read_text().strip()
            except OSError:
                cmdline = None
        base = firmware_dir or host.prefix / "lib" / "firmware"
        return cls(
            host=host,
            euid=os.geteuid(),
            cap_ipc_lock=_has_cap(CAP_IPC_LOCK),
            memlock=None if soft == resource.RLIM_INFINITY else soft,
            cmdline=cmdline,
            firmware_dirs=(base / "updates", base),
            env=MappingProxyType({k: v for k, v in os.environ.items() if k == HUGEPAGE_ENV}),
        )


def _has_cap(bit: int) -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def _mib(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // 1024} KiB"


def _list(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _labels(functions: Sequence[QatFunction]) -> str:
    """The generations of ``functions`` as printed: ``gen2``, ``gen2/gen3``."""
    labels = sorted({f.kind.family.traits.label for f in functions})
    return "/".join(labels)


class _Doctor:
    """The checks' functions: the inventory, the environment, and what earlier checks learnt."""

    def __init__(self, inv: Inventory, env: Environment, need: str | None, io: SysfsIO) -> None:
        self.inv = inv
        self.env = env
        self.need = need
        self.io = io
        self.host = env.host
        self.usable_vfs: list[QatFunction] = []

    def devices(self) -> Finding:
        if not self.inv.functions:
            if self.inv.unidentified:
                names = [f"{u.pci.bdf} ({u.reason})" for u in self.inv.unidentified]
                return Finding(
                    Status.FAIL,
                    f"no QAT function identified; ivshmem functions not checked: {_list(names)}",
                    "run as root to read their BAR2 (emulated endpoints are recognised there)",
                )
            try:
                n = len(list_addresses(self.host, io=self.io))
            except QatError:
                n = 0
            return Finding(
                Status.FAIL,
                f"no QAT device on this host: none of the {n} PCI functions under "
                f"{self.host.pci_devices} has an Intel QAT id, and none is an emulated "
                "endpoint",
                "on a QAT server, enable the QAT device in the BIOS and check "
                "'lspci -d 8086:'; without QAT hardware, use an emulated endpoint "
                "(fakedev) to develop and test",
            )
        pfs, vfs, emu = self.inv.pfs, self.inv.vfs, self.inv.emulated
        parts = []
        if pfs:
            names = sorted({f.kind.family.product for f in pfs})
            parts.append(f"{len(pfs)} PF{'s' if len(pfs) > 1 else ''} ({', '.join(names)})")
        if vfs:
            parts.append(f"{len(vfs)} VF{'s' if len(vfs) > 1 else ''}")
        if emu:
            parts.append(f"{len(emu)} emulated endpoint{'s' if len(emu) > 1 else ''}")
        return Finding(Status.PASS, ", ".join(parts))

    def state(self) -> Finding:
        problems: list[tuple[str, str]] = []
        for pf in self.inv.pfs:
            fam = pf.kind.family
            if pf.pci.driver != fam.pf_driver:
                if fam.pf_driver is None or not fam.in_tree:
                    problems.append(
                        (
                            f"PF {pf.bdf} ({fam.product}) has no in-tree driver",
                            "it needs Intel's out-of-tree driver package",
                        )
                    )
                else:
                    bound = pf.pci.driver or "no driver"
                    problems.append(
                        (
                            f"PF {pf.bdf} is on {bound}, not {fam.pf_driver}",
                            f"modprobe {pf_module(fam)}, or 'qathw bind {pf.bdf} {fam.pf_driver}'",
                        )
                    )
            elif pf.state == "down":
                problems.append((f"PF {pf.bdf} is down", f"qathw up {pf.bdf}"))
            elif pf.state is None and "qat/state" in pf.pci.unreadable:
                problems.append(
                    (f"PF {pf.bdf}: state {pf.pci.unreadable['qat/state']}", "run as root")
                )
        for vf in self.inv.vfs:
            parent = self.inv.pf_of(vf)
            if (
                parent is not None
                and parent.state == "down"
                and parent.pci.driver == parent.kind.family.pf_driver
            ):
                problems.append(
                    (f"VF {vf.bdf}: its PF {parent.bdf} is down", f"qathw up {parent.bdf}")
                )
        for em in self.inv.emulated:
            if em.state != "up":
                backend = em.control.backend_state.name if em.control else "?"
                problems.append(
                    (
                        f"emulated endpoint {em.bdf}: backend not serving ({backend})",
                        "start its backend (python -m fakedev serve <file>)",
                    )
                )
        if not problems:
            n = len(self.inv.pfs) + len(self.inv.emulated)
            return Finding(Status.PASS, f"all {n} up" if n else "no PF here")
        return Finding(
            Status.FAIL,
            _list([p for p, _ in problems]),
            "; ".join(dict.fromkeys(h for _, h in problems)),
        )

    def firmware(self) -> Finding:
        pfs = [p for p in self.inv.pfs if p.kind.family.firmware]
        if not pfs:
            return Finding(
                Status.SKIP,
                "no PF on this host (a VM guest's firmware is the host's business)"
                if self.inv.functions
                else "no QAT device",
            )
        missing: dict[str, list[str]] = {}
        for pf in pfs:
            for name in pf.kind.family.firmware:
                if not self._firmware_present(name):
                    missing.setdefault(name, []).append(pf.bdf)
        if not missing:
            names = sorted({n for p in pfs for n in p.kind.family.firmware})
            return Finding(Status.PASS, f"found {', '.join(names)}")
        not_up = [b for bdfs in missing.values() for b in bdfs if self.inv.get(b).state != "up"]
        where = self.env.firmware_dirs[-1]
        detail = f"missing in {where}: {', '.join(sorted(missing))}"
        hint = (
            f"install the linux-firmware files {', '.join(sorted(missing))} into {where} "
            "(your distribution's linux-firmware package, or linux-firmware.git)"
        )
        if not_up:
            return Finding(Status.FAIL, detail + " (the PF cannot start)", hint)
        return Finding(
            Status.WARN,
            detail + " (the PFs are up now; the next driver reload will fail)",
            hint,
        )

    def _firmware_present(self, name: str) -> bool:
        return any(
            (d / (name + ext)).exists()
            for d in self.env.firmware_dirs
            for ext in ("", ".xz", ".zst")
        )

    def services(self) -> Finding:
        endpoints = [f for f in self.inv.pfs if f.pci.driver == f.kind.family.pf_driver]
        if not endpoints:
            vfs_with = [v for v in self.inv.vfs if v.services]
            if not vfs_with:
                return Finding(
                    Status.SKIP,
                    "no PF with a QAT driver (a guest learns services from its VFs)"
                    if self.inv.functions
                    else "no QAT device",
                )
            endpoints = vfs_with
        known = [(f, f.services) for f in endpoints]
        summary = _list([f"{f.bdf} {s or '?'}" for f, s in known], 8)
        if self.need is None:
            return Finding(Status.PASS, summary)
        wanted = SERVICE_NEEDS[self.need]
        offering = [f for f, s in known if s is not None and all(w in s.split(";") for w in wanted)]
        if self.need == "dc":
            offering += [f for f, s in known if s and "dcc" in s.split(";")]
        if offering:
            return Finding(
                Status.PASS,
                f"'{self.need}' on {_list([f.bdf for f in offering])}",
            )
        unknown = [f for f, s in known if s is None]
        if unknown and len(unknown) == len(known):
            return Finding(
                Status.WARN,
                f"services of {_list([f.bdf for f in unknown])} are unknown "
                "(gen2, or not readable)",
                "gen2 devices run crypto and compression; read /sys/kernel/debug as root",
            )
        target = endpoints[-1]
        value = "sym;asym" if self.need == "cy" else self.need
        return Finding(
            Status.FAIL,
            f"no device offers '{self.need}' ({summary})",
            f"qathw services {target.bdf} '{value}' --restart (as root)",
        )

    def vfs_enabled(self) -> Finding:
        pfs = [p for p in self.inv.pfs if p.pci.driver == p.kind.family.pf_driver]
        # VFs that vfio-pci drives (gen4 on) versus VFs it refuses (gen2, gen3)
        vfio = [p for p in pfs if p.kind.family.traits.vfio_vfs]
        legacy = [p for p in pfs if not p.kind.family.traits.vfio_vfs]
        if not pfs:
            if self.inv.vfs:
                return Finding(Status.PASS, f"{len(self.inv.vfs)} VFs (no PF: a guest?)")
            return Finding(
                Status.SKIP,
                "emulated endpoints only" if self.inv.functions else "no QAT device",
            )
        without = [p for p in vfio if p.pci.sriov is not None and not (p.pci.sriov.num_vfs or 0)]
        if without:
            return Finding(
                Status.FAIL if len(without) == len(vfio) else Status.WARN,
                f"no VFs on {_list([p.bdf for p in without])} "
                f"({len(vfio) - len(without)} of {len(vfio)} {_labels(vfio)} PFs have them)",
                f"qathw vfs {without[0].bdf} --enable (as root) for one PF, or for all of them "
                "'qathw setup FILE' with vfs = \"all\" (docs/admin.md#setup)",
            )
        if legacy and not vfio:
            return Finding(
                Status.WARN,
                f"{_labels(legacy)} PFs only ({_list([p.bdf for p in legacy])}): "
                "their VFs cannot use vfio-pci, so qathw and qatlib cannot drive them",
                f"use the kernel crypto API or Intel's out-of-tree stack on {_labels(legacy)}",
            )
        n = sum((p.pci.sriov.num_vfs or 0) for p in vfio if p.pci.sriov)
        return Finding(Status.PASS, f"{n} VFs on {len(vfio)} PFs")

    def vf_driver(self) -> Finding:
        vfs = self.inv.vfs
        if not vfs:
            return Finding(Status.SKIP, "no VF" if self.inv.functions else "no QAT device")
        on_vfio = [v for v in vfs if v.pci.driver in VFIO_DRIVERS]
        gen2 = [
            v for v in vfs if v.kind.family.vfio_denylisted and v.pci.driver not in VFIO_DRIVERS
        ]
        other = [v for v in vfs if v not in on_vfio and v not in gen2]
        self.usable_vfs = on_vfio
        if not gen2 and not other:
            return Finding(Status.PASS, f"all {len(vfs)} VFs")
        details, hints = [], []
        if other:
            drivers = sorted({v.pci.driver or "none" for v in other})
            details.append(
                f"{len(other)} VF{'s' if len(other) > 1 else ''} on {', '.join(drivers)} "
                f"({_list([v.bdf for v in other], 3)})"
            )
            bdfs = " ".join(v.bdf for v in other) if len(other) <= 3 else "--all-vfs"
            hints.append(f"qathw bind {bdfs} vfio-pci (as root)")
        if gen2:
            details.append(
                f"{len(gen2)} gen2 VF{'s' if len(gen2) > 1 else ''} "
                f"({gen2[0].kind.family.product}): vfio-pci refuses them (denylist, Linux 5.9+)"
            )
            hints.append(
                f"use the kernel VF driver ({gen2[0].kind.family.vf_name}) with Intel's "
                "out-of-tree stack; vfio_pci.disable_denylist=1 is unsupported"
            )
        status = Status.WARN if on_vfio else Status.FAIL
        if on_vfio:
            details.append(f"{len(on_vfio)} usable")
        return Finding(status, "; ".join(details), "; ".join(hints))

    def vfio_access(self) -> Finding:
        vfs = [v for v in self.inv.vfs if v.pci.driver in VFIO_DRIVERS]
        vfs += [e for e in self.inv.emulated if e.pci.driver in VFIO_DRIVERS]
        if not vfs:
            self.usable_vfs = []
            return Finding(
                Status.SKIP,
                "no function bound to vfio-pci" if self.inv.functions else "no QAT device",
            )
        denied: list[str] = []
        missing: list[str] = []
        ok: list[QatFunction] = []
        sample = None
        container = self.host.vfio / "vfio"
        for v in vfs:
            node = v.pci.vfio_node(self.host)
            if node is None or not node.exists():
                missing.append(f"{v.bdf} ({node})")
            elif not os.access(node, os.R_OK | os.W_OK):
                denied.append(str(node))
                sample = sample or node
            else:
                ok.append(v)
        self.usable_vfs = [v for v in ok if v.role is Role.VF]
        details, hints = [], []
        if not container.exists() or not os.access(container, os.R_OK | os.W_OK):
            details.append(f"{container} missing or not writable")
            hints.append("modprobe vfio-pci; /dev/vfio/vfio must be mode 0666")
        if denied:
            owner = _owner(sample) if sample else ""
            details.append(
                f"uid {self.env.euid} cannot open {len(denied)} of {len(vfs)} nodes "
                f"(e.g. {denied[0]}: {owner})"
            )
            hints.append(
                "add the user to group 'qat' and give the group rw on the nodes "
                "(chgrp qat /dev/vfio/N; chmod g+rw), as qatlib's qat_init.sh does; "
                "or run as root"
            )
        if missing:
            details.append(f"no node for {_list(missing, 2)}")
            hints.append("rebind the VF to vfio-pci; check udev created /dev/vfio nodes")
        if not details:
            return Finding(Status.PASS, f"{len(ok)} nodes open rw")
        status = Status.WARN if ok else Status.FAIL
        if ok:
            details.append(f"{len(ok)} usable")
        return Finding(status, "; ".join(details), "; ".join(hints))

    def memlock(self) -> Finding:
        usable = self.usable_vfs
        if not usable:
            return Finding(
                Status.SKIP,
                "no VF usable by this user" if self.inv.functions else "no QAT device",
            )
        if self.env.cap_ipc_lock:
            return Finding(Status.PASS, "not limited (CAP_IPC_LOCK: VFIO pins freely)")
        limit = self.env.memlock
        if limit is None:
            return Finding(Status.PASS, "RLIMIT_MEMLOCK unlimited")
        # qatlib's default policy gives a process one VF of each PF.
        per_process = len({v.pf for v in usable}) or 1
        need = per_process * MEMLOCK_PER_VF
        detail = (
            f"RLIMIT_MEMLOCK {_mib(limit)}; a process using one VF of each of "
            f"{per_process} PF{'s' if per_process > 1 else ''} pins at least {_mib(need)} "
            "(16 MiB per VF) plus its own buffers"
        )
        if limit < need:
            return Finding(
                Status.FAIL,
                detail,
                f"raise it: 'ulimit -l {max(need, 512 * MIB) // 1024}' for the shell, or "
                "a memlock line in /etc/security/limits.conf (LimitMEMLOCK= for services)",
            )
        return Finding(Status.PASS, detail)

    def hugepages(self) -> Finding:
        hp = self.host.sys / "kernel" / "mm" / "hugepages" / "hugepages-2048kB"
        nr = self._int(hp / "nr_hugepages")
        free = self._int(hp / "free_hugepages")
        noiommu = self._read(
            self.host.sys / "module" / "vfio" / "parameters" / "enable_unsafe_noiommu_mode"
        ) in ("Y", "1")
        wanted_text = self.env.env.get(HUGEPAGE_ENV)
        try:
            wanted = int(wanted_text) if wanted_text else 0
        except ValueError:
            return Finding(
                Status.FAIL,
                f"{HUGEPAGE_ENV}={wanted_text!r} is not a number",
                f"set {HUGEPAGE_ENV} to a page count, or unset it",
            )
        if nr is None:
            return Finding(Status.SKIP, f"{hp} not present")
        fix = f"echo {max(wanted, 1024)} > {hp / 'nr_hugepages'} (as root)"
        if noiommu and nr == 0:
            return Finding(
                Status.FAIL,
                "VFIO no-IOMMU mode needs 2 MiB hugepages and none are reserved",
                fix,
            )
        if wanted and nr == 0:
            return Finding(
                Status.FAIL,
                f"{HUGEPAGE_ENV}={wanted} but no 2 MiB hugepages are reserved",
                fix,
            )
        if wanted and free is not None and free < wanted:
            return Finding(
                Status.WARN,
                f"{HUGEPAGE_ENV}={wanted} but only {free} of {nr} 2 MiB pages are free",
                "reserve more, or lower the per-process budget",
            )
        if nr:
            use = (
                f"used up to {wanted} per process"
                if wanted
                else f"qatlib uses them only with {HUGEPAGE_ENV} set"
            )
            return Finding(Status.PASS, f"{nr} 2 MiB pages reserved, {free} free; {use}")
        return Finding(Status.PASS, "none reserved; qatlib uses 4 KiB pages (the default)")

    def _read(self, path: Path) -> str | None:
        try:
            return self.io.read(path).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):  # unreadable or not text: nothing to report
            return None

    def _int(self, path: Path) -> int | None:
        text = self._read(path)
        return int(text) if text is not None and text.isdigit() else None

    def iommu(self) -> Finding:
        try:
            groups = self.io.listdir(self.host.iommu_groups)
        except OSError:
            groups = []
        noiommu = self._read(
            self.host.sys / "module" / "vfio" / "parameters" / "enable_unsafe_noiommu_mode"
        ) in ("Y", "1")
        needed = bool(self.inv.pfs or self.inv.vfs)
        if groups:
            if noiommu and all(
                self._read(self.host.iommu_groups / g / "name") == "vfio-noiommu" for g in groups
            ):
                return Finding(
                    Status.WARN,
                    f"VFIO no-IOMMU mode ({len(groups)} groups): DMA is not isolated",
                    "for production, boot with intel_iommu=on and VT-d enabled",
                )
            return Finding(Status.PASS, f"on ({len(groups)} IOMMU groups)")
        cmd = self.env.cmdline or ""
        asked = [t for t in cmd.split() if t.startswith(("intel_iommu=", "amd_iommu=", "iommu="))]
        if asked:
            detail = f"no IOMMU groups although the command line has {' '.join(asked)}"
            hint = "enable VT-d (or AMD-Vi) in the BIOS; check dmesg for DMAR errors"
        else:
            detail = "off: no IOMMU groups" + (
                ", and no intel_iommu=on on the kernel command line" if self.env.cmdline else ""
            )
            hint = "boot with intel_iommu=on (iommu=pt for speed) and VT-d enabled in the BIOS"
        if needed:
            return Finding(Status.FAIL, detail + "; SR-IOV and VFIO need it", hint)
        return Finding(
            Status.WARN,
            detail + " (VFIO will need it once a device is added)",
            hint,
        )

    def broker(self) -> Finding:
        return broker_finding(self.host)


def broker_finding(host: HostRoot, runtime_dir: Path | None = None) -> Finding:
    """Why a section broker runs, or why none could start (socket directory, lock, log).

    Args:
        host: the host root.
        runtime_dir: the broker's directory; the sections' runtime directory by default.
    """
    rdir = runtime_dir if runtime_dir is not None else broker_rundir.default_runtime_dir(host)
    try:
        running = broker_client.status(host, runtime_dir=rdir)
    except QatError as exc:
        return Finding(Status.FAIL, f"cannot ask the broker: {exc.what}", exc.hint)
    if running is not None:
        busy = [e for e in running.endpoints if e.error]
        detail = (
            f"running: pid {running.pid}, {len(running.endpoints)} endpoints, "
            f"{len(running.leases)} leases"
        )
        if busy:
            return Finding(
                Status.WARN,
                f"{detail}; it cannot open {busy[0].bdf}: {busy[0].error}",
                "see the error's own advice; 'qathw sections' shows the broker",
            )
        return Finding(Status.PASS, detail)
    if rdir.exists():
        try:
            broker_rundir.check_private_dir(rdir)
        except QatError as exc:
            return Finding(Status.FAIL, f"a broker cannot start: {exc.what}", exc.hint)
    stuck = broker_rundir.lock_holder(rdir)
    if stuck is not None:
        return Finding(
            Status.FAIL,
            f"pid {stuck} holds {rdir / 'broker.lock'} but no broker answers on its socket",
            f"stop it ('kill {stuck}'); the next user_start starts a new broker",
        )
    tail = broker_client.log_tail(rdir, 3)
    errors = [line for line in tail if "qathw:" in line or "Error" in line]
    if errors:
        return Finding(
            Status.WARN,
            f"not running; the last start failed: {errors[-1]}",
            f"fix that, or run 'qathw broker --foreground' to watch it (log: {rdir}/broker.log)",
        )
    return Finding(Status.PASS, "not running; the first user_start that needs it starts it")


def _owner(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "?"
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        user, group = str(st.st_uid), str(st.st_gid)
    return f"{user}:{group} {stat.filemode(st.st_mode)}"


@dataclass(frozen=True)
class CheckSpec:
    """One row of the checks table.

    Attributes:
        id: stable identifier (``vf-driver``), for scripts.
        title: what is checked, in a few words.
        check: finds the answer; may rely on what the checks before it learnt.
        needs_qat: skipped ("no QAT device") when a gating check fails.
        gates: when this check fails, the checks that need a QAT device are skipped.
    """

    id: str
    title: str
    check: Callable[[_Doctor], Finding]
    needs_qat: bool = True
    gates: bool = False


# In the order a QAT stack needs things true; vf-driver and vfio-access decide which VFs
# are usable, and memlock counts those.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("qat-device", "QAT device present", _Doctor.devices, needs_qat=False, gates=True),
    CheckSpec("device-state", "devices bound and up", _Doctor.state),
    CheckSpec("firmware", "firmware files", _Doctor.firmware),
    CheckSpec("services", "services enabled", _Doctor.services),
    CheckSpec("vfs-enabled", "SR-IOV VFs enabled", _Doctor.vfs_enabled),
    CheckSpec("vf-driver", "VFs bound to vfio-pci", _Doctor.vf_driver),
    CheckSpec("vfio-access", "/dev/vfio open to this user", _Doctor.vfio_access),
    CheckSpec("memlock", "locked-memory limit", _Doctor.memlock),
    CheckSpec("hugepages", "hugepages", _Doctor.hugepages, needs_qat=False),
    CheckSpec("iommu", "IOMMU", _Doctor.iommu, needs_qat=False),
    CheckSpec("section-broker", "section broker", _Doctor.broker, needs_qat=False),
)


def run(
    inventory: Inventory,
    env: Environment,
    *,
    need: str | None = None,
    io: SysfsIO | None = None,
) -> list[Check]:
    """Run every check of :data:`CHECKS`, in order.

    Args:
        inventory: what :func:`qathw.discovery.discover` found.
        env: facts about this process (:meth:`Environment.from_system`).
        need: a service the user needs (``sym``, ``asym``, ``cy``, ``dc``, ``decomp``,
            ``dcc``); without it the services check only reports.
        io: the sysfs seam.

    Returns:
        The checks, in order.

    Raises:
        ValueError: unknown ``need``.
    """
    if need is not None and need not in SERVICE_NEEDS:
        raise ValueError(f"unknown service {need!r}; one of {', '.join(SERVICE_NEEDS)}")
    d = _Doctor(inventory, env, need, io or sysfsio.current())
    checks: list[Check] = []
    no_device = False
    for spec in CHECKS:
        if spec.needs_qat and no_device:
            found = Finding(Status.SKIP, "no QAT device")
        else:
            found = spec.check(d)
        no_device = no_device or (spec.gates and found.status is Status.FAIL)
        checks.append(Check(spec.id, spec.title, found.status, found.detail, found.hint))
    return checks
