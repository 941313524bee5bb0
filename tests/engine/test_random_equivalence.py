"""Random operations through the engine equal ``cryptography``, ``hashlib`` and ``zlib``.

Random keys, lengths and offsets; flat and scatter-gather buffers; in and out of place;
both chain orders. The reference results are computed by the libraries directly.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakedev.engine import CompHandler, LaHandler
from fakedev.engine.compat import TripleDES
from qathw.fw.common import Status
from qathw.ids import Generation
from qathw.service import algorithms as catalogue
from qathw.service import cd, gcmj0, offers
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import Response, run_la

D = cd.Direction
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CIPHERS = [
    "aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-ctr", "aes-192-ctr", "aes-256-ctr",
    "aes-128-xts", "aes-256-xts", "des-cbc", "3des-cbc",
]  # fmt: skip
LAYOUTS = ["flat-in", "flat-out", "sgl-in", "sgl-out"]


def reference_cipher(name: str, key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    """The library's answer for a catalogue cipher."""
    mode: Any
    if name.startswith("aes"):
        alg: Any = algorithms.AES(key)
        mode_cls: Any = {"cbc": modes.CBC, "ctr": modes.CTR, "xts": modes.XTS}[name[-3:]]
        mode = mode_cls(iv)
    else:
        k24 = key * 3 if len(key) == 8 else key + key[:8] if len(key) == 16 else key
        alg, mode = TripleDES(k24), modes.CBC(iv)
    c = Cipher(alg, mode)
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def place(arena: Arena, data: bytes, layout: str, rng: random.Random) -> tuple[Any, Any]:
    """(src, dst) buffers for ``data`` in the given layout."""
    cuts = [rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(1, 5))]
    src: ops.Flat | ops.Sgl
    dst: ops.Flat | ops.Sgl
    if layout.startswith("flat"):
        src = arena.flat(data)
        dst = src if layout.endswith("in") else arena.flat(bytes(len(data)))
    else:
        src = arena.sgl(data, cuts, rng)
        dst = src if layout.endswith("in") else arena.sgl(bytes(len(data)), cuts[::-1], rng)
    return src, dst


@st.composite
def cipher_case(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(CIPHERS))
    alg = catalogue.cipher(name)
    key_len = draw(st.sampled_from(alg.key_sizes))
    key = draw(st.binary(min_size=key_len, max_size=key_len))
    if alg.mode == 6 and key[: key_len // 2] == key[key_len // 2 :]:
        key = bytes([key[0] ^ 1]) + key[1:]
    if name == "3des-cbc" and len(key) == 16 and key[:8] == key[8:]:
        key = bytes([key[0] ^ 2]) + key[1:]
    blocks = draw(st.integers(1, 40))
    if name.endswith("ctr"):
        length = draw(st.integers(0, 600))
    elif name.endswith("xts"):
        length = draw(st.integers(16, 600))
    else:
        length = blocks * alg.block_size
    return {
        "name": name,
        "key": key,
        "iv": draw(st.binary(min_size=alg.iv_size, max_size=alg.iv_size)),
        "head": draw(st.integers(0, 40)),
        "tail": draw(st.integers(0, 20)),
        "length": length,
        "direction": draw(st.sampled_from(list(D))),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "iv_by_pointer": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32)),
        # DES and 3DES only on gen2; AES on either generation's slices
        "gen2": alg.family is not catalogue.Family.AES or draw(st.booleans()),
    }


def _endpoint(gen2: bool) -> tuple[LaHandler, offers.EndpointOffer]:
    if gen2:
        return LaHandler(generation=Generation.GEN2), offers.GEN2
    return LaHandler(), offers.GEN4


@given(case=cipher_case())
@SETTINGS
def test_cipher_equals_cryptography(case: dict[str, Any]) -> None:
    arena, rng = Arena(), random.Random(case["seed"])
    la, offer = _endpoint(case["gen2"])
    data = rng.randbytes(case["head"] + case["length"] + case["tail"])
    s = cd.cipher_session(case["name"], case["key"], case["direction"], offer=offer)
    src, dst = place(arena, data, case["layout"], rng)
    before_dst = arena.read_buffer(dst)
    # UCS-form XTS (gen4): the device takes the tweak encrypted with key2; la_request
    # encrypts an inline IV itself, one by pointer is placed as the device reads it
    iv = case["iv"]
    at = s.ucs_xts_tweak(iv) if s.tweak_key is not None else iv
    iv_args: dict[str, Any] = {"iv_iova": arena.put(at)} if case["iv_by_pointer"] else {"iv": iv}
    resp = run_la(
        arena,
        la,
        s,
        src=src,
        dst=dst,
        cipher_offset=case["head"],
        cipher_length=case["length"],
        **iv_args,
    )
    assert resp.status == 0, la.last_internal_error
    out = arena.read_buffer(dst)
    h, n = case["head"], case["length"]
    enc = case["direction"] == D.ENCRYPT
    assert out[h : h + n] == reference_cipher(
        case["name"], case["key"], case["iv"], data[h : h + n], enc
    )
    assert out[:h] == data[:h]  # bytes before the region: copied (out of place) or untouched
    assert out[h + n :] == (data if dst is src else before_dst)[h + n :]  # nothing past the end


@st.composite
def gcm_case(draw: st.DrawFn) -> dict[str, Any]:
    key_len = draw(st.sampled_from([16, 24, 32]))
    return {
        "key": draw(st.binary(min_size=key_len, max_size=key_len)),
        # cryptography's AESGCM takes 8..128-byte nonces; not 12: the host sends J0
        "nonce": draw(st.binary(min_size=12, max_size=12) | st.binary(min_size=8, max_size=128)),
        "aad": draw(st.binary(max_size=64)),
        "length": draw(st.integers(0, 300)),
        "head": draw(st.integers(0, 24)),
        "tag": draw(st.sampled_from([4, 8, 12, 13, 14, 15, 16])),
        "single_pass": draw(st.booleans()),
        "in_buffer": draw(st.booleans()),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "seed": draw(st.integers(0, 2**32)),
        "gen2": draw(st.booleans()),  # two-pass on gen2's legacy slice
    }


def _gcm_op(
    arena: Arena, la: LaHandler, c: dict[str, Any], direction: D, data: bytes, tag: bytes
) -> tuple[Response, bytes, bytes]:
    s = cd.gcm_session(
        f"aes-{len(c['key']) * 8}-gcm",
        c["key"],
        direction,
        tag_size=c["tag"],
        aad_size=len(c["aad"]),
        single_pass=c["single_pass"] and not c["gen2"],
        nonce_size=len(c["nonce"]),
        digest_in_buffer=c["in_buffer"],
        offer=offers.GEN2 if c["gen2"] else offers.GEN4,
    )
    nonce = c["nonce"]
    iv = nonce if len(nonce) == 12 else gcmj0.j0(gcmj0.hash_subkey(c["key"]), nonce)
    rng = random.Random(c["seed"])
    h, n = c["head"], len(data)
    buf = rng.randbytes(h) + data + (tag if c["in_buffer"] else b"")
    src, dst = place(arena, buf, c["layout"], rng)
    extra: dict[str, Any] = {"aad_iova": arena.put(c["aad"])} if c["aad"] else {}
    tag_iova = None
    if not c["in_buffer"]:
        tag_iova = arena.put(tag)
        extra["digest_iova"] = tag_iova
    resp = run_la(arena, la, s, src=src, dst=dst, cipher_offset=h, cipher_length=n, iv=iv, **extra)
    out = arena.read_buffer(dst)
    got_tag = (
        out[h + n : h + n + c["tag"]] if c["in_buffer"] else arena.get(tag_iova or 0, c["tag"])
    )
    return resp, out[h : h + n], got_tag


@given(case=gcm_case())
@SETTINGS
def test_gcm_equals_aesgcm_and_detects_a_bad_tag(case: dict[str, Any]) -> None:
    arena, (la, _) = Arena(), _endpoint(case["gen2"])
    data = random.Random(case["seed"] + 1).randbytes(case["length"])
    sealed = AESGCM(case["key"]).encrypt(case["nonce"], data, case["aad"])
    ct, full_tag = sealed[: len(data)], sealed[len(data) :]
    resp, out, tag = _gcm_op(arena, la, case, D.ENCRYPT, data, bytes(case["tag"]))
    assert resp.status == 0, la.last_internal_error
    assert (out, tag) == (ct, full_tag[: case["tag"]])
    resp, out, _ = _gcm_op(arena, la, case, D.DECRYPT, ct, full_tag[: case["tag"]])
    assert resp.status == 0 and out == data
    bad = bytes([full_tag[0] ^ 0x80]) + full_tag[1 : case["tag"]]
    resp, _, _ = _gcm_op(arena, la, case, D.DECRYPT, ct, bad)
    assert resp.status == Status.CRYPTO and resp.cmp_err == 0


AUTHS = ["sha1", "sha224", "sha256", "sha384", "sha512"]


@given(
    name=st.sampled_from(AUTHS + [f"hmac-{a}" for a in AUTHS]),
    key=st.binary(max_size=200),
    data=st.binary(max_size=700),
    head=st.integers(0, 30),
    trunc=st.integers(0, 64),
    in_buffer=st.booleans(),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32),
)
@SETTINGS
def test_hash_and_hmac_equal_hashlib(
    name: str,
    key: bytes,
    data: bytes,
    head: int,
    trunc: int,
    in_buffer: bool,
    layout: str,
    seed: int,
) -> None:
    arena, la, rng = Arena(), LaHandler(), random.Random(seed)
    is_hmac = name.startswith("hmac-")
    base = name.removeprefix("hmac-")
    full = hmac.new(key, data, base).digest() if is_hmac else hashlib.new(base, data).digest()
    size = min(max(trunc, 4), len(full))
    s = cd.auth_session(
        name, key if is_hmac else None, digest_size=size, digest_in_buffer=in_buffer
    )
    buf = rng.randbytes(head) + data + (bytes(size) if in_buffer else b"")
    src, dst = place(arena, buf, layout, rng)
    extra: dict[str, Any] = {} if in_buffer else {"digest_iova": arena.alloc(64)}
    resp = run_la(arena, la, s, src=src, dst=dst, auth_offset=head, auth_length=len(data), **extra)
    assert resp.status == 0
    out = arena.read_buffer(dst)
    got = out[head + len(data) :][:size] if in_buffer else arena.get(extra["digest_iova"], size)
    assert got == full[:size]
    assert out[: head + len(data)] == buf[: head + len(data)]


def _mac(name: str, key: bytes, data: bytes, size: int) -> bytes:
    return hmac.new(key, data, name.removeprefix("hmac-")).digest()[:size]


@given(
    cipher=st.sampled_from(["aes-128-cbc", "aes-256-ctr", "3des-cbc", "aes-128-xts"]),
    mac=st.sampled_from(["hmac-sha1", "hmac-sha256", "hmac-sha512"]),
    header=st.integers(0, 24),
    blocks=st.integers(1, 20),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32),
    gen2=st.booleans(),
)
@SETTINGS
def test_encrypt_then_mac_and_verify_then_decrypt(
    cipher: str, mac: str, header: int, blocks: int, layout: str, seed: int, gen2: bool
) -> None:
    """CIPHER_THEN_HASH to seal (IPsec ESP style); HASH_THEN_CIPHER to verify and open."""
    rng = random.Random(seed)
    alg = catalogue.cipher(cipher)
    ckey = rng.randbytes(alg.key_sizes[0])
    akey, iv = rng.randbytes(32), rng.randbytes(alg.iv_size)
    n = blocks * alg.block_size
    size = 12
    hdr, payload = rng.randbytes(header), rng.randbytes(n)
    arena = Arena()
    la, offer = _endpoint(gen2 or cipher == "3des-cbc")  # 3DES runs on gen2 only
    seal = cd.chain_session(
        cipher, ckey, D.ENCRYPT, mac, akey, order=cd.ChainOrder.CIPHER_THEN_HASH,
        digest_size=size, digest_in_buffer=True, offer=offer,
    )  # fmt: skip
    src, dst = place(arena, hdr + payload + bytes(size), layout, rng)
    regions = {
        "cipher_offset": header,
        "cipher_length": n,
        "auth_offset": 0,
        "auth_length": header + n,
    }
    assert run_la(arena, la, seal, src=src, dst=dst, iv=iv, **regions).status == 0
    sealed = arena.read_buffer(dst)
    ct = reference_cipher(cipher, ckey, iv, payload, True)
    assert sealed == hdr + ct + _mac(mac, akey, hdr + ct, size)

    opener = cd.chain_session(
        cipher, ckey, D.DECRYPT, mac, akey, order=cd.ChainOrder.HASH_THEN_CIPHER,
        verify=True, digest_size=size, digest_in_buffer=True, offer=offer,
    )  # fmt: skip
    src2, dst2 = place(arena, sealed, layout, rng)
    assert run_la(arena, la, opener, src=src2, dst=dst2, iv=iv, **regions).status == 0
    assert arena.read_buffer(dst2)[: header + n] == hdr + payload
    tampered = bytearray(sealed)
    tampered[rng.randrange(len(tampered))] ^= 0x01
    src3, dst3 = place(arena, bytes(tampered), layout, rng)
    bad = run_la(arena, la, opener, src=src3, dst=dst3, iv=iv, **regions)
    assert bad.status == Status.CRYPTO


@given(
    mac=st.sampled_from(["hmac-sha1", "hmac-sha384"]),
    header=st.integers(0, 16),
    length=st.integers(0, 300),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32),
)
@SETTINGS
def test_mac_then_encrypt_and_decrypt_then_verify(
    mac: str, header: int, length: int, layout: str, seed: int
) -> None:
    """HASH_THEN_CIPHER to seal (TLS 1.0 style: the digest is encrypted too);
    CIPHER_THEN_HASH to open (decrypt, then verify the decrypted digest)."""
    rng = random.Random(seed)
    ckey, akey, iv = rng.randbytes(16), rng.randbytes(20), rng.randbytes(16)
    size = 20
    hdr, payload = rng.randbytes(header), rng.randbytes(length)
    arena, la = Arena(), LaHandler()
    regions = {
        "auth_offset": 0, "auth_length": header + length,
        "cipher_offset": header, "cipher_length": length + size,
    }  # fmt: skip
    seal = cd.chain_session(
        "aes-128-ctr", ckey, D.ENCRYPT, mac, akey, order=cd.ChainOrder.HASH_THEN_CIPHER,
        digest_size=size, digest_in_buffer=True,
    )  # fmt: skip
    src, dst = place(arena, hdr + payload + bytes(size), layout, rng)
    assert run_la(arena, la, seal, src=src, dst=dst, iv=iv, **regions).status == 0
    sealed = arena.read_buffer(dst)
    tag = _mac(mac, akey, hdr + payload, size)
    assert sealed == hdr + reference_cipher("aes-128-ctr", ckey, iv, payload + tag, True)

    opener = cd.chain_session(
        "aes-128-ctr", ckey, D.DECRYPT, mac, akey, order=cd.ChainOrder.CIPHER_THEN_HASH,
        verify=True, digest_size=size, digest_in_buffer=True,
    )  # fmt: skip
    src2, dst2 = place(arena, sealed, layout, rng)
    assert run_la(arena, la, opener, src=src2, dst=dst2, iv=iv, **regions).status == 0
    assert arena.read_buffer(dst2) == hdr + payload + tag


TEXT = st.lists(
    st.sampled_from([b"qat ", b"ring ", b"deflate ", b"\x00", b"\xff\x10", b"abc"]), max_size=3000
).map(b"".join)


@given(
    data=st.one_of(TEXT, st.binary(max_size=3000)),
    huffman=st.sampled_from(list(catalogue.Huffman)),
    level=st.sampled_from([1, 6, 9]),
    sgl=st.booleans(),
    seed=st.integers(0, 2**32),
)
@SETTINGS
def test_deflate_round_trips_with_zlib(
    data: bytes, huffman: catalogue.Huffman, level: int, sgl: bool, seed: int
) -> None:
    arena, engine, rng = Arena(), CompHandler(), random.Random(seed)
    cap = len(data) + len(data) // 8 + 64

    def bufs(payload: bytes, size: int) -> tuple[Any, Any]:
        if sgl:
            return arena.sgl(payload, [len(payload) // 2], rng), arena.sgl(
                bytes(size), [size // 3], rng
            )
        return arena.flat(payload), arena.flat(bytes(size))

    src, dst = bufs(data, cap)
    s = cd.compression_session(cd.CompDirection.COMPRESS, huffman=huffman, level=level)
    resp = Response(engine(bytes(ops.comp_request(s, opaque=9, src=src, dst=dst)), arena.memory))
    consumed, produced, crc, adler = resp.counters
    assert resp.status == Status.CMP_END_OF_LAST_BLK, engine.last_internal_error
    assert resp.hdr_flags & 0x40  # CNV done
    assert (consumed, crc, adler) == (len(data), zlib.crc32(data), zlib.adler32(data))
    stream = arena.read_buffer(dst)[:produced]
    assert zlib.decompress(stream, -15) == data  # raw deflate, as the hardware emits

    d = cd.compression_session(cd.CompDirection.DECOMPRESS)
    src2, dst2 = bufs(stream, len(data) + 16)
    resp = Response(engine(bytes(ops.comp_request(d, opaque=10, src=src2, dst=dst2)), arena.memory))
    consumed, produced, crc, adler = resp.counters
    assert resp.status == Status.CMP_END_OF_LAST_BLK
    assert (consumed, produced, crc, adler) == (
        len(stream),
        len(data),
        zlib.crc32(data),
        zlib.adler32(data),
    )
    assert arena.read_buffer(dst2)[:produced] == data


@pytest.mark.parametrize("huffman", list(catalogue.Huffman))
def test_compression_overflow_reports_progress_and_the_caller_can_continue(
    huffman: catalogue.Huffman,
) -> None:
    arena, engine = Arena(), CompHandler()
    data = random.Random(4).randbytes(3000) + b"compressible " * 400
    s = cd.compression_session(cd.CompDirection.COMPRESS, huffman=huffman)
    out, pos, rounds = b"", 0, 0
    while pos < len(data):
        src, dst = arena.flat(data[pos:]), arena.flat(bytes(1500))
        resp = Response(
            engine(bytes(ops.comp_request(s, opaque=rounds, src=src, dst=dst)), arena.memory)
        )
        consumed, produced, _, _ = resp.counters
        out += arena.get(dst.iova, produced)
        if pos + consumed < len(data):
            err = resp.cmp_err if huffman == catalogue.Huffman.STATIC else resp.xlat_err
            assert err == -11 and consumed > 0  # recoverable overflow
            assert resp.status == (
                Status.CMP if huffman == catalogue.Huffman.STATIC else Status.XLAT
            )
        else:
            assert resp.status == Status.CMP_END_OF_LAST_BLK
        pos += consumed
        rounds += 1
    assert rounds > 1
    assert zlib.decompress(out, -15) == data
