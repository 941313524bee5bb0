"""Common request and response layouts shared by every QAT service.

Sources: kernel ``icp_qat_fw.h``, DPDK ``qat_adf/icp_qat_fw.h``, qatlib ``icp_qat_fw.h``
(docs/hardware.md#request-header, #la-request and #response). Byte 7 of the request
header is ``ext_flags`` (DPDK/qatlib); the kernel declares bytes 6-7 as one u16
``comn_req_flags``.
"""

from __future__ import annotations

import ctypes
import enum

from qathw.fw.spans import fields_struct, span

REQ_DEFAULT_SZ = 128  # ICP_QAT_FW_REQ_DEFAULT_SZ
RESP_DEFAULT_SZ = 32  # ICP_QAT_FW_RESP_DEFAULT_SZ
ASYM_REQ_SZ = 64  # PKE requests are 64 bytes
RING_EMPTY_SIG = 0x7F7F7F7F  # ADF_RING_EMPTY_SIG: every byte 0x7F
RING_EMPTY_BYTE = 0x7F

NULL_REQ_SERV_ID = 1  # ICP_QAT_FW_NULL_REQ_SERV_ID: service_cmd_id of a NULL request


class ServiceType(enum.IntEnum):
    """``service_type`` (request byte 2; echoed as ``response_type``)."""

    NULL = 0  # ICP_QAT_FW_COMN_REQ_NULL
    PKE = 3  # ICP_QAT_FW_COMN_REQ_CPM_FW_PKE
    LA = 4  # ICP_QAT_FW_COMN_REQ_CPM_FW_LA
    DMA = 7  # ICP_QAT_FW_COMN_REQ_CPM_FW_DMA
    COMP = 9  # ICP_QAT_FW_COMN_REQ_CPM_FW_COMP
    COMP_CHAIN = 0xB  # qatlib


class RespServiceId(enum.IntEnum):
    """``service_id`` of a response (``icp_qat_fw_comn_resp_serv_id``)."""

    NULL = 0
    CPM_FW = 1


class Slice(enum.IntEnum):
    """Slice ids for the next/current nibbles of content-descriptor control headers."""

    NULL = 0
    CIPHER = 1
    AUTH = 2
    DRAM_RD = 3
    DRAM_WR = 4
    COMP = 5
    XLAT = 6


def next_curr(next_slice: Slice, curr_slice: Slice) -> int:
    """A ``next_curr_id`` byte: next slice in the high nibble, current in the low one."""
    return (int(next_slice) << 4) | int(curr_slice)


# --- header flags ---------------------------------------------------------------------

HDR_FLAG_VALID = 0x80  # hdr_flags bit 7, request and response
RESP_HDR_FLAG_CNV = 0x40  # compress-and-verify executed
RESP_HDR_FLAG_CNVNR = 0x20  # CNV error recovered
RESP_HDR_FLAG_ST_BLK = 0x10  # stored block returned
RESP_HDR_FLAG_NULL_VERSION = 0x01  # NULL response carries a FW version at byte 16

# comn_req_flags (request byte 6)
COMN_PTR_TYPE_BITPOS = 0  # 0 flat, 1 SGL; applies to src and dst
COMN_CD_FLD_TYPE_BITPOS = 1  # 0 64-bit CD address, 1 16 bytes of inline data
PTR_TYPE_FLAT = 0
PTR_TYPE_SGL = 1
CD_FLD_TYPE_64BIT_ADR = 0
CD_FLD_TYPE_16BYTE_DATA = 1


def comn_req_flags(cd_fld_type: int, ptr_type: int) -> int:
    """``ICP_QAT_FW_COMN_FLAGS_BUILD(cdt, ptr)``."""
    return ((cd_fld_type & 1) << COMN_CD_FLD_TYPE_BITPOS) | ((ptr_type & 1) << COMN_PTR_TYPE_BITPOS)


# --- response status (comn_status, response byte 6); 0 = OK, 1 = error per flag ---------


class Status(enum.IntFlag):
    """Bits of a response's ``comn_status``."""

    XLT_WA_APPLIED = 0x01
    INVALID_PARAM = 0x02
    UNSUPPORTED_REQUEST = 0x04
    CMP_END_OF_LAST_BLK = 0x08  # a flag, not an error: final deflate block completed
    XLAT = 0x10
    CMP = 0x20
    PKE = 0x40
    CRYPTO = 0x80  # also set when a digest comparison fails


STATUS_ERROR_MASK = (
    Status.INVALID_PARAM
    | Status.UNSUPPORTED_REQUEST
    | Status.XLAT
    | Status.CMP
    | Status.PKE
    | Status.CRYPTO
)


class ErrCode(enum.IntEnum):
    """Error codes (signed bytes) in ``cmp_err_code`` / ``xlat_err_code``.

    -14/-15 follow DPDK and qatlib; the kernel names them SSM/ENDPOINT instead
    (docs/hardware.md#response). qathw follows DPDK: -17 is the endpoint error.
    """

    NO_ERROR = 0
    INVALID_BLOCK_TYPE = -1
    NO_MATCH_ONES_COMP = -2
    TOO_MANY_LEN_OR_DIS = -3
    INCOMPLETE_LEN = -4
    RPT_LEN_NO_FIRST_LEN = -5
    RPT_GT_SPEC_LEN = -6
    INV_LIT_LEN_CODE_LEN = -7
    INV_DIS_CODE_LEN = -8
    INV_LIT_LEN_DIS_IN_BLK = -9
    DIS_TOO_FAR_BACK = -10
    OVERFLOW_ERROR = -11
    SOFT_ERROR = -12
    FATAL_ERROR = -13
    COMP_OUTPUT_CORRUPTION = -14
    HW_INCOMPLETE_FILE = -15
    SSM_ERROR = -16
    ENDPOINT_ERROR = -17
    CNV_ERROR = -18
    EMPTY_DYM_BLOCK = -19


# --- layouts --------------------------------------------------------------------------


class icp_qat_fw_comn_req_hdr(ctypes.LittleEndianStructure):
    """Common request header, bytes 0-7 (LW 0-1)."""

    _fields_ = [
        ("resrvd1", ctypes.c_uint8),
        ("service_cmd_id", ctypes.c_uint8),
        ("service_type", ctypes.c_uint8),
        ("hdr_flags", ctypes.c_uint8),
        ("serv_specif_flags", ctypes.c_uint16),
        ("comn_req_flags", ctypes.c_uint8),
        ("ext_flags", ctypes.c_uint8),
    ]


class icp_qat_fw_comn_req_hdr_cd_pars_s(ctypes.LittleEndianStructure):
    """Content-descriptor pointer form of LW 2-5."""

    _fields_ = [
        ("content_desc_addr", ctypes.c_uint64),
        ("content_desc_resrvd1", ctypes.c_uint16),
        ("content_desc_params_sz", ctypes.c_uint8),  # quadwords
        ("content_desc_hdr_resrvd2", ctypes.c_uint8),
        ("content_desc_resrvd3", ctypes.c_uint32),
    ]


class icp_qat_fw_comn_req_hdr_cd_pars_s1(ctypes.LittleEndianStructure):
    """Inline form of LW 2-5 (16 bytes of service-specific data)."""

    _fields_ = [("serv_specif_fields", ctypes.c_uint32 * 4)]


class icp_qat_fw_comn_req_hdr_cd_pars(ctypes.Union):
    """LW 2-5: a content-descriptor address, or 16 inline bytes (``comn_req_flags`` bit 1)."""

    _fields_ = [
        ("s", icp_qat_fw_comn_req_hdr_cd_pars_s),
        ("s1", icp_qat_fw_comn_req_hdr_cd_pars_s1),
    ]


class icp_qat_fw_comn_req_mid(ctypes.LittleEndianStructure):
    """Common middle part, bytes 24-55 (LW 6-13): cookie, buffers, lengths."""

    _fields_ = [
        ("opaque_data", ctypes.c_uint64),
        ("src_data_addr", ctypes.c_uint64),
        ("dest_data_addr", ctypes.c_uint64),
        ("src_length", ctypes.c_uint32),  # flat buffers only
        ("dst_length", ctypes.c_uint32),
    ]


class icp_qat_fw_comn_req_rqpars(ctypes.LittleEndianStructure):
    """Service-specific request parameters, bytes 56-107 (LW 14-26)."""

    _fields_ = [("serv_specif_rqpars_lw", ctypes.c_uint32 * 13)]


class icp_qat_fw_comn_req_cd_ctrl(ctypes.LittleEndianStructure):
    """Content-descriptor control header, bytes 108-127 (LW 27-31)."""

    _fields_ = [("content_desc_ctrl_lw", ctypes.c_uint32 * 5)]


class icp_qat_fw_comn_req(ctypes.LittleEndianStructure):
    """A whole 128-byte request, service-neutral."""

    _fields_ = [
        ("comn_hdr", icp_qat_fw_comn_req_hdr),
        ("cd_pars", icp_qat_fw_comn_req_hdr_cd_pars),
        ("comn_mid", icp_qat_fw_comn_req_mid),
        ("serv_specif_rqpars", icp_qat_fw_comn_req_rqpars),
        ("cd_ctrl", icp_qat_fw_comn_req_cd_ctrl),
    ]


class icp_qat_fw_comn_error(ctypes.LittleEndianStructure):
    """Response bytes 4-5: translator and compression error codes (signed)."""

    _fields_ = [("xlat_err_code", ctypes.c_int8), ("cmp_err_code", ctypes.c_int8)]


class icp_qat_fw_comn_resp_hdr(ctypes.LittleEndianStructure):
    """Response header, bytes 0-7."""

    _fields_ = [
        ("resrvd1", ctypes.c_uint8),
        ("service_id", ctypes.c_uint8),
        ("response_type", ctypes.c_uint8),  # the request's service_type
        ("hdr_flags", ctypes.c_uint8),  # bit 7 valid: a response never looks empty
        ("comn_error", icp_qat_fw_comn_error),
        ("comn_status", ctypes.c_uint8),
        ("cmd_id", ctypes.c_uint8),
    ]


class icp_qat_fw_comn_resp(ctypes.LittleEndianStructure):
    """A whole 32-byte response."""

    _fields_ = [
        ("comn_hdr", icp_qat_fw_comn_resp_hdr),
        ("opaque_data", ctypes.c_uint64),  # echo of request bytes 24-31
        ("resrvd", ctypes.c_uint32 * 4),  # service specific (COMP: counters, checksums)
    ]


# --- where the fields are (byte offsets computed from the layouts above) ---------------
# fakedev reads requests and writes responses by these names, and the request layer
# writes requests and reads responses by them; docs/hardware.md#request-header,
# #la-request and #response are the tables tests/fw/test_layouts.py pins them against.

_REQ = icp_qat_fw_comn_req
_RESP = icp_qat_fw_comn_resp

_REQ_CMD_ID = span(_REQ, "comn_hdr.service_cmd_id")
_REQ_SERVICE_TYPE = span(_REQ, "comn_hdr.service_type")
_REQ_HDR_FLAGS = span(_REQ, "comn_hdr.hdr_flags")
_REQ_SERV_FLAGS = span(_REQ, "comn_hdr.serv_specif_flags")
_REQ_COMN_FLAGS = span(_REQ, "comn_hdr.comn_req_flags")
_REQ_EXT_FLAGS = span(_REQ, "comn_hdr.ext_flags")
_REQ_CD_PARS = span(_REQ, "cd_pars")
_REQ_CD_ADDR = span(_REQ, "cd_pars.s.content_desc_addr")
_REQ_CD_PARAMS_SZ = span(_REQ, "cd_pars.s.content_desc_params_sz")
_REQ_MID = span(_REQ, "comn_mid")
_REQ_OPAQUE = span(_REQ, "comn_mid.opaque_data")
_REQ_SRC_ADDR = span(_REQ, "comn_mid.src_data_addr")
_REQ_DST_ADDR = span(_REQ, "comn_mid.dest_data_addr")
_REQ_SRC_LEN = span(_REQ, "comn_mid.src_length")
_REQ_DST_LEN = span(_REQ, "comn_mid.dst_length")

REQ_CMD_ID_OFFSET = _REQ_CMD_ID.offset
REQ_SERVICE_TYPE_OFFSET = _REQ_SERVICE_TYPE.offset
REQ_HDR_FLAGS_OFFSET = _REQ_HDR_FLAGS.offset
REQ_SERV_SPECIF_FLAGS_OFFSET = _REQ_SERV_FLAGS.offset
REQ_SERV_SPECIF_FLAGS_SZ = _REQ_SERV_FLAGS.size
REQ_COMN_FLAGS_OFFSET = _REQ_COMN_FLAGS.offset
REQ_EXT_FLAGS_OFFSET = _REQ_EXT_FLAGS.offset
REQ_CD_PARS_OFFSET = _REQ_CD_PARS.offset  # LW 2-5: a CD address or 16 inline bytes
REQ_CD_PARS_SZ = _REQ_CD_PARS.size
REQ_CD_ADDR_OFFSET = _REQ_CD_ADDR.offset
REQ_CD_PARAMS_SZ_OFFSET = _REQ_CD_PARAMS_SZ.offset
REQ_MID_OFFSET = _REQ_MID.offset  # comn_mid: the cookie, buffer addresses and lengths
REQ_OPAQUE_OFFSET = _REQ_OPAQUE.offset
REQ_OPAQUE_SZ = _REQ_OPAQUE.size
REQ_SRC_ADDR_OFFSET = _REQ_SRC_ADDR.offset
REQ_DST_ADDR_OFFSET = _REQ_DST_ADDR.offset
REQ_SRC_LEN_OFFSET = _REQ_SRC_LEN.offset
REQ_DST_LEN_OFFSET = _REQ_DST_LEN.offset

# Runs of adjacent request fields read in one call, each starting at the offset named.
# At REQ_CMD_ID_OFFSET: service_cmd_id, service_type, hdr_flags, serv_specif_flags,
# comn_req_flags, ext_flags.
REQ_HEADER_FIELDS = fields_struct(
    _REQ_CMD_ID, _REQ_SERVICE_TYPE, _REQ_HDR_FLAGS, _REQ_SERV_FLAGS, _REQ_COMN_FLAGS, _REQ_EXT_FLAGS
)
# At REQ_SERV_SPECIF_FLAGS_OFFSET: serv_specif_flags.
REQ_SERV_SPECIF_FLAGS_FIELD = fields_struct(_REQ_SERV_FLAGS)
# At REQ_CD_ADDR_OFFSET: content_desc_addr; or content_desc_addr, content_desc_params_sz.
REQ_CD_ADDR_FIELD = fields_struct(_REQ_CD_ADDR)
REQ_CD_FIELDS = fields_struct(_REQ_CD_ADDR, _REQ_CD_PARAMS_SZ)
# At REQ_OPAQUE_OFFSET: opaque_data.
REQ_OPAQUE_FIELD = fields_struct(_REQ_OPAQUE)
# At REQ_OPAQUE_OFFSET: opaque_data, src_data_addr, dest_data_addr, src_length, dst_length.
REQ_MID_FIELDS = fields_struct(
    _REQ_OPAQUE, _REQ_SRC_ADDR, _REQ_DST_ADDR, _REQ_SRC_LEN, _REQ_DST_LEN
)
# At REQ_SRC_ADDR_OFFSET: src_data_addr, dest_data_addr, src_length, dst_length.
REQ_BUFFER_FIELDS = fields_struct(_REQ_SRC_ADDR, _REQ_DST_ADDR, _REQ_SRC_LEN, _REQ_DST_LEN)

_RESP_HEADER = span(_RESP, "comn_hdr")
_RESP_RESRVD1 = span(_RESP, "comn_hdr.resrvd1")
_RESP_SERVICE_ID = span(_RESP, "comn_hdr.service_id")
_RESP_TYPE = span(_RESP, "comn_hdr.response_type")
_RESP_HDR_FLAGS = span(_RESP, "comn_hdr.hdr_flags")
_RESP_XLAT_ERR = span(_RESP, "comn_hdr.comn_error.xlat_err_code")
_RESP_CMP_ERR = span(_RESP, "comn_hdr.comn_error.cmp_err_code")
_RESP_STATUS = span(_RESP, "comn_hdr.comn_status")
_RESP_CMD_ID = span(_RESP, "comn_hdr.cmd_id")
_RESP_OPAQUE = span(_RESP, "opaque_data")
_RESP_SERV_SPECIF = span(_RESP, "resrvd")

RESP_HEADER_OFFSET = _RESP_HEADER.offset
RESP_HEADER_SZ = _RESP_HEADER.size
RESP_SERVICE_ID_OFFSET = _RESP_SERVICE_ID.offset
RESP_TYPE_OFFSET = _RESP_TYPE.offset
RESP_HDR_FLAGS_OFFSET = _RESP_HDR_FLAGS.offset
RESP_XLAT_ERR_OFFSET = _RESP_XLAT_ERR.offset
RESP_CMP_ERR_OFFSET = _RESP_CMP_ERR.offset
RESP_STATUS_OFFSET = _RESP_STATUS.offset
RESP_CMD_ID_OFFSET = _RESP_CMD_ID.offset
RESP_OPAQUE_OFFSET = _RESP_OPAQUE.offset
RESP_OPAQUE_SZ = _RESP_OPAQUE.size
RESP_SERV_SPECIF_OFFSET = _RESP_SERV_SPECIF.offset  # COMP: counters and checksums
RESP_SERV_SPECIF_SZ = _RESP_SERV_SPECIF.size

# At RESP_HEADER_OFFSET, a whole response: the eight header bytes (the error codes
# signed), opaque_data and the service-specific bytes, both as raw bytes.
RESPONSE_FIELDS = fields_struct(
    _RESP_RESRVD1,
    _RESP_SERVICE_ID,
    _RESP_TYPE,
    _RESP_HDR_FLAGS,
    _RESP_XLAT_ERR,
    _RESP_CMP_ERR,
    _RESP_STATUS,
    _RESP_CMD_ID,
    _RESP_OPAQUE.raw(),
    _RESP_SERV_SPECIF.raw(),
)
# At RESP_XLAT_ERR_OFFSET: xlat_err_code, cmp_err_code (signed).
RESP_ERROR_FIELDS = fields_struct(_RESP_XLAT_ERR, _RESP_CMP_ERR)
# At RESP_OPAQUE_OFFSET: opaque_data, as the integer the request carried.
RESP_OPAQUE_FIELD = fields_struct(_RESP_OPAQUE)


def null_request(opaque: int) -> bytes:
    """A 128-byte NULL request (service 0, command 1, valid) carrying ``opaque``.

    This is the request DPDK sends to probe the firmware version (docs/hardware.md#known-answers).
    """
    req = icp_qat_fw_comn_req()
    req.comn_hdr.service_cmd_id = NULL_REQ_SERV_ID
    req.comn_hdr.service_type = ServiceType.NULL
    req.comn_hdr.hdr_flags = HDR_FLAG_VALID
    req.comn_mid.opaque_data = opaque
    return bytes(req)
