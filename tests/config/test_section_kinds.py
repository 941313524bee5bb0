"""Which section names are special is said once, and validation and ``user_start`` agree.

docs/hardware.md#config-files: GENERAL, KERNEL (and KERNEL_QAT on gen2/gen3), SIOV on
gen4, INLINE on c4xxx, DEBUG, WIRELESS on gen1 and the kernel's ``[Accelerator<N>]`` are
not user sections; every other name, ``SHIM`` included, is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qathw import sections
from qathw.config.profiles import is_user_section, profile_for
from qathw.errors import SectionNotFoundError
from tests.config.builders import general, user


@pytest.mark.parametrize(
    ("name", "class_name", "expected"),
    [
        ("SSL", "4xxx", True),
        ("SHIM", "c6xx", True),
        ("GENERAL", "4xxx", False),
        ("KERNEL", "c6xx", False),
        ("KERNEL_QAT", "c6xx", False),
        ("KERNEL_QAT", "4xxx", True),  # QAT20 does not know it: a user section there
        ("SIOV", "4xxx", False),
        ("SIOV", "c6xx", True),
        ("INLINE", "c4xxx", False),
        ("DEBUG", "c6xx", False),
        ("WIRELESS", "dh89xxcc", False),
        ("WIRELESS", "4xxx", True),
        ("Accelerator0", "4xxx", False),
    ],
)
def test_a_name_is_a_user_section_by_the_generations_rules(
    name: str, class_name: str, expected: bool
) -> None:
    assert is_user_section(name, profile_for(class_name)) is expected


def test_a_type_no_family_has_keeps_the_common_special_names() -> None:
    assert [n for n in ("GENERAL", "KERNEL", "KERNEL_QAT", "SSL") if is_user_section(n, None)] == [
        "SSL"
    ]


def test_user_start_suggests_only_user_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No QAT on this fake host: the file alone is the device.
    monkeypatch.setenv("QATHW_SYSFS_ROOT", str(tmp_path / "nowhere" / "sys"))
    (tmp_path / "4xxx_dev0.conf").write_text(
        general() + user("SHIM", processes=1) + "[Accelerator0]\nBank0CoreAffinity = 255\n"
    )
    with pytest.raises(SectionNotFoundError) as caught:
        sections.user_start("SSL", config_dir=tmp_path, runtime_dir=tmp_path / "run")
    assert caught.value.hint == "the files define [SHIM]"
