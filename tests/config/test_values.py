"""How the driver reads numbers, CoreAffinity lists and ServicesEnabled.

Sources: docs/hardware.md#config-files and #ring-capacity.
"""

from __future__ import annotations

import pytest

from qathw.config import values
from qathw.config.values import ServicesError, Svc
from qathw.ids import Generation


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("16", 16),
        ("007", 7),
        ("0x10", 16),
        ("0X10", 16),
        ("+4", 4),
        ("1a", 26),  # not decimal, so the kernel's second try reads it as hex
        ("ff", 255),
        ("four", None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        (str(2**64), None),  # kstrtoul overflows in both bases
    ],
)
def test_kernel_reads_counts_in_base_10_then_16(text: str, number: int | None) -> None:
    assert values.kernel_ulong(text) == number


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("12", "dec"),
        ("0x1F", "hex"),
        ("0X1F", "str"),
        ("0x", "str"),
        ("SSL0", "str"),
        ("9" * 20, "str"),
        ("0x" + "f" * 17, "str"),
    ],
)
def test_adf_ctl_types_values_as_dec_hex_or_string(text: str, kind: str) -> None:
    assert values.value_type(text) == kind


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("0", [0]),
        ("0-3", [0, 1, 2, 3]),
        ("1,3,5-7", [1, 3, 5, 6, 7]),
        ("2-2", [2]),
        ("7,0", [7, 0]),
        ("0-255", list(range(256))),
    ],
)
def test_core_affinity_expands_numbers_and_ranges_in_order(text: str, cores: list[int]) -> None:
    assert values.core_affinity(text) == cores


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3-1", "backwards"),
        ("0,,1", "empty token"),
        ("0,", "empty token"),
        ("a", "not a decimal"),
        ("0x1", "not a decimal"),
        ("1-2-3", "two decimal numbers"),
        ("1234567890", "longer than 9"),
        ("0-256", "more than 256"),
        (",".join(["0"] * 257), "257 comma-separated"),
    ],
)
def test_core_affinity_rejects_what_the_kernel_cannot_read(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        values.core_affinity(text)


@pytest.mark.parametrize(
    ("n", "ok"),
    [(64, True), (512, True), (65536, True), (32, False), (100, False), (131072, False)],
)
def test_ring_sizes_are_powers_of_two_from_64_to_65536(n: int, ok: bool) -> None:
    assert values.is_ring_size(n) is ok


GEN2_STRINGS = [
    "cy",
    "dc",
    "sym",
    "asym",
    "cy;dc",
    "dc;cy",
    "asym;dc",
    "dc;asym",
    "sym;dc",
    "dc;sym",
]
GEN4_STRINGS = [
    "dc",
    "sym",
    "asym",
    "asym;dc",
    "dc;asym",
    "sym;dc",
    "dc;sym",
    "asym;sym",
    "sym;asym",
]


@pytest.mark.parametrize("text", GEN2_STRINGS)
def test_gen2_accepts_its_ten_strings(text: str) -> None:
    assert values.services(Generation.GEN2, text).text == text


@pytest.mark.parametrize("text", GEN4_STRINGS)
def test_gen4_accepts_its_nine_strings(text: str) -> None:
    assert values.services(Generation.GEN4, text).text == text


@pytest.mark.parametrize(
    ("gen", "text", "hint"),
    [
        (Generation.GEN2, "asym;sym", "write 'cy'"),
        (Generation.GEN2, "sym;asym", "write 'cy'"),
        (Generation.GEN4, "cy", "write 'asym;sym'"),
        (Generation.GEN4, "cy;dc", "replace 'cy'"),
        (Generation.GEN4, "asym;sym;dc", "at most two services"),
        (Generation.GEN2, "CY", "case-sensitive: write 'cy'"),
        (Generation.GEN4, "sym,dc", "write 'sym;dc'"),
        (Generation.GEN2, "cy;dc;", "write one of"),
    ],
)
def test_strings_the_generation_refuses_get_a_hint(gen: Generation, text: str, hint: str) -> None:
    with pytest.raises(ServicesError) as info:
        values.services(gen, text)
    assert hint in info.value.hint


def test_services_profile_restricts_gen2_strings() -> None:
    assert values.services(Generation.GEN2, "cy", "CRYPTO").text == "cy"
    with pytest.raises(ServicesError, match="for ServicesProfile: CRYPTO"):
        values.services(Generation.GEN2, "dc", "CRYPTO")
    with pytest.raises(ServicesError, match="for ServicesProfile: COMPRESSION"):
        values.services(Generation.GEN2, "cy", "COMPRESSION")


def test_slot_maps_follow_the_driver_tables() -> None:
    c, d, s, a, n = Svc.CRYPTO, Svc.COMP, Svc.SYM, Svc.ASYM, Svc.NA
    assert values.services(Generation.GEN2, "cy;dc").slots == (c, c, n, d)
    assert values.services(Generation.GEN2, "sym;dc").slots == (s, s, d, d)
    assert values.services(Generation.GEN4, "asym;sym").slots == (a, s, a, s)
    assert values.services(Generation.GEN4, "dc;asym").slots == (a, a, d, d)


def test_gen3_reads_tokens_and_refuses_combinations() -> None:
    assert values.services(Generation.GEN3, "cy;dc").inferred
    with pytest.raises(ServicesError, match="cy and sym cannot co-exist"):
        values.services(Generation.GEN3, "cy;sym")
    with pytest.raises(ServicesError, match="Unknown token 'zip'"):
        values.services(Generation.GEN3, "zip")


def test_gen1_accepts_per_accelerator_tokens() -> None:
    got = values.services(Generation.GEN1, "cy0;cy1")
    assert got.slots is None and got.crypto and not got.compression
    with pytest.raises(ServicesError):
        values.services(Generation.GEN1, "sym")
