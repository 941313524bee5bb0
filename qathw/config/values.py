"""How the driver reads values: numbers, CoreAffinity lists, ServicesEnabled strings.

Each function here mirrors one piece of driver code (docs/hardware.md sections in brackets):

* :func:`value_type` — ``adf_ctl``'s typing of a value (``utils::get_value_type``);
* :func:`kernel_ulong` — the kernel's ``adf_cfg_set_value``: ``kstrtoul(v, 10)``, then
  ``kstrtoul(v, 16)``; this is how counts, ``NumProcesses``, ``LimitDevAccess`` and
  ``IsPolled`` are read (docs/hardware.md#config-files);
* :func:`core_affinity` — ``adf_cfg_set_core_number_for_instance`` (docs/hardware.md#config-files);
* :func:`services` — the ``ServicesEnabled`` tables (docs/hardware.md#ring-capacity) and
  the ring-to-service slot map each string selects (``adf_cfg_svcs``, ``adf_4xxx_svcs``),
  one per :class:`~qathw.ids.ServicesGrammar`; a generation's grammar is one of its traits.
  A gen4 VF's banks follow the map its PF reports instead (docs/hardware.md#ring-to-service-map).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from qathw.ids import Generation, GenerationTraits, ServicesGrammar

_ULONG_MAX = (1 << 64) - 1
_LONG_DIGITS = len(str((1 << 63) - 1))


class Svc(enum.IntEnum):
    """``enum adf_cfg_service_type``; the kernel creates a process's instances in this order."""

    NA = 0
    CRYPTO = 1  # gen2 "cy": one asym and one sym ring pair in the same bank
    COMP = 2
    SYM = 3
    ASYM = 4


#: The order in which ``adf_cfg_process_user_section`` creates a process's instances.
CREATION_ORDER: tuple[Svc, ...] = (Svc.CRYPTO, Svc.COMP, Svc.SYM, Svc.ASYM)

SlotMap = tuple[Svc, Svc, Svc, Svc]


def value_type(value: str) -> str:
    """``adf_ctl``'s type for a value: ``"dec"``, ``"hex"`` (``0x`` + hex digits) or ``"str"``."""
    if len(value) >= 3 and value.startswith("0x") and all(c in _HEX for c in value[2:]):
        return "str" if len(value) - 2 > 16 else "hex"
    if value and all(c in "0123456789" for c in value):
        return "str" if len(value) > _LONG_DIGITS else "dec"
    return "str"


_HEX = frozenset("0123456789abcdefABCDEF")


def _kstrtoul(text: str, base: int) -> int | None:
    s = text[1:] if text.startswith("+") else text
    s = s[:-1] if s.endswith("\n") else s
    if base == 16 and s[:2] in ("0x", "0X"):
        s = s[2:]
    digits = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
    if not s or any(c not in digits for c in s):
        return None
    value = int(s, base)
    return value if value <= _ULONG_MAX else None


def kernel_ulong(value: str) -> int | None:
    """The number the kernel reads from ``value``, or ``None`` if it reads none.

    ``kstrtoul`` base 10 first, then base 16 — so ``"0x10"`` is 16, and so is ``"10"``
    in base 10 (10); a bare ``"1a"`` is read as hexadecimal 26.
    """
    got = _kstrtoul(value, 10)
    return got if got is not None else _kstrtoul(value, 16)


def read_base(value: str) -> str:
    """How :func:`kernel_ulong` read ``value``: ``"dec"``, ``"hex"`` or ``"none"``."""
    if _kstrtoul(value, 10) is not None:
        return "dec"
    return "hex" if _kstrtoul(value, 16) is not None else "none"


#: ``ADF_CFG_MAX_CORE_NUM``: the kernel's array of expanded cores (also its token array).
MAX_CORES = 256
#: ``ADF_CFG_MAX_TOKEN_LEN`` minus the NUL: a longer comma token is cut or overflows.
MAX_TOKEN_CHARS = 9


def core_affinity(value: str) -> list[int]:
    """The cores a CoreAffinity value lists, as the kernel expands it.

    Grammar: comma-separated tokens, each a decimal core ``n`` or a range ``a-b`` with
    ``a <= b``. Process *i* of a user section gets element ``i mod len`` of the result.

    Raises:
        ValueError: the kernel cannot read it (its message says why).
    """
    tokens = value.split(",")
    if len(tokens) > MAX_CORES:
        raise ValueError(f"{len(tokens)} comma-separated tokens; the driver holds {MAX_CORES}")
    cores: list[int] = []
    for token in tokens:
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(
                f"token {token!r} is longer than {MAX_TOKEN_CHARS} characters, which the "
                "driver's token buffer holds"
            )
        if "-" in token:
            start_s, end_s = token.split("-", 1)
            start, end = _kstrtoul(start_s, 10), _kstrtoul(end_s, 10)
            if start is None or end is None:
                raise ValueError(f"range {token!r} is not two decimal numbers 'a-b'")
            if start > end:
                raise ValueError(f"range {token!r} runs backwards")
            if len(cores) + (end - start + 1) > MAX_CORES:
                raise ValueError(
                    f"the list expands to more than {MAX_CORES} cores, past the end of the "
                    "driver's array"
                )
            cores.extend(range(start, end + 1))
        else:
            core = _kstrtoul(token, 10)
            if core is None:
                raise ValueError(
                    f"token {token!r} is not a decimal core number"
                    if token
                    else "an empty token (two commas in a row, or a comma at an end)"
                )
            cores.append(core)
    if len(cores) > MAX_CORES:
        raise ValueError(f"the list expands to more than {MAX_CORES} cores")
    return cores


def is_ring_size(value: int) -> bool:
    """A valid ``NumConcurrent*Requests``: a power of two from 64 to 65536 (OOT 1.7 SAL)."""
    return 64 <= value <= 65536 and value & (value - 1) == 0


# --- ServicesEnabled ----------------------------------------------------------------------

_C, _D, _S, _A, _N = Svc.CRYPTO, Svc.COMP, Svc.SYM, Svc.ASYM, Svc.NA

# OOT 1.7 adf_cfg_svcs (QAT1.7.L.4.8; the same strings in QAT.L.4.24 for gen2).
_ADF_CFG_SVCS: dict[str, SlotMap] = {
    "cy": (_C, _C, _C, _C),
    "dc": (_D, _D, _D, _D),
    "sym": (_S, _S, _S, _S),
    "asym": (_A, _A, _A, _A),
    "cy;dc": (_C, _C, _N, _D),
    "dc;cy": (_C, _C, _N, _D),
    "asym;dc": (_A, _A, _D, _D),
    "dc;asym": (_A, _A, _D, _D),
    "sym;dc": (_S, _S, _D, _D),
    "dc;sym": (_S, _S, _D, _D),
}

# OOT 4.24 adf_profiles: the strings each ServicesProfile firmware image accepts.
PROFILES: dict[str, frozenset[str]] = {
    "DEFAULT": frozenset(_ADF_CFG_SVCS),
    "CUSTOM1": frozenset(_ADF_CFG_SVCS),
    "CRYPTO": frozenset({"cy", "sym", "asym"}),
    "COMPRESSION": frozenset({"dc", "sym", "sym;dc", "dc;sym"}),
}

# OOT QAT20 adf_4xxx_svcs (QAT20.L.1.1.50): bank b serves slot b mod 4. Its PF sends
# this map to its VFs too; the in-tree PF sends another (services(vf=True)).
_QAT20_SVCS: dict[str, SlotMap] = {
    "dc": (_D, _D, _D, _D),
    "sym": (_S, _S, _S, _S),
    "asym": (_A, _A, _A, _A),
    "dc;asym": (_A, _A, _D, _D),
    "asym;dc": (_A, _A, _D, _D),
    "sym;dc": (_S, _S, _D, _D),
    "dc;sym": (_S, _S, _D, _D),
    "asym;sym": (_A, _S, _A, _S),
    "sym;asym": (_A, _S, _A, _S),
}

# The slot of each service a ring-to-service map names (a VF's banks).
_RING_PAIR_SVC = {"asym": _A, "sym": _S, "dc": _D}

# The generic (token) path of QAT.L.4.2x / QAT20 used for c4xxx: its default slot map.
_SERVICE_TOKENS_SLOTS: SlotMap = (_C, _C, _N, _D)
_SERVICE_TOKENS = ("cy", "dc", "asym", "sym")
_ACCELERATOR_TOKEN = re.compile(r"(cy|dc)\d*")


@dataclass(frozen=True)
class Services:
    """What a ``ServicesEnabled`` value turns on.

    Attributes:
        text: the value as the driver read it.
        tokens: the ``;``-separated service names.
        slots: the ring-to-service slot map, or ``None`` where the ring layout is not
            modelled (gen1).
        inferred: the slot map is inferred rather than read in driver source (c4xxx).
    """

    text: str
    tokens: tuple[str, ...]
    slots: SlotMap | None
    inferred: bool = False

    def has(self, svc: Svc) -> bool:
        """``adf_cfg_is_svc_enabled``: the slot map holds ``svc``."""
        if self.slots is not None:
            return svc in self.slots
        # gen1: cyN and dcN tokens, no ring map.
        wanted = "cy" if svc is Svc.CRYPTO else "dc" if svc is Svc.COMP else None
        return wanted is not None and any(t.startswith(wanted) for t in self.tokens)

    @property
    def crypto(self) -> bool:
        """Some crypto service (cy, sym or asym) is on: NumberCyInstances is read."""
        return any(self.has(s) for s in (Svc.CRYPTO, Svc.SYM, Svc.ASYM))

    @property
    def compression(self) -> bool:
        """Compression is on: NumberDcInstances is read."""
        return self.has(Svc.COMP)

    def named(self, service: str) -> bool:
        """Whether the value itself names ``service`` (``cy``, ``dc``, ``sym``, ``asym``)."""
        return any(
            t == service or (t.startswith(service) and t[len(service) :].isdigit())
            for t in self.tokens
        )

    @property
    def uses_sym(self) -> bool:
        return self.has(Svc.CRYPTO) or self.has(Svc.SYM)

    @property
    def uses_asym(self) -> bool:
        return self.has(Svc.CRYPTO) or self.has(Svc.ASYM)


class ServicesError(ValueError):
    """A ``ServicesEnabled`` value the driver refuses; ``hint`` says what to write."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _profile_strings(name: str) -> tuple[str, ...]:
    allowed = PROFILES.get(name, PROFILES["DEFAULT"])
    return tuple(s for s in _ADF_CFG_SVCS if s in allowed)


def _hint(value: str, allowed: tuple[str, ...], special: str | None) -> str:
    lower = value.lower().replace(",", ";")
    if lower != value and lower in allowed:
        return f"the comparison is exact and case-sensitive: write {lower!r}"
    return special or "write one of " + ", ".join(allowed)


def _read_adf_cfg_svcs(traits: GenerationTraits, value: str, profile: str | None) -> Services:
    if value not in _ADF_CFG_SVCS:
        special = (
            f"{traits.label} has no 'asym;sym': write 'cy' for both"
            if set(value.split(";")) == {"asym", "sym"}
            else None
        )
        raise ServicesError(
            f"Invalid services enabled: {value!r}", _hint(value, tuple(_ADF_CFG_SVCS), special)
        )
    name = profile if profile in PROFILES else "DEFAULT"
    if value not in PROFILES[name]:
        raise ServicesError(
            f"Invalid ServicesEnabled {value} for ServicesProfile: {name}",
            f"with ServicesProfile = {name} write one of " + ", ".join(_profile_strings(name)),
        )
    return Services(value, tuple(value.split(";")), _ADF_CFG_SVCS[value])


def _adf_4xxx_svcs_hint(traits: GenerationTraits, value: str) -> str | None:
    allowed = ", ".join(_QAT20_SVCS)
    tokens = value.split(";")
    if value == "cy":
        return (
            f"{traits.label} has no 'cy' service in QAT20.L.1.1.50: write 'asym;sym' (a Cy "
            "instance then spans one asym and one sym bank)"
        )
    if len(tokens) > 2:
        return f"{traits.label} runs at most two services: {allowed}"
    if "cy" in tokens:
        return f"replace 'cy' by 'asym' or 'sym': {allowed}"
    return None


def _read_adf_4xxx_svcs(traits: GenerationTraits, value: str, profile: str | None) -> Services:
    if value not in _QAT20_SVCS:
        raise ServicesError(
            f"Invalid services enabled: {value!r}",
            _hint(value, tuple(_QAT20_SVCS), _adf_4xxx_svcs_hint(traits, value)),
        )
    return Services(value, tuple(value.split(";")), _QAT20_SVCS[value])


def _read_service_tokens(traits: GenerationTraits, value: str, profile: str | None) -> Services:
    tokens = tuple(value.split(";"))
    bad = [t for t in tokens if t not in _SERVICE_TOKENS]
    if bad:
        raise ServicesError(
            f"Unknown token {bad[0]!r} to ServicesEnabled variables",
            "use cy, dc, asym or sym, separated by ';'",
        )
    present = set(tokens)
    for a, b in (("cy", "asym"), ("cy", "sym"), ("asym", "sym")):
        if a in present and b in present:
            raise ServicesError(
                f"ServicesEnabled var {a} and {b} cannot co-exist", "enable only one of them"
            )
    return Services(value, tokens, _SERVICE_TOKENS_SLOTS, inferred=True)


def _read_accelerator_tokens(traits: GenerationTraits, value: str, profile: str | None) -> Services:
    # qatmux: cy0;cy1-style tokens, from sample files only (docs/hardware.md#ring-capacity).
    tokens = tuple(value.split(";"))
    if not all(_ACCELERATOR_TOKEN.fullmatch(t) for t in tokens):
        raise ServicesError(
            f"Invalid services enabled: {value!r}",
            f"{traits.label} files list services per accelerator: cy0;cy1, cy, dc",
        )
    return Services(value, tokens, None)


@dataclass(frozen=True)
class _Grammar:
    """One way of reading ``ServicesEnabled`` (a row of :data:`_GRAMMARS`)."""

    table: dict[str, SlotMap]  # the exact strings accepted; empty where tokens are read
    read: Callable[[GenerationTraits, str, str | None], Services]
    example: str  # suggested when the key is missing
    profiles: bool = False  # QAT.L.4.2x's ServicesProfile narrows the table


_GRAMMARS: dict[ServicesGrammar, _Grammar] = {
    ServicesGrammar.ACCELERATOR_TOKENS: _Grammar({}, _read_accelerator_tokens, "cy;dc"),
    ServicesGrammar.ADF_CFG_SVCS: _Grammar(
        _ADF_CFG_SVCS, _read_adf_cfg_svcs, "cy;dc", profiles=True
    ),
    ServicesGrammar.SERVICE_TOKENS: _Grammar({}, _read_service_tokens, "cy;dc"),
    ServicesGrammar.QAT20_SVCS: _Grammar(_QAT20_SVCS, _read_adf_4xxx_svcs, "asym;sym"),
}


def accepted(generation: Generation, profile: str | None = None) -> tuple[str, ...]:
    """The exact ``ServicesEnabled`` strings a generation accepts.

    Args:
        generation: the device's generation.
        profile: gen2 ``ServicesProfile``; ``None`` or unknown = DEFAULT.

    Returns:
        The strings, in the driver table's order; empty where the driver reads tokens
        rather than a table (gen1, c4xxx).
    """
    grammar = _GRAMMARS[generation.traits.services_grammar]
    if grammar.profiles:
        return _profile_strings(profile or "DEFAULT")
    return tuple(grammar.table)


def reads_services_profile(generation: Generation) -> bool:
    """Whether ``ServicesProfile`` narrows the generation's ``ServicesEnabled`` (4.2x gen2)."""
    return _GRAMMARS[generation.traits.services_grammar].profiles


def example_services(generation: Generation | None) -> str:
    """A ``ServicesEnabled`` value to suggest for a generation (``None``: unknown type)."""
    if generation is None:
        return _GRAMMARS[ServicesGrammar.ADF_CFG_SVCS].example  # the most common files
    return _GRAMMARS[generation.traits.services_grammar].example


def services(
    generation: Generation, value: str, profile: str | None = None, *, vf: bool = False
) -> Services:
    """Read a ``ServicesEnabled`` value as the given generation's driver does.

    Args:
        generation: the device's generation.
        value: the value (the driver compares it exactly, case-sensitively).
        profile: gen2 ``ServicesProfile`` (QAT.L.4.2x); ``None`` or unknown = DEFAULT.
        vf: the file is a VF's. Where VFs learn their banks' services from the PF's
            ring-to-service map (gen4, gen6), the slot map is the in-tree PF's
            (:meth:`qathw.ids.GenerationTraits.ring_pair_services`, what fakedev's PF
            sends too),
            not the QAT20 table: the device, not the file, decides what a bank serves, and
            the two differ for ``x;dc`` (docs/hardware.md#ring-to-service-map).

    Returns:
        What the value enables.

    Raises:
        ServicesError: the driver refuses the value.
    """
    traits = generation.traits
    got = _GRAMMARS[traits.services_grammar].read(traits, value, profile)
    if vf and traits.ring_service_map and got.slots is not None:
        b = [_RING_PAIR_SVC[name] for name in traits.ring_pair_services(got.tokens)]
        got = replace(got, slots=(b[0], b[1], b[2], b[3]))
    return got
