"""Per-operation request fields: where each goes, and what the host refuses to send."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.service import cd
from qathw.service import wire as ops

D = cd.Direction
CBC = cd.cipher_session("aes-128-cbc", bytes(16), D.ENCRYPT)


def test_sgl_descriptor_layout_follows_the_published_one() -> None:
    desc = ops.sgl_descriptor([(0x1000, 100), (0x2_0000_0000, 28)])
    assert len(desc) == 16 + 2 * 16
    assert desc[:8] == bytes(8) and struct.unpack_from("<I", desc, 8)[0] == 2
    assert struct.unpack_from("<I4xQ", desc, 16) == (100, 0x1000)
    assert struct.unpack_from("<I4xQ", desc, 32) == (28, 0x2_0000_0000)


def test_sgl_sets_the_pointer_type_and_flat_clears_it() -> None:
    sgl = ops.la_request(CBC, 0x100, opaque=1, src=ops.Sgl(0x2000, 32), iv=bytes(16))
    assert sgl[6] & 1 == 1 and struct.unpack_from("<QQII", sgl, 32) == (0x2000, 0x2000, 32, 32)
    flat = ops.la_request(
        CBC, 0x100, opaque=1, src=ops.Flat(0x3000, 32), dst=ops.Flat(0x4000, 32), iv=bytes(16)
    )
    assert flat[6] & 1 == 0 and struct.unpack_from("<QQ", flat, 32) == (0x3000, 0x4000)


def test_iv_by_pointer_clears_the_inline_flag_and_writes_the_address() -> None:
    req = ops.la_request(CBC, 0x100, opaque=1, src=ops.Flat(0x3000, 16), iv_iova=0x5000)
    assert (struct.unpack_from("<H", req, 4)[0] >> 2) & 1 == 0
    assert struct.unpack_from("<QQ", req, 64) == (0x5000, 0)


def test_digest_and_aad_addresses_land_at_88_and_96() -> None:
    g = cd.gcm_session("aes-128-gcm", bytes(16), D.ENCRYPT, aad_size=8, single_pass=False)
    req = ops.la_request(
        g,
        0x100,
        opaque=1,
        src=ops.Flat(0x3000, 32),
        iv=bytes(12),
        aad_iova=0x6000,
        digest_iova=0x7000,
    )
    assert struct.unpack_from("<IIQQ", req, 80) == (
        0,
        32,
        0x6000,
        0x7000,
    )  # auth region = cipher region


def test_ucs_xts_sends_the_tweak_encrypted_with_key2() -> None:
    key = bytes(range(32))
    s = cd.cipher_session("aes-128-xts", key, D.ENCRYPT, form=cd.SliceForm.UCS)
    assert s.template[109] == 2  # only key1 goes to the device
    tweak = bytes(range(16))
    req = ops.la_request(s, 0x100, opaque=1, src=ops.Flat(0x3000, 32), iv=tweak)
    want = Cipher(algorithms.AES(key[16:]), modes.ECB()).encryptor().update(tweak)
    assert req[64:80] == want


def test_compression_request_lengths() -> None:
    s = cd.compression_session(cd.CompDirection.COMPRESS)
    req = ops.comp_request(
        s, opaque=3, src=ops.Flat(0x1000, 500), dst=ops.Flat(0x2000, 600), input_length=400
    )
    assert struct.unpack_from("<II", req, 56) == (400, 600)


F16, F32, IV = ops.Flat(0x1000, 16), ops.Flat(0x1000, 32), bytes(16)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no IV", {"src": F16}, "an IV is needed"),
    ("short IV", {"src": F16, "iv": bytes(8)}, "the IV is 16 bytes"),
    ("both IV forms", {"src": F16, "iv": IV, "iv_iova": 8}, "not both"),
    ("partial block", {"src": ops.Flat(0x1000, 17), "iv": IV}, "whole 16-byte blocks"),
    ("mixed pointer types", {"src": F16, "dst": ops.Sgl(0x2000, 16), "iv": IV}, "both be flat"),
    (
        "region past the end",
        {"src": F32, "cipher_offset": 32, "cipher_length": 16, "iv": IV},
        "runs past",
    ),
    (
        "destination too small",
        {"src": F32, "dst": ops.Flat(0x2000, 16), "iv": IV},
        "destination has 16",
    ),
    ("a digest for a cipher", {"src": F16, "iv": IV, "digest_iova": 0x10}, "no digest"),
    ("an auth region for a cipher", {"src": F16, "iv": IV, "auth_length": 16}, "no auth region"),
    ("misaligned SGL", {"src": ops.Sgl(0x1004, 16), "iv": IV}, "8-byte aligned"),
]


@pytest.mark.parametrize(("what", "kw", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_operations_are_refused_before_sending(
    what: str, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ops.la_request(CBC, 0x100, opaque=1, **kw)


def test_auth_sessions_need_a_digest_address_unless_it_is_in_the_buffer() -> None:
    h = cd.auth_session("hmac-sha1", b"k")
    with pytest.raises(ValueError, match="digest_iova is needed"):
        ops.la_request(h, 0x100, opaque=1, src=ops.Flat(0x1000, 32))
    inbuf = cd.auth_session("hmac-sha1", b"k", digest_in_buffer=True)
    with pytest.raises(ValueError, match="need 52 bytes"):
        ops.la_request(inbuf, 0x100, opaque=1, src=ops.Flat(0x1000, 40), auth_length=32)


def test_gcm_needs_its_aad() -> None:
    g = cd.gcm_session("aes-128-gcm", bytes(16), D.ENCRYPT, aad_size=8)
    with pytest.raises(ValueError, match="aad_iova is needed"):
        ops.la_request(g, 0x100, opaque=1, src=ops.Flat(0x1000, 32), iv=bytes(12), digest_iova=0x10)


def test_compression_is_out_of_place_and_within_its_buffers() -> None:
    s = cd.compression_session(cd.CompDirection.COMPRESS)
    with pytest.raises(ValueError, match="out of place"):
        ops.comp_request(s, opaque=1, src=ops.Flat(0x1000, 16), dst=ops.Flat(0x1000, 16))
    with pytest.raises(ValueError, match="exceeds the source"):
        ops.comp_request(
            s, opaque=1, src=ops.Flat(0x1000, 16), dst=ops.Flat(0x2000, 16), input_length=17
        )


def test_sgl_entry_limits() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        ops.sgl_descriptor([])
    ops.sgl_descriptor([(0x1000, 1)] * 255)
    with pytest.raises(ValueError, match="at most 255"):  # qatlib: below 256 (MAX_SGL_BUFFERS)
        ops.sgl_descriptor([(0x1000, 1)] * 256)
    with pytest.raises(ValueError, match="SGL entry length"):
        ops.sgl_descriptor([(0x1000, 1 << 32)])
