"""Lookaside (LA) symmetric-crypto request layouts and flags.

Sources: kernel ``icp_qat_fw_la.h``, DPDK ``qat_adf/icp_qat_fw_la.h`` (tables in
docs/hardware.md#la-request and #content-descriptors).

Two of the C parameter blocks are ``packed`` or end in a u64-aligned union, so their
ctypes form is longer than the bytes they own in a request; they are only ever used as
views at their offset inside a 128-byte request (never copied whole):

* ``icp_qat_fw_la_auth_req_params``: C packed 28 bytes; ctypes 32 (4 bytes of tail padding
  that overlay ``cd_ctrl``);
* ``icp_qat_fw_la_cipher_20_req_params``: 52 bytes used, 56 with C's own tail padding.
"""

from __future__ import annotations

import ctypes
import enum

from qathw.fw.common import (
    icp_qat_fw_comn_req_hdr,
    icp_qat_fw_comn_req_hdr_cd_pars,
    icp_qat_fw_comn_req_mid,
    icp_qat_fw_comn_req_rqpars,
)
from qathw.fw.spans import fields_struct, span

CCM_GCM_AAD_SZ_MAX = 240


class LaCmd(enum.IntEnum):
    """``service_cmd_id`` of LA requests (``icp_qat_fw_la_cmd_id``)."""

    CIPHER = 0
    AUTH = 1
    CIPHER_HASH = 2
    HASH_CIPHER = 3
    TRNG_GET_RANDOM = 4
    TRNG_TEST = 5
    SSL3_KEY_DERIVE = 6
    TLS_V1_1_KEY_DERIVE = 7
    TLS_V1_2_KEY_DERIVE = 8
    MGF1 = 9
    AUTH_PRE_COMP = 10
    CIPHER_PRE_COMP = 11
    CIPHER_CRC = 17


# serv_specif_flags (request bytes 4-5): bit positions and masks
PARTIAL_BITPOS, PARTIAL_MASK = 0, 0x3
CIPH_IV_FLD_BITPOS = 2  # 1: IV inline in cipher_IV_array; 0: cipher_IV_ptr
CIPH_AUTH_CFG_OFFSET_BITPOS = 3  # 1: configs in the firmware's SHRAM table (never ours)
UPDATE_STATE_BITPOS = 4
RET_AUTH_RES_BITPOS = 5
CMP_AUTH_RES_BITPOS = 6
PROTO_BITPOS, PROTO_MASK = 7, 0x7
DIGEST_IN_BUFFER_BITPOS = 10
GCM_IV_LEN_BITPOS = 11  # 1: 12-octet IV
ZUC_3G_PROTO_BITPOS = 12
SINGLE_PASS_PROTO_BITPOS = 13
SLICE_TYPE_BITPOS, SLICE_TYPE_MASK = 14, 0x3

PARTIAL_NONE, PARTIAL_START, PARTIAL_END, PARTIAL_MID = 0, 1, 2, 3
PROTO_NONE, PROTO_CCM, PROTO_GCM, PROTO_SNOW_3G = 0, 1, 2, 4
SLICE_TYPE_LEGACY, SLICE_TYPE_UCS, SLICE_TYPE_WIRELESS = 0, 1, 2

# cd_ctrl hash_flags (request byte 113)
HASH_FLAG_DO_NESTED = 0x01
HASH_FLAG_SNOW3G_UIA2 = 0x08
HASH_FLAG_ZUC_EIA3 = 0x10
HASH_FLAG_MODE2 = 0x20


def la_flags(
    *,
    gcm_iv_len_12: bool = False,
    digest_in_buffer: bool = False,
    proto: int = PROTO_NONE,
    cmp_auth_res: bool = False,
    ret_auth_res: bool = False,
    update_state: bool = False,
    iv_inline: bool = False,
    cfg_in_shram: bool = False,
    partial: int = PARTIAL_NONE,
    single_pass: bool = False,
    slice_type: int = SLICE_TYPE_LEGACY,
) -> int:
    """``ICP_QAT_FW_LA_FLAGS_BUILD`` plus the single-pass and slice-type fields."""
    return (
        (int(gcm_iv_len_12) << GCM_IV_LEN_BITPOS)
        | (int(digest_in_buffer) << DIGEST_IN_BUFFER_BITPOS)
        | ((proto & PROTO_MASK) << PROTO_BITPOS)
        | (int(cmp_auth_res) << CMP_AUTH_RES_BITPOS)
        | (int(ret_auth_res) << RET_AUTH_RES_BITPOS)
        | (int(update_state) << UPDATE_STATE_BITPOS)
        | (int(iv_inline) << CIPH_IV_FLD_BITPOS)
        | (int(cfg_in_shram) << CIPH_AUTH_CFG_OFFSET_BITPOS)
        | ((partial & PARTIAL_MASK) << PARTIAL_BITPOS)
        | (int(single_pass) << SINGLE_PASS_PROTO_BITPOS)
        | ((slice_type & SLICE_TYPE_MASK) << SLICE_TYPE_BITPOS)
    )


class icp_qat_fw_la_cipher_auth_cd_ctrl_hdr(ctypes.LittleEndianStructure):
    """Content-descriptor control header for LA, request bytes 108-127.

    Cipher-only and auth-only requests use the same byte positions
    (``icp_qat_fw_cipher_cd_ctrl_hdr`` / ``icp_qat_fw_auth_cd_ctrl_hdr`` overlay it).
    Offsets are in quadwords from the CD start, sizes in bytes unless noted.
    """

    _fields_ = [
        ("cipher_state_sz", ctypes.c_uint8),  # quadwords (AES 2, DES 1)
        ("cipher_key_sz", ctypes.c_uint8),  # quadwords
        ("cipher_cfg_offset", ctypes.c_uint8),  # quadwords
        ("next_curr_id_cipher", ctypes.c_uint8),
        ("cipher_padding_sz", ctypes.c_uint8),
        ("hash_flags", ctypes.c_uint8),
        ("hash_cfg_offset", ctypes.c_uint8),  # quadwords
        ("next_curr_id_auth", ctypes.c_uint8),
        ("resrvd1", ctypes.c_uint8),
        ("outer_prefix_sz", ctypes.c_uint8),
        ("final_sz", ctypes.c_uint8),  # digest bytes returned
        ("inner_res_sz", ctypes.c_uint8),
        ("resrvd2", ctypes.c_uint8),
        ("inner_state1_sz", ctypes.c_uint8),
        ("inner_state2_offset", ctypes.c_uint8),  # quadwords
        ("inner_state2_sz", ctypes.c_uint8),
        ("outer_config_offset", ctypes.c_uint8),  # quadwords
        ("outer_state1_sz", ctypes.c_uint8),
        ("outer_res_sz", ctypes.c_uint8),
        ("outer_prefix_offset", ctypes.c_uint8),  # quadwords
    ]


class icp_qat_fw_la_bulk_req(ctypes.LittleEndianStructure):
    """The 128-byte LA request (cipher, auth, chained, AEAD)."""

    _fields_ = [
        ("comn_hdr", icp_qat_fw_comn_req_hdr),
        ("cd_pars", icp_qat_fw_comn_req_hdr_cd_pars),
        ("comn_mid", icp_qat_fw_comn_req_mid),
        ("serv_specif_rqpars", icp_qat_fw_comn_req_rqpars),
        ("cd_ctrl", icp_qat_fw_la_cipher_auth_cd_ctrl_hdr),
    ]


class icp_qat_fw_la_cipher_req_params_s(ctypes.LittleEndianStructure):
    _fields_ = [("cipher_IV_ptr", ctypes.c_uint64), ("resrvd1", ctypes.c_uint64)]


class icp_qat_fw_la_cipher_req_params_u(ctypes.Union):
    _fields_ = [
        ("cipher_IV_array", ctypes.c_uint32 * 4),
        ("s", icp_qat_fw_la_cipher_req_params_s),
    ]


class icp_qat_fw_la_cipher_req_params(ctypes.LittleEndianStructure):
    """Cipher parameters at request byte 56 (the kernel's 24-byte form)."""

    _fields_ = [
        ("cipher_offset", ctypes.c_uint32),
        ("cipher_length", ctypes.c_uint32),
        ("u", icp_qat_fw_la_cipher_req_params_u),
    ]


class icp_qat_fw_la_auth_req_params_u1(ctypes.Union):
    _fields_ = [("auth_partial_st_prefix", ctypes.c_uint64), ("aad_adr", ctypes.c_uint64)]


class icp_qat_fw_la_auth_req_params_u2(ctypes.Union):
    _fields_ = [("inner_prefix_sz", ctypes.c_uint8), ("aad_sz", ctypes.c_uint8)]


class icp_qat_fw_la_auth_req_params(ctypes.LittleEndianStructure):
    """Auth parameters at request byte 80 (C: packed, 28 bytes; see module note)."""

    _fields_ = [
        ("auth_off", ctypes.c_uint32),
        ("auth_len", ctypes.c_uint32),
        ("u1", icp_qat_fw_la_auth_req_params_u1),  # GCM/CCM AAD, or mode-2 prefix
        ("auth_res_addr", ctypes.c_uint64),  # digest when DIGEST_IN_BUFFER = 0
        ("u2", icp_qat_fw_la_auth_req_params_u2),  # GCM: AAD length rounded up to 16
        ("resrvd1", ctypes.c_uint8),
        ("hash_state_sz", ctypes.c_uint8),  # quadwords
        ("auth_res_sz", ctypes.c_uint8),
    ]


class icp_qat_fw_la_cipher_20_req_params(ctypes.LittleEndianStructure):
    """Gen4 UCS single-pass cipher parameters at request byte 56 (AES-GCM, ChaChaPoly)."""

    _fields_ = [
        ("cipher_offset", ctypes.c_uint32),
        ("cipher_length", ctypes.c_uint32),
        ("u", icp_qat_fw_la_cipher_req_params_u),
        ("spc_aad_offset", ctypes.c_uint32),
        ("spc_aad_sz", ctypes.c_uint32),
        ("spc_aad_addr", ctypes.c_uint64),
        ("spc_auth_res_addr", ctypes.c_uint64),
        ("reserved", ctypes.c_uint8 * 3),
        ("spc_auth_res_sz", ctypes.c_uint8),
    ]


# --- where the fields are (byte offsets computed from the layouts above) ---------------
# Sizes of the parameter blocks as the request owns them: C packs the auth parameters,
# and the single-pass block ends in C's tail padding (module note).
AUTH_REQ_PARAMS_SZ = (
    icp_qat_fw_la_auth_req_params.auth_res_sz.offset
    + icp_qat_fw_la_auth_req_params.auth_res_sz.size
)
CIPHER_20_REQ_PARAMS_SZ = (
    icp_qat_fw_la_cipher_20_req_params.spc_auth_res_sz.offset
    + icp_qat_fw_la_cipher_20_req_params.spc_auth_res_sz.size
)

_BULK = icp_qat_fw_la_bulk_req
# ICP_QAT_FW_CIPHER_REQUEST_PARAMETERS_OFFSET: the cipher parameters open serv_specif_rqpars;
# ICP_QAT_FW_HASH_REQUEST_PARAMETERS_OFFSET: the auth parameters follow them.
CIPHER_REQ_PARAMS_OFFSET = _BULK.serv_specif_rqpars.offset
AUTH_REQ_PARAMS_OFFSET = CIPHER_REQ_PARAMS_OFFSET + ctypes.sizeof(icp_qat_fw_la_cipher_req_params)
CD_CTRL_OFFSET = _BULK.cd_ctrl.offset
CD_CTRL_SZ = _BULK.cd_ctrl.size

_CIPHER = icp_qat_fw_la_cipher_req_params
_AUTH = icp_qat_fw_la_auth_req_params
_SPC = icp_qat_fw_la_cipher_20_req_params
_C = CIPHER_REQ_PARAMS_OFFSET
_A = AUTH_REQ_PARAMS_OFFSET

_REQ_CIPHER_OFF = span(_CIPHER, "cipher_offset", _C)
_REQ_CIPHER_LEN = span(_CIPHER, "cipher_length", _C)
_REQ_CIPHER_IV = span(_CIPHER, "u", _C)  # an inline IV, or its address
_REQ_CIPHER_IV_PTR = span(_CIPHER, "u.s.cipher_IV_ptr", _C)
_REQ_AUTH_OFF = span(_AUTH, "auth_off", _A)
_REQ_AUTH_LEN = span(_AUTH, "auth_len", _A)
_REQ_AAD_ADDR = span(_AUTH, "u1.aad_adr", _A)  # or auth_partial_st_prefix (mode-2 HMAC)
_REQ_AUTH_RES_ADDR = span(_AUTH, "auth_res_addr", _A)
_REQ_AAD_SZ = span(_AUTH, "u2.aad_sz", _A)  # or inner_prefix_sz
_REQ_HASH_STATE_SZ = span(_AUTH, "hash_state_sz", _A)
_REQ_AUTH_RES_SZ = span(_AUTH, "auth_res_sz", _A)
_REQ_SPC_AAD_OFF = span(_SPC, "spc_aad_offset", _C)
_REQ_SPC_AAD_SZ = span(_SPC, "spc_aad_sz", _C)
_REQ_SPC_AAD_ADDR = span(_SPC, "spc_aad_addr", _C)
_REQ_SPC_AUTH_RES_ADDR = span(_SPC, "spc_auth_res_addr", _C)
_REQ_SPC_AUTH_RES_SZ = span(_SPC, "spc_auth_res_sz", _C)

REQ_CIPHER_OFF_OFFSET = _REQ_CIPHER_OFF.offset  # cipher_offset
REQ_CIPHER_LEN_OFFSET = _REQ_CIPHER_LEN.offset  # cipher_length
REQ_CIPHER_IV_OFFSET = _REQ_CIPHER_IV.offset  # cipher_IV_array, or cipher_IV_ptr
REQ_CIPHER_IV_SZ = _REQ_CIPHER_IV.size
REQ_AUTH_OFF_OFFSET = _REQ_AUTH_OFF.offset
REQ_AUTH_LEN_OFFSET = _REQ_AUTH_LEN.offset
REQ_AAD_ADDR_OFFSET = _REQ_AAD_ADDR.offset
REQ_AUTH_RES_ADDR_OFFSET = _REQ_AUTH_RES_ADDR.offset
REQ_AAD_SZ_OFFSET = _REQ_AAD_SZ.offset
REQ_HASH_STATE_SZ_OFFSET = _REQ_HASH_STATE_SZ.offset
REQ_AUTH_RES_SZ_OFFSET = _REQ_AUTH_RES_SZ.offset
REQ_SPC_AAD_OFF_OFFSET = _REQ_SPC_AAD_OFF.offset  # spc_aad_offset
REQ_SPC_AAD_SZ_OFFSET = _REQ_SPC_AAD_SZ.offset
REQ_SPC_AAD_ADDR_OFFSET = _REQ_SPC_AAD_ADDR.offset
REQ_SPC_AUTH_RES_ADDR_OFFSET = _REQ_SPC_AUTH_RES_ADDR.offset
REQ_SPC_AUTH_RES_SZ_OFFSET = _REQ_SPC_AUTH_RES_SZ.offset

# Runs of adjacent request fields read in one call, each starting at the offset named.
# At REQ_CIPHER_OFF_OFFSET: cipher_offset, cipher_length.
REQ_CIPHER_REGION_FIELDS = fields_struct(_REQ_CIPHER_OFF, _REQ_CIPHER_LEN)
# At REQ_CIPHER_IV_OFFSET: cipher_IV_ptr.
REQ_CIPHER_IV_PTR_FIELD = fields_struct(_REQ_CIPHER_IV_PTR)
# At REQ_AUTH_OFF_OFFSET: auth_off, auth_len.
REQ_AUTH_REGION_FIELDS = fields_struct(_REQ_AUTH_OFF, _REQ_AUTH_LEN)
# At REQ_AAD_ADDR_OFFSET: aad_adr. At REQ_AUTH_RES_ADDR_OFFSET: auth_res_addr.
REQ_AAD_ADDR_FIELD = fields_struct(_REQ_AAD_ADDR)
REQ_AUTH_RES_ADDR_FIELD = fields_struct(_REQ_AUTH_RES_ADDR)
# At REQ_AUTH_OFF_OFFSET: auth_off, auth_len, aad_adr, auth_res_addr, aad_sz,
# hash_state_sz, auth_res_sz.
REQ_AUTH_PARAM_FIELDS = fields_struct(
    _REQ_AUTH_OFF,
    _REQ_AUTH_LEN,
    _REQ_AAD_ADDR,
    _REQ_AUTH_RES_ADDR,
    _REQ_AAD_SZ,
    _REQ_HASH_STATE_SZ,
    _REQ_AUTH_RES_SZ,
)
# At REQ_SPC_AAD_OFF_OFFSET: spc_aad_offset, spc_aad_sz, spc_aad_addr, spc_auth_res_addr,
# spc_auth_res_sz.
REQ_SPC_PARAM_FIELDS = fields_struct(
    _REQ_SPC_AAD_OFF,
    _REQ_SPC_AAD_SZ,
    _REQ_SPC_AAD_ADDR,
    _REQ_SPC_AUTH_RES_ADDR,
    _REQ_SPC_AUTH_RES_SZ,
)
