"""How the driver reads values: numbers, CoreAffinity lists, ServicesEnabled strings.

Each function here mirrors one piece of driver code (reference notes in brackets):

* :func:`value_type` — ``adf_ctl``'s typing of a value (``utils::get_value_type``);
* :func:`kernel_ulong` — the kernel's ``adf_cfg_set_value``: ``kstrtoul(v, 10)``, then
  ``kstrtoul(v, 16)``; this is how counts, ``NumProcesses``, ``LimitDevAccess`` and
  ``IsPolled`` are read (§2);
* :func:`core_affinity` — ``adf_cfg_set_core_number_for_instance`` (§5.2);
* :func:`services` — the ``ServicesEnabled`` tables per generation (§6) and the ring-to-
  service slot map each string selects (``adf_cfg_svcs``, ``adf_4xxx_svcs``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from qathw.ids import Generation

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
    """A valid ``NumConcurrent*Requests``: a power of two from 64 to 65536 (S17)."""
    return 64 <= value <= 65536 and value & (value - 1) == 0


# --- ServicesEnabled ----------------------------------------------------------------------

_C, _D, _S, _A, _N = Svc.CRYPTO, Svc.COMP, Svc.SYM, Svc.ASYM, Svc.NA

# K17 adf_cfg_svcs (QAT1.7.L.4.8; the same strings in QAT.L.4.24 for gen2).
_GEN2: dict[str, SlotMap] = {
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

# K424 adf_profiles: the strings each ServicesProfile firmware image accepts.
PROFILES: dict[str, frozenset[str]] = {
    "DEFAULT": frozenset(_GEN2),
    "CUSTOM1": frozenset(_GEN2),
    "CRYPTO": frozenset({"cy", "sym", "asym"}),
    "COMPRESSION": frozenset({"dc", "sym", "sym;dc", "dc;sym"}),
}

# K20 adf_4xxx_svcs (QAT20.L.1.1.50): bank b serves slot b mod 4.
_GEN4: dict[str, SlotMap] = {
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

# The generic (token) path of QAT.L.4.2x / QAT20 used for c4xxx: its default slot map.
_GEN3_DEFAULT: SlotMap = (_C, _C, _N, _D)
_GEN3_TOKENS = ("cy", "dc", "asym", "sym")
_GEN1_TOKEN = re.compile(r"(cy|dc)\d*")


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


def accepted(generation: Generation, profile: str | None = None) -> tuple[str, ...]:
    """The ``ServicesEnabled`` strings a generation (and gen2 ``ServicesProfile``) accepts."""
    if generation is Generation.GEN2:
        allowed = PROFILES.get(profile or "DEFAULT", PROFILES["DEFAULT"])
        return tuple(s for s in _GEN2 if s in allowed)
    if generation is Generation.GEN4:
        return tuple(_GEN4)
    return ()


def services(generation: Generation, value: str, profile: str | None = None) -> Services:
    """Read a ``ServicesEnabled`` value as the given generation's driver does.

    Args:
        generation: the device's generation.
        value: the value (the driver compares it exactly, case-sensitively).
        profile: gen2 ``ServicesProfile`` (QAT.L.4.2x); ``None`` or unknown = DEFAULT.

    Returns:
        What the value enables.

    Raises:
        ServicesError: the driver refuses the value.
    """
    tokens = tuple(value.split(";"))
    if generation is Generation.GEN2:
        if value not in _GEN2:
            raise ServicesError(
                f"Invalid services enabled: {value!r}", _services_hint(generation, value)
            )
        name = profile if profile in PROFILES else "DEFAULT"
        if value not in PROFILES[name]:
            raise ServicesError(
                f"Invalid ServicesEnabled {value} for ServicesProfile: {name}",
                f"with ServicesProfile = {name} write one of "
                + ", ".join(accepted(generation, name)),
            )
        return Services(value, tokens, _GEN2[value])
    if generation is Generation.GEN4 or generation is Generation.GEN6:
        if value not in _GEN4:
            raise ServicesError(
                f"Invalid services enabled: {value!r}", _services_hint(Generation.GEN4, value)
            )
        return Services(value, tokens, _GEN4[value])
    if generation is Generation.GEN3:
        bad = [t for t in tokens if t not in _GEN3_TOKENS]
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
        return Services(value, tokens, _GEN3_DEFAULT, inferred=True)
    # gen1 (qatmux): per-accelerator tokens such as cy0;cy1; no source read (reference §6).
    if not all(_GEN1_TOKEN.fullmatch(t) for t in tokens):
        raise ServicesError(
            f"Invalid services enabled: {value!r}",
            "gen1 files list services per accelerator: cy0;cy1, cy, dc",
        )
    return Services(value, tokens, None)


def _services_hint(generation: Generation, value: str) -> str:
    allowed = accepted(generation)
    lower = value.lower().replace(",", ";")
    if lower != value and lower in allowed:
        return f"the comparison is exact and case-sensitive: write {lower!r}"
    if generation is Generation.GEN4:
        if value == "cy":
            return (
                "4xxx has no 'cy' service in QAT20.L.1.1.50: write 'asym;sym' (a Cy instance "
                "then spans one asym and one sym bank)"
            )
        if len(value.split(";")) > 2:
            return "gen4 runs at most two services: " + ", ".join(allowed)
        if "cy" in value.split(";"):
            return "replace 'cy' by 'asym' or 'sym': " + ", ".join(allowed)
    if generation is Generation.GEN2 and set(value.split(";")) == {"asym", "sym"}:
        return "gen2 has no 'asym;sym': write 'cy' for both"
    return "write one of " + ", ".join(allowed)
