"""Random inputs through the whole stack, checked against ``cryptography`` and ``zlib``.

Hypothesis draws keys, IVs, lengths and data (and the input's shape: bytes, pieces of a
scatter-gather list, the instance's own buffer); every result must equal what the
library computes directly.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qathw.service.algorithms import Huffman
from qathw.service.instance import CyInstance, DcInstance

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
shapes = st.sampled_from(["bytes", "bytearray", "pieces", "buffer"])


def _shaped(cy: CyInstance, data: bytes, shape: str, pieces: list[int]) -> object:
    if shape == "bytearray":
        return bytearray(data)
    if shape == "pieces":
        out, pos = [], 0
        for p in pieces:
            out.append(data[pos : pos + p])
            pos += p
        return [*out, data[pos:]] if pos < len(data) or not out else out
    if shape == "buffer":
        buf = cy.alloc(max(len(data), 1)).region(0, len(data))
        buf.write(data)
        return buf
    return data


def _bytes(result: object) -> bytes:
    if isinstance(result, bytes):
        return result
    return result.tobytes()  # type: ignore[attr-defined, no-any-return]


@SETTINGS
@given(
    bits=st.sampled_from([128, 192, 256]),
    mode=st.sampled_from(["cbc", "ctr"]),
    blocks=st.integers(0, 300),
    tail=st.integers(0, 15),
    shape=shapes,
    pieces=st.lists(st.integers(1, 700), max_size=5),
    seed=st.binary(min_size=32, max_size=32),
    data=st.data(),
)
def test_aes_cbc_and_ctr_equal_cryptography(
    cy: CyInstance,
    bits: int,
    mode: str,
    blocks: int,
    tail: int,
    shape: str,
    pieces: list[int],
    seed: bytes,
    data: st.DataObject,
) -> None:
    key, iv = seed[: bits // 8], data.draw(st.binary(min_size=16, max_size=16))
    length = 16 * blocks + (tail if mode == "ctr" else 0)
    msg = data.draw(st.binary(min_size=length, max_size=length))
    m = modes.CBC(iv) if mode == "cbc" else modes.CTR(iv)
    enc = Cipher(algorithms.AES(key), m).encryptor()
    want = enc.update(msg) + enc.finalize()
    with cy.cipher(f"aes-{bits}-{mode}", key) as s:
        assert _bytes(s.encrypt(_shaped(cy, msg, shape, pieces), iv)) == want
        assert _bytes(s.decrypt(_shaped(cy, want, shape, pieces), iv)) == msg


@SETTINGS
@given(
    bits=st.sampled_from([128, 192, 256]),
    size=st.integers(0, 5000),
    aad=st.binary(max_size=240),
    tag=st.sampled_from([4, 8, 12, 13, 14, 15, 16]),
    single_pass=st.booleans(),
    data=st.data(),
)
def test_aes_gcm_equals_cryptography(
    cy: CyInstance,
    bits: int,
    size: int,
    aad: bytes,
    tag: int,
    single_pass: bool,
    data: st.DataObject,
) -> None:
    key = data.draw(st.binary(min_size=bits // 8, max_size=bits // 8))
    nonce = data.draw(st.binary(min_size=12, max_size=12))
    msg = data.draw(st.binary(min_size=size, max_size=size))
    want = AESGCM(key).encrypt(nonce, msg, aad)
    want = want[:size] + want[size : size + tag]  # a truncated tag is the tag's prefix
    with cy.aead(f"aes-{bits}-gcm", key, tag_size=tag, single_pass=single_pass) as s:
        assert s.encrypt(nonce, msg, aad) == want
        assert s.decrypt(nonce, want, aad) == msg


@SETTINGS
@given(
    name=st.sampled_from(["sha1", "sha224", "sha256", "sha384", "sha512"]),
    key=st.one_of(st.none(), st.binary(max_size=200)),
    msg=st.binary(max_size=3000),
    shape=shapes,
    pieces=st.lists(st.integers(1, 900), max_size=4),
)
def test_hash_and_hmac_equal_hashlib(
    cy: CyInstance, name: str, key: bytes | None, msg: bytes, shape: str, pieces: list[int]
) -> None:
    if key is None:
        want = hashlib.new(name, msg).digest()
        session = cy.hash(name)
    else:
        want = hmac.new(key, msg, name).digest()
        session = cy.hmac(name, key)
    with session as s:
        assert s.digest(_shaped(cy, msg, shape, pieces)) == want


@SETTINGS
@given(
    text=st.binary(max_size=20000),
    repeat=st.integers(1, 8),
    level=st.integers(1, 9),
    huffman=st.sampled_from(list(Huffman)),
    shape=st.sampled_from(["bytes", "pieces", "buffer"]),
)
def test_deflate_round_trips_through_zlib_with_its_checksums(
    dc: DcInstance, text: bytes, repeat: int, level: int, huffman: Huffman, shape: str
) -> None:
    data = text * repeat
    with dc.compression(huffman=huffman, level=level) as s:
        arg: object = data
        if shape == "pieces":
            arg = [data[: len(data) // 2], data[len(data) // 2 :]]
        elif shape == "buffer":
            buf = dc.alloc(max(len(data), 1)).region(0, len(data))
            buf.write(data)
            arg = buf
        done = s.compress(arg)
        assert done.end_of_stream and done.consumed == len(data)
        assert isinstance(done.output, bytes)  # bytes in (even from a buffer): bytes out
        assert zlib.decompressobj(-15).decompress(done.output) == data  # raw deflate, valid
        assert (done.crc32, done.adler32) == (zlib.crc32(data), zlib.adler32(data))
        back = s.decompress(done.output)
        assert back.output == data and back.end_of_stream
        assert back.crc32 == zlib.crc32(data)
        # and what zlib compresses, the device inflates
        co = zlib.compressobj(level, zlib.DEFLATED, -15)
        assert s.decompress(co.compress(data) + co.flush()).output == data
