"""Errors: bad arguments refused before anything is sent; device status kept in exceptions."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag

from qathw.errors import OutputOverflowError, RequestError, UnsupportedAlgorithmError
from qathw.fw.common import ErrCode, Status
from qathw.service import status
from qathw.service.algorithms import Huffman
from qathw.service.instance import CyInstance, DcInstance
from qathw.service.results import DcResult


def _sent(cy: CyInstance) -> int:
    return cy.channel.pair.submitted


@pytest.mark.parametrize(
    ("name", "key", "error", "text"),
    [
        ("aes-192-xts", bytes(48), UnsupportedAlgorithmError, "XTS is defined for 128- and 256"),
        ("chacha20-poly1305", bytes(32), UnsupportedAlgorithmError, "not implemented"),
        ("md5", b"", UnsupportedAlgorithmError, "MD5 is not offered; use sha256"),
        ("sha256", b"", UnsupportedAlgorithmError, "'sha256' is not a cipher"),
        ("aes-128-cbc", bytes(15), ValueError, "takes a 16-byte key, got 15"),
        ("aes-256-ctr", bytes(31), ValueError, "takes a 32-byte key"),
        # what the endpoint does not run is refused first, whatever the key
        ("des-cbc", bytes(16), UnsupportedAlgorithmError, r"des-cbc is not offered by .*\(gen4\)"),
        ("aes-256-xts", bytes(64), ValueError, "key halves must differ"),
        ("aes-128-cbc", "sixteen byte key", TypeError, "must be bytes-like"),
    ],
)
def test_an_unsupported_algorithm_or_key_is_refused_before_anything_is_sent(
    cy: CyInstance, name: str, key: object, error: type[Exception], text: str
) -> None:
    before = _sent(cy)
    with pytest.raises(error, match=text):
        cy.cipher(name, key)
    assert _sent(cy) == before


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda s: s.encrypt(b"x" * 15, bytes(16)), ValueError, "whole 16-byte blocks"),
        (lambda s: s.encrypt(b"x" * 16, bytes(8)), ValueError, "16-byte IV, got 8"),
        (lambda s: s.encrypt("text", bytes(16)), TypeError, "not str"),
        (lambda s: s.encrypt(12345, bytes(16)), TypeError, "not int"),
        (lambda s: s.encrypt(b"x" * 16, bytes(16), out=bytearray(16)), TypeError, "alloc"),
    ],
)
def test_bad_op_arguments_are_refused_before_anything_is_sent(
    cy: CyInstance, call: object, error: type[Exception], text: str
) -> None:
    s = cy.cipher("aes-128-cbc", bytes(16))
    before = _sent(cy)
    with pytest.raises(error, match=text):
        call(s)  # type: ignore[operator]
    assert _sent(cy) == before


def test_gcm_limits_are_checked_before_sending(cy: CyInstance) -> None:
    g = cy.aead("aes-128-gcm", bytes(16))
    before = _sent(cy)
    with pytest.raises(ValueError, match="between 1 and 128 bytes"):
        g.encrypt(bytes(129), b"data")
    with pytest.raises(ValueError, match="at most 240 bytes"):
        g.encrypt(bytes(12), b"data", bytes(241))
    with pytest.raises(InvalidTag):  # as cryptography: too short to carry a tag
        g.decrypt(bytes(12), bytes(15))
    with pytest.raises(ValueError, match="tags are"):
        cy.aead("aes-128-gcm", bytes(16), tag_size=9)
    assert _sent(cy) == before


def test_a_wrong_gcm_tag_raises_invalid_tag_like_cryptography(cy: CyInstance) -> None:
    g = cy.aead("aes-256-gcm", bytes(32))
    sealed = g.encrypt(bytes(12), b"attack at dawn", b"hdr")
    for corrupt in (
        sealed[:-1] + bytes([sealed[-1] ^ 1]),  # tag
        bytes([sealed[0] ^ 1]) + sealed[1:],  # ciphertext
    ):
        with pytest.raises(InvalidTag):
            g.decrypt(bytes(12), corrupt, b"hdr")
    with pytest.raises(InvalidTag):
        g.decrypt(bytes(12), sealed, b"other header")
    assert g.decrypt(bytes(12), sealed, b"hdr") == b"attack at dawn"


def test_a_wrong_hmac_raises_invalid_signature_like_cryptography(cy: CyInstance) -> None:
    h = cy.hmac("sha256", b"key")
    mac = h.digest(b"message")
    h.verify(b"message", mac)
    with pytest.raises(InvalidSignature):
        h.verify(b"massage", mac)
    with pytest.raises(InvalidSignature):
        h.verify(b"message", mac[:-1])  # wrong length: refused without asking the device


def test_an_overflow_reports_what_was_consumed_so_the_caller_can_continue(dc: DcInstance) -> None:
    text = b"".join(b"line %d of a long log with varying numbers\n" % i for i in range(4000))
    data = text + os.urandom(2000)
    with dc.compression(huffman=Huffman.STATIC) as s:
        out, crc, adler, rest = b"", 0, 1, data
        overflows = 0
        while True:
            try:
                r = s.compress(rest, output_size=4096, crc32=crc, adler32=adler)
            except OutputOverflowError as exc:
                overflows += 1
                part = exc.result
                assert isinstance(part, DcResult)
                assert exc.error_code == ErrCode.OVERFLOW_ERROR
                assert exc.status & Status.CMP  # static codes: the compressor reports it
                assert 0 < part.consumed < len(rest) and part.produced <= 4096
                assert "continue with the rest of the input" in str(exc)
                assert isinstance(part.output, bytes)
                out += part.output
                crc, adler, rest = part.crc32, part.adler32, rest[part.consumed :]
                continue
            assert isinstance(r.output, bytes)
            out += r.output
            break
        assert overflows > 3
        assert zlib.decompressobj(-15).decompress(out) == data
        assert (r.crc32, r.adler32) == (zlib.crc32(data), zlib.adler32(data))


def test_a_dynamic_overflow_comes_from_the_translator(dc: DcInstance) -> None:
    with dc.compression(huffman=Huffman.DYNAMIC) as s, pytest.raises(OutputOverflowError) as info:
        s.compress(os.urandom(5000), output_size=1000)
    assert info.value.status & Status.XLAT
    assert isinstance(info.value.result, DcResult) and info.value.result.consumed < 5000


def test_decompression_grows_its_output_until_the_data_fits(dc: DcInstance) -> None:
    data = bytes(1 << 20)  # compresses ~1000:1, far beyond the first guess of 4 x input
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = co.compress(data) + co.flush()
    with dc.compression() as s:
        assert s.decompress(packed).output == data
        with pytest.raises(OutputOverflowError):
            s.decompress(packed, output_size=100_000)


def test_a_corrupt_stream_keeps_the_device_error_code(dc: DcInstance) -> None:
    with dc.compression() as s, pytest.raises(RequestError) as info:
        s.decompress(b"\xff" * 64)  # block type 3 does not exist
    err = info.value
    assert err.error_code == ErrCode.INVALID_BLOCK_TYPE
    assert err.status & Status.CMP
    assert "not a valid deflate stream" in str(err)
    assert "INVALID_BLOCK_TYPE" in str(err)


def _response(status_byte: int, cmp_err: int = 0, xlat_err: int = 0) -> bytes:
    return (
        bytes([0, 1, 4, 0x80]) + struct.pack("<bbBB", xlat_err, cmp_err, status_byte, 1) + bytes(24)
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (_response(Status.CRYPTO, -17), "could not reach a buffer"),
        (_response(Status.CRYPTO | Status.UNSUPPORTED_REQUEST), "does not support"),
        (_response(Status.CRYPTO | Status.INVALID_PARAM), "rejected the request's parameters"),
        (_response(Status.CRYPTO, -13), "failed: status CRYPTO"),
    ],
)
def test_device_status_becomes_an_error_that_keeps_it(raw: bytes, text: str) -> None:
    err = status.la_error(raw, "aes-128-cbc encrypt", verify=False)
    assert err is not None and text in str(err)
    assert err.status == raw[6]
    assert err.error_code == struct.unpack("b", raw[5:6])[0]


def test_only_crypto_alone_is_an_authentication_failure() -> None:
    assert status.auth_failed(_response(Status.CRYPTO))
    assert not status.auth_failed(_response(Status.CRYPTO, -17))
    assert not status.auth_failed(_response(Status.CRYPTO | Status.INVALID_PARAM))
    assert status.la_error(_response(0), "x", verify=False) is None
