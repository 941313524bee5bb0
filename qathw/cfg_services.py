"""``qat/cfg_services``: which values each generation and kernel version accepts.

One table for both sides of the seam: the fake kernel (``fakedev.sysfs``) refuses with it
what Linux refuses, and qathw checks a value with it before writing anything (``qathw
services``, ``qathw setup``).

The grammar changed three times (docs/hardware.md#sysfs-abi; Linux
``drivers/crypto/intel/qat/qat_common/adf_cfg_services.c``, ``adf_cfg_strings.h``,
``adf_gen4_hw_data.c`` ``adf_gen4_services_supported``, ``qat_6xxx/adf_6xxx_hw_data.c``
``services_supported``):

* 6.0: ``match_string`` against ``sym;asym`` and ``dc``;
* 6.4: the list grows to every single service and every pair, in either order;
* 6.7: ``dcc`` (alone);
* 6.15: a token parser (``adf_parse_service_string``): any order of the tokens, no
  repeats, at most three, then the generation decides (gen4: one service, or two without
  ``dcc``, never ``decomp``; gen6: up to three, ``dcc`` only alone). The value is stored
  in the canonical bit order ``asym;sym;dc;decomp;dcc``.
"""

from __future__ import annotations

from qathw import ids

#: Every service token, in the token parser's bit order (``enum adf_base_services``).
TOKENS = ("asym", "sym", "dc", "decomp", "dcc")

V_SERVICES_LIST = (6, 4)  # any single service or pair, not just "sym;asym" or "dc"
V_DCC = (6, 7)  # the "dcc" service
V_TOKEN_PARSER = (6, 15)  # parsed as tokens, stored in canonical order

_MAX_TOKENS = 3  # MAX_NUM_CONCURR_SVC
_LIST_6_0 = frozenset({"sym;asym", "dc"})
_LIST_6_4 = _LIST_6_0 | {"asym;sym", "sym", "asym", "asym;dc", "dc;asym", "sym;dc", "dc;sym"}
_LIST_6_7 = _LIST_6_4 | {"dcc"}

#: What the eras accept, in one sentence (for hints after a kernel refused a value).
ERAS = (
    "kernels before 6.4 take only 'sym;asym' and 'dc'; 6.4 adds any single service or "
    "pair of sym, asym, dc; 'dcc' (alone) needs 6.7; gen4 takes at most two services and "
    "no 'decomp', gen6 up to three"
)


def parse(text: str) -> list[str]:
    """Check a value's syntax: ``;``-separated known tokens, no repeats.

    Args:
        text: e.g. ``sym;asym``.

    Returns:
        The tokens, in the order written.

    Raises:
        ValueError: empty, an empty item, an unknown token, or a repeated token.
    """
    value = text.strip()
    tokens = value.split(";")
    if not value or any(not t for t in tokens):
        raise ValueError(
            f"services {text!r} is empty or has an empty item; "
            "write e.g. 'sym;asym', 'dc' or 'asym;dc'"
        )
    for t in tokens:
        if t not in TOKENS:
            raise ValueError(f"unknown service {t!r} in {text!r}; services are {', '.join(TOKENS)}")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"services {text!r} names a service twice")
    return tokens


def canonical(value: str) -> str:
    """The services of ``value`` in the token parser's order (``asym;sym``)."""
    tokens = value.strip().split(";")
    return ";".join(t for t in TOKENS if t in tokens)


def same(a: str | None, b: str) -> bool:
    """Whether two values name the same services, in any order."""
    return a is not None and sorted(a.strip().split(";")) == sorted(b.strip().split(";"))


def refusal(value: str, generation: int, kernel: tuple[int, int] | None = None) -> str | None:
    """Why the kernel refuses ``value`` on a PF of ``generation``, or ``None`` if it takes it.

    Args:
        value: what is written (one trailing newline is ignored, as sysfs does).
        generation: the PF's generation (:class:`qathw.ids.Generation` value).
        kernel: (major, minor); ``None`` for the newest grammar (the token parser).

    Returns:
        The reason in a few words, or ``None``.
    """
    text = value[:-1] if value.endswith("\n") else value
    traits = ids.Generation(generation).traits
    if not traits.sysfs_control or traits.cfg_services_max is None:
        return f"{traits.label} has no cfg_services"
    if kernel is not None and kernel < V_TOKEN_PARSER:
        allowed = (
            _LIST_6_7
            if kernel >= V_DCC
            else _LIST_6_4
            if kernel >= V_SERVICES_LIST
            else (_LIST_6_0)
        )
        if text in allowed:
            return None
        era = ".".join(map(str, kernel))
        return f"Linux {era} takes only {', '.join(sorted(allowed))}"
    try:
        tokens = parse(text)
    except ValueError as exc:
        return str(exc)
    if len(tokens) > _MAX_TOKENS:
        return f"at most {_MAX_TOKENS} services"
    if "decomp" in tokens and not traits.decomp_service:
        return f"{traits.label} has no 'decomp' service"
    if "dcc" in tokens and len(tokens) > 1:
        return "'dcc' only alone"
    if len(tokens) > traits.cfg_services_max:
        return f"{traits.label} takes at most {traits.cfg_services_max} services"
    return None


def accepted(value: str, generation: int, kernel: tuple[int, int] | None = None) -> str | None:
    """What the kernel stores for a ``cfg_services`` write, ``None`` if it refuses (EINVAL).

    Args:
        value: what is written.
        generation: the PF's generation.
        kernel: (major, minor); ``None`` for the newest grammar.

    Returns:
        The stored value (as written before 6.15, canonical from 6.15), or ``None``.
    """
    if refusal(value, generation, kernel) is not None:
        return None
    text = value[:-1] if value.endswith("\n") else value
    if kernel is not None and kernel < V_TOKEN_PARSER:
        return text
    return canonical(text)
