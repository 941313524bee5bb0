"""Validation of one configuration file for one device type, per generation.

:func:`validate` reads a :class:`~qathw.config.document.ConfigDocument` the way the
driver would for a given :class:`~qathw.config.profiles.DeviceProfile` and returns

* a typed :class:`DeviceConfig` (services, ring depths, the instance sections in the
  order the kernel processes them, with every instance's name, polling mode and cores),
  which :mod:`qathw.config.rings` expands and allocates; and
* the diagnostics (rules R1-R7, R9, R11, R13-R20, V1-V6 of the catalogue).

Where driver versions differ, messages say which version does what.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from qathw.config import values
from qathw.config.diagnostics import Diagnostic, Severity
from qathw.config.document import MAX_STR_LEN, ConfigDocument, Entry, Section
from qathw.config.profiles import (
    ACCELERATOR,
    GENERAL,
    INLINE,
    KERNEL_QAT,
    SIOV,
    WIRELESS,
    DeviceProfile,
    is_user_section,
    kernel_sections,
    quiet_sections,
)
from qathw.config.values import Services, ServicesError
from qathw.ids import Generation, GenerationTraits

#: Section names longer than this do not fit QAT_Engine / QATzip's buffer (64 with NUL).
ENGINE_MAX_SECTION = 63
#: ``SAL_MAX_NUM_INSTANCES_PER_DEV``: the SAL refuses more instances per section.
MAX_INSTANCES = 256

DEFAULT_DEPTH = {"asym": 64, "sym": 512, "dc": 512}
DEPTH_KEYS = {
    "asym": "CyNumConcurrentAsymRequests",
    "sym": "CyNumConcurrentSymRequests",
    "dc": "DcNumConcurrentRequests",
}

_GENERAL_KEYS = frozenset(
    """ServicesEnabled ServicesProfile ConfigVersion CyNumConcurrentSymRequests
    CyNumConcurrentAsymRequests DcNumConcurrentRequests InterruptCoalescingEnabled
    InterruptCoalescingTimerNs InterruptCoalescingNumResponses statsGeneral statsDc statsDh
    statsDsa statsEcc statsKeyGen statsLn statsPrime statsRsa statsSym statsDrbg statsMisc
    PkeServiceDisabled StorageEnabled KptEnabled RateLimitingEnabled
    DcIntermediateBufferSizeInKB AutoResetOnError HeartbeatTimer NumCyAccelUnits
    NumDcAccelUnits NumInlineAccelUnits ServiceChainingEnabled PmIdleSupport
    PmIdleInterruptDelay KptMaxSWKPerFn KptMaxSWKPerPASID KptMaxSWKLifetime KptSWKShared
    ATEnabled SVMEnabled Firmware_MofPath Firmware_MmpPath SRIOV_Enabled ProcDebug
    WirelessEnabled cyHmacAuthMode dcTotalSRAMAvailable ReportParityCompressionError""".split()
)
_RUNTIME_GENERAL = frozenset(
    """FirstUserBundle Firmware_MmpVer Firmware_UofVer HW_RevId Device_Max_Banks
    Device_Max_Rings_Per_Bank Device_Capabilities_Mask Device_NodeId Device_PkgId
    Device_DcExtendedFeatures Cipher_Capabilities_Mask Hash_Capabilities_Mask
    Asym_Capabilities_Mask""".split()
)
_ASYM_STATS = (
    "statsDh",
    "statsDsa",
    "statsEcc",
    "statsKeyGen",
    "statsLn",
    "statsPrime",
    "statsRsa",
)
_DEPRECATED = ("KptEnabled", "StorageEnabled", "PkeServiceDisabled", "RateLimitingEnabled")

_INSTANCE_KEY = re.compile(r"(?P<kind>Cy|Dc)(?P<n>0|[1-9][0-9]*)(?P<what>[A-Za-z_]+)")
_INSTANCE_WHATS = ("Name", "IsPolled", "CoreAffinity", "AcceleratorNumber")
_RUNTIME_INSTANCE_WHATS = frozenset(
    """BankNumber AsymBankNumber SymBankNumber RingAsymTx RingAsymRx RingSymTx RingSymRx
    RingTx RingRx NumConcurrentAsymRequests NumConcurrentSymRequests
    NumConcurrentRequests""".split()
)
_SECTION_KEYS = ("NumberCyInstances", "NumberDcInstances", "NumProcesses", "LimitDevAccess")
_ALIASES = {"NumberCyInstances": "NumCyInstances", "NumberDcInstances": "NumDcInstances"}
_DERIVED = re.compile(r"(?P<base>.+?)(_DEV[0-9]+)?_INT_[0-9]+")


@dataclass(frozen=True)
class InstanceSpec:
    """One instance of a section, as configured.

    Attributes:
        kind: ``"cy"`` or ``"dc"``.
        index: ``n`` of ``Cy<n>`` / ``Dc<n>``.
        name: ``Cy<n>Name``.
        polling: ``Cy<n>IsPolled`` (0 interrupt, 1 polled, 2 epoll).
        cores: the expanded ``Cy<n>CoreAffinity`` list.
        line: where ``Cy<n>Name`` is.
    """

    kind: str
    index: int
    name: str
    polling: int
    cores: tuple[int, ...]
    line: int | None = None


@dataclass(frozen=True)
class SectionSpec:
    """An instance section (kernel or user) as the kernel will process it.

    Attributes:
        name: the section name.
        user: a user section (expanded per process) rather than a kernel one.
        line: where its header is.
        num_processes: ``NumProcesses`` as the kernel reads it (1 for kernel sections).
        limit_dev_access: ``LimitDevAccess`` is non-zero.
        cy / dc: the instances the kernel creates per process (empty for a service that is
            not enabled).
        entries: every key and value of the section, as the driver received them.
    """

    name: str
    user: bool
    line: int
    num_processes: int
    limit_dev_access: bool
    cy: tuple[InstanceSpec, ...] = ()
    dc: tuple[InstanceSpec, ...] = ()
    entries: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DeviceConfig:
    """What one file configures on one device.

    Attributes:
        path: the file.
        profile: the device type, or ``None`` when unknown (generation rules skipped).
        services: what ``ServicesEnabled`` turns on, or ``None`` when it is invalid.
        depth: ring sizes (``asym``, ``sym``, ``dc``) from the ``NumConcurrent*`` keys.
        num_adis: ``[SIOV] NumberAdis`` (gen4).
        sections: instance sections in the kernel's processing order: kernel sections
            first, then user sections in ASCII order (``adf_ctl`` sends a ``std::map``).
    """

    path: str | None
    profile: DeviceProfile | None
    services: Services | None
    depth: dict[str, int]
    num_adis: int = 0
    sections: tuple[SectionSpec, ...] = ()

    def user_section(self, name: str) -> SectionSpec | None:
        return self._user_by_name.get(name)

    @cached_property
    def _user_by_name(self) -> dict[str, SectionSpec]:
        # Indexed once: a scan per lookup made checking many sections quadratic.
        return {s.name: s for s in reversed(self.sections) if s.user}

    @property
    def user_sections(self) -> tuple[SectionSpec, ...]:
        return tuple(s for s in self.sections if s.user)


def _ascii_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _closest(word: str, choices: Iterable[str]) -> str | None:
    pool = list(choices)
    for c in pool:
        if c.lower() == word.lower():
            return c
    got = difflib.get_close_matches(word, pool, n=1, cutoff=0.8)
    return got[0] if got else None


@dataclass
class _Checker:
    doc: ConfigDocument
    profile: DeviceProfile | None
    cpu_count: int | None
    accel_id: int | None
    out: list[Diagnostic] = field(default_factory=list)
    # Kept as diagnostics are added: counting self.out per section made checking quadratic.
    errors: int = 0

    @property
    def gen(self) -> Generation | None:
        return self.profile.generation if self.profile else None

    @property
    def traits(self) -> GenerationTraits | None:
        return self.profile.generation.traits if self.profile else None

    def diag(
        self,
        rule: str,
        severity: Severity,
        message: str,
        hint: str | None = None,
        where: tuple[int | None, int | None] = (None, None),
        strict_error: bool = False,
    ) -> None:
        line, column = where
        self.errors += severity is Severity.ERROR
        self.out.append(
            Diagnostic(rule, severity, message, hint, self.doc.path, line, column, strict_error)
        )

    @staticmethod
    def at(entry: Entry | None, section: Section | None = None) -> tuple[int | None, int | None]:
        if entry is not None:
            return entry.line, entry.column
        if section is not None:
            return section.line, section.column
        return None, None

    # --- [GENERAL] -------------------------------------------------------------------

    def general(self) -> tuple[Services | None, dict[str, int]]:
        gen = self.doc.section(GENERAL)
        depth = dict(DEFAULT_DEPTH)
        if gen is None:
            self.not_this_format()
            self.diag(
                "R1",
                Severity.ERROR,
                "No GENERAL section found (adf_ctl: 'QAT Error: No GENERAL section found')",
                "start the file with a [GENERAL] section holding ConfigVersion = 2 and "
                "ServicesEnabled",
                where=(1, None),
            )
            return None, depth
        version = gen.entries.get("ConfigVersion")
        if version is None:
            self.diag(
                "R1",
                Severity.ERROR,
                "Key ConfigVersion missing in GENERAL section",
                "add 'ConfigVersion = 2' to [GENERAL]",
                where=self.at(None, gen),
            )
        elif version.value != "2":
            self.diag(
                "R1",
                Severity.ERROR,
                f"ConfigVersion = {version.value}: only version 2 config files are supported",
                "set ConfigVersion = 2",
                where=self.at(version),
            )
        services = self.services(gen)
        for svc, key in DEPTH_KEYS.items():
            entry = gen.entries.get(key)
            if entry is None:
                continue
            n = values.kernel_ulong(entry.value)
            if n is None or not values.is_ring_size(n):
                self.diag(
                    "R14",
                    Severity.ERROR,
                    f"{key} = {entry.value}: ring sizes must be a power of two from 64 to "
                    "65536 (the SAL refuses the instances)",
                    f"use 64, 128, 256, 512, ...; the default is {DEFAULT_DEPTH[svc]}",
                    where=self.at(entry),
                )
            else:
                depth[svc] = n
        self.general_keys(gen, services)
        return services, depth

    def not_this_format(self) -> None:
        text = self.doc.to_text()
        if re.search(r"^\s*ServicesEnabled\s*=", text, re.M) and (
            not self.doc.sections or re.search(r"^\s*POLICY\s*=", text, re.M)
        ):
            self.diag(
                "V3",
                Severity.INFO,
                "this looks like qatlib's /etc/sysconfig/qat (in-tree driver), not an "
                "out-of-tree adf_ctl file",
                "qatlib reads ServicesEnabled and POLICY from /etc/sysconfig/qat; "
                "'qathw config check' reads /etc/<type>_dev<N>.conf files",
                where=(1, None),
            )

    def services(self, gen: Section) -> Services | None:
        entry = gen.entries.get("ServicesEnabled")
        profile_entry = gen.entries.get("ServicesProfile")
        profile_name: str | None = None
        if profile_entry is not None:
            if self.gen is not None and values.reads_services_profile(self.gen):
                if profile_entry.value in values.PROFILES:
                    profile_name = profile_entry.value
                else:
                    self.diag(
                        "R2",
                        Severity.WARNING,
                        f"Invalid ServicesProfile: {profile_entry.value}, the driver uses the "
                        "DEFAULT image",
                        "write DEFAULT, CRYPTO, COMPRESSION or CUSTOM1",
                        where=self.at(profile_entry),
                    )
            elif self.gen is not None:
                self.diag(
                    "V2",
                    Severity.INFO,
                    "ServicesProfile is read only by QAT.L.4.2x for gen2 devices; "
                    f"{self.profile.class_name if self.profile else 'this device'} ignores it",
                    "remove it",
                    where=self.at(profile_entry),
                )
        if entry is None:
            self.diag(
                "R2",
                Severity.ERROR,
                "ServicesEnabled is missing from [GENERAL]; the device does not start",
                f"add e.g. 'ServicesEnabled = {values.example_services(self.gen)}'",
                where=self.at(None, gen),
            )
            return None
        if self.gen is None:
            return None
        try:
            vf = self.profile is not None and self.profile.is_vf
            got = values.services(self.gen, entry.value, profile_name, vf=vf)
        except ServicesError as exc:
            self.diag(
                "R2",
                Severity.ERROR,
                f"{exc} on {self.profile.class_name if self.profile else 'this device'}; "
                "the device does not start",
                exc.hint,
                where=self.at(entry),
            )
            return None
        if (
            self.profile
            and not self.profile.is_vf
            and self.profile.generation.traits.capability_keys
        ):
            self.removed_services(gen, got)
        return got

    def removed_services(self, gen: Section, got: Services) -> None:
        for key, what in (
            ("PkeServiceDisabled", "asym"),
            ("StorageEnabled", "asym"),
            ("RateLimitingEnabled", "dc"),
        ):
            entry = gen.entries.get(key)
            if entry is None or not values.kernel_ulong(entry.value):
                continue
            needs = got.uses_asym if what == "asym" else got.compression
            if needs:
                self.diag(
                    "R2",
                    Severity.WARNING,
                    f"{key} = {entry.value} removes the {what} capability that "
                    f"ServicesEnabled = {got.text} needs: QAT1.7.L.4.8 refuses the device "
                    "('Unsupported device configuration'); QAT.L.4.2x ignores the "
                    "deprecated key",
                    f"set {key} = 0 or drop {what} from ServicesEnabled",
                    where=self.at(entry),
                )

    def general_keys(self, gen: Section, services: Services | None) -> None:
        for entry in gen:
            key = entry.key
            if key in _RUNTIME_GENERAL:
                self.diag(
                    "R18",
                    Severity.WARNING,
                    f"{key} is written by the driver at run time (debugfs dev_cfg); a user "
                    "file should not set it",
                    "remove it: this looks like a copy of a running device's configuration",
                    where=self.at(entry),
                )
            elif key not in _GENERAL_KEYS and key not in _SECTION_KEYS:
                near = _closest(key, _GENERAL_KEYS)
                self.diag(
                    "V2",
                    Severity.WARNING if near else Severity.INFO,
                    f"[GENERAL] {key} is not a key the driver versions we know read",
                    f"did you mean {near}?"
                    if near
                    else "check its spelling against the Programmer's Guide; remove it if unused",
                    where=self.at(entry),
                )
        hb = gen.entries.get("HeartbeatTimer")
        # An unknown type is checked too: every driver with a heartbeat refuses < 200.
        if hb is not None and (self.traits is None or self.traits.heartbeat_ms is not None):
            n = values.kernel_ulong(hb.value)
            if n is None or n < 200:
                self.diag(
                    "R17",
                    Severity.ERROR,
                    f"HeartbeatTimer = {hb.value}: QAT.L.4.24 and QAT20 refuse values under "
                    "200 ms ('HeartbeatTimer value cannot be lesser than 200') and the "
                    "device does not start",
                    "use at least 200 (the default is 500)",
                    where=self.at(hb),
                )
        if self.traits and self.traits.deprecated_keys:
            for key in _DEPRECATED:
                dep = gen.entries.get(key)
                if dep is None or (key == "RateLimitingEnabled" and self.traits.rate_limiting):
                    continue
                self.diag(
                    "R20",
                    Severity.INFO,
                    f"QAT.L.4.2x ignores {key} ('Parameter '{key}' has been deprecated'); "
                    "QAT1.7.L.4.8 reads it",
                    f"with QAT.L.4.2x, drop {key}; it has no effect there",
                    where=self.at(dep),
                )
        if self.profile and not self.profile.is_vf and self.profile.generation.traits.accel_units:
            self.accel_units(gen, services)

    def accel_units(self, gen: Section, services: Services | None) -> None:
        units: dict[str, int] = {}
        for key in ("NumCyAccelUnits", "NumDcAccelUnits", "NumInlineAccelUnits"):
            entry = gen.entries.get(key)
            n = values.kernel_ulong(entry.value) if entry is not None else None
            if n is None:
                self.diag(
                    "R16",
                    Severity.ERROR,
                    f"c4xxx needs {key} in [GENERAL] ('Invalid accel unit config.')",
                    "split the SKU's accel units between NumCyAccelUnits, NumDcAccelUnits "
                    "and NumInlineAccelUnits",
                    where=self.at(entry, gen),
                )
            else:
                units[key] = n
        if services is None or len(units) < 3:
            return
        crypto = any(services.named(t) for t in ("cy", "sym", "asym"))
        for on, key, svc in (
            (crypto, "NumCyAccelUnits", "cy"),
            (services.named("dc"), "NumDcAccelUnits", "dc"),
        ):
            if on and units[key] == 0:
                self.diag(
                    "R16",
                    Severity.ERROR,
                    f"{key} = 0 but ServicesEnabled enables {svc} "
                    f"('{key} should not be 0', 'Failed to enable {svc} service!')",
                    f"give {svc} at least one accel unit",
                    where=self.at(gen.entries.get(key), gen),
                )

    def stats(self, gen: Section | None, services: Services | None) -> None:
        if gen is None or services is None:
            return
        entry = gen.entries.get("statsGeneral")
        if entry is None:
            self.diag(
                "R15",
                Severity.ERROR,
                "statsGeneral is missing: the SAL (QAT1.7 and QAT20) fails to start "
                "instances ('Failed to get statsGeneral from configuration file')",
                "add 'statsGeneral = 1' (or 0 to turn statistics off) to [GENERAL]",
                where=self.at(None, gen),
            )
            return
        if entry.value == "0":  # the SAL compares with the string "0"; "00" means on
            return
        needed: list[str] = []
        if services.compression:
            needed.append("statsDc")
        if services.uses_asym:
            needed += _ASYM_STATS
        if services.uses_sym:
            needed.append("statsSym")
        missing = [k for k in needed if k not in gen]
        if missing:
            self.diag(
                "R15",
                Severity.ERROR,
                "statsGeneral is on but " + ", ".join(missing) + " missing: the SAL fails "
                f"('Failed to get {missing[0]} from configuration file')",
                "add them (1 or 0), or set statsGeneral = 0",
                where=self.at(entry),
            )

    # --- sections --------------------------------------------------------------------

    def sections(self, services: Services | None) -> tuple[list[SectionSpec], int]:
        kernel_names = kernel_sections(self.profile)
        quiet = quiet_sections(self.profile)
        kernel: list[SectionSpec] = []
        user: list[SectionSpec] = []
        num_adis = 0
        user_names = {n for n in self.doc.sections if is_user_section(n, self.profile)}
        for name, sec in self.doc.sections.items():
            if name in kernel_names:
                spec = self.instance_section(sec, services, user=False)
                if spec is not None:
                    kernel.append(spec)
            elif name == SIOV and name in quiet:  # special on this type: read it
                num_adis = self.siov(sec)
            elif name == INLINE and name in quiet:
                self.inline(sec)
            elif name in quiet:
                continue
            elif ACCELERATOR.fullmatch(name):
                self.diag(
                    "R18",
                    Severity.WARNING,
                    f"[{name}] is generated by the kernel (interrupt coalescing per bank); a "
                    "user file should not contain it",
                    "remove the section",
                    where=self.at(None, sec),
                )
            else:
                self.special_elsewhere(sec)
                self.derived_lookalike(sec, user_names)
                spec = self.instance_section(sec, services, user=True)
                if spec is not None:
                    user.append(spec)
        order = {name: i for i, name in enumerate(kernel_names)}
        kernel.sort(key=lambda s: order[s.name])
        user.sort(key=lambda s: _ascii_key(s.name))
        return kernel + user, num_adis

    def special_elsewhere(self, sec: Section) -> None:
        note = {
            KERNEL_QAT: "[KERNEL_QAT] is a kernel section only on gen2/gen3",
            SIOV: "[SIOV] (Scalable IOV ADIs) exists only on gen4",
            INLINE: "[INLINE] (inline IPsec) exists only on c4xxx",
            WIRELESS: "[WIRELESS] exists only on gen1",
        }.get(sec.name)
        if note and self.profile is not None:
            self.diag(
                "R19",
                Severity.WARNING,
                f"{note}; on {self.profile.class_name} the driver treats it as a user "
                "section, which creates nothing without NumProcesses",
                "remove it, or check the file is for the right device type",
                where=self.at(None, sec),
            )

    def derived_lookalike(self, sec: Section, user_names: set[str]) -> None:
        m = _DERIVED.fullmatch(sec.name)
        if m and m["base"] in user_names:
            self.diag(
                "V1",
                Severity.WARNING,
                f"[{sec.name}] has the form of an internal section of [{m['base']}]; the "
                "driver reuses the existing name and silently merges the two",
                "rename the section",
                where=self.at(None, sec),
            )

    def inline(self, sec: Section) -> None:
        if not (self.traits and self.traits.inline_ipsec):
            self.diag(
                "R19",
                Severity.WARNING,
                "[INLINE] (inline IPsec) is read only on c4xxx; QAT20 ignores the section",
                "remove it, or check the file is for the right device type",
                where=self.at(None, sec),
            )
            return
        known = (
            "InlineIngress",
            "InlineEgress",
            "InlineIPsecAlgoGroup",
            "InlineCongestionManagmentProfile",
        )
        for entry in sec:
            if entry.key not in known:
                near = _closest(entry.key, known)
                self.diag(
                    "V2",
                    Severity.WARNING,
                    f"[INLINE] {entry.key} is not a key the driver reads",
                    f"did you mean {near}?" if near else "remove it or check its spelling",
                    where=self.at(entry),
                )
            elif entry.key in ("InlineIngress", "InlineEgress"):
                n = values.kernel_ulong(entry.value)
                if n is None or n > 100:
                    self.diag(
                        "V2",
                        Severity.WARNING,
                        f"{entry.key} = {entry.value} is not a percentage (0..100)",
                        "give the share of inline traffic in percent",
                        where=self.at(entry),
                    )

    def siov(self, sec: Section) -> int:
        entry = sec.entries.get("NumberAdis")
        if entry is None:
            return 0
        n = values.kernel_ulong(entry.value)
        if n is None:
            self.diag(
                "R7",
                Severity.ERROR,
                f"NumberAdis = {entry.value} is not a number ('Failed to create siov section')",
                "write a decimal number, 0 for none",
                where=self.at(entry),
            )
            return 0
        return n

    def number(self, sec: Section, key: str) -> tuple[int | None, Entry | None]:
        entry = sec.entries.get(key)
        if entry is None:
            return None, None
        n = values.kernel_ulong(entry.value)
        bare_hex = not entry.value.lower().lstrip("+").startswith("0x")
        if n is not None and values.read_base(entry.value) == "hex" and bare_hex:
            self.diag(
                "V6",
                Severity.WARNING,
                f"{key} = {entry.value} is not decimal; the kernel reads it as "
                f"hexadecimal 0x{entry.value} = {n}",
                f"write {n} if that is meant, or the decimal number you meant",
                where=self.at(entry),
            )
        return n, entry

    def instance_section(
        self, sec: Section, services: Services | None, *, user: bool
    ) -> SectionSpec | None:
        errors_before = self.errors
        num_processes, lda, intended = 1, False, True
        if user:
            num_processes, lda, intended = self.processes(sec)
        else:
            for key in ("NumProcesses", "LimitDevAccess"):
                if key in sec:
                    self.diag(
                        "V2",
                        Severity.WARNING,
                        f"{key} is ignored in the kernel section [{sec.name}]",
                        "remove it",
                        where=self.at(sec.entries[key]),
                    )
        # The kernel reads counts and instance keys only for processes it creates; an
        # unreadable NumProcesses still shows the section is meant to be used.
        active = num_processes > 0 or intended
        counts = {
            "cy": self.count(sec, "NumberCyInstances", "cy", services, active),
            "dc": self.count(sec, "NumberDcInstances", "dc", services, active),
        }
        if user and active and not counts["cy"] and not counts["dc"]:
            self.diag(
                "V5",
                Severity.INFO,
                f"[{sec.name}] gives its processes no instances (no Cy or Dc instances)",
                "set NumberCyInstances or NumberDcInstances if its processes need any",
                where=self.at(None, sec),
            )
        instances = {
            kind: self.instances(sec, kind, counts[kind] if active else 0, user=user)
            for kind in ("cy", "dc")
        }
        self.unknown_keys(sec, counts, user=user)
        if self.errors > errors_before:
            return None
        return SectionSpec(
            sec.name,
            user,
            sec.line,
            num_processes,
            lda,
            instances["cy"],
            instances["dc"],
            tuple((e.key, e.value) for e in sec),
        )

    def count(
        self, sec: Section, key: str, kind: str, services: Services | None, active: bool
    ) -> int:
        enabled: bool | None = None
        if services is not None:
            enabled = services.crypto if kind == "cy" else services.compression
        alias = _ALIASES[key]
        real = sec.entries.get(key)
        other = sec.entries.get(alias)
        label = "Cy" if kind == "cy" else "Dc"
        entry = real
        if other is not None and real is not None:
            self.diag(
                "R3",
                Severity.WARNING,
                f"{alias} (the Programmer's Guide spelling) is ignored: the driver reads "
                f"{key} = {real.value}",
                f"remove {alias}",
                where=self.at(other),
                strict_error=True,
            )
        elif other is not None:
            self.diag(
                "R3",
                Severity.WARNING,
                f"{alias} is the Programmer's Guide spelling: qathw reads it as {key} = "
                f"{other.value}, but the driver reads only {key} (and without it fails: "
                f"'Failed to create rings for {kind}')",
                f"rename it to {key}",
                where=self.at(other),
                strict_error=True,
            )
            entry = other
        if entry is None:
            if enabled and active:
                self.diag(
                    "R3",
                    Severity.ERROR,
                    f"[{sec.name}] has no {key} but ServicesEnabled turns {kind} on: the kernel "
                    f"fails ('Failed to create rings for {kind}')",
                    f"add '{key} = <instances per process>' (0 for none)",
                    where=self.at(None, sec),
                )
            return 0
        n, _ = self.number(sec, entry.key)
        if n is None:
            if enabled is not False and active:
                self.diag(
                    "R3",
                    Severity.ERROR,
                    f"{entry.key} = {entry.value} is not a number ('Failed to create rings "
                    f"for {kind}')",
                    "write the number of instances per process",
                    where=self.at(entry),
                )
            return 0
        if n and enabled is False and active:
            self.diag(
                "R13",
                Severity.WARNING,
                f"{entry.key} = {n} but ServicesEnabled does not enable {kind}: QAT1.7 and "
                f"QAT20 create no {label} instances; QAT.L.4.2x refuses the device "
                f"('Num{label}Instances > 0, when {kind.upper()} is not enabled')",
                f"set {entry.key} = 0, or enable {kind}",
                where=self.at(entry),
            )
            return 0
        if n > MAX_INSTANCES:
            self.diag(
                "R3",
                Severity.ERROR,
                f"{entry.key} = {n}: the SAL refuses more than {MAX_INSTANCES} instances "
                "per section ('num instances out of range')",
                f"use at most {MAX_INSTANCES}",
                where=self.at(entry),
            )
            return 0
        return n

    def processes(self, sec: Section) -> tuple[int, bool, bool]:
        """NumProcesses (as the kernel reads it), LimitDevAccess, and whether the section
        is meant to be used (NumProcesses present but unreadable counts as meant)."""
        name = sec.name
        n, entry = self.number(sec, "NumProcesses")
        lda_n, lda_entry = self.number(sec, "LimitDevAccess")
        special = name in (KERNEL_QAT, SIOV, INLINE, WIRELESS)
        if entry is None:
            if not special:
                self.diag(
                    "R7",
                    Severity.WARNING,
                    f"[{name}] has no NumProcesses: the driver creates no internal section "
                    f"for it and user_start({name!r}) can never succeed",
                    "add 'NumProcesses = <how many processes use this section>'",
                    where=self.at(None, sec),
                )
            n = 0
        elif n is None:
            self.diag(
                "R7",
                Severity.ERROR,
                f"NumProcesses = {entry.value} is not a number: the kernel reads it as 0, "
                f"so [{name}] can never be used",
                "write a decimal number (or 0x hex)",
                where=self.at(entry),
            )
            n = 0
        elif n == 0:
            self.diag(
                "R7",
                Severity.WARNING,
                f"NumProcesses = 0: [{name}] creates no internal section and can never be used",
                "set NumProcesses to the number of processes that start this section",
                where=self.at(entry),
            )
        bound = self.profile.max_processes if self.profile else None
        if bound is not None and n > bound and entry is not None:
            self.diag(
                "R9",
                Severity.ERROR,
                f"NumProcesses = {n} exceeds what {self.profile.class_name if self.profile else ''}"
                f" can hand out ({bound} = num_banks x rings_per_bank / 2): names from "
                f"index {bound} on are never given to a process",
                f"use at most {bound}",
                where=self.at(entry),
            )
            n = bound
        lda = False
        if lda_entry is not None:
            if lda_n is None:
                self.diag(
                    "R7",
                    Severity.ERROR,
                    f"LimitDevAccess = {lda_entry.value} is not a number: the kernel reads it "
                    "as 0 (not limited to one device)",
                    "write 0 or 1",
                    where=self.at(lda_entry),
                )
            else:
                lda = lda_n != 0
                if lda_n > 1:
                    self.diag(
                        "R7",
                        Severity.INFO,
                        f"LimitDevAccess = {lda_entry.value} is read as 1 (any non-zero value)",
                        "write 1",
                        where=self.at(lda_entry),
                    )
        self.name_lengths(sec, n, lda)
        return n, lda, entry is not None and values.kernel_ulong(entry.value) is None

    def name_lengths(self, sec: Section, n: int, lda: bool) -> None:
        if n <= 0:
            return
        d = self.accel_id if self.accel_id is not None else 0
        longest = f"{sec.name}_DEV{d}_INT_{n - 1}" if lda else f"{sec.name}_INT_{n - 1}"
        if len(longest.encode("utf-8", "surrogateescape")) >= MAX_STR_LEN:
            self.diag(
                "R11",
                Severity.ERROR,
                f"the internal section name {longest!r} reaches {MAX_STR_LEN} bytes",
                "shorten the section name",
                where=self.at(None, sec),
            )
        if len(sec.name.encode("utf-8", "surrogateescape")) > ENGINE_MAX_SECTION:
            self.diag(
                "R11",
                Severity.WARNING,
                f"section name [{sec.name[:20]}...] is longer than {ENGINE_MAX_SECTION} "
                "bytes, which QAT_Engine and QATzip cannot pass to the driver",
                "shorten it",
                where=self.at(None, sec),
            )

    def instances(
        self, sec: Section, kind: str, count: int, *, user: bool
    ) -> tuple[InstanceSpec, ...]:
        label = "Cy" if kind == "cy" else "Dc"
        out: list[InstanceSpec] = []
        for n in range(count):
            name_e = sec.entries.get(f"{label}{n}Name")
            polled_e = sec.entries.get(f"{label}{n}IsPolled")
            cores_e = sec.entries.get(f"{label}{n}CoreAffinity")
            missing = [
                k
                for k, e in (("Name", name_e), ("IsPolled", polled_e), ("CoreAffinity", cores_e))
                if e is None
            ]
            if missing:
                why = {
                    "Name": "the instance lookup fails",
                    "IsPolled": "the polling mode cannot be read",
                    "CoreAffinity": "'Get core number failed with error -14' (the Programmer's "
                    "Guide calls it optional; the driver code does not)",
                }
                self.diag(
                    "R4",
                    Severity.ERROR,
                    f"[{sec.name}] {label}{n}: "
                    + ", ".join(f"{label}{n}{k} missing ({why[k]})" for k in missing),
                    f"every {label} instance 0..{count - 1} needs {label}<n>Name, "
                    f"{label}<n>IsPolled and {label}<n>CoreAffinity",
                    where=self.at(name_e or polled_e or cores_e, sec),
                )
            inst = name_e.value if name_e is not None else f"{label}{n}"
            polling = self.polling(sec, inst, polled_e, user=user) if polled_e else None
            cores = self.cores(cores_e) if cores_e else None
            if name_e is None or polling is None or cores is None:
                continue
            out.append(InstanceSpec(kind, n, name_e.value, polling, tuple(cores), name_e.line))
        return tuple(out)

    def polling(self, sec: Section, inst: str, entry: Entry, *, user: bool) -> int | None:
        n = values.kernel_ulong(entry.value)
        allowed = (1, 2) if user else (0, 1)
        if n is None or n not in allowed:
            if user:
                message = (
                    f"{entry.key} = {entry.value}: user instance {inst} needs IsPolled 1 or 2 "
                    "for poll and epoll mode ('User instance ... needs to be configured with "
                    "IsPolled 1 or 2')"
                )
                hint = "use 1 (polled) or 2 (epoll); interrupts are for kernel sections"
            else:
                message = f"{entry.key} = {entry.value}: kernel instances are 0 (interrupt) or 1"
                hint = "use 0 or 1"
            self.diag("R5", Severity.ERROR, message, hint, where=self.at(entry))
            return None
        return n

    def cores(self, entry: Entry) -> list[int] | None:
        try:
            cores = values.core_affinity(entry.value)
        except ValueError as exc:
            self.diag(
                "R6",
                Severity.ERROR,
                f"{entry.key} = {entry.value}: {exc} ('Get core number failed')",
                "write cores as a comma list of n and a-b ranges, e.g. 0, 0-7, 1,3,5-7",
                where=self.at(entry),
            )
            return None
        if self.cpu_count is not None:
            beyond = sorted({c for c in cores if c >= self.cpu_count})
            if beyond:
                shown = ", ".join(map(str, beyond[:4])) + (" ..." if len(beyond) > 4 else "")
                self.diag(
                    "R6",
                    Severity.WARNING,
                    f"{entry.key} = {entry.value} names core(s) {shown}, but this machine has "
                    f"{self.cpu_count} CPUs",
                    f"use cores 0..{self.cpu_count - 1} (fine if the file is for another host)",
                    where=self.at(entry),
                )
        return cores

    def unknown_keys(self, sec: Section, counts: dict[str, int], *, user: bool) -> None:
        extra: dict[tuple[str, int], Entry] = {}
        known = set(_SECTION_KEYS) | set(_ALIASES.values())
        for entry in sec:
            key = entry.key
            if key in known:
                continue
            m = _INSTANCE_KEY.fullmatch(key)
            if m is not None and m["what"] in _INSTANCE_WHATS:
                kind = m["kind"].lower()
                if int(m["n"]) >= counts[kind]:
                    extra.setdefault((m["kind"], int(m["n"])), entry)
                continue
            if m is not None and m["what"] in _RUNTIME_INSTANCE_WHATS:
                self.diag(
                    "R18",
                    Severity.WARNING,
                    f"{key} is written by the kernel when it expands [{sec.name}]; a user file "
                    "should not set it",
                    "remove it",
                    where=self.at(entry),
                )
                continue
            guess_pool = list(known)
            if m is not None:
                guess_pool += [f"{m['kind']}{m['n']}{w}" for w in _INSTANCE_WHATS]
            near = _closest(key, guess_pool)
            self.diag(
                "V2",
                Severity.WARNING,
                f"[{sec.name}] {key} is not a key the driver reads",
                f"did you mean {near}?" if near else "remove it or check its spelling",
                where=self.at(entry),
            )
        for label in ("Cy", "Dc"):
            extras = sorted(n for lab, n in extra if lab == label)
            if not extras:
                continue
            key = "NumberCyInstances" if label == "Cy" else "NumberDcInstances"
            have = counts[label.lower()]
            listed = ", ".join(f"{label}{n}" for n in extras)
            read = (
                "none are read"
                if not have
                else f"only {label}0 is read"
                if have == 1
                else f"only {label}0..{label}{have - 1} are read"
            )
            self.diag(
                "R4",
                # Count 0 with instance keys left in place is a common way to switch
                # instances off; keys beyond a non-zero count are more likely a mistake.
                Severity.WARNING if have else Severity.INFO,
                f"[{sec.name}] {listed} keys are ignored: {key} = {have}, so {read}",
                f"raise {key} or remove the unused keys",
                where=self.at(extra[(label, extras[0])]),
            )


def validate(
    doc: ConfigDocument,
    profile: DeviceProfile | None,
    *,
    cpu_count: int | None = None,
    accel_id: int | None = None,
) -> tuple[DeviceConfig, list[Diagnostic]]:
    """Validate one file for one device type.

    Args:
        doc: the parsed file (its own parse diagnostics are not repeated).
        profile: the device type; ``None`` skips the generation-specific rules (V4).
        cpu_count: check CoreAffinity against this many CPUs; ``None`` skips the check.
        accel_id: the device's number, for derived-name lengths.

    Returns:
        The typed configuration and the diagnostics. Sections with errors are left out
        of :attr:`DeviceConfig.sections`.
    """
    chk = _Checker(doc, profile, cpu_count, accel_id)
    if profile is None:
        chk.diag(
            "V4",
            Severity.WARNING,
            "the device type is unknown, so ServicesEnabled, capacity and the per-generation "
            "rules were not checked",
            "name the file <type>_dev<N>.conf or pass --type (c6xx, 4xxx, c6xxvf, ...)",
        )
    services, depth = chk.general()
    sections, num_adis = chk.sections(services)
    needs_sal = any(s.user and s.num_processes for s in sections) or any(
        s.name == KERNEL_QAT and (s.cy or s.dc) for s in sections
    )
    if needs_sal:
        chk.stats(doc.section(GENERAL), services)
    config = DeviceConfig(doc.path, profile, services, depth, num_adis, tuple(sections))
    return config, chk.out
