"""The family table: PCI ids, class names and shapes of docs/hardware.md#device-ids."""

import pytest

from qathw import ids


@pytest.mark.parametrize(
    ("device", "class_name", "gen", "is_vf", "banks"),
    [
        (0x0435, "dh895xcc", 2, False, 32),
        (0x0443, "dh895xccvf", 2, True, 1),
        (0x37C8, "c6xx", 2, False, 16),
        (0x37C9, "c6xxvf", 2, True, 1),
        (0x19E2, "c3xxx", 2, False, 16),
        (0x4940, "4xxx", 4, False, 64),
        (0x4941, "4xxxvf", 4, True, 4),
        (0x4942, "4xxx", 4, False, 64),  # 401xx reports class 4xxx
        (0x4944, "4xxx", 4, False, 64),  # 402xx too
        (0x4945, "4xxxvf", 4, True, 4),
        (0x4946, "420xx", 4, False, 64),
        (0x4947, "420xxvf", 4, True, 4),
        (0x4948, "6xxx", 6, False, 64),
        (0x0434, "dh89xxcc", 1, False, None),
        (0x18A0, "c4xxx", 3, False, 128),
    ],
)
def test_lookup_gives_class_generation_and_banks(
    device: int, class_name: str, gen: int, is_vf: bool, banks: int | None
) -> None:
    kind = ids.lookup(0x8086, device)
    assert kind is not None
    assert kind.class_name == class_name
    assert kind.generation == gen
    assert kind.is_vf is is_vf
    assert kind.banks == banks


def test_non_intel_or_unknown_id_is_not_qat() -> None:
    assert ids.lookup(0x1AF4, 0x1110) is None
    assert ids.lookup(0x8086, 0x1234) is None


def test_gen2_is_vfio_denylisted_and_gen4_is_not() -> None:
    assert ids.lookup(0x8086, 0x37C9).family.vfio_denylisted  # type: ignore[union-attr]
    assert not ids.lookup(0x8086, 0x4941).family.vfio_denylisted  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "device"), [("c6xx", 0x37C8), ("4xxxvf", 0x4941), ("dh895xcc", 0x0435)]
)
def test_family_by_class_name(name: str, device: int) -> None:
    kind = ids.family_by_class_name(name)
    assert kind is not None and kind.device_id == device


def test_unknown_class_name() -> None:
    assert ids.family_by_class_name("nope") is None


# --- generation traits: one row per generation, reached from a family or a generation ------


def test_every_generation_has_a_traits_row_keyed_by_itself() -> None:
    assert list(ids.GENERATIONS) == list(ids.Generation)
    assert all(g.traits.generation is g for g in ids.Generation)


def test_a_family_reaches_the_traits_of_its_generation() -> None:
    assert all(fam.traits == ids.GENERATIONS[fam.generation] for fam in ids.FAMILIES)


def test_a_generation_is_printed_as_gen_and_its_number() -> None:
    assert [g.traits.label for g in ids.Generation] == ["gen1", "gen2", "gen3", "gen4", "gen6"]


def test_the_c4xxx_is_printed_as_gen3() -> None:
    kind = ids.lookup(0x8086, 0x18A0)
    assert kind is not None and kind.family.traits.label == "gen3"


@pytest.mark.parametrize(
    ("trait", "generations"),
    [
        # the in-tree driver's qat/ sysfs group, debugfs telemetry, and user-space VFs
        ("sysfs_control", {4, 6}),
        ("telemetry", {4, 6}),
        ("vfio_vfs", {4, 6}),
        ("ring_service_map", {4, 6}),
        ("decomp_service", {6}),
        # configuration files (docs/hardware.md#config-files, #config-keys)
        ("qat20_driver", {4, 6}),
        ("siov", {4, 6}),
        ("kernel_qat_section", {2, 3}),
        ("deprecated_keys", {2, 3}),
        ("capability_keys", {2}),
        ("inline_ipsec", {3}),
        ("accel_units", {3}),
        ("rate_limiting", {3}),
        ("wireless_section", {1}),
    ],
)
def test_a_capability_belongs_to_exactly_these_generations(
    trait: str, generations: set[int]
) -> None:
    assert {int(g) for g in ids.Generation if getattr(g.traits, trait)} == generations


@pytest.mark.parametrize(
    ("gen", "grammar"),
    [
        (ids.Generation.GEN1, ids.ServicesGrammar.ACCELERATOR_TOKENS),
        (ids.Generation.GEN2, ids.ServicesGrammar.ADF_CFG_SVCS),
        (ids.Generation.GEN3, ids.ServicesGrammar.SERVICE_TOKENS),
        (ids.Generation.GEN4, ids.ServicesGrammar.QAT20_SVCS),
        (ids.Generation.GEN6, ids.ServicesGrammar.QAT20_SVCS),  # gen6 is configured as gen4
    ],
)
def test_each_generation_reads_services_enabled_by_its_grammar(
    gen: ids.Generation, grammar: ids.ServicesGrammar
) -> None:
    assert gen.traits.services_grammar is grammar


def test_only_gen1_config_files_carry_the_qa_infix() -> None:
    assert {int(g): g.traits.config_infix for g in ids.Generation} == {
        1: "_qa",
        2: "",
        3: "",
        4: "",
        6: "",
    }


def test_heartbeat_period_is_fixed_at_200_ms_from_gen4_and_absent_on_gen1() -> None:
    assert {int(g): g.traits.heartbeat_ms for g in ids.Generation} == {
        1: None,
        2: 500,
        3: 500,
        4: 200,
        6: 200,
    }


def test_cfg_services_takes_two_services_on_gen4_and_three_on_gen6() -> None:
    assert {int(g): g.traits.cfg_services_max for g in ids.Generation} == {
        1: None,
        2: None,
        3: None,
        4: 2,
        6: 3,
    }


def test_gen4_vfs_start_at_function_1_and_older_ones_at_device_1() -> None:
    assert {int(g): (g.traits.vf_offset, g.traits.pci_revision) for g in ids.Generation} == {
        1: (8, 0x04),
        2: (8, 0x04),
        3: (8, 0x04),
        4: (1, 0x40),
        6: (1, 0x40),
    }
