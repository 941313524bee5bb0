"""The named field offsets and field-run structs of ``qathw.fw`` are the published ones.

Every expected number is typed in from the tables of docs/hardware.md (#request-header,
#la-request with its cipher, auth and single-pass parameters, #comp-request, #response,
#sgl, the auth setup of #content-descriptors), not computed from our structures, so a
name derived from the wrong field cannot pass. The structs that read several adjacent
fields at once are checked twice: against the ctypes fields they stand for, and against
the known-answer request of docs/hardware.md#known-answers.
"""

from __future__ import annotations

import ctypes
import random
import struct
from typing import Any

import pytest

from qathw.fw import common, comp, hw, la, sgl

PUBLISHED_OFFSETS = [  # (name, value, published byte offset)
    # request header and middle part (#request-header, #la-request)
    ("REQ_CMD_ID_OFFSET", common.REQ_CMD_ID_OFFSET, 1),
    ("REQ_SERVICE_TYPE_OFFSET", common.REQ_SERVICE_TYPE_OFFSET, 2),
    ("REQ_HDR_FLAGS_OFFSET", common.REQ_HDR_FLAGS_OFFSET, 3),
    ("REQ_SERV_SPECIF_FLAGS_OFFSET", common.REQ_SERV_SPECIF_FLAGS_OFFSET, 4),
    ("REQ_COMN_FLAGS_OFFSET", common.REQ_COMN_FLAGS_OFFSET, 6),
    ("REQ_EXT_FLAGS_OFFSET", common.REQ_EXT_FLAGS_OFFSET, 7),
    ("REQ_CD_PARS_OFFSET", common.REQ_CD_PARS_OFFSET, 8),
    ("REQ_CD_ADDR_OFFSET", common.REQ_CD_ADDR_OFFSET, 8),
    ("REQ_CD_PARAMS_SZ_OFFSET", common.REQ_CD_PARAMS_SZ_OFFSET, 18),
    ("REQ_MID_OFFSET", common.REQ_MID_OFFSET, 24),
    ("REQ_OPAQUE_OFFSET", common.REQ_OPAQUE_OFFSET, 24),
    ("REQ_SRC_ADDR_OFFSET", common.REQ_SRC_ADDR_OFFSET, 32),
    ("REQ_DST_ADDR_OFFSET", common.REQ_DST_ADDR_OFFSET, 40),
    ("REQ_SRC_LEN_OFFSET", common.REQ_SRC_LEN_OFFSET, 48),
    ("REQ_DST_LEN_OFFSET", common.REQ_DST_LEN_OFFSET, 52),
    # LA parameters (#la-request: cipher from 56, auth from 80, single pass, cd_ctrl)
    ("CIPHER_REQ_PARAMS_OFFSET", la.CIPHER_REQ_PARAMS_OFFSET, 56),
    ("AUTH_REQ_PARAMS_OFFSET", la.AUTH_REQ_PARAMS_OFFSET, 80),
    ("CD_CTRL_OFFSET", la.CD_CTRL_OFFSET, 108),
    ("REQ_CIPHER_OFF_OFFSET", la.REQ_CIPHER_OFF_OFFSET, 56),
    ("REQ_CIPHER_LEN_OFFSET", la.REQ_CIPHER_LEN_OFFSET, 60),
    ("REQ_CIPHER_IV_OFFSET", la.REQ_CIPHER_IV_OFFSET, 64),
    ("REQ_AUTH_OFF_OFFSET", la.REQ_AUTH_OFF_OFFSET, 80),
    ("REQ_AUTH_LEN_OFFSET", la.REQ_AUTH_LEN_OFFSET, 84),
    ("REQ_AAD_ADDR_OFFSET", la.REQ_AAD_ADDR_OFFSET, 88),
    ("REQ_AUTH_RES_ADDR_OFFSET", la.REQ_AUTH_RES_ADDR_OFFSET, 96),
    ("REQ_AAD_SZ_OFFSET", la.REQ_AAD_SZ_OFFSET, 104),
    ("REQ_HASH_STATE_SZ_OFFSET", la.REQ_HASH_STATE_SZ_OFFSET, 106),
    ("REQ_AUTH_RES_SZ_OFFSET", la.REQ_AUTH_RES_SZ_OFFSET, 107),
    ("REQ_SPC_AAD_OFF_OFFSET", la.REQ_SPC_AAD_OFF_OFFSET, 80),
    ("REQ_SPC_AAD_SZ_OFFSET", la.REQ_SPC_AAD_SZ_OFFSET, 84),
    ("REQ_SPC_AAD_ADDR_OFFSET", la.REQ_SPC_AAD_ADDR_OFFSET, 88),
    ("REQ_SPC_AUTH_RES_ADDR_OFFSET", la.REQ_SPC_AUTH_RES_ADDR_OFFSET, 96),
    ("REQ_SPC_AUTH_RES_SZ_OFFSET", la.REQ_SPC_AUTH_RES_SZ_OFFSET, 107),
    # COMP request and response (#comp-request, #response)
    ("REQ_SLICE_CFG_LOWER_OFFSET", comp.REQ_SLICE_CFG_LOWER_OFFSET, 8),
    ("REQ_SLICE_CFG_UPPER_OFFSET", comp.REQ_SLICE_CFG_UPPER_OFFSET, 12),
    ("REQ_COMP_LEN_OFFSET", comp.REQ_COMP_LEN_OFFSET, 56),
    ("REQ_OUT_BUFFER_SZ_OFFSET", comp.REQ_OUT_BUFFER_SZ_OFFSET, 60),
    ("REQ_INITIAL_CRC32_OFFSET", comp.REQ_INITIAL_CRC32_OFFSET, 64),
    ("REQ_INITIAL_ADLER_OFFSET", comp.REQ_INITIAL_ADLER_OFFSET, 68),
    ("REQ_PAR_FLAGS_OFFSET", comp.REQ_PAR_FLAGS_OFFSET, 72),
    ("RESP_COMP_PARS_OFFSET", comp.RESP_COMP_PARS_OFFSET, 16),
    ("RESP_INPUT_COUNTER_OFFSET", comp.RESP_INPUT_COUNTER_OFFSET, 16),
    ("RESP_OUTPUT_COUNTER_OFFSET", comp.RESP_OUTPUT_COUNTER_OFFSET, 20),
    ("RESP_CRC32_OFFSET", comp.RESP_CRC32_OFFSET, 24),
    ("RESP_ADLER32_OFFSET", comp.RESP_ADLER32_OFFSET, 28),
    # response (#response)
    ("RESP_HEADER_OFFSET", common.RESP_HEADER_OFFSET, 0),
    ("RESP_SERVICE_ID_OFFSET", common.RESP_SERVICE_ID_OFFSET, 1),
    ("RESP_TYPE_OFFSET", common.RESP_TYPE_OFFSET, 2),
    ("RESP_HDR_FLAGS_OFFSET", common.RESP_HDR_FLAGS_OFFSET, 3),
    ("RESP_XLAT_ERR_OFFSET", common.RESP_XLAT_ERR_OFFSET, 4),
    ("RESP_CMP_ERR_OFFSET", common.RESP_CMP_ERR_OFFSET, 5),
    ("RESP_STATUS_OFFSET", common.RESP_STATUS_OFFSET, 6),
    ("RESP_CMD_ID_OFFSET", common.RESP_CMD_ID_OFFSET, 7),
    ("RESP_OPAQUE_OFFSET", common.RESP_OPAQUE_OFFSET, 8),
    ("RESP_SERV_SPECIF_OFFSET", common.RESP_SERV_SPECIF_OFFSET, 16),
    # SGL (#sgl), relative to the list or to an entry
    ("SGL_NUM_BUFS_OFFSET", sgl.SGL_NUM_BUFS_OFFSET, 8),
    ("sgl_entry_offset(0)", sgl.sgl_entry_offset(0), 16),
    ("sgl_entry_offset(3)", sgl.sgl_entry_offset(3), 64),
    # content descriptor blocks (#content-descriptors), relative to the block
    ("CIPHER_CONFIG_UPPER_OFFSET", hw.CIPHER_CONFIG_UPPER_OFFSET, 4),
    ("AUTH_COUNTER_OFFSET", hw.AUTH_COUNTER_OFFSET, 8),
    ("GALOIS_LEN_A_OFFSET", hw.GALOIS_LEN_A_OFFSET, 16),
]


@pytest.mark.parametrize(
    ("name", "value", "published"), PUBLISHED_OFFSETS, ids=[n for n, _, _ in PUBLISHED_OFFSETS]
)
def test_a_named_offset_is_the_published_one(name: str, value: int, published: int) -> None:
    assert value == published, name


PUBLISHED_SIZES = [  # (name, value, published size in bytes)
    ("REQ_SERV_SPECIF_FLAGS_SZ", common.REQ_SERV_SPECIF_FLAGS_SZ, 2),
    ("REQ_CD_PARS_SZ", common.REQ_CD_PARS_SZ, 16),
    ("REQ_OPAQUE_SZ", common.REQ_OPAQUE_SZ, 8),
    ("REQ_CIPHER_IV_SZ", la.REQ_CIPHER_IV_SZ, 16),
    ("AUTH_REQ_PARAMS_SZ", la.AUTH_REQ_PARAMS_SZ, 28),
    ("CIPHER_20_REQ_PARAMS_SZ", la.CIPHER_20_REQ_PARAMS_SZ, 52),
    ("CD_CTRL_SZ", la.CD_CTRL_SZ, 20),
    ("RESP_HEADER_SZ", common.RESP_HEADER_SZ, 8),
    ("RESP_OPAQUE_SZ", common.RESP_OPAQUE_SZ, 8),
    ("RESP_SERV_SPECIF_SZ", common.RESP_SERV_SPECIF_SZ, 16),
    ("SGL_HEADER_SZ", sgl.SGL_HEADER_SZ, 16),
    ("SGL_ENTRY_SZ", sgl.SGL_ENTRY_SZ, 16),
    ("CIPHER_CONFIG_SZ", hw.CIPHER_CONFIG_SZ, 8),
    ("UCS_CIPHER_CONFIG_SZ", hw.UCS_CIPHER_CONFIG_SZ, 16),
    ("AUTH_SETUP_SZ", hw.AUTH_SETUP_SZ, 16),
]


@pytest.mark.parametrize(
    ("name", "value", "published"), PUBLISHED_SIZES, ids=[n for n, _, _ in PUBLISHED_SIZES]
)
def test_a_named_size_is_the_published_one(name: str, value: int, published: int) -> None:
    assert value == published, name


def test_the_compression_counters_are_the_service_specific_bytes_of_a_response() -> None:
    assert comp.RESP_COMP_PARS_OFFSET == common.RESP_SERV_SPECIF_OFFSET
    assert comp.RESP_COMP_PARAM_FIELDS.size == common.RESP_SERV_SPECIF_SZ


# --- field runs ------------------------------------------------------------------------

_REQ, _RESP = common.icp_qat_fw_comn_req, common.icp_qat_fw_comn_resp
_C, _A = 56, 80  # where the LA parameter blocks are viewed (#la-request)

RUNS: list[tuple[str, struct.Struct, int, Any, int, list[str]]] = [
    # (name, struct, its start offset, layout, where the layout starts, the fields in order)
    (
        "REQ_HEADER_FIELDS",
        common.REQ_HEADER_FIELDS,
        common.REQ_CMD_ID_OFFSET,
        _REQ,
        0,
        [
            "comn_hdr.service_cmd_id",
            "comn_hdr.service_type",
            "comn_hdr.hdr_flags",
            "comn_hdr.serv_specif_flags",
            "comn_hdr.comn_req_flags",
            "comn_hdr.ext_flags",
        ],
    ),
    (
        "REQ_SERV_SPECIF_FLAGS_FIELD",
        common.REQ_SERV_SPECIF_FLAGS_FIELD,
        common.REQ_SERV_SPECIF_FLAGS_OFFSET,
        _REQ,
        0,
        ["comn_hdr.serv_specif_flags"],
    ),
    (
        "REQ_CD_ADDR_FIELD",
        common.REQ_CD_ADDR_FIELD,
        common.REQ_CD_ADDR_OFFSET,
        _REQ,
        0,
        ["cd_pars.s.content_desc_addr"],
    ),
    (
        "REQ_OPAQUE_FIELD",
        common.REQ_OPAQUE_FIELD,
        common.REQ_OPAQUE_OFFSET,
        _REQ,
        0,
        ["comn_mid.opaque_data"],
    ),
    (
        "REQ_CD_FIELDS",
        common.REQ_CD_FIELDS,
        common.REQ_CD_ADDR_OFFSET,
        _REQ,
        0,
        ["cd_pars.s.content_desc_addr", "cd_pars.s.content_desc_params_sz"],
    ),
    (
        "REQ_MID_FIELDS",
        common.REQ_MID_FIELDS,
        common.REQ_OPAQUE_OFFSET,
        _REQ,
        0,
        [
            "comn_mid.opaque_data",
            "comn_mid.src_data_addr",
            "comn_mid.dest_data_addr",
            "comn_mid.src_length",
            "comn_mid.dst_length",
        ],
    ),
    (
        "REQ_BUFFER_FIELDS",
        common.REQ_BUFFER_FIELDS,
        common.REQ_SRC_ADDR_OFFSET,
        _REQ,
        0,
        [
            "comn_mid.src_data_addr",
            "comn_mid.dest_data_addr",
            "comn_mid.src_length",
            "comn_mid.dst_length",
        ],
    ),
    (
        "RESPONSE_FIELDS",
        common.RESPONSE_FIELDS,
        common.RESP_HEADER_OFFSET,
        _RESP,
        0,
        [
            "comn_hdr.resrvd1",
            "comn_hdr.service_id",
            "comn_hdr.response_type",
            "comn_hdr.hdr_flags",
            "comn_hdr.comn_error.xlat_err_code",
            "comn_hdr.comn_error.cmp_err_code",
            "comn_hdr.comn_status",
            "comn_hdr.cmd_id",
            "opaque_data!raw",
            "resrvd",
        ],
    ),
    (
        "RESP_OPAQUE_FIELD",
        common.RESP_OPAQUE_FIELD,
        common.RESP_OPAQUE_OFFSET,
        _RESP,
        0,
        ["opaque_data"],
    ),
    (
        "RESP_ERROR_FIELDS",
        common.RESP_ERROR_FIELDS,
        common.RESP_XLAT_ERR_OFFSET,
        _RESP,
        0,
        ["comn_hdr.comn_error.xlat_err_code", "comn_hdr.comn_error.cmp_err_code"],
    ),
    (
        "REQ_CIPHER_REGION_FIELDS",
        la.REQ_CIPHER_REGION_FIELDS,
        la.REQ_CIPHER_OFF_OFFSET,
        la.icp_qat_fw_la_cipher_req_params,
        _C,
        ["cipher_offset", "cipher_length"],
    ),
    (
        "REQ_CIPHER_IV_PTR_FIELD",
        la.REQ_CIPHER_IV_PTR_FIELD,
        la.REQ_CIPHER_IV_OFFSET,
        la.icp_qat_fw_la_cipher_req_params,
        _C,
        ["u.s.cipher_IV_ptr"],
    ),
    (
        "REQ_AUTH_REGION_FIELDS",
        la.REQ_AUTH_REGION_FIELDS,
        la.REQ_AUTH_OFF_OFFSET,
        la.icp_qat_fw_la_auth_req_params,
        _A,
        ["auth_off", "auth_len"],
    ),
    (
        "REQ_AAD_ADDR_FIELD",
        la.REQ_AAD_ADDR_FIELD,
        la.REQ_AAD_ADDR_OFFSET,
        la.icp_qat_fw_la_auth_req_params,
        _A,
        ["u1.aad_adr"],
    ),
    (
        "REQ_AUTH_RES_ADDR_FIELD",
        la.REQ_AUTH_RES_ADDR_FIELD,
        la.REQ_AUTH_RES_ADDR_OFFSET,
        la.icp_qat_fw_la_auth_req_params,
        _A,
        ["auth_res_addr"],
    ),
    (
        "REQ_AUTH_PARAM_FIELDS",
        la.REQ_AUTH_PARAM_FIELDS,
        la.REQ_AUTH_OFF_OFFSET,
        la.icp_qat_fw_la_auth_req_params,
        _A,
        [
            "auth_off",
            "auth_len",
            "u1.aad_adr",
            "auth_res_addr",
            "u2.aad_sz",
            "hash_state_sz",
            "auth_res_sz",
        ],
    ),
    (
        "REQ_SPC_PARAM_FIELDS",
        la.REQ_SPC_PARAM_FIELDS,
        la.REQ_SPC_AAD_OFF_OFFSET,
        la.icp_qat_fw_la_cipher_20_req_params,
        _C,
        ["spc_aad_offset", "spc_aad_sz", "spc_aad_addr", "spc_auth_res_addr", "spc_auth_res_sz"],
    ),
    (
        "REQ_COMP_PARAM_FIELDS",
        comp.REQ_COMP_PARAM_FIELDS,
        comp.REQ_COMP_LEN_OFFSET,
        comp.icp_qat_fw_comp_req,
        0,
        [
            "comp_pars.comp_len",
            "comp_pars.out_buffer_sz",
            "comp_pars.initial_crc32",
            "comp_pars.initial_adler",
            "comp_pars.req_par_flags",
        ],
    ),
    (
        "RESP_COMP_PARAM_FIELDS",
        comp.RESP_COMP_PARAM_FIELDS,
        comp.RESP_COMP_PARS_OFFSET,
        comp.icp_qat_fw_comp_resp,
        0,
        [
            "comp_resp_pars.input_byte_counter",
            "comp_resp_pars.output_byte_counter",
            "comp_resp_pars.curr_crc32",
            "comp_resp_pars.curr_adler_32",
        ],
    ),
    (
        "SGL_NUM_BUFS_FIELD",
        sgl.SGL_NUM_BUFS_FIELD,
        sgl.SGL_NUM_BUFS_OFFSET,
        sgl.qat_alg_buf_list,
        0,
        ["num_bufs"],
    ),
    (
        "SGL_COUNT_FIELDS",
        sgl.SGL_COUNT_FIELDS,
        sgl.SGL_NUM_BUFS_OFFSET,
        sgl.qat_alg_buf_list,
        0,
        ["num_bufs", "num_mapped_bufs"],
    ),
    ("SGL_ENTRY_FIELDS", sgl.SGL_ENTRY_FIELDS, 0, sgl.qat_alg_buf, 0, ["len", "addr"]),
    ("CIPHER_CONFIG_FIELD", hw.CIPHER_CONFIG_FIELD, 0, hw.icp_qat_hw_cipher_config, 0, ["val"]),
    (
        "CIPHER_CONFIG_UPPER_FIELD",
        hw.CIPHER_CONFIG_UPPER_FIELD,
        hw.CIPHER_CONFIG_UPPER_OFFSET,
        hw.icp_qat_hw_ucs_cipher_config,
        0,
        ["reserved[0]"],
    ),
    (
        "AUTH_CONFIG_FIELD",
        hw.AUTH_CONFIG_FIELD,
        0,
        hw.icp_qat_hw_auth_setup,
        0,
        ["auth_config.config"],
    ),
]
# Words stored big-endian: the ctypes field holds the byte-swapped value.
BIG_ENDIAN_RUNS: list[tuple[str, struct.Struct, int, Any, int, list[str]]] = [
    (
        "REQ_SLICE_CFG_FIELDS",
        comp.REQ_SLICE_CFG_FIELDS,
        comp.REQ_SLICE_CFG_LOWER_OFFSET,
        comp.icp_qat_fw_comp_req,
        0,
        ["cd_pars.sl.comp_slice_cfg_word[0]", "cd_pars.sl.comp_slice_cfg_word[1]"],
    ),
    (
        "AUTH_COUNTER_FIELD",
        hw.AUTH_COUNTER_FIELD,
        hw.AUTH_COUNTER_OFFSET,
        hw.icp_qat_hw_auth_setup,
        0,
        ["auth_counter.counter"],
    ),
]


def _ctypes_value(obj: Any, path: str) -> Any:
    """The value of a dotted path (``name[i]`` indexes an array).

    Aggregates, and fields marked ``!raw`` (read as bytes by the run), give their bytes.
    """
    path, raw, _ = path.partition("!raw")
    for step in path.split("."):
        name, _, index = step.partition("[")
        parent, obj = obj, getattr(obj, name)
        if index:
            obj = obj[int(index.rstrip("]"))]
    if raw:
        field = getattr(type(parent), name)
        return ctypes.string_at(ctypes.addressof(parent) + field.offset, field.size)
    if isinstance(obj, ctypes.Array | ctypes.Structure | ctypes.Union):
        return bytes(obj)
    return obj


def _bswap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _random_message(seed: str) -> bytes:
    return random.Random(seed).randbytes(256)


_RUN_ARGS = ("name", "run", "start", "layout", "base", "paths")


@pytest.mark.parametrize(_RUN_ARGS, RUNS, ids=[r[0] for r in RUNS])
def test_a_field_run_reads_the_ctypes_fields_it_names(
    name: str, run: struct.Struct, start: int, layout: Any, base: int, paths: list[str]
) -> None:
    message = _random_message(name)
    view = layout.from_buffer_copy(message, base)
    assert run.unpack_from(message, start) == tuple(_ctypes_value(view, p) for p in paths)


@pytest.mark.parametrize(_RUN_ARGS, BIG_ENDIAN_RUNS, ids=[r[0] for r in BIG_ENDIAN_RUNS])
def test_a_big_endian_run_reads_the_byte_swapped_fields(
    name: str, run: struct.Struct, start: int, layout: Any, base: int, paths: list[str]
) -> None:
    message = _random_message(name)
    view = layout.from_buffer_copy(message, base)
    expected = tuple(_bswap32(_ctypes_value(view, p)) for p in paths)
    assert run.unpack_from(message, start) == expected


def test_an_sgl_entry_run_is_one_entry_long() -> None:  # iter_unpack walks entries by it
    assert sgl.SGL_ENTRY_FIELDS.size == sgl.SGL_ENTRY_SZ


def test_a_whole_response_run_is_one_response_long() -> None:
    assert common.RESPONSE_FIELDS.size == common.RESP_DEFAULT_SZ


# --- the known-answer request (docs/hardware.md#known-answers) ---------------------------

KNOWN_CBC_REQUEST = bytes.fromhex(
    "00000480040000000010000001000000"
    "00000300000000008877665544332211"
    "00200000010000000020000001000000"
    "10000000100000000000000010000000"
    "000102030405060708090a0b0c0d0e0f"
    "00000000000000000000000000000000"
    "00000000000000000000000002020041"
    "00000000000000000000000000000000"
)
KNOWN_RESPONSE = bytes.fromhex(
    "0001048000000000"  # resrvd1, service_id, response_type, hdr_flags, codes, status, cmd
    "8877665544332211"  # opaque_data
    "00000000000000000000000000000000"
)


def test_the_runs_read_the_known_answer_cbc_request() -> None:
    req = KNOWN_CBC_REQUEST
    # command CIPHER, service LA, valid, IV inline, flat, CD by address, no ext flags
    assert common.REQ_HEADER_FIELDS.unpack_from(req, common.REQ_CMD_ID_OFFSET) == (
        0, 4, 0x80, 0x0004, 0, 0,
    )  # fmt: skip
    assert common.REQ_CD_FIELDS.unpack_from(req, common.REQ_CD_ADDR_OFFSET) == (0x100001000, 3)
    assert common.REQ_MID_FIELDS.unpack_from(req, common.REQ_OPAQUE_OFFSET) == (
        0x1122334455667788, 0x100002000, 0x100002000, 16, 16,
    )  # fmt: skip
    assert la.REQ_CIPHER_REGION_FIELDS.unpack_from(req, la.REQ_CIPHER_OFF_OFFSET) == (0, 16)
    iv = la.REQ_CIPHER_IV_OFFSET
    assert req[iv : iv + la.REQ_CIPHER_IV_SZ] == bytes(range(16))
    assert req[la.CD_CTRL_OFFSET : la.CD_CTRL_OFFSET + 4] == bytes.fromhex("02020041")


def test_the_response_run_packs_the_known_answer_response() -> None:
    opaque = bytes.fromhex("8877665544332211")
    packed = common.RESPONSE_FIELDS.pack(0, 1, 4, 0x80, 0, 0, 0, 0, opaque, b"")
    assert packed == KNOWN_RESPONSE
    assert common.RESP_ERROR_FIELDS.unpack_from(
        bytes.fromhex("000109c0f5ef2002"), common.RESP_XLAT_ERR_OFFSET
    ) == (-11, -17)


def test_the_gcm_aad_length_is_big_endian_in_state2_bytes_16_to_19() -> None:
    # docs/hardware.md#content-descriptors, AES-GCM two-pass: H (16) then len(A)
    state2 = bytes(16) + bytes.fromhex("00000114") + bytes(20)
    assert hw.GALOIS_AAD_LEN_FIELD.unpack_from(state2, hw.GALOIS_LEN_A_OFFSET) == (0x114,)
