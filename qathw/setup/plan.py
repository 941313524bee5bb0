"""From a set-up file and the host as it is, the steps that make the host as the file says.

Everything is checked before a step is planned, for every PF at once: selectors that name
nothing, services the generation does not take, VF counts the PF cannot have, VF drivers
that are not loaded or that refuse the family. Any problem refuses the whole file (one
error listing every problem), so nothing is half-changed.

Per PF the steps come in the order the kernel requires (docs/hardware.md#sysfs-abi,
#host-setup): ``down`` (which removes the VFs), ``cfg_services``, ``up``; then
``sriov_numvfs`` (0 first when the count changes, since the kernel refuses one count over
another); then the VF drivers. A PF already as the file says has no step: running the
same file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qathw import admin, cfg_services, discovery, ids
from qathw.discovery import Inventory, QatFunction
from qathw.errors import ConfigError, QatError
from qathw.paths import HostRoot
from qathw.pci_regs import PciAddress
from qathw.setup.spec import ALL_VFS, Entry
from qathw.sysfsio import SysfsIO

UNBOUND = "none"


@dataclass(frozen=True)
class Step:
    """One write (or one kind of write, for every VF of a PF).

    Attributes:
        action: ``down``, ``services``, ``up``, ``vfs``, ``bind`` (every VF not on
            ``value``) or ``rebind`` (VF ``i`` back on ``drivers[i]``).
        value: the services, the VF count, or the driver (``none``: unbound).
        text: what it does, for people.
        drivers: for ``rebind``, the drivers VF ``i`` had.
    """

    action: str
    value: str | None
    text: str
    drivers: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class PfPlan:
    """What happens to one PF.

    Attributes:
        address: the PF.
        label: ``qat_dev0, 4xxx, node 0``.
        entries: the numbers of the entries that matched it.
        steps: in order; none when the PF is as the file says.
        skipped: why nothing is done to it, when a selector matched a PF that cannot be
            set up (not bound to its QAT driver).
    """

    address: PciAddress
    label: str
    entries: tuple[int, ...]
    steps: tuple[Step, ...] = ()
    skipped: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every PF a file names, with its steps.

    Attributes:
        pfs: in address order.
        notes: selectors that matched no PF on this host.
    """

    pfs: tuple[PfPlan, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def steps(self) -> int:
        """How many steps in all."""
        return sum(len(p.steps) for p in self.pfs)


@dataclass
class _Want:
    entries: list[int] = field(default_factory=list)
    named: bool = False
    services: str | None = None
    vfs: str | int | None = None
    vf_driver: str | None = None


def _matches(
    selector: str, inv: Inventory, where: str, errors: list[str]
) -> list[QatFunction] | None:
    """The PFs a selector names; ``None`` (and an error) for a selector that is wrong."""
    pfs = inv.pfs
    if selector == "all":
        return list(pfs)
    for prefix, attr in (("gen", "generation"), ("node", "numa_node")):
        rest = selector.removeprefix(prefix)
        if rest != selector and rest.isdigit():
            n = int(rest)
            if attr == "generation":
                if n not in {int(g) for g in ids.Generation}:
                    known = ", ".join(f"gen{int(g)}" for g in ids.Generation)
                    errors.append(f"{where}: unknown generation '{selector}' (known: {known})")
                    return None
                return [p for p in pfs if int(p.generation) == n]
            return [p for p in pfs if p.pci.numa_node == n]
    if selector.startswith("qat_dev"):
        number = selector.removeprefix("qat_dev")
        found = [f for f in inv.accel_devices if number.isdigit() and f.accel_id == int(number)]
        if not found:
            span = ", ".join(f"qat_dev{f.accel_id}" for f in inv.pfs if f.accel_id is not None)
            errors.append(
                f"{where}: no device {selector} on this host (its PFs: {span or 'none'}; "
                "see 'qathw status')"
            )
            return None
        if found[0].is_vf or found[0].role is not discovery.Role.PF:
            errors.append(f"{where}: {selector} is a {found[0].label}; set-up acts on PFs")
            return None
        return found
    try:
        addr = PciAddress.parse(selector)
    except ValueError:
        errors.append(
            f"{where}: unknown selector '{selector}' "
            "(write all, genN, nodeN, a PF's BDF or qat_devN)"
        )
        return None
    for f in inv.functions:
        if f.address == addr:
            if f.role is not discovery.Role.PF:
                errors.append(f"{where}: {addr} is a {f.label}; set-up acts on PFs")
                return None
            return [f]
    errors.append(f"{where}: no QAT PF at {addr} (see 'qathw list --pf')")
    return None


def _label(pf: QatFunction) -> str:
    parts = [f"qat_dev{pf.accel_id}"] if pf.accel_id is not None else []
    parts.append(pf.kind.family.product)
    node = pf.pci.numa_node
    if node is not None and node >= 0:
        parts.append(f"node {node}")
    return ", ".join(parts)


def _check(
    host: HostRoot, pf: QatFunction, want: _Want, io: SysfsIO | None, errors: list[str]
) -> int | None:
    """Check what is wanted of ``pf``; return the VF count wanted (``None``: leave)."""
    where = f"{pf.bdf} (entries {', '.join(f'#{n}' for n in want.entries)})"
    fam = pf.kind.family
    traits = fam.traits
    if want.services is not None:
        if not traits.sysfs_control:
            errors.append(
                f"{where}: a {fam.product} ({traits.label}) has no cfg_services; its "
                "services come from its configuration file (match only gen4+ PFs here)"
            )
        else:
            why = cfg_services.refusal(want.services, int(pf.generation))
            if why is not None:
                errors.append(
                    f"{where}: a {fam.product} ({traits.label}) refuses services "
                    f"'{want.services}' ({why})"
                )
    count: int | None = None
    sriov = pf.pci.sriov
    total = sriov.total_vfs if sriov is not None else None
    if want.vfs is not None:
        if total is None:
            if want.vfs not in (0, ALL_VFS):
                errors.append(f"{where}: it has no SR-IOV; vfs must be 0")
            count = None if want.vfs == 0 else 0
        else:
            count = total if want.vfs == ALL_VFS else int(want.vfs)
            if count not in (0, total):
                errors.append(
                    f"{where}: vfs = {want.vfs}: the QAT driver enables all {total} VFs or "
                    f'none; write vfs = "all" (or {total}) or vfs = 0'
                )
            elif count and pf.pci.iommu_group is None:
                errors.append(
                    f"{where}: VFs need the IOMMU and it has no IOMMU group (boot with "
                    "intel_iommu=on; see 'qathw doctor')"
                )
    if want.vf_driver is not None and want.vf_driver != UNBOUND:
        vf_kind = ids.FunctionKind(fam, True)
        try:
            admin.check_driver(host, vf_kind, want.vf_driver, f"the VFs of {pf.bdf}", io=io)
        except QatError as exc:
            errors.append(f"{where}: {exc}")
    return count


def _steps(pf: QatFunction, inv: Inventory, want: _Want, count: int | None) -> list[Step]:
    steps: list[Step] = []
    sriov = pf.pci.sriov
    vfs_now = (sriov.num_vfs or 0) if sriov is not None else 0
    old_drivers = tuple(v.pci.driver for v in inv.vfs_of(pf))
    target = vfs_now if count is None else count
    recreated = False
    if want.services is not None and not cfg_services.same(pf.services, want.services):
        was_up = pf.state == "up"
        if was_up:
            gone = f" (the kernel removes its {vfs_now} VFs)" if vfs_now else ""
            steps.append(Step("down", None, f"down{gone}"))
            recreated = vfs_now > 0
            vfs_now = 0
        steps.append(
            Step(
                "services",
                want.services,
                f"services {pf.services or '-'} -> {want.services}",
            )
        )
        if was_up:
            steps.append(Step("up", None, "up"))
    if target != vfs_now:
        if vfs_now:
            steps.append(Step("vfs", "0", f"vfs {vfs_now} -> 0"))
        if target:
            steps.append(Step("vfs", str(target), f"vfs 0 -> {target}"))
            recreated = True
    if not target:
        return steps
    driver = want.vf_driver
    if driver is not None:
        if recreated:
            steps.append(Step("bind", driver, f"bind its {target} VFs to {driver}"))
        else:
            off = [d for d in old_drivers if d != (None if driver == UNBOUND else driver)]
            if off:
                now: dict[str, int] = {}
                for d in off:
                    now[d or "no driver"] = now.get(d or "no driver", 0) + 1
                was = ", ".join(f"{n} on {d}" for d, n in sorted(now.items()))
                steps.append(Step("bind", driver, f"bind {len(off)} VFs to {driver} (now {was})"))
    elif recreated and any(old_drivers):
        used = ", ".join(sorted({d for d in old_drivers if d}))
        steps.append(
            Step("rebind", None, f"bind its VFs back to their drivers ({used})", old_drivers)
        )
    return steps


def make_plan(host: HostRoot, entries: Sequence[Entry], *, io: SysfsIO | None = None) -> Plan:
    """The steps that make ``host`` as ``entries`` say.

    Args:
        host: the host root.
        entries: the file's entries (:func:`qathw.setup.spec.read`).
        io: the sysfs seam.

    Returns:
        The plan; a PF already as wanted has no step.

    Raises:
        ConfigError: anything in the file this host cannot do (all problems at once).
    """
    inv = discovery.discover(host, io=io)
    errors: list[str] = []
    notes: list[str] = []
    wants: dict[PciAddress, _Want] = {}
    for entry in entries:
        for selector in entry.match:
            found = _matches(selector, inv, entry.where, errors)
            if found is None:
                continue
            if not found:
                notes.append(f"{entry.where}: '{selector}' matches no PF on this host")
            explicit = selector.startswith("qat_dev") or ":" in selector
            for pf in found:
                w = wants.setdefault(pf.address, _Want())
                if entry.number not in w.entries:
                    w.entries.append(entry.number)
                w.named |= explicit
                w.services = entry.services if entry.services is not None else w.services
                w.vfs = entry.vfs if entry.vfs is not None else w.vfs
                w.vf_driver = entry.vf_driver if entry.vf_driver is not None else w.vf_driver
    plans: list[PfPlan] = []
    for addr in sorted(wants):
        pf = inv.get(addr)
        want = wants[addr]
        label = _label(pf)
        if pf.pci.driver != pf.kind.family.pf_driver:
            why = (
                f"not bound to its QAT driver {pf.kind.family.pf_driver} "
                f"(bound: {pf.pci.driver or 'none'})"
            )
            if want.named:
                errors.append(
                    f"{pf.bdf}: {why}; bind it first: "
                    f"'qathw bind {pf.bdf} {pf.kind.family.pf_driver}'"
                )
            plans.append(PfPlan(addr, label, tuple(want.entries), skipped=why))
            continue
        count = _check(host, pf, want, io, errors)
        plans.append(PfPlan(addr, label, tuple(want.entries), tuple(_steps(pf, inv, want, count))))
    if errors:
        listed = "\n  ".join(errors)
        raise ConfigError(
            f"the set-up file cannot be applied to this host; nothing was changed:\n  {listed}",
            hint="fix the file (docs/admin.md#setup) and run it again",
        )
    return Plan(tuple(plans), tuple(notes))
