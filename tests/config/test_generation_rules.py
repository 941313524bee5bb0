"""Configuration rules follow the generation traits of :mod:`qathw.ids`, every generation included.

docs/hardware.md#config-files, #config-keys and #ring-capacity: gen6 (6xxx) is configured
like gen4 (QAT20's ServicesEnabled table, its sections and allocator); gen1 files are
``<type>_qa_dev<N>.conf`` and have no heartbeat; c4xxx still reads RateLimitingEnabled.
"""

from __future__ import annotations

import pytest

from qathw.config import values
from qathw.config.devices import config_file_name
from qathw.config.profiles import is_user_section, profile_for
from qathw.config.values import ServicesError
from qathw.ids import Generation
from tests.config.builders import general, report_of, rules, user


def test_gen6_accepts_the_nine_gen4_strings() -> None:
    assert values.accepted(Generation.GEN6) == values.accepted(Generation.GEN4)
    assert len(values.accepted(Generation.GEN6)) == 9


def test_gen6_reads_a_value_to_the_gen4_slot_map() -> None:
    assert values.services(Generation.GEN6, "asym;sym") == values.services(
        Generation.GEN4, "asym;sym"
    )


def test_a_refused_gen6_value_is_hinted_in_gen6_terms() -> None:
    with pytest.raises(ServicesError) as info:
        values.services(Generation.GEN6, "cy")
    assert info.value.hint.startswith("gen6 has no 'cy' service")


@pytest.mark.parametrize("gen", list(Generation))
def test_the_value_suggested_for_a_generation_is_one_it_accepts(gen: Generation) -> None:
    values.services(gen, values.example_services(gen))


def test_only_gen2_reads_services_profile() -> None:
    assert [g for g in Generation if values.reads_services_profile(g)] == [Generation.GEN2]


@pytest.mark.parametrize(("class_name", "example"), [("6xxx", "asym;sym"), ("c6xx", "cy;dc")])
def test_a_missing_services_enabled_suggests_the_generations_value(
    class_name: str, example: str
) -> None:
    text = general().replace("ServicesEnabled = asym;sym\n", "") + user()
    (hint,) = [d.hint for d in report_of(text, class_name).diagnostics if d.rule == "R2"]
    assert hint == f"add e.g. 'ServicesEnabled = {example}'"


@pytest.mark.parametrize(
    ("class_name", "name"),
    [
        ("dh89xxcc", "dh89xxcc_qa_dev0.conf"),
        ("c4xxx", "c4xxx_dev0.conf"),
        ("nope", "nope_dev0.conf"),
    ],
)
def test_the_config_file_name_takes_its_infix_from_the_generation(
    class_name: str, name: str
) -> None:
    assert config_file_name(class_name, 0) == name


@pytest.mark.parametrize(
    ("name", "user_section"), [("SIOV", False), ("INLINE", False), ("KERNEL_QAT", True)]
)
def test_6xxx_sections_are_those_of_4xxx(name: str, user_section: bool) -> None:
    assert is_user_section(name, profile_for("6xxx")) is user_section


def test_6xxx_allocates_rings_as_qat20_does() -> None:
    profile = profile_for("6xxx")
    assert profile is not None and profile.k20_allocator


def test_gen1_has_no_heartbeat_minimum() -> None:
    text = general("cy0;cy1", "HeartbeatTimer = 100") + user()
    assert "R17" not in rules(report_of(text, "dh89xxcc"))


def test_c4xxx_still_reads_rate_limiting_but_not_the_other_deprecated_keys() -> None:
    units = "NumCyAccelUnits = 4\nNumDcAccelUnits = 2\nNumInlineAccelUnits = 0\n"
    text = general("cy;dc", units + "RateLimitingEnabled = 1\nKptEnabled = 0") + user()
    r20 = [d.message for d in report_of(text, "c4xxx").diagnostics if d.rule == "R20"]
    assert len(r20) == 1 and "KptEnabled" in r20[0]
