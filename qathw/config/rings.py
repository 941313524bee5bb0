"""Expansion of one device's configuration, with ring allocation exactly as the driver.

The kernel (``adf_config_device``) builds every bank's ring-to-service layout from
``ServicesEnabled``, then walks the sections — kernel sections first, then (gen4) the
SIOV ADIs, then user sections in ASCII order, each process ``0 .. NumProcesses-1`` —
and gives each instance ring pairs (docs/hardware.md#config-keys, #ring-capacity; OOT 1.7
and QAT20 ``adf_cfg_bundle.c``, ``adf_cfg_device.c``, ``adf_cfg_instance.c``,
``adf_cfg_section.c``):

* within a process, instances are created by service in ``enum adf_cfg_service_type``
  order: CRYPTO, then COMP (Dc), then SYM, then ASYM; so with ``asym;sym`` every
  ``Cy<n>`` first gets its sym bank, then all get their asym banks;
* a bank has 4 service slots when it has at least 8 rings (gen2/gen3: a ``cy`` slot pair
  holds asym rings in slot *k* and sym rings in slot *k+1*), else one ring pair serving
  slot ``bank mod 4`` (gen4);
* polled user instances pack densely, from the first bank above the kernel banks
  (QAT1.7) or from bank 0 (QAT20), into banks of the same polling mode;
* epoll user instances and kernel instances make a bank "interrupt mode": only the same
  internal section (and core) may share it;
* when nothing fits: ``Don't have enough rings for instance <name> in process <sec>``,
  and the whole device fails to configure.

The result records for each instance its device, service, bank(s), TX/RX ring numbers,
polling mode, core and ring depth — what the request layer binds to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from qathw.config.devices import DeviceRef
from qathw.config.diagnostics import Diagnostic, Severity
from qathw.config.profiles import DeviceProfile
from qathw.config.validate import DeviceConfig, InstanceSpec, SectionSpec
from qathw.config.values import CREATION_ORDER, Services, SlotMap, Svc

POLL = 1
EPOLL = 2

_SVC_NAME = {Svc.CRYPTO: "cy", Svc.COMP: "dc", Svc.SYM: "sym", Svc.ASYM: "asym"}


def derived_name(section: str, process: int, limit_dev_access: bool, accel_id: int) -> str:
    """``S_INT_i`` or ``S_DEV<d>_INT_i`` (``ADF_[LIMITED_]USER_SECTION_NAME_FORMAT``)."""
    if limit_dev_access:
        return f"{section}_DEV{accel_id}_INT_{process}"
    return f"{section}_INT_{process}"


@dataclass(frozen=True)
class RingPair:
    """One request/response ring pair of an instance.

    Attributes:
        service: ``"asym"``, ``"sym"`` or ``"dc"``.
        bank: the bank (bundle) number on the device.
        tx / rx: ring numbers within the bank (request, response).
        depth: ring size in messages (``*NumConcurrent*Requests``).
    """

    service: str
    bank: int
    tx: int
    rx: int
    depth: int

    def to_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "bank": self.bank,
            "tx": self.tx,
            "rx": self.rx,
            "depth": self.depth,
        }


@dataclass(frozen=True)
class Instance:
    """One crypto or compression instance a held section gives its process.

    Attributes:
        device: the device it lives on.
        section: the internal section (``SSL_DEV0_INT_2``), or the kernel section name.
        kind: ``"cy"`` or ``"dc"`` (which key family: ``Cy<n>`` / ``Dc<n>``).
        index: ``n``.
        name: ``Cy<n>Name``.
        service: ``"cy"`` (asym and sym), ``"sym"``, ``"asym"`` or ``"dc"``.
        rings: its ring pairs, asym before sym; empty where rings are not modelled (gen1).
        polling: ``IsPolled`` (0 interrupt, 1 polled, 2 epoll).
        core: the core chosen for this process (``CoreAffinity[i mod len]``).
    """

    device: DeviceRef
    section: str
    kind: str
    index: int
    name: str
    service: str
    rings: tuple[RingPair, ...]
    polling: int
    core: int

    @property
    def banks(self) -> tuple[int, ...]:
        """The banks the instance's rings are in."""
        return tuple(sorted({r.bank for r in self.rings}))

    @property
    def polling_mode(self) -> str:
        return {0: "interrupt", 1: "poll", 2: "epoll"}.get(self.polling, str(self.polling))

    def to_dict(self) -> dict[str, object]:
        return {
            "device": self.device.accel_id,
            "device_type": self.device.class_name,
            "file": self.device.path,
            "section": self.section,
            "kind": self.kind,
            "index": self.index,
            "name": self.name,
            "service": self.service,
            "banks": list(self.banks),
            "rings": [r.to_dict() for r in self.rings],
            "polling": self.polling_mode,
            "core": self.core,
        }


@dataclass(frozen=True)
class DerivedSection:
    """One internal section the kernel created on one device for one process index.

    Attributes:
        keys: the section's keys as the kernel holds them (debugfs ``dev_cfg``): the user
            section's keys except those containing ``CoreAffinity``, ``NumProcesses`` or
            ``LimitDevAccess``, then per instance its chosen core, bank(s), rings and ring
            sizes (``adf_cfg_add_*_inst_info``).
    """

    name: str
    user_section: str
    process: int
    limit_dev_access: bool
    device: DeviceRef
    instances: tuple[Instance, ...]
    keys: tuple[tuple[str, str], ...] = ()


_NOT_COPIED = ("CoreAffinity", "NumProcesses", "LimitDevAccess")
_REAL_NAMES = {"NumCyInstances": "NumberCyInstances", "NumDcInstances": "NumberDcInstances"}


def derived_keys(
    sec: SectionSpec, instances: tuple[Instance, ...], *, cross_banks: bool
) -> tuple[tuple[str, str], ...]:
    """The keys of a derived section: copied keys first, then each instance's.

    The Programmer's Guide spellings ``NumCyInstances`` / ``NumDcInstances``, which qathw
    reads as aliases, are copied under the driver's names.

    Args:
        sec: the user section.
        instances: the derived section's instances.
        cross_banks: gen4 (a Cy instance's asym and sym rings live in different banks:
            ``Cy<n>AsymBankNumber`` / ``Cy<n>SymBankNumber`` instead of ``Cy<n>BankNumber``).
    """
    names = {k for k, _ in sec.entries}
    keys = []
    for k, v in sec.entries:
        if any(s in k for s in _NOT_COPIED):
            continue
        real = _REAL_NAMES.get(k)
        if real is not None:
            if real in names:
                continue
            k = real
        keys.append((k, v))
    for inst in instances:
        label = f"{inst.kind.capitalize()}{inst.index}"
        keys.append((f"{label}CoreAffinity", str(inst.core)))
        by_service = {r.service: r for r in inst.rings}
        if inst.kind == "dc":
            dc = by_service["dc"]
            keys += [
                (f"{label}BankNumber", str(dc.bank)),
                (f"{label}RingTx", str(dc.tx)),
                (f"{label}RingRx", str(dc.rx)),
                (f"{label}NumConcurrentRequests", str(dc.depth)),
            ]
            continue
        for service in ("sym", "asym") if cross_banks else ("asym", "sym"):
            r = by_service.get(service)
            if r is None:
                continue
            tag = service.capitalize()
            bank_key = f"{label}{tag}BankNumber" if cross_banks else f"{label}BankNumber"
            if (bank_key, str(r.bank)) not in keys:
                keys.append((bank_key, str(r.bank)))
            keys += [
                (f"{label}Ring{tag}Tx", str(r.tx)),
                (f"{label}Ring{tag}Rx", str(r.rx)),
                (f"{label}NumConcurrent{tag}Requests", str(r.depth)),
            ]
    return tuple(keys)


@dataclass(frozen=True)
class BankUse:
    """How one bank is used after allocation.

    Attributes:
        kind: ``"free"``, ``"kernel"``, ``"user"`` or ``"adi"``.
        polling: the bank's polling mode (of its first instance), ``None`` when free.
        sections: the sections that took ring pairs in it.
        used / slots: ring-pair slots used and available.
    """

    bank: int
    kind: str
    polling: int | None
    sections: tuple[str, ...]
    used: int
    slots: int


@dataclass(frozen=True)
class ServiceUse:
    """Instance slots of one service: used and total on the device."""

    service: str
    used: int
    total: int


@dataclass(frozen=True)
class DeviceExpansion:
    """One device after expansion and allocation.

    Attributes:
        device: the device.
        modelled: rings were allocated (false for gen1 and unknown types).
        inferred: the ring layout is inferred rather than read in driver source (c4xxx).
        derived: internal sections, in creation order (empty when allocation failed).
        kernel: kernel-section instances.
        banks: every bank's use (at the point of failure, when allocation failed).
        diagnostics: R8 when the configuration does not fit.
    """

    device: DeviceRef
    modelled: bool
    inferred: bool = False
    derived: tuple[DerivedSection, ...] = ()
    kernel: tuple[Instance, ...] = ()
    banks: tuple[BankUse, ...] = ()
    usage: tuple[ServiceUse, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def failed(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def banks_used(self) -> int:
        return sum(1 for b in self.banks if b.kind != "free")

    def summary(self) -> str:
        """How full the device is: ``"banks 64/64; asym 32/32, sym 32/32"``."""
        if not self.modelled:
            return "capacity not modelled"
        parts = ", ".join(f"{u.service} {u.used}/{u.total}" for u in self.usage)
        return f"banks {self.banks_used}/{len(self.banks)}; {parts}"


# --- the simulation -------------------------------------------------------------------


@dataclass
class _Slot:
    stype: Svc
    rings: dict[str, tuple[int, int]]
    used: bool = False


@dataclass
class _Bank:
    number: int
    slots: list[_Slot]
    type: str = "free"
    polling: int = -1
    affinity: frozenset[int] | None = None  # None: every CPU
    sections: list[str] = field(default_factory=list)


def bank_layout(slot_map: SlotMap, profile: DeviceProfile, bank: int) -> list[_Slot]:
    """The ring-pair slots of one bank, as ``adf_cfg_bundle_init`` builds them."""
    rpb = profile.rings_per_bank or 0
    half = rpb // 2
    if profile.per_bank_layout:
        plan = [(slot_map[bank % 4], 0, half)]
    else:
        per = half // 4
        plan = [(slot_map[k], per * k, per) for k in range(4)]
    ring_svc: list[str | None] = [None] * rpb

    def assign(index: int, service: str, count: int) -> None:
        for j in range(count):
            ring_svc[index + j] = service
            ring_svc[index + j + half] = service

    k = 0
    while k < len(plan):
        stype, index, count = plan[k]
        if stype is Svc.CRYPTO:
            assign(index, "asym", count)
            k += 1
            if k == len(plan):
                break
            assign(count * k, "sym", count)
        elif stype is not Svc.NA:
            assign(index, _SVC_NAME[stype], count)
        k += 1

    taken: set[int] = set()

    def take(service: str) -> tuple[int, int]:
        tx = next(i for i in range(half) if ring_svc[i] == service and i not in taken)
        taken.add(tx)
        rx = next(i for i in range(half, rpb) if ring_svc[i] == service and i not in taken)
        taken.add(rx)
        return tx, rx

    slots: list[_Slot] = []
    k = 0
    while k < len(plan):
        stype, _, count = plan[k]
        for _ in range(count):
            if stype is Svc.CRYPTO:
                slots.append(_Slot(stype, {"asym": take("asym"), "sym": take("sym")}))
            elif stype is not Svc.NA:
                slots.append(_Slot(stype, {_SVC_NAME[stype]: take(_SVC_NAME[stype])}))
        k += 2 if stype is Svc.CRYPTO else 1
    return slots


class _Allocator:
    def __init__(self, profile: DeviceProfile, slot_map: SlotMap) -> None:
        self.k20 = profile.k20_allocator
        self.banks = [
            _Bank(b, bank_layout(slot_map, profile, b)) for b in range(profile.banks or 0)
        ]
        self.max_kernel = -1
        self.bundles_free = len(self.banks)

    def interrupt(self, bank: _Bank) -> bool:
        if self.k20:
            return bank.type == "kernel" or bank.polling == EPOLL
        return bank.polling == EPOLL or (bank.type == "kernel" and bank.polling != POLL)

    def can_share(self, bank: _Bank, process: str, polling: int) -> bool:
        if bank.type == "free":
            return True
        if bank.polling != polling:
            return False
        if self.k20:
            if self.interrupt(bank) and process == bank.sections[0]:
                return True
            if self.bundles_free:
                return False
            return not self.interrupt(bank)
        return not self.interrupt(bank) or process == bank.sections[0]

    def free_slot(self, bank: _Bank, stype: Svc, process: str, polling: int) -> _Slot | None:
        if not self.can_share(bank, process, polling):
            return None
        for slot in bank.slots:
            if slot.stype is stype and not slot.used:
                return slot
        return None

    def take(
        self, bank: _Bank, slot: _Slot, process: str, polling: int, core: int, kernel: bool
    ) -> tuple[_Bank, _Slot]:
        bank.sections.append(process)
        if bank.type == "free":
            bank.polling = polling
            bank.type = "kernel" if kernel else "user"
            if self.interrupt(bank):
                bank.affinity = frozenset({core})
            self.bundles_free -= 1
        slot.used = True
        return bank, slot

    def get(
        self, stype: Svc, process: str, polling: int, core: int, kernel: bool
    ) -> tuple[_Bank, _Slot] | None:
        """``adf_cfg_get_ring_pairs``: a ring-pair slot for one instance, or ``None``."""
        mask = frozenset({core})
        if not kernel and polling == POLL:
            start = 0 if self.k20 else self.max_kernel + 1
            for bank in self.banks[start:]:
                slot = self.free_slot(bank, stype, process, polling)
                if slot is not None:
                    return self.take(bank, slot, process, polling, core, kernel)
            return None
        want = "kernel" if kernel else "user"
        if self.k20:
            for bank in self.banks:
                if bank.type == want and bank.affinity == mask:
                    slot = self.free_slot(bank, stype, process, polling)
                    if slot is not None:
                        return self.take(bank, slot, process, polling, core, kernel)
            for bank in self.banks:
                if bank.type == "free":
                    slot = self.free_slot(bank, stype, process, polling)
                    if slot is not None:
                        return self.take(bank, slot, process, polling, core, kernel)
            return None
        first_free: _Bank | None = None
        for bank in self.banks:
            if bank.type == want and (bank.affinity is None or mask <= bank.affinity):
                slot = self.free_slot(bank, stype, process, polling)
                if slot is None:
                    continue
                return self.take(bank, slot, process, polling, core, kernel)
            if first_free is None and bank.type == "free":
                first_free = bank
        if first_free is None:
            return None
        slot = self.free_slot(first_free, stype, process, polling)
        if slot is None:
            return None
        if kernel:
            self.max_kernel = first_free.number
        return self.take(first_free, slot, process, polling, core, kernel)

    def reserve_adis(self, count: int) -> bool:
        """``adf_cfg_process_siov_section``: ADIs take the banks after the last kernel bank."""
        last_kernel = max((b.number for b in self.banks if b.type == "kernel"), default=-1)
        first = last_kernel + 1
        if first + count > len(self.banks):
            return False
        for bank in self.banks[first : first + count]:
            if any(s.used for s in bank.slots):
                return False
            for s in bank.slots:
                s.used = True
            bank.type = "adi"
            bank.sections.append("SIOV")
        return True

    def usage(self) -> tuple[tuple[BankUse, ...], tuple[ServiceUse, ...]]:
        banks = tuple(
            BankUse(
                b.number,
                b.type,
                None if b.type == "free" else b.polling,
                tuple(dict.fromkeys(b.sections)),
                sum(s.used for s in b.slots),
                len(b.slots),
            )
            for b in self.banks
        )
        used: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for b in self.banks:
            for s in b.slots:
                total[_SVC_NAME[s.stype]] += 1
                used[_SVC_NAME[s.stype]] += s.used
        order = ["cy", "asym", "sym", "dc"]
        return banks, tuple(ServiceUse(n, used[n], total[n]) for n in order if total[n])


def _instance_services(parts: list[tuple[Svc, _Bank, _Slot]]) -> str:
    kinds = {p[0] for p in parts}
    if Svc.COMP in kinds:
        return "dc"
    if Svc.CRYPTO in kinds or {Svc.SYM, Svc.ASYM} <= kinds:
        return "cy"
    return "sym" if Svc.SYM in kinds else "asym"


def _demand(config: DeviceConfig, services: Services) -> Counter[str]:
    want: Counter[str] = Counter()
    for sec in config.sections:
        for svc in CREATION_ORDER:
            if services.has(svc):
                specs = sec.dc if svc is Svc.COMP else sec.cy
                want[_SVC_NAME[svc]] += len(specs) * sec.num_processes
    return want


def expand_device(config: DeviceConfig, device: DeviceRef) -> DeviceExpansion:
    """Expand a validated configuration on one device and allocate its rings.

    Args:
        config: the file's configuration (:func:`qathw.config.validate.validate`).
        device: the device it configures (its accel id names ``S_DEV<d>_INT_i``).

    Returns:
        The internal sections with their instances, the banks' use, and an R8 error when
        the configuration does not fit (then, as in the driver, no section is created).
    """
    profile, services = config.profile, config.services
    slot_map = services.slots if services is not None else None
    if profile is None or services is None or slot_map is None or not profile.modelled:
        return _expand_unmodelled(config, device)
    alloc = _Allocator(profile, slot_map)
    depth = config.depth
    derived: list[DerivedSection] = []
    kernel: list[Instance] = []

    def process(sec: SectionSpec, name: str, index: int) -> tuple[Instance, ...] | None:
        parts: dict[tuple[str, int], list[tuple[Svc, _Bank, _Slot]]] = {}
        specs_by_key: dict[tuple[str, int], InstanceSpec] = {}
        for svc in CREATION_ORDER:
            if not services.has(svc):
                continue
            for spec in sec.dc if svc is Svc.COMP else sec.cy:
                core = spec.cores[index % len(spec.cores)]
                got = alloc.get(svc, name, spec.polling, core, not sec.user)
                if got is None:
                    fail(sec, spec, name)
                    return None
                parts.setdefault((spec.kind, spec.index), []).append((svc, got[0], got[1]))
                specs_by_key[(spec.kind, spec.index)] = spec
        out = []
        for key in sorted(parts, key=lambda k: (k[0] != "cy", k[1])):
            spec = specs_by_key[key]
            rings = []
            for _svc, bank, slot in parts[key]:
                for service, (tx, rx) in slot.rings.items():
                    rings.append(RingPair(service, bank.number, tx, rx, depth[service]))
            rings.sort(key=lambda r: ("asym", "sym", "dc").index(r.service))
            out.append(
                Instance(
                    device,
                    name,
                    spec.kind,
                    spec.index,
                    spec.name,
                    _instance_services(parts[key]),
                    tuple(rings),
                    spec.polling,
                    spec.cores[index % len(spec.cores)],
                )
            )
        return tuple(out)

    failure: list[Diagnostic] = []

    def fail(sec: SectionSpec, spec: InstanceSpec, name: str) -> None:
        banks, usage = alloc.usage()
        partial = DeviceExpansion(device, True, services.inferred, banks=banks, usage=usage)
        want = _demand(config, services)
        if spec.polling == EPOLL:
            epoll_procs = sum(
                s.num_processes
                for s in config.sections
                if s.user and any(i.polling == EPOLL for i in (*s.cy, *s.dc))
            )
            kernel_banks = sum(1 for b in banks if b.kind == "kernel")
            epoll = " Epoll instances (IsPolled = 2) need a bank of their own per process."
            hint = (
                f"{epoll_procs} epoll processes need at least {epoll_procs} banks; "
                f"{device.name} has {len(banks)}"
                + (f", {kernel_banks} of them kernel banks" if kernel_banks else "")
                + ": lower NumProcesses, use polled instances (IsPolled = 1), or spread "
                "the section over more devices"
            )
        else:
            asks = ", ".join(f"{u.service} {want[u.service]} of {u.total}" for u in usage)
            epoll = ""
            hint = (
                f"the file asks for {asks} instance slots; lower NumProcesses or the "
                "instances per process, or spread sections over more devices"
            )
        failure.append(
            Diagnostic(
                "R8",
                Severity.ERROR,
                f"Don't have enough rings for instance {spec.name} in process {name}: "
                f"{device.name} ({device.class_name}) fails to configure "
                f"({partial.summary()} when it ran out).{epoll}",
                hint,
                config.path,
                spec.line or sec.line,
                None,
            )
        )

    kernel_secs = [s for s in config.sections if not s.user]
    user_secs = [s for s in config.sections if s.user]
    for sec in kernel_secs:
        got = process(sec, sec.name, 0)
        if got is None:
            break
        kernel.extend(got)
    if not failure and config.num_adis and not alloc.reserve_adis(config.num_adis):
        failure.append(
            Diagnostic(
                "R8",
                Severity.ERROR,
                f"[SIOV] NumberAdis = {config.num_adis} does not fit after the kernel banks "
                f"of {device.name} ('Not enough resource for ADI.')",
                f"{profile.class_name} has {profile.banks} banks",
                config.path,
            )
        )
    if not failure:
        for sec in user_secs:
            for i in range(sec.num_processes):
                name = derived_name(sec.name, i, sec.limit_dev_access, device.accel_id)
                got = process(sec, name, i)
                if got is None:
                    break
                keys = derived_keys(sec, got, cross_banks=profile.per_bank_layout)
                derived.append(
                    DerivedSection(name, sec.name, i, sec.limit_dev_access, device, got, keys)
                )
            if failure:
                break
    banks, usage = alloc.usage()
    if failure:
        return DeviceExpansion(
            device, True, services.inferred, (), (), banks, usage, tuple(failure)
        )
    return DeviceExpansion(
        device, True, services.inferred, tuple(derived), tuple(kernel), banks, usage
    )


def _expand_unmodelled(config: DeviceConfig, device: DeviceRef) -> DeviceExpansion:
    """Names and instances without rings, where the ring layout is not modelled."""
    derived = []
    for sec in config.user_sections:
        for i in range(sec.num_processes):
            name = derived_name(sec.name, i, sec.limit_dev_access, device.accel_id)
            instances = tuple(
                Instance(
                    device,
                    name,
                    spec.kind,
                    spec.index,
                    spec.name,
                    spec.kind,
                    (),
                    spec.polling,
                    spec.cores[i % len(spec.cores)],
                )
                for spec in (*sec.cy, *sec.dc)
            )
            derived.append(
                DerivedSection(name, sec.name, i, sec.limit_dev_access, device, instances)
            )
    return DeviceExpansion(device, False, derived=tuple(derived))
