"""Gen4 ("2.0") compression slice configuration words.

A gen4 COMP request carries two slice configuration words inline at request bytes 8-15
(``cd_pars.sl.comp_slice_cfg_word[0..1]``): a *lower* and an *upper* CSR word. The
builders assemble a 32-bit value from fields and then byte-swap it
(``__builtin_bswap32``), so on the wire each word is the value **big-endian**.

Sources: kernel ``icp_qat_hw_20_comp.h`` / ``icp_qat_hw_20_comp_defs.h``, DPDK
``icp_qat_hw_gen4_comp.h`` / ``_defs.h`` and ``qat_comp_pmd_gen4.c``
(``qat_comp_set_slice_cfg_word_gen4``), kernel ``adf_gen4_dc.c``.

DPDK picks the hardware format by Huffman type: fixed → ``DEFLATE``; dynamic → ``ILZ77``
(the device emits LZ77 tokens and the firmware builds the dynamic Huffman code).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qathw.fw.bits import field_get, field_set

# --- compression, lower word -------------------------------------------------------------
COMP_LOWER_EDMM_BITPOS, COMP_LOWER_EDMM_MASK = 0, 0x1  # extended delay match mode
COMP_LOWER_BYTE_SKIP_BITPOS, COMP_LOWER_BYTE_SKIP_MASK = 1, 0x1
COMP_LOWER_SKIP_HASH_UPDATE_BITPOS, COMP_LOWER_SKIP_HASH_UPDATE_MASK = 2, 0x1
COMP_LOWER_SKIP_HASH_COLLISION_BITPOS, COMP_LOWER_SKIP_HASH_COLLISION_MASK = 3, 0x1
COMP_LOWER_MIN_MATCH_BITPOS, COMP_LOWER_MIN_MATCH_MASK = 4, 0x1
COMP_LOWER_FORMAT_BITPOS, COMP_LOWER_FORMAT_MASK = 5, 0x7
COMP_LOWER_SEARCH_DEPTH_BITPOS, COMP_LOWER_SEARCH_DEPTH_MASK = 8, 0xF
COMP_LOWER_LLLBD_BITPOS, COMP_LOWER_LLLBD_MASK = 12, 0x1
COMP_LOWER_ABD_BITPOS, COMP_LOWER_ABD_MASK = 13, 0x1
COMP_LOWER_HBS_BITPOS, COMP_LOWER_HBS_MASK = 14, 0x7

# --- compression, upper word -------------------------------------------------------------
COMP_UPPER_NICE_BITPOS, COMP_UPPER_NICE_MASK = 0, 0x1FF
COMP_UPPER_LAZY_BITPOS, COMP_UPPER_LAZY_MASK = 9, 0x1FF
COMP_UPPER_SCB_MODE_RESET_BITPOS, COMP_UPPER_SCB_MODE_RESET_MASK = 18, 0x1
COMP_UPPER_LBMS_BITPOS, COMP_UPPER_LBMS_MASK = 19, 0x3
COMP_UPPER_DISABLE_TOKEN_FUSION_BITPOS, COMP_UPPER_DISABLE_TOKEN_FUSION_MASK = 21, 0x1
COMP_UPPER_SCB_UNLOAD_BITPOS, COMP_UPPER_SCB_UNLOAD_MASK = 26, 0x1
COMP_UPPER_SKIP_HASH_RD_BITPOS, COMP_UPPER_SKIP_HASH_RD_MASK = 27, 0x1
COMP_UPPER_SOM_BITPOS, COMP_UPPER_SOM_MASK = 28, 0x3
COMP_UPPER_RMB_BITPOS, COMP_UPPER_RMB_MASK = 30, 0x1
COMP_UPPER_SCB_BITPOS, COMP_UPPER_SCB_MASK = 31, 0x1

NICE_DEFAULT = 259  # ICP_QAT_HW_COMP_20_CONFIG_CSR_NICE_PARAM_DEFAULT_VAL
LAZY_DEFAULT = 258  # ICP_QAT_HW_COMP_20_CONFIG_CSR_LAZY_PARAM_DEFAULT_VAL

# --- decompression, lower word (the upper word is 0 in both drivers) ----------------------
DECOMP_LOWER_LZ4_CHECKSUM_BITPOS, DECOMP_LOWER_LZ4_CHECKSUM_MASK = 3, 0x1
DECOMP_LOWER_MIN_MATCH_BITPOS, DECOMP_LOWER_MIN_MATCH_MASK = 4, 0x1
DECOMP_LOWER_FORMAT_BITPOS, DECOMP_LOWER_FORMAT_MASK = 5, 0x7
DECOMP_LOWER_LBMS_BITPOS, DECOMP_LOWER_LBMS_MASK = 8, 0x3
DECOMP_LOWER_HBS_BITPOS, DECOMP_LOWER_HBS_MASK = 14, 0x7


class HwCompFormat(enum.IntEnum):
    """``icp_qat_hw_comp_20_hw_comp_format`` (compression lower word bits 7:5)."""

    ILZ77 = 0
    DEFLATE = 1
    LZ4 = 2
    LZ4S = 3
    ZSTD = 4


class HwDecompFormat(enum.IntEnum):
    """``icp_qat_hw_decomp_20_hw_comp_format`` (decompression lower word bits 7:5)."""

    DEFLATE = 1
    LZ4 = 2
    LZ4S = 3
    ZSTD = 4


class SearchDepth(enum.IntEnum):
    """``icp_qat_hw_comp_20_search_depth``; DPDK maps levels 1-5 / 6-8 / 9-12 onto them."""

    LEVEL_1 = 0x1
    LEVEL_6 = 0x3
    LEVEL_9 = 0x4


def to_wire(value: int) -> int:
    """The byte-swapped word the builders store (``__builtin_bswap32``)."""
    return int.from_bytes((value & 0xFFFFFFFF).to_bytes(4, "little"), "big")


@dataclass(frozen=True)
class CompLower:
    """Fields of the compression lower word (the ones the drivers set)."""

    fmt: HwCompFormat
    search_depth: SearchDepth
    edmm: bool = True
    byte_skip_literal: bool = True
    skip_hash_update: bool = True
    skip_hash_collision: bool = False
    lllbd_disabled: bool = False
    abd_disabled: bool = True

    def value(self) -> int:
        """The 32-bit field value (before the byte swap)."""
        v = 0
        v = field_set(v, int(self.edmm), COMP_LOWER_EDMM_BITPOS, COMP_LOWER_EDMM_MASK)
        v = field_set(
            v, int(self.byte_skip_literal), COMP_LOWER_BYTE_SKIP_BITPOS, COMP_LOWER_BYTE_SKIP_MASK
        )
        v = field_set(
            v,
            int(self.skip_hash_update),
            COMP_LOWER_SKIP_HASH_UPDATE_BITPOS,
            COMP_LOWER_SKIP_HASH_UPDATE_MASK,
        )
        v = field_set(
            v,
            int(self.skip_hash_collision),
            COMP_LOWER_SKIP_HASH_COLLISION_BITPOS,
            COMP_LOWER_SKIP_HASH_COLLISION_MASK,
        )
        v = field_set(v, int(self.fmt), COMP_LOWER_FORMAT_BITPOS, COMP_LOWER_FORMAT_MASK)
        v = field_set(
            v, int(self.search_depth), COMP_LOWER_SEARCH_DEPTH_BITPOS, COMP_LOWER_SEARCH_DEPTH_MASK
        )
        v = field_set(v, int(self.lllbd_disabled), COMP_LOWER_LLLBD_BITPOS, COMP_LOWER_LLLBD_MASK)
        return field_set(v, int(self.abd_disabled), COMP_LOWER_ABD_BITPOS, COMP_LOWER_ABD_MASK)


SCB_CONTROL_DISABLE = 1  # ICP_QAT_HW_COMP_20_SCB_CONTROL_DISABLE


def comp_upper_value(
    *, nice: int = NICE_DEFAULT, lazy: int = LAZY_DEFAULT, scb_disabled: bool = False
) -> int:
    """The compression upper word's field value (stateless: nice, lazy and SCB control).

    Args:
        nice / lazy: the match lengths.
        scb_disabled: set ``scb_ctrl`` (bit 31): static deflate sends it (DPDK
            ``qat_comp_pmd_gen4.c``, qatlib ``dc_session.c``: 0x80020503 with the defaults).
    """
    v = field_set(0, nice, COMP_UPPER_NICE_BITPOS, COMP_UPPER_NICE_MASK)
    v = field_set(v, lazy, COMP_UPPER_LAZY_BITPOS, COMP_UPPER_LAZY_MASK)
    if scb_disabled:
        v = field_set(v, SCB_CONTROL_DISABLE, COMP_UPPER_SCB_BITPOS, COMP_UPPER_SCB_MASK)
    return v


def decomp_lower_value(fmt: HwDecompFormat = HwDecompFormat.DEFLATE) -> int:
    """The decompression lower word's field value."""
    return field_set(0, int(fmt), DECOMP_LOWER_FORMAT_BITPOS, DECOMP_LOWER_FORMAT_MASK)


def comp_lower_format(value: int) -> int:
    """Hardware format field of a compression lower word (field value, not wire)."""
    return field_get(value, COMP_LOWER_FORMAT_BITPOS, COMP_LOWER_FORMAT_MASK)


def comp_lower_search_depth(value: int) -> int:
    """Search depth field of a compression lower word."""
    return field_get(value, COMP_LOWER_SEARCH_DEPTH_BITPOS, COMP_LOWER_SEARCH_DEPTH_MASK)


def decomp_lower_format(value: int) -> int:
    """Hardware format field of a decompression lower word."""
    return field_get(value, DECOMP_LOWER_FORMAT_BITPOS, DECOMP_LOWER_FORMAT_MASK)
