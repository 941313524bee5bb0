"""``cfg_services``: the grammar each kernel version accepts, and what ring pairs serve.

The grammar of each generation and kernel version is :mod:`qathw.cfg_services`'s table
(docs/hardware.md#sysfs-abi), which qathw checks values with too.
"""

from __future__ import annotations

from pathlib import Path

from qathw import cfg_services, ids

SVC_ORDER = cfg_services.TOKENS  # canonical bit order of the token parser


def services_accepted(text: str, version: tuple[int, int], generation: int) -> str | None:
    """What the kernel ``version`` stores for a ``cfg_services`` write, ``None`` if EINVAL."""
    return cfg_services.accepted(text, generation, version)


def canonical(value: str) -> str:
    """The services of ``value`` in the token parser's order."""
    return cfg_services.canonical(value)


def ring_services(services: str, generation: int) -> list[str]:
    """Service of ring pairs 0..3 of a VF (and, modulo 4, of the PF) for ``services``.

    The in-tree PF's rule, shared with the map a VF is sent and qathw's configuration
    analysis (:meth:`qathw.ids.GenerationTraits.ring_pair_services`).
    """
    tokens = [t for t in canonical(services).split(";") if t] or ["sym"]
    tokens = ["dc" if t == "dcc" else t for t in tokens]
    try:
        return list(ids.Generation(generation).traits.ring_pair_services(tokens))
    except ValueError:  # gen6 'decomp', which has no ring type of its own: as written
        return [tokens[i % len(tokens)] for i in range(4)]


def configured(d: Path) -> str | None:
    """The services a PF's ``qat/cfg_services`` holds, ``None`` without the attribute."""
    f = d / "qat" / "cfg_services"
    return f.read_text().strip() if f.exists() else None
