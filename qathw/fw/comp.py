"""Compression (deflate) request and response layouts.

Sources: kernel ``icp_qat_fw_comp.h``, DPDK ``qat_adf/icp_qat_fw_comp.h`` (table in
docs/hardware.md#comp-request). Requests carry the slice config words inline
(``comn_req_flags`` CD_FLD_TYPE = 16-byte data), as both the kernel and DPDK do.
"""

from __future__ import annotations

import ctypes
import enum

from qathw.fw.common import (
    icp_qat_fw_comn_req_hdr,
    icp_qat_fw_comn_req_mid,
    icp_qat_fw_comn_resp_hdr,
)
from qathw.fw.spans import fields_struct, span


class CompCmd(enum.IntEnum):
    """``service_cmd_id`` of COMP requests (``icp_qat_fw_comp_cmd_id``)."""

    STATIC = 0
    DYNAMIC = 1
    DECOMPRESS = 2


# serv_specif_flags of COMP requests
COMP_SESSION_TYPE_BITPOS = 2  # 1 stateful
COMP_AUTO_SELECT_BEST_BITPOS = 3
COMP_ENHANCED_AUTO_SELECT_BEST_BITPOS = 4
COMP_RET_DISABLE_TYPE0_HEADER_DATA_BITPOS = 5
COMP_DISABLE_SECURE_RAM_AS_INTMD_BUF_BITPOS = 7


def comp_flags(
    *,
    stateful: bool = False,
    auto_select_best: bool = False,
    enhanced_asb: bool = False,
    ret_uncomp: bool = False,
    disable_secure_ram: bool = False,
) -> int:
    """``ICP_QAT_FW_COMP_FLAGS_BUILD``."""
    return (
        (int(stateful) << COMP_SESSION_TYPE_BITPOS)
        | (int(auto_select_best) << COMP_AUTO_SELECT_BEST_BITPOS)
        | (int(enhanced_asb) << COMP_ENHANCED_AUTO_SELECT_BEST_BITPOS)
        | (int(ret_uncomp) << COMP_RET_DISABLE_TYPE0_HEADER_DATA_BITPOS)
        | (int(disable_secure_ram) << COMP_DISABLE_SECURE_RAM_AS_INTMD_BUF_BITPOS)
    )


# req_par_flags (request bytes 72-75)
COMP_SOP_BITPOS = 0
COMP_EOP_BITPOS = 1
COMP_BFINAL_BITPOS = 6
COMP_CNV_BITPOS = 16
COMP_CNV_RECOVERY_BITPOS = 17


def comp_req_param_flags(
    *, sop: bool, eop: bool, bfinal: bool, cnv: bool, cnv_recovery: bool = False
) -> int:
    """``ICP_QAT_FW_COMP_REQ_PARAM_FLAGS_BUILD``."""
    return (
        (int(sop) << COMP_SOP_BITPOS)
        | (int(eop) << COMP_EOP_BITPOS)
        | (int(bfinal) << COMP_BFINAL_BITPOS)
        | (int(cnv) << COMP_CNV_BITPOS)
        | (int(cnv_recovery) << COMP_CNV_RECOVERY_BITPOS)
    )


class icp_qat_fw_comp_req_hdr_cd_pars_s(ctypes.LittleEndianStructure):
    _fields_ = [
        ("content_desc_addr", ctypes.c_uint64),
        ("content_desc_resrvd1", ctypes.c_uint16),
        ("content_desc_params_sz", ctypes.c_uint8),
        ("content_desc_hdr_resrvd2", ctypes.c_uint8),
        ("content_desc_resrvd3", ctypes.c_uint32),
    ]


class icp_qat_fw_comp_req_hdr_cd_pars_sl(ctypes.LittleEndianStructure):
    _fields_ = [
        ("comp_slice_cfg_word", ctypes.c_uint32 * 2),
        ("content_desc_resrvd4", ctypes.c_uint32),
    ]


class icp_qat_fw_comp_req_hdr_cd_pars(ctypes.Union):
    """LW 2-5 of a COMP request: a CD address, or the slice config words inline."""

    _fields_ = [
        ("s", icp_qat_fw_comp_req_hdr_cd_pars_s),
        ("sl", icp_qat_fw_comp_req_hdr_cd_pars_sl),
    ]


class icp_qat_fw_comp_req_params(ctypes.LittleEndianStructure):
    """LW 14-19."""

    _fields_ = [
        ("comp_len", ctypes.c_uint32),  # input bytes to process
        ("out_buffer_sz", ctypes.c_uint32),
        ("initial_crc32", ctypes.c_uint32),
        ("initial_adler", ctypes.c_uint32),
        ("req_par_flags", ctypes.c_uint32),
        ("rsrvd", ctypes.c_uint32),
    ]


class icp_qat_fw_xlt_req_params(ctypes.LittleEndianStructure):
    """LW 20-21: the intermediate-buffer list for dynamic compression (gen2)."""

    _fields_ = [("inter_buff_ptr", ctypes.c_uint64)]


class icp_qat_fw_comp_req_u1(ctypes.Union):
    _fields_ = [("xlt_pars", icp_qat_fw_xlt_req_params), ("resrvd1", ctypes.c_uint32 * 2)]


class icp_qat_fw_comp_req_u3(ctypes.Union):
    _fields_ = [("resrvd2", ctypes.c_uint32 * 2), ("bnp_res_table_addr", ctypes.c_uint64)]


class icp_qat_fw_comp_cd_hdr(ctypes.LittleEndianStructure):
    """LW 24-29."""

    _fields_ = [
        ("ram_bank_flags", ctypes.c_uint16),
        ("comp_cfg_offset", ctypes.c_uint8),
        ("next_curr_id", ctypes.c_uint8),  # COMP -> DRAM_WR (0x45), or -> XLAT (0x65)
        ("resrvd", ctypes.c_uint32),
        ("comp_state_addr", ctypes.c_uint64),
        ("ram_banks_addr", ctypes.c_uint64),
    ]


class icp_qat_fw_xlt_cd_hdr(ctypes.LittleEndianStructure):
    """LW 30-31."""

    _fields_ = [
        ("resrvd1", ctypes.c_uint16),
        ("resrvd2", ctypes.c_uint8),
        ("next_curr_id", ctypes.c_uint8),  # XLAT -> DRAM_WR (0x46) for dynamic
        ("resrvd3", ctypes.c_uint32),
    ]


class icp_qat_fw_comp_req_u2(ctypes.Union):
    _fields_ = [("xlt_cd_ctrl", icp_qat_fw_xlt_cd_hdr), ("resrvd3", ctypes.c_uint32 * 2)]


class icp_qat_fw_comp_req(ctypes.LittleEndianStructure):
    """The 128-byte compression request."""

    _fields_ = [
        ("comn_hdr", icp_qat_fw_comn_req_hdr),
        ("cd_pars", icp_qat_fw_comp_req_hdr_cd_pars),
        ("comn_mid", icp_qat_fw_comn_req_mid),
        ("comp_pars", icp_qat_fw_comp_req_params),
        ("u1", icp_qat_fw_comp_req_u1),
        ("u3", icp_qat_fw_comp_req_u3),
        ("comp_cd_ctrl", icp_qat_fw_comp_cd_hdr),
        ("u2", icp_qat_fw_comp_req_u2),
    ]


class icp_qat_fw_resp_comp_pars(ctypes.LittleEndianStructure):
    """Response bytes 16-31 of a COMP response."""

    _fields_ = [
        ("input_byte_counter", ctypes.c_uint32),
        ("output_byte_counter", ctypes.c_uint32),
        ("curr_crc32", ctypes.c_uint32),
        ("curr_adler_32", ctypes.c_uint32),
    ]


class icp_qat_fw_comp_resp(ctypes.LittleEndianStructure):
    """The 32-byte compression response."""

    _fields_ = [
        ("comn_resp", icp_qat_fw_comn_resp_hdr),
        ("opaque_data", ctypes.c_uint64),
        ("comp_resp_pars", icp_qat_fw_resp_comp_pars),
    ]


# --- where the fields are (byte offsets computed from the layouts above) ---------------
_REQ = icp_qat_fw_comp_req
_RESP = icp_qat_fw_comp_resp

# Gen4 (qathw.fw.comp20): each word is stored big-endian.
_REQ_SLICE_CFG_LOWER = span(_REQ, "cd_pars.sl.comp_slice_cfg_word[0]")
_REQ_SLICE_CFG_UPPER = span(_REQ, "cd_pars.sl.comp_slice_cfg_word[1]")
_REQ_COMP_LEN = span(_REQ, "comp_pars.comp_len")
_REQ_OUT_BUFFER_SZ = span(_REQ, "comp_pars.out_buffer_sz")
_REQ_INITIAL_CRC32 = span(_REQ, "comp_pars.initial_crc32")
_REQ_INITIAL_ADLER = span(_REQ, "comp_pars.initial_adler")
_REQ_PAR_FLAGS = span(_REQ, "comp_pars.req_par_flags")
_RESP_INPUT_COUNTER = span(_RESP, "comp_resp_pars.input_byte_counter")
_RESP_OUTPUT_COUNTER = span(_RESP, "comp_resp_pars.output_byte_counter")
_RESP_CRC32 = span(_RESP, "comp_resp_pars.curr_crc32")
_RESP_ADLER32 = span(_RESP, "comp_resp_pars.curr_adler_32")

REQ_SLICE_CFG_LOWER_OFFSET = _REQ_SLICE_CFG_LOWER.offset
REQ_SLICE_CFG_UPPER_OFFSET = _REQ_SLICE_CFG_UPPER.offset
REQ_COMP_LEN_OFFSET = _REQ_COMP_LEN.offset
REQ_OUT_BUFFER_SZ_OFFSET = _REQ_OUT_BUFFER_SZ.offset
REQ_INITIAL_CRC32_OFFSET = _REQ_INITIAL_CRC32.offset
REQ_INITIAL_ADLER_OFFSET = _REQ_INITIAL_ADLER.offset
REQ_PAR_FLAGS_OFFSET = _REQ_PAR_FLAGS.offset  # req_par_flags
# Response byte where the counters and checksums begin (the request layer reads them there).
RESP_COMP_PARS_OFFSET = icp_qat_fw_comp_resp.comp_resp_pars.offset
RESP_INPUT_COUNTER_OFFSET = _RESP_INPUT_COUNTER.offset
RESP_OUTPUT_COUNTER_OFFSET = _RESP_OUTPUT_COUNTER.offset
RESP_CRC32_OFFSET = _RESP_CRC32.offset
RESP_ADLER32_OFFSET = _RESP_ADLER32.offset

# Runs of adjacent fields read or written in one call, each starting at the offset named.
# At REQ_SLICE_CFG_LOWER_OFFSET: the lower and upper slice config words (big-endian).
REQ_SLICE_CFG_FIELDS = fields_struct(_REQ_SLICE_CFG_LOWER, _REQ_SLICE_CFG_UPPER, byte_order=">")
# At REQ_COMP_LEN_OFFSET: comp_len, out_buffer_sz, initial_crc32, initial_adler,
# req_par_flags.
REQ_COMP_PARAM_FIELDS = fields_struct(
    _REQ_COMP_LEN, _REQ_OUT_BUFFER_SZ, _REQ_INITIAL_CRC32, _REQ_INITIAL_ADLER, _REQ_PAR_FLAGS
)
# At RESP_COMP_PARS_OFFSET: input_byte_counter, output_byte_counter, curr_crc32,
# curr_adler_32.
RESP_COMP_PARAM_FIELDS = fields_struct(
    _RESP_INPUT_COUNTER, _RESP_OUTPUT_COUNTER, _RESP_CRC32, _RESP_ADLER32
)
