"""Per-file validation: the rules of docs/hardware.md#validator-rules, one behaviour per test."""

from __future__ import annotations

import pytest

from qathw.config import Severity
from qathw.config.diagnostics import RULES
from tests.config.builders import general, report_of, rules, user


def only(report: object, rule: str) -> list[str]:
    return [d.message for d in report.diagnostics if d.rule == rule]  # type: ignore[attr-defined]


def test_a_complete_gen4_file_is_valid() -> None:
    r = report_of(general() + user())
    assert r.verdict == "valid", [d.format() for d in r.diagnostics]


def test_every_rule_id_used_is_in_the_catalogue() -> None:
    r = report_of("k = v\n[GENERAL]\nConfigVersion = 3\n[A\n" + user(cy=2, cores="x"))
    assert rules(r) <= set(RULES)


# R1 ------------------------------------------------------------------------------------


def test_missing_general_is_an_error() -> None:
    r = report_of(user())
    assert "No GENERAL section found" in only(r, "R1")[0]


@pytest.mark.parametrize(
    ("line", "message"), [("", "ConfigVersion missing"), ("ConfigVersion = 3", "only version 2")]
)
def test_config_version_must_be_2(line: str, message: str) -> None:
    r = report_of(f"[GENERAL]\nServicesEnabled = dc\n{line}\n")
    assert message in only(r, "R1")[0] and r.verdict == "invalid"


# R2 ------------------------------------------------------------------------------------


def test_missing_services_enabled_is_an_error() -> None:
    r = report_of("[GENERAL]\nConfigVersion = 2\n")
    assert "ServicesEnabled is missing" in only(r, "R2")[0]


def test_cy_is_refused_on_gen4_with_a_hint_towards_asym_sym() -> None:
    r = report_of(general("cy") + user(), "4xxx")
    (d,) = [d for d in r.diagnostics if d.rule == "R2"]
    assert d.severity is Severity.ERROR and "asym;sym" in (d.hint or "")
    assert (d.line, d.column) == (2, 1)


def test_asym_sym_is_refused_on_gen2() -> None:
    assert "R2" in rules(report_of(general("asym;sym") + user(), "c6xx"), "error")


def test_unknown_services_profile_warns_and_falls_back_to_default() -> None:
    r = report_of(general("cy", "ServicesProfile = FAST") + user(), "c6xx")
    assert "Invalid ServicesProfile: FAST" in only(r, "R2")[0] and r.verdict == "warnings"


def test_services_profile_restricts_services() -> None:
    r = report_of(general("dc", "ServicesProfile = CRYPTO") + user(cy=0, dc=1), "c6xx")
    assert "for ServicesProfile: CRYPTO" in only(r, "R2")[0]


def test_pke_disabled_with_asym_services_warns_for_qat_1_7() -> None:
    r = report_of(general("cy", "PkeServiceDisabled = 1") + user(), "c6xx")
    assert "Unsupported device configuration" in only(r, "R2")[0]


# R3 ------------------------------------------------------------------------------------


def test_missing_number_cy_instances_with_crypto_on_is_an_error() -> None:
    text = general() + user().replace("NumberCyInstances = 1\n", "")
    assert "Failed to create rings for cy" in only(report_of(text), "R3")[0]


def test_missing_number_dc_instances_is_fine_when_dc_is_off() -> None:
    text = general() + user().replace("NumberDcInstances = 0\n", "")
    assert report_of(text).verdict == "valid"


def test_programmers_guide_spelling_is_read_as_alias_with_a_warning() -> None:
    text = general() + user().replace("NumberCyInstances", "NumCyInstances")
    r = report_of(text)
    (d,) = [d for d in r.diagnostics if d.rule == "R3"]
    assert d.severity is Severity.WARNING and d.strict_error
    assert "driver reads only NumberCyInstances" in d.message
    assert r.expansion is not None and len(r.expansion.derived[0].instances) == 1


def test_strict_makes_the_alias_an_error() -> None:
    text = general() + user().replace("NumberCyInstances", "NumCyInstances")
    assert report_of(text, strict=True).verdict == "invalid"


def test_alias_next_to_the_real_key_is_ignored_with_a_warning() -> None:
    text = general() + user(extra="NumCyInstances = 9\n")
    assert "is ignored: the driver reads NumberCyInstances = 1" in only(report_of(text), "R3")[0]


def test_more_than_256_instances_is_refused() -> None:
    text = general() + user().replace("NumberCyInstances = 1", "NumberCyInstances = 257")
    assert "num instances out of range" in only(report_of(text), "R3")[0]


# R4 ------------------------------------------------------------------------------------


def test_every_instance_index_needs_name_is_polled_and_core_affinity() -> None:
    text = general() + user(cy=2).replace("Cy1CoreAffinity = 0\n", "")
    (msg,) = only(report_of(text), "R4")
    assert "Cy1CoreAffinity missing" in msg and "Get core number failed" in msg


def test_instance_keys_beyond_the_count_are_reported_as_ignored() -> None:
    text = general() + user(cy=3).replace("NumberCyInstances = 3", "NumberCyInstances = 1")
    r = report_of(text)
    (d,) = [d for d in r.diagnostics if d.rule == "R4"]
    assert d.severity is Severity.WARNING and "Cy1, Cy2 keys are ignored" in d.message


def test_instance_keys_with_count_zero_are_only_a_note() -> None:
    text = general() + user(cy=1).replace("NumberCyInstances = 1", "NumberCyInstances = 0")
    r = report_of(text)
    assert {d.severity for d in r.diagnostics if d.rule == "R4"} == {Severity.INFO}


# R5 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("polled", [0, 3])
def test_user_instances_must_be_polled_or_epoll(polled: int) -> None:
    r = report_of(general() + user(polled=polled))
    assert "needs IsPolled 1 or 2" in only(r, "R5")[0]


def test_kernel_instances_are_0_or_1() -> None:
    text = general().replace(
        "NumberCyInstances = 0\n",
        'NumberCyInstances = 1\nCy0Name = "k"\nCy0IsPolled = 2\nCy0CoreAffinity = 0\n',
    )
    assert "kernel instances are 0 (interrupt) or 1" in only(report_of(text), "R5")[0]


# R6 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cores", ["3-1", "0,,1", "x", "0-300"])
def test_bad_core_affinity_is_an_error(cores: str) -> None:
    assert "R6" in rules(report_of(general() + user(cores=cores)), "error")


def test_cores_beyond_this_machine_warn_when_a_cpu_count_is_given() -> None:
    r = report_of(general() + user(cores="0-7"), cpu_count=4)
    (msg,) = only(r, "R6")
    assert "core(s) 4, 5, 6, 7" in msg and "4 CPUs" in msg
    assert "R6" not in rules(report_of(general() + user(cores="0-7")))


# R7 / V6 -------------------------------------------------------------------------------


def test_non_numeric_num_processes_means_the_section_can_never_be_used() -> None:
    r = report_of(general() + user(processes="four"))
    (msg,) = only(r, "R7")
    assert "reads it as 0" in msg and "can never be used" in msg and r.verdict == "invalid"


@pytest.mark.parametrize("processes", [0, None])
def test_zero_or_missing_num_processes_warns(processes: int | None) -> None:
    text = general() + user(processes=processes if processes is not None else 1)
    if processes is None:
        text = text.replace("NumProcesses = 1\n", "")
    r = report_of(text)
    assert "R7" in rules(r, "warning") and r.verdict == "warnings"
    assert r.expansion is not None and r.expansion.derived == ()


def test_hex_num_processes_is_read_as_hex() -> None:
    r = report_of(general() + user(processes="0x10"))
    assert r.verdict == "valid" and len(r.expansion.derived) == 16  # type: ignore[union-attr]


def test_bare_hex_digits_are_read_as_hex_and_reported() -> None:
    r = report_of(general() + user(processes="1a"))
    assert "hexadecimal 0x1a = 26" in only(r, "V6")[0]
    assert len(r.expansion.derived) == 26  # type: ignore[union-attr]


def test_non_numeric_limit_dev_access_is_an_error() -> None:
    assert "reads it as 0" in only(report_of(general() + user(lda="yes")), "R7")[0]


# R9, R11 -------------------------------------------------------------------------------


def test_num_processes_above_the_device_bound_is_an_error() -> None:
    r = report_of(general() + user(processes=65, cy=0, dc=0), "4xxx")
    assert "can hand out (64" in only(r, "R9")[0]


def test_derived_names_must_stay_under_128_bytes() -> None:
    name = "S" * 118
    r = report_of(general() + user(name, processes=10, lda=1))
    assert any("internal section name" in m for m in only(r, "R11"))


# R13-R20 -------------------------------------------------------------------------------


def test_dc_instances_without_dc_enabled_warn() -> None:
    r = report_of(general("asym;sym") + user(cy=1, dc=1))
    (d,) = [d for d in r.diagnostics if d.rule == "R13"]
    assert d.severity is Severity.WARNING and "QAT.L.4.2x refuses" in d.message


@pytest.mark.parametrize("size", ["100", "32", "x"])
def test_ring_sizes_must_be_powers_of_two(size: str) -> None:
    r = report_of(general(extra=f"DcNumConcurrentRequests = {size}") + user())
    assert "R14" in rules(r, "error")


def test_stats_keys_are_required_when_statistics_are_on() -> None:
    text = (general() + user()).replace("statsSym = 1\n", "")
    assert "statsSym missing" in only(report_of(text), "R15")[0]


def test_stats_keys_are_not_required_without_user_sections() -> None:
    assert report_of("[GENERAL]\nServicesEnabled = cy\nConfigVersion = 2\n", "c6xx").verdict == (
        "valid"
    )


def test_c4xxx_needs_accel_units_for_each_enabled_service() -> None:
    text = general(
        "cy;dc", "NumCyAccelUnits = 6\nNumDcAccelUnits = 0\nNumInlineAccelUnits = 0"
    ) + user(cy=1, dc=1)
    assert (
        "NumDcAccelUnits = 0 but ServicesEnabled enables dc"
        in only(report_of(text, "c4xxx"), "R16")[0]
    )


def test_heartbeat_timer_under_200_ms_is_an_error() -> None:
    assert "R17" in rules(report_of(general(extra="HeartbeatTimer = 100") + user()), "error")


def test_runtime_only_keys_and_accelerator_sections_warn() -> None:
    text = general(extra="FirstUserBundle = 1") + user(extra="Cy0BankNumber = 3\n")
    text += "[Accelerator0]\nBank0CoreAffinity = 255\n"
    assert len(only(report_of(text), "R18")) == 3


def test_kernel_qat_on_gen4_is_just_a_user_section() -> None:
    text = general() + "[KERNEL_QAT]\nNumberCyInstances = 0\n"
    assert "only on gen2/gen3" in only(report_of(text, "4xxx"), "R19")[0]


def test_deprecated_keys_are_a_note_on_gen2() -> None:
    r = report_of(general("cy", "KptEnabled = 0") + user(), "c6xx")
    assert {d.severity for d in r.diagnostics if d.rule == "R20"} == {Severity.INFO}


# V rules ---------------------------------------------------------------------------------


def test_a_section_named_like_an_internal_one_is_reported() -> None:
    r = report_of(general() + user("SSL") + user("SSL_INT_0"))
    assert "silently merges" in only(r, "V1")[0]


def test_misspelt_keys_get_a_suggestion() -> None:
    r = report_of(general() + user(extra="Cy0IsPoled = 1\n"))
    (d,) = [d for d in r.diagnostics if d.rule == "V2"]
    assert d.hint == "did you mean Cy0IsPolled?"


def test_unknown_device_type_skips_generation_rules() -> None:
    r = report_of(general("anything") + user(), "unknown")
    assert "V4" in rules(r) and "R2" not in rules(r)


def test_qatlib_sysconfig_file_is_recognised() -> None:
    r = report_of("ServicesEnabled=sym;asym\nPOLICY=2\n")
    assert "V3" in rules(r) and r.verdict == "invalid"


def test_statistics_are_off_only_for_the_exact_string_0() -> None:
    text = (general() + user()).replace("statsSym = 1\n", "")
    assert "R15" not in rules(report_of(text.replace("statsGeneral = 1", "statsGeneral = 0")))
    assert "R15" in rules(report_of(text.replace("statsGeneral = 1", "statsGeneral = 00")))


def test_inline_section_is_read_on_c4xxx_and_ignored_elsewhere() -> None:
    units = "NumCyAccelUnits = 4\nNumDcAccelUnits = 0\nNumInlineAccelUnits = 2"
    text = general("cy", units) + "[INLINE]\nInlineIngress = 150\nInlineEgres = 50\n"
    assert sorted(only(report_of(text, "c4xxx"), "V2")) == [
        "InlineIngress = 150 is not a percentage (0..100)",
        "[INLINE] InlineEgres is not a key the driver reads",
    ]
    assert (
        "QAT20 ignores the section" in only(report_of(general() + "[INLINE]\n", "4xxx"), "R19")[0]
    )
    assert "exists only on c4xxx" in only(report_of(general("cy") + "[INLINE]\n", "c6xx"), "R19")[0]
