"""Content descriptors and request templates, pinned byte for byte against the published values.

Expected bytes are written out by hand from docs/hardware.md (#content-descriptors:
per-algorithm configs, auth setup and state sizes, GCM, worked values; #comp-request;
#known-answers: the worked AES-128-CBC request), not computed from our builders.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.service import algorithms as catalogue
from qathw.service import cd, offers
from qathw.service import wire as ops

D = cd.Direction
KEY16 = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")


def u16(b: bytes, off: int) -> int:
    return int(struct.unpack_from("<H", b, off)[0])


def u32(b: bytes, off: int) -> int:
    return int(struct.unpack_from("<I", b, off)[0])


def test_aes128_cbc_request_is_the_published_known_answer() -> None:
    s = cd.cipher_session("aes-128-cbc", KEY16, D.ENCRYPT)
    req = ops.la_request(
        s,
        0x100001000,
        opaque=0x1122334455667788,
        src=ops.Flat(0x100002000, 16),
        iv=bytes(range(16)),
    )
    expected = bytes.fromhex(
        "00000480040000000010000001000000"
        "00000300000000008877665544332211"
        "00200000010000000020000001000000"
        "10000000100000000000000010000000"
        "000102030405060708090a0b0c0d0e0f"
        "00000000000000000000000000000000"
        "00000000000000000000000002020041"
        "00000000000000000000000000000000"
    )
    assert bytes(req) == expected
    assert s.cd == bytes.fromhex("1300000000000000") + KEY16


@pytest.mark.parametrize(
    ("name", "key_len", "enc", "dec", "key_qw", "state_qw"),
    [
        ("aes-128-cbc", 16, 0x013, 0x313, 2, 2),
        ("aes-192-cbc", 24, 0x014, 0x314, 3, 2),
        ("aes-256-cbc", 32, 0x015, 0x315, 4, 2),
        ("3des-cbc", 24, 0x012, 0x312, 3, 1),
        ("des-cbc", 8, 0x011, 0x311, 1, 1),
        ("aes-128-xts", 32, 0x063, 0x363, 4, 2),
        ("aes-256-xts", 64, 0x065, 0x365, 8, 2),
    ],
)
def test_legacy_cipher_configs_follow_the_published_table(
    name: str, key_len: int, enc: int, dec: int, key_qw: int, state_qw: int
) -> None:
    key = bytes(range(1, key_len + 1))
    for direction, config in ((D.ENCRYPT, enc), (D.DECRYPT, dec)):
        s = cd.cipher_session(name, key, direction, offer=offers.GEN2)  # all legacy on gen2
        assert u32(s.cd, 0) == config
        assert s.cd[8 : 8 + key_len] == key  # legacy: 8-byte config, then the key
        assert s.template[108] == state_qw and s.template[109] == key_qw
        assert (u16(s.template, 4) >> 14) & 3 == 0  # SLICE_TYPE legacy


@pytest.mark.parametrize(("bits", "key_qw"), [(128, 2), (192, 4), (256, 4)])
def test_aes_ctr_uses_the_ucs_slice_and_always_encrypts(bits: int, key_qw: int) -> None:
    key = bytes(range(bits // 8))
    algo = {128: 3, 192: 4, 256: 5}[bits]
    for direction in D:
        s = cd.cipher_session(f"aes-{bits}-ctr", key, direction)
        assert u32(s.cd, 0) == 0x020 | algo
        assert s.cd[4:16] == bytes(12)  # 16-byte UCS config
        assert s.cd[16 : 16 + bits // 8] == key
        assert len(s.cd) == 16 + key_qw * 8  # key padded to 16
        assert s.template[109] == key_qw
        assert (u16(s.template, 4) >> 14) & 3 == 1  # SLICE_TYPE UCS


@pytest.mark.parametrize(
    ("key", "expanded"),
    [(b"A" * 8 + b"B" * 8, b"A" * 8 + b"B" * 8 + b"A" * 8), (b"C" * 8, b"C" * 24)],
)
def test_3des_short_keys_are_expanded_k1k2k1_and_k1k1k1(key: bytes, expanded: bytes) -> None:
    s = cd.cipher_session("3des-cbc", key, D.ENCRYPT, offer=offers.GEN2)
    assert s.cd[8:32] == expanded


def test_sha256_plain_cd_is_the_published_worked_example() -> None:
    s = cd.auth_session("sha256")
    assert u32(s.cd, 0) == 0x00002004
    assert s.cd[8:16] == bytes(8)  # counter 0
    assert s.cd[16:48] == bytes.fromhex(
        "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"
    )
    t = s.template
    assert t[18] == 6  # params_sz
    assert (t[114], t[115], t[118], t[119], t[121], t[122], t[123]) == (0, 0x42, 32, 32, 32, 6, 0)
    assert t[1] == 1 and (u16(t, 4) >> 5) & 1 == 1  # AUTH, RET_AUTH_RES


def test_hmac_sha256_cd_is_the_published_worked_example() -> None:
    s = cd.auth_session("hmac-sha256", b"\x0b" * 20)
    assert u32(s.cd, 0) == 0x00002014
    assert s.cd[8:12] == bytes.fromhex("00000040")  # BE(64)
    assert s.cd[16:48].hex() == "2bb2180423b95bf9b4e8258cfab5e65411f2921e4feb78ee9890e5fe64b78036"
    assert s.cd[48:80].hex() == "27e7739fd956258356d666e25f810de8ec5e4f8a553d4fb83cff20ba10234b40"
    assert s.template[18] == 10
    assert (s.template[122], s.template[123]) == (6, 32)


@pytest.mark.parametrize(
    ("name", "cd_bytes", "state2_qw", "state1_sz"),
    [("hmac-sha1", 64, 5, 24), ("hmac-sha256", 80, 6, 32), ("hmac-sha512", 144, 10, 64)],
)
def test_hmac_state_sizes_follow_the_published_table(
    name: str, cd_bytes: int, state2_qw: int, state1_sz: int
) -> None:
    s = cd.auth_session(name, b"key")
    assert len(s.cd) == cd_bytes
    assert s.template[122] == state2_qw and s.template[121] == state1_sz


def test_chain_cipher_then_hash_lays_out_cipher_block_first() -> None:
    s = cd.chain_session(
        "aes-128-cbc", KEY16, D.ENCRYPT, "hmac-sha1", b"k", order=cd.ChainOrder.CIPHER_THEN_HASH
    )
    t = s.template
    assert t[1] == 2  # CIPHER_HASH
    assert (t[110], t[111], t[114], t[115]) == (0, 0x21, 3, 0x42)
    assert u32(s.cd, 24) == 0x00001411  # SHA1 mode 1, 20-byte digest, at byte 24


def test_chain_hash_then_cipher_lays_out_hash_block_first() -> None:
    s = cd.chain_session(
        "aes-128-cbc",
        KEY16,
        D.DECRYPT,
        "hmac-sha256",
        b"k",
        order=cd.ChainOrder.HASH_THEN_CIPHER,
        verify=True,
    )
    t = s.template
    assert t[1] == 3  # HASH_CIPHER
    assert (t[114], t[115], t[110], t[111]) == (0, 0x12, 10, 0x41)
    assert u32(s.cd, 80) == 0x313
    assert (u16(t, 4) >> 6) & 1 == 1  # CMP_AUTH_RES


def test_gcm_single_pass_template() -> None:
    s = cd.gcm_session("aes-128-gcm", KEY16, D.ENCRYPT, tag_size=16, aad_size=20)
    t = s.template
    assert t[1] == 0  # CIPHER
    assert u16(t, 4) == (1 << 14) | (1 << 13) | (1 << 11) | (1 << 5) | (1 << 2)
    assert u32(s.cd, 0) == 0x043 | (16 << 10)
    assert u32(s.cd, 4) == 20 << 24  # AAD length in the upper word
    assert s.cd[16:32] == KEY16
    assert u32(t, 84) == 20 and t[107] == 16  # spc_aad_sz, spc_auth_res_sz
    dec = cd.gcm_session("aes-128-gcm", KEY16, D.DECRYPT, tag_size=12)
    assert u32(dec.cd, 0) == 0x143 | (12 << 10)
    assert (u16(dec.template, 4) >> 6) & 1 == 1  # CMP_AUTH_RES


def test_gcm_two_pass_template_and_galois_state_on_the_gen2_legacy_slice() -> None:
    s = cd.gcm_session(
        "aes-128-gcm", KEY16, D.ENCRYPT, aad_size=20, single_pass=False, offer=offers.GEN2
    )
    t = s.template
    assert t[1] == 2 and u16(t, 4) == (2 << 7) | (1 << 11) | (1 << 5) | (1 << 2)
    assert u32(s.cd, 0) == 0x023  # CTR, encrypt
    h = Cipher(algorithms.AES(KEY16), modes.ECB()).encryptor().update(bytes(16))
    auth = 24  # cipher block: 8 config + 16 key
    assert u32(s.cd, auth) == 0x0000101A  # GALOIS_128, mode 1, 16-byte tag
    assert s.cd[auth + 8 : auth + 12] == bytes.fromhex("00000010")
    state2 = auth + 16 + 16
    assert s.cd[state2 : state2 + 16] == h
    assert s.cd[state2 + 16 : state2 + 20] == bytes.fromhex("00000014")  # len(A), big-endian
    assert (t[104], t[106], t[107]) == (32, 4, 16)  # aad_sz rounded to 16, state qw, tag
    dec = cd.gcm_session(
        "aes-128-gcm", KEY16, D.DECRYPT, aad_size=20, single_pass=False, offer=offers.GEN2
    )
    assert dec.template[1] == 3 and dec.template[111] == 0x41 and dec.template[115] == 0x12


def test_two_pass_gcm_on_gen4_uses_the_ucs_slice() -> None:
    """DPDK (is_ucs for GALOIS_128 on gen4) and qatlib build the GCM cipher block on UCS."""
    s = cd.gcm_session("aes-192-gcm", KEY16 + KEY16[:8], D.ENCRYPT, single_pass=False)
    t = s.template
    assert (u16(t, 4) >> 14) & 3 == 1  # SLICE_TYPE UCS
    assert (u16(t, 4) >> 13) & 1 == 0  # not single pass
    assert u32(s.cd, 0) == 0x024  # CTR, AES-192, encrypt
    assert s.cd[4:16] == bytes(12)  # the 16-byte UCS config
    assert s.cd[16:40] == KEY16 + KEY16[:8] and s.cd[40:48] == bytes(8)  # key padded to 32
    assert t[109] == 4 and t[108] == 2  # cipher_key_sz, cipher_state_sz (quadwords)
    assert u32(s.cd, 48) == 0x0000101A  # the GALOIS_128 block follows at 48


def test_a_gcm_nonce_not_12_bytes_goes_two_pass_with_a_j0() -> None:
    """qatlib runs single pass for 12-byte IVs only; any other IV goes two-pass as J0."""
    s = cd.gcm_session("aes-128-gcm", KEY16, D.ENCRYPT, single_pass=True, nonce_size=8)
    assert s.template[1] == 2  # CIPHER_HASH: two-pass
    assert (u16(s.template, 4) >> 11) & 1 == 0  # GCM_IV_LEN_12 clear: the IV field is J0
    assert s.iv_size == 16


@pytest.mark.parametrize(
    ("huffman", "level", "cmd", "lower", "upper", "nxt"),
    [
        # static: SCB disabled, 0x80020503 in DPDK (qat_comp_pmd_gen4.c) and qatlib
        (catalogue.Huffman.STATIC, 6, 0, 0x3327, 0x80020503, 0x45),
        (catalogue.Huffman.DYNAMIC, 1, 1, 0x210F, 0x00020503, 0x65),
        (catalogue.Huffman.DYNAMIC, 9, 1, 0x2407, 0x00020503, 0x65),
    ],
)
def test_compression_template_carries_gen4_words_big_endian(
    huffman: catalogue.Huffman, level: int, cmd: int, lower: int, upper: int, nxt: int
) -> None:
    t = cd.compression_session(cd.CompDirection.COMPRESS, huffman=huffman, level=level).template
    assert (t[1], t[2], t[3], t[6]) == (cmd, 9, 0x80, 0x02)
    assert t[8:12] == lower.to_bytes(4, "big")
    assert t[12:16] == upper.to_bytes(4, "big")
    assert u32(t, 68) == 1  # initial Adler-32
    assert u32(t, 72) == 0x30043  # SOP EOP BFINAL CNV CNV_RECOVERY
    assert t[99] == nxt


def test_decompression_template() -> None:
    t = cd.compression_session(cd.CompDirection.DECOMPRESS).template
    assert t[1] == 2 and t[8:16] == bytes.fromhex("0000002000000000")
    assert u32(t, 72) == 0x30043  # SOP EOP BFINAL CNV CNV_RECOVERY, as DPDK and Linux send it
