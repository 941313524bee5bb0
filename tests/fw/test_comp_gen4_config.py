"""Gen4 compression slice config words: bit positions pinned against the kernel header.

Transcribed by hand from drivers/crypto/intel/qat/qat_common/icp_qat_hw_20_comp_defs.h
(the ``*_BITPOS`` / ``*_MASK`` pairs), not computed from qathw.fw.comp20.
"""

from __future__ import annotations

import pytest

from qathw.fw import comp20

FIELDS = [  # (our constant prefix, bitpos, mask) from icp_qat_hw_20_comp_defs.h
    ("COMP_UPPER_SCB", 31, 0x1),
    ("COMP_UPPER_RMB", 30, 0x1),
    ("COMP_UPPER_SOM", 28, 0x3),
    ("COMP_UPPER_SKIP_HASH_RD", 27, 0x1),
    ("COMP_UPPER_SCB_UNLOAD", 26, 0x1),
    ("COMP_UPPER_DISABLE_TOKEN_FUSION", 21, 0x1),
    ("COMP_UPPER_LBMS", 19, 0x3),
    ("COMP_UPPER_SCB_MODE_RESET", 18, 0x1),
    ("COMP_UPPER_LAZY", 9, 0x1FF),
    ("COMP_UPPER_NICE", 0, 0x1FF),
    ("COMP_LOWER_HBS", 14, 0x7),
    ("COMP_LOWER_ABD", 13, 0x1),
    ("COMP_LOWER_LLLBD", 12, 0x1),
    ("COMP_LOWER_SEARCH_DEPTH", 8, 0xF),
    ("COMP_LOWER_FORMAT", 5, 0x7),
    ("COMP_LOWER_MIN_MATCH", 4, 0x1),
    ("COMP_LOWER_SKIP_HASH_COLLISION", 3, 0x1),
    ("COMP_LOWER_SKIP_HASH_UPDATE", 2, 0x1),
    ("COMP_LOWER_BYTE_SKIP", 1, 0x1),
    ("COMP_LOWER_EDMM", 0, 0x1),
    ("DECOMP_LOWER_HBS", 14, 0x7),
    ("DECOMP_LOWER_LBMS", 8, 0x3),
    ("DECOMP_LOWER_FORMAT", 5, 0x7),
    ("DECOMP_LOWER_MIN_MATCH", 4, 0x1),
    ("DECOMP_LOWER_LZ4_CHECKSUM", 3, 0x1),
]


@pytest.mark.parametrize(("name", "bitpos", "mask"), FIELDS, ids=[f[0] for f in FIELDS])
def test_field_positions(name: str, bitpos: int, mask: int) -> None:
    assert getattr(comp20, f"{name}_BITPOS") == bitpos
    assert getattr(comp20, f"{name}_MASK") == mask


def test_enum_values() -> None:
    assert (comp20.HwCompFormat.ILZ77, comp20.HwCompFormat.DEFLATE, comp20.HwCompFormat.ZSTD) == (
        0,
        1,
        4,
    )
    assert (comp20.SearchDepth.LEVEL_1, comp20.SearchDepth.LEVEL_6, comp20.SearchDepth.LEVEL_9) == (
        1,
        3,
        4,
    )
    assert (comp20.NICE_DEFAULT, comp20.LAZY_DEFAULT) == (259, 258)


def test_words_are_stored_byte_swapped() -> None:
    assert comp20.to_wire(0x00003327) == 0x27330000
    assert comp20.to_wire(0x00003327).to_bytes(4, "little") == bytes.fromhex("00003327")


def test_kernel_gen4_static_template_lower_word() -> None:
    # adf_gen4_dc.c: skip_ctrl literal, ILZ77, LLLBD enabled, depth 1, no hash update, EDMM
    lower = comp20.CompLower(
        fmt=comp20.HwCompFormat.ILZ77,
        search_depth=comp20.SearchDepth.LEVEL_1,
        abd_disabled=False,
    )
    assert lower.value() == (1 << 1) | (1 << 8) | (1 << 2) | (1 << 0)


def test_decompression_word_reads_back_its_format() -> None:
    value = comp20.decomp_lower_value()
    assert value == 0x20 and comp20.decomp_lower_format(value) == comp20.HwDecompFormat.DEFLATE
