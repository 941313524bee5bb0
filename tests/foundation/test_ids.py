"""The family table: PCI ids, class names and shapes of reference §1."""

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
