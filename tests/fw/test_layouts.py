"""Every firmware layout pinned against the published offsets.

The tables below are transcribed from docs/hardware.md (#request-header, #la-request with
its parameters and cd_ctrl, #response, #sgl, the auth setup of #content-descriptors,
#comp-request), which name the kernel, DPDK and qatlib
headers. They are written out by hand, not computed from our structures, so a mistake
in a structure cannot cancel itself out.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pytest

from qathw.fw import common, comp, hw, la, sgl
from qathw.fw.dtypes import numpy_dtype


def field_span(cls: Any, path: str) -> tuple[int, int]:
    """Absolute (offset, size) of a dotted field path inside ``cls``."""
    offset = 0
    ctype = cls
    for name in path.split("."):
        desc = getattr(ctype, name)
        offset += desc.offset
        ctype = dict((f[0], f[1]) for f in ctype._fields_)[name]
    return offset, desc.size


SIZES = [
    (common.icp_qat_fw_comn_req_hdr, 8),
    (common.icp_qat_fw_comn_req_hdr_cd_pars, 16),
    (common.icp_qat_fw_comn_req_mid, 32),
    (common.icp_qat_fw_comn_req, 128),
    (common.icp_qat_fw_comn_resp_hdr, 8),
    (common.icp_qat_fw_comn_resp, 32),
    (la.icp_qat_fw_la_bulk_req, 128),
    (la.icp_qat_fw_la_cipher_req_params, 24),
    (la.icp_qat_fw_la_cipher_auth_cd_ctrl_hdr, 20),
    # C packs the auth parameters to 28 bytes; ours has 4 bytes of tail padding (la.py note).
    (la.icp_qat_fw_la_auth_req_params, 32),
    (la.icp_qat_fw_la_cipher_20_req_params, 56),
    (hw.icp_qat_hw_cipher_config, 8),
    (hw.icp_qat_hw_ucs_cipher_config, 16),
    (hw.icp_qat_hw_auth_setup, 16),
    (comp.icp_qat_fw_comp_req, 128),
    (comp.icp_qat_fw_comp_req_params, 24),
    (comp.icp_qat_fw_comp_cd_hdr, 24),
    (comp.icp_qat_fw_comp_resp, 32),
    (sgl.qat_alg_buf_list, 16),
    (sgl.qat_alg_buf, 16),
]


@pytest.mark.parametrize(("cls", "size"), SIZES, ids=[c.__name__ for c, _ in SIZES])
def test_size(cls: Any, size: int) -> None:
    assert ctypes.sizeof(cls) == size


LA_REQUEST = [  # (field path, byte offset, size) — docs/hardware.md#request-header and #la-request
    ("comn_hdr.resrvd1", 0, 1),
    ("comn_hdr.service_cmd_id", 1, 1),
    ("comn_hdr.service_type", 2, 1),
    ("comn_hdr.hdr_flags", 3, 1),
    ("comn_hdr.serv_specif_flags", 4, 2),
    ("comn_hdr.comn_req_flags", 6, 1),
    ("comn_hdr.ext_flags", 7, 1),
    ("cd_pars.s.content_desc_addr", 8, 8),
    ("cd_pars.s.content_desc_resrvd1", 16, 2),
    ("cd_pars.s.content_desc_params_sz", 18, 1),
    ("cd_pars.s.content_desc_hdr_resrvd2", 19, 1),
    ("cd_pars.s.content_desc_resrvd3", 20, 4),
    ("cd_pars.s1.serv_specif_fields", 8, 16),
    ("comn_mid.opaque_data", 24, 8),
    ("comn_mid.src_data_addr", 32, 8),
    ("comn_mid.dest_data_addr", 40, 8),
    ("comn_mid.src_length", 48, 4),
    ("comn_mid.dst_length", 52, 4),
    ("serv_specif_rqpars", 56, 52),
    ("cd_ctrl", 108, 20),
    ("cd_ctrl.cipher_state_sz", 108, 1),
    ("cd_ctrl.cipher_key_sz", 109, 1),
    ("cd_ctrl.cipher_cfg_offset", 110, 1),
    ("cd_ctrl.next_curr_id_cipher", 111, 1),
    ("cd_ctrl.cipher_padding_sz", 112, 1),
    ("cd_ctrl.hash_flags", 113, 1),
    ("cd_ctrl.hash_cfg_offset", 114, 1),
    ("cd_ctrl.next_curr_id_auth", 115, 1),
    ("cd_ctrl.resrvd1", 116, 1),
    ("cd_ctrl.outer_prefix_sz", 117, 1),
    ("cd_ctrl.final_sz", 118, 1),
    ("cd_ctrl.inner_res_sz", 119, 1),
    ("cd_ctrl.resrvd2", 120, 1),
    ("cd_ctrl.inner_state1_sz", 121, 1),
    ("cd_ctrl.inner_state2_offset", 122, 1),
    ("cd_ctrl.inner_state2_sz", 123, 1),
    ("cd_ctrl.outer_config_offset", 124, 1),
    ("cd_ctrl.outer_state1_sz", 125, 1),
    ("cd_ctrl.outer_res_sz", 126, 1),
    ("cd_ctrl.outer_prefix_offset", 127, 1),
]


@pytest.mark.parametrize(("path", "offset", "size"), LA_REQUEST)
def test_la_bulk_request_fields(path: str, offset: int, size: int) -> None:
    assert field_span(la.icp_qat_fw_la_bulk_req, path) == (offset, size)


CIPHER_PARAMS = [  # request offset minus 56 — docs/hardware.md#la-request
    ("cipher_offset", 56, 4),
    ("cipher_length", 60, 4),
    ("u.cipher_IV_array", 64, 16),
    ("u.s.cipher_IV_ptr", 64, 8),
]


@pytest.mark.parametrize(("path", "offset", "size"), CIPHER_PARAMS)
def test_cipher_params_at_byte_56(path: str, offset: int, size: int) -> None:
    rel, length = field_span(la.icp_qat_fw_la_cipher_req_params, path)
    assert (la.CIPHER_REQ_PARAMS_OFFSET + rel, length) == (offset, size)


AUTH_PARAMS = [  # docs/hardware.md#la-request
    ("auth_off", 80, 4),
    ("auth_len", 84, 4),
    ("u1.auth_partial_st_prefix", 88, 8),
    ("u1.aad_adr", 88, 8),
    ("auth_res_addr", 96, 8),
    ("u2.inner_prefix_sz", 104, 1),
    ("u2.aad_sz", 104, 1),
    ("resrvd1", 105, 1),
    ("hash_state_sz", 106, 1),
    ("auth_res_sz", 107, 1),
]


@pytest.mark.parametrize(("path", "offset", "size"), AUTH_PARAMS)
def test_auth_params_at_byte_80(path: str, offset: int, size: int) -> None:
    rel, length = field_span(la.icp_qat_fw_la_auth_req_params, path)
    assert (la.AUTH_REQ_PARAMS_OFFSET + rel, length) == (offset, size)


def test_auth_params_own_28_bytes_ending_at_cd_ctrl() -> None:
    assert la.AUTH_REQ_PARAMS_OFFSET + la.AUTH_REQ_PARAMS_SZ == la.CD_CTRL_OFFSET


CIPHER_20_PARAMS = [  # docs/hardware.md#la-request, gen4 UCS single pass
    ("cipher_offset", 56, 4),
    ("cipher_length", 60, 4),
    ("u.cipher_IV_array", 64, 16),
    ("spc_aad_offset", 80, 4),
    ("spc_aad_sz", 84, 4),
    ("spc_aad_addr", 88, 8),
    ("spc_auth_res_addr", 96, 8),
    ("spc_auth_res_sz", 107, 1),
]


@pytest.mark.parametrize(("path", "offset", "size"), CIPHER_20_PARAMS)
def test_cipher_20_params_at_byte_56(path: str, offset: int, size: int) -> None:
    rel, length = field_span(la.icp_qat_fw_la_cipher_20_req_params, path)
    assert (la.CIPHER_REQ_PARAMS_OFFSET + rel, length) == (offset, size)


RESPONSE = [  # docs/hardware.md#response
    ("comn_hdr.resrvd1", 0, 1),
    ("comn_hdr.service_id", 1, 1),
    ("comn_hdr.response_type", 2, 1),
    ("comn_hdr.hdr_flags", 3, 1),
    ("comn_hdr.comn_error.xlat_err_code", 4, 1),
    ("comn_hdr.comn_error.cmp_err_code", 5, 1),
    ("comn_hdr.comn_status", 6, 1),
    ("comn_hdr.cmd_id", 7, 1),
    ("opaque_data", 8, 8),
    ("resrvd", 16, 16),
]


@pytest.mark.parametrize(("path", "offset", "size"), RESPONSE)
def test_response_fields(path: str, offset: int, size: int) -> None:
    assert field_span(common.icp_qat_fw_comn_resp, path) == (offset, size)


COMP_REQUEST = [  # docs/hardware.md#comp-request
    ("comn_hdr.service_type", 2, 1),
    ("cd_pars.sl.comp_slice_cfg_word", 8, 8),
    ("comn_mid.opaque_data", 24, 8),
    ("comn_mid.src_data_addr", 32, 8),
    ("comn_mid.dest_data_addr", 40, 8),
    ("comn_mid.src_length", 48, 4),
    ("comn_mid.dst_length", 52, 4),
    ("comp_pars.comp_len", 56, 4),
    ("comp_pars.out_buffer_sz", 60, 4),
    ("comp_pars.initial_crc32", 64, 4),
    ("comp_pars.initial_adler", 68, 4),
    ("comp_pars.req_par_flags", 72, 4),
    ("comp_pars.rsrvd", 76, 4),
    ("u1.xlt_pars.inter_buff_ptr", 80, 8),
    ("u3", 88, 8),
    ("comp_cd_ctrl.ram_bank_flags", 96, 2),
    ("comp_cd_ctrl.comp_cfg_offset", 98, 1),
    ("comp_cd_ctrl.next_curr_id", 99, 1),
    ("comp_cd_ctrl.comp_state_addr", 104, 8),
    ("comp_cd_ctrl.ram_banks_addr", 112, 8),
    ("u2.xlt_cd_ctrl.next_curr_id", 123, 1),
]


@pytest.mark.parametrize(("path", "offset", "size"), COMP_REQUEST)
def test_comp_request_fields(path: str, offset: int, size: int) -> None:
    assert field_span(comp.icp_qat_fw_comp_req, path) == (offset, size)


COMP_RESPONSE = [
    ("opaque_data", 8, 8),
    ("comp_resp_pars.input_byte_counter", 16, 4),
    ("comp_resp_pars.output_byte_counter", 20, 4),
    ("comp_resp_pars.curr_crc32", 24, 4),
    ("comp_resp_pars.curr_adler_32", 28, 4),
]


@pytest.mark.parametrize(("path", "offset", "size"), COMP_RESPONSE)
def test_comp_response_fields(path: str, offset: int, size: int) -> None:
    assert field_span(comp.icp_qat_fw_comp_resp, path) == (offset, size)


SGL = [  # docs/hardware.md#sgl
    (sgl.qat_alg_buf_list, "resrvd", 0, 8),
    (sgl.qat_alg_buf_list, "num_bufs", 8, 4),
    (sgl.qat_alg_buf_list, "num_mapped_bufs", 12, 4),
    (sgl.qat_alg_buf, "len", 0, 4),
    (sgl.qat_alg_buf, "resrvd", 4, 4),
    (sgl.qat_alg_buf, "addr", 8, 8),
]


@pytest.mark.parametrize(("cls", "path", "offset", "size"), SGL)
def test_sgl_fields(cls: Any, path: str, offset: int, size: int) -> None:
    assert field_span(cls, path) == (offset, size)


def test_sgl_entry_i_starts_at_16_plus_16i() -> None:
    assert sgl.sgl_size(0) == 16 and sgl.sgl_size(3) == 64


AUTH_SETUP = [  # docs/hardware.md#content-descriptors
    ("auth_config.config", 0, 4),
    ("auth_config.reserved", 4, 4),
    ("auth_counter.counter", 8, 4),
    ("auth_counter.reserved", 12, 4),
]


@pytest.mark.parametrize(("path", "offset", "size"), AUTH_SETUP)
def test_auth_setup_fields(path: str, offset: int, size: int) -> None:
    assert field_span(hw.icp_qat_hw_auth_setup, path) == (offset, size)


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "algo", "convert", "direction", "value"),
    [  # docs/hardware.md#content-descriptors, table "config enc / dec"
        (hw.CipherMode.CBC, hw.CipherAlgo.AES128, 0, 0, 0x013),
        (hw.CipherMode.CBC, hw.CipherAlgo.AES128, 1, 1, 0x313),
        (hw.CipherMode.CBC, hw.CipherAlgo.AES256, 1, 1, 0x315),
        (hw.CipherMode.CTR, hw.CipherAlgo.AES128, 0, 0, 0x023),
        (hw.CipherMode.XTS, hw.CipherAlgo.AES128, 1, 1, 0x363),
        (hw.CipherMode.CBC, hw.CipherAlgo.TDES, 0, 0, 0x012),
        (hw.CipherMode.CBC, hw.CipherAlgo.DES, 1, 1, 0x311),
    ],
)
def test_cipher_config_words(
    mode: hw.CipherMode, algo: hw.CipherAlgo, convert: int, direction: int, value: int
) -> None:
    assert hw.cipher_config(mode, algo, hw.CipherConvert(convert), hw.CipherDir(direction)) == value


def test_single_pass_gcm_config_carries_tag_length() -> None:
    # enc 0x043 | (tag_len << 10), docs/hardware.md#content-descriptors
    assert hw.cipher_config(hw.CipherMode.AEAD, hw.CipherAlgo.AES128, aead_hash_cmp_len=16) == (
        0x043 | 16 << 10
    )


@pytest.mark.parametrize(
    ("mode", "algo", "cmp_len", "value"),
    [  # docs/hardware.md#content-descriptors (auth setup block, worked values)
        (hw.AuthMode.MODE0, hw.AuthAlgo.SHA256, 32, 0x00002004),
        (hw.AuthMode.MODE1, hw.AuthAlgo.SHA256, 32, 0x00002014),
        (hw.AuthMode.MODE1, hw.AuthAlgo.SHA3_256, 32, (1 << 22) | 0x2011),
    ],
)
def test_auth_config_words(mode: hw.AuthMode, algo: hw.AuthAlgo, cmp_len: int, value: int) -> None:
    assert hw.auth_config(mode, algo, cmp_len) == value
    assert hw.auth_config_algo(value) == algo


def test_la_flags_of_the_known_answer_cbc_request() -> None:
    assert la.la_flags(iv_inline=True) == 0x0004


def test_gcm_decrypt_flags() -> None:
    flags = la.la_flags(gcm_iv_len_12=True, proto=la.PROTO_GCM, cmp_auth_res=True, iv_inline=True)
    assert flags == (1 << 11) | (2 << 7) | (1 << 6) | (1 << 2)


def test_next_curr_chains() -> None:  # docs/hardware.md#la-request
    s = common.Slice
    assert common.next_curr(s.DRAM_WR, s.CIPHER) == 0x41
    assert common.next_curr(s.AUTH, s.CIPHER) == 0x21
    assert common.next_curr(s.CIPHER, s.AUTH) == 0x12
    assert common.next_curr(s.DRAM_WR, s.COMP) == 0x45


def test_gen2_dynamic_compression_config_word() -> None:
    word = hw.compression_config(
        hw.CompressionDir.COMPRESS, True, hw.CompressionAlgo.DEFLATE, hw.CompressionDepth.DEPTH_1
    )
    assert word == 1 << 16


# --- golden messages -------------------------------------------------------------------

KNOWN_CBC_REQUEST = bytes.fromhex(  # docs/hardware.md#known-answers (synthesized from the tables)
    "00000480040000000010000001000000"
    "00000300000000008877665544332211"
    "00200000010000000020000001000000"
    "10000000100000000000000010000000"
    "000102030405060708090a0b0c0d0e0f"
    "00000000000000000000000000000000"
    "00000000000000000000000002020041"
    "00000000000000000000000000000000"
)


def test_known_answer_aes_cbc_request_builds_byte_for_byte() -> None:
    req = la.icp_qat_fw_la_bulk_req()
    req.comn_hdr.service_cmd_id = la.LaCmd.CIPHER
    req.comn_hdr.service_type = common.ServiceType.LA
    req.comn_hdr.hdr_flags = common.HDR_FLAG_VALID
    req.comn_hdr.serv_specif_flags = la.la_flags(iv_inline=True)
    req.comn_hdr.comn_req_flags = common.comn_req_flags(
        common.CD_FLD_TYPE_64BIT_ADR, common.PTR_TYPE_FLAT
    )
    req.cd_pars.s.content_desc_addr = 0x100001000
    req.cd_pars.s.content_desc_params_sz = 3
    req.comn_mid.opaque_data = 0x1122334455667788
    req.comn_mid.src_data_addr = req.comn_mid.dest_data_addr = 0x100002000
    req.comn_mid.src_length = req.comn_mid.dst_length = 16
    params = la.icp_qat_fw_la_cipher_req_params.from_buffer(req, la.CIPHER_REQ_PARAMS_OFFSET)
    params.cipher_offset, params.cipher_length = 0, 16
    ctypes.memmove(ctypes.addressof(params.u), bytes(range(16)), 16)
    req.cd_ctrl.cipher_state_sz = req.cd_ctrl.cipher_key_sz = 2
    req.cd_ctrl.next_curr_id_cipher = common.next_curr(common.Slice.DRAM_WR, common.Slice.CIPHER)
    del params
    assert bytes(req) == KNOWN_CBC_REQUEST


def test_known_answer_cd_for_aes_128_cbc() -> None:
    cfg = hw.icp_qat_hw_cipher_config(val=hw.cipher_config(hw.CipherMode.CBC, hw.CipherAlgo.AES128))
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert (bytes(cfg) + key).hex() == "1300000000000000" + key.hex()


def test_null_request_is_the_dpdk_probe() -> None:
    req = common.null_request(0xABCD)
    assert len(req) == 128
    assert req[:4] == bytes([0x00, 0x01, 0x00, 0x80])
    assert int.from_bytes(req[24:32], "little") == 0xABCD


# --- numpy dtypes ----------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "size"), SIZES, ids=[c.__name__ for c, _ in SIZES])
def test_numpy_dtype_matches_ctypes(cls: Any, size: int) -> None:
    dt = numpy_dtype(cls)
    assert dt.itemsize == size
    for entry in cls._fields_:
        name = entry[0]
        assert dt.fields is not None
        assert dt.fields[name][1] == getattr(cls, name).offset


def test_numpy_batch_reads_what_ctypes_wrote() -> None:
    req = common.icp_qat_fw_comn_req()
    req.comn_mid.opaque_data = 0xDEADBEEF
    req.cd_pars.s.content_desc_addr = 0x1234
    arr = np.frombuffer(bytes(req) * 3, dtype=numpy_dtype(common.icp_qat_fw_comn_req))
    assert list(arr["comn_mid"]["opaque_data"]) == [0xDEADBEEF] * 3
    assert list(arr["cd_pars"]["s"]["content_desc_addr"]) == [0x1234] * 3
