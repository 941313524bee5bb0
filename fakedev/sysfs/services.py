"""``cfg_services``: the grammar each kernel version accepts, and what ring pairs serve.

The grammar changed three times (docs/hardware.md#sysfs-abi): a fixed pair of
values in 6.0, any two services from 6.4, ``dcc`` from 6.7, and from 6.15 a token parser
that stores the services in a canonical order.
"""

from __future__ import annotations

from pathlib import Path

from fakedev.sysfs.versions import V_DCC, V_SERVICES_LIST, V_TOKEN_PARSER
from qathw import ids

SVC_ORDER = ("asym", "sym", "dc", "decomp", "dcc")  # canonical bit order of the token parser
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


def services_accepted(text: str, version: tuple[int, int], generation: int) -> str | None:
    """What the kernel ``version`` stores for a ``cfg_services`` write, ``None`` if EINVAL."""
    value = text[:-1] if text.endswith("\n") else text
    if version >= V_TOKEN_PARSER:
        tokens = value.split(";")
        if not tokens or any(t not in SVC_ORDER for t in tokens) or len(set(tokens)) != len(tokens):
            return None
        if "dcc" in tokens and len(tokens) > 1:
            return None
        traits = ids.Generation(generation).traits
        if "decomp" in tokens and not traits.decomp_service:
            return None
        if len(tokens) > (traits.cfg_services_max or 0):
            return None
        if len(tokens) > 3:
            return None
        return canonical(value)
    allowed = (
        _SERVICES_6_7
        if version >= V_DCC
        else _SERVICES_6_4
        if version >= V_SERVICES_LIST
        else _SERVICES_6_0
    )
    return value if value in allowed else None


def canonical(value: str) -> str:
    """The services of ``value`` in the token parser's order."""
    tokens = value.split(";")
    return ";".join(t for t in SVC_ORDER if t in tokens)


def ring_services(services: str) -> list[str]:
    """Service of ring pairs 0..3 of a VF (and, modulo 4, of the PF) for ``services``."""
    tokens = [t for t in canonical(services).split(";") if t] or ["sym"]
    tokens = ["dc" if t == "dcc" else t for t in tokens]
    return [tokens[i % len(tokens)] for i in range(4)]


def configured(d: Path) -> str | None:
    """The services a PF's ``qat/cfg_services`` holds, ``None`` without the attribute."""
    f = d / "qat" / "cfg_services"
    return f.read_text().strip() if f.exists() else None
