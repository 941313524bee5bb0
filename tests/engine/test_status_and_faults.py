"""Status bits set for the right reasons, bad requests answered, and never an exception."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakedev.engine import CompHandler, LaHandler, handlers
from qathw import aeskey, sha
from qathw.fw.common import ServiceType, Status
from qathw.fw.sgl import SGL_MAX_ENTRIES
from qathw.service import algorithms as catalogue
from qathw.service import cd, offers
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import Response, run_la

D = cd.Direction
CRYPTO, UNSUP, INVAL = Status.CRYPTO, Status.UNSUPPORTED_REQUEST, Status.INVALID_PARAM
KEY = bytes(range(16))
IV = bytes(range(100, 116))


def cbc_request(arena: Arena, direction: D = D.ENCRYPT, data: bytes = bytes(64)) -> bytearray:
    s = cd.cipher_session("aes-128-cbc", KEY, direction)
    return ops.la_request(s, arena.put(s.cd), opaque=0xABCDEF, src=arena.flat(data), iv=IV)


def send(la: LaHandler, arena: Arena, req: bytes | bytearray) -> Response:
    return Response(la(bytes(req), arena.memory))


def test_handlers_register_la_and_comp() -> None:
    h = handlers()
    assert isinstance(h[ServiceType.LA], LaHandler) and isinstance(h[ServiceType.COMP], CompHandler)


def test_response_echoes_type_command_and_cookie(arena: Arena, la: LaHandler) -> None:
    raw = send(la, arena, cbc_request(arena)).raw
    assert (raw[0], raw[1], raw[2], raw[3], raw[6], raw[7]) == (0, 1, 4, 0x80, 0, 0)
    assert struct.unpack_from("<Q", raw, 8)[0] == 0xABCDEF and raw[16:] == bytes(16)


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({1: 4}, CRYPTO | UNSUP),  # TRNG_GET_RANDOM
        ({1: 17}, CRYPTO | UNSUP),  # CIPHER_CRC
        ({4: 0x04 | 0x08}, CRYPTO | UNSUP),  # constants table: quadword 0 is empty (NULL cipher)
        ({4: 0x04 | 0x01}, CRYPTO | UNSUP),  # partial packet (start)
        ({4: 0x04 | 0x10}, CRYPTO | UNSUP),  # update state
        ({4: 0x84, 5: 0x00}, CRYPTO | UNSUP),  # protocol CCM
        ({5: 0x80}, CRYPTO | UNSUP),  # wireless slice
        ({5: 0xC0}, CRYPTO | INVAL),  # slice type 3
        ({6: 0x02}, CRYPTO | UNSUP),  # 16 bytes of setup data without the constants table
        ({7: 0x04}, CRYPTO | UNSUP),  # force wireless cipher slice
        ({3: 0x00}, CRYPTO | INVAL),  # valid bit clear
        ({18: 0}, CRYPTO | INVAL),  # content_desc_params_sz 0
        ({111: 0x42}, CRYPTO | INVAL),  # slice chain does not fit CIPHER
        ({109: 3}, CRYPTO | INVAL),  # AES-128 key size says 24 bytes
        ({108: 1}, CRYPTO | INVAL),  # an 8-byte IV for AES
        ({60: 17}, CRYPTO | INVAL),  # CBC over 17 bytes
        ({48: 16}, CRYPTO | INVAL),  # the region runs past src_length
    ],
)
def test_bad_requests_get_the_right_status(
    arena: Arena, la: LaHandler, patch: dict[int, int], status: int
) -> None:
    req = cbc_request(arena)
    for off, val in patch.items():
        req[off] = val
    resp = send(la, arena, req)
    assert resp.status == status
    assert resp.opaque == 0xABCDEF


def test_cd_address_outside_device_memory_is_an_endpoint_error(arena: Arena, la: LaHandler) -> None:
    req = cbc_request(arena)
    struct.pack_into("<Q", req, 8, 0x4000)
    resp = send(la, arena, req)
    assert (resp.status, resp.cmp_err) == (CRYPTO, -17)


def test_digest_address_outside_memory_fails_before_anything_is_written(
    arena: Arena, la: LaHandler
) -> None:
    s = cd.chain_session(
        "aes-128-cbc", KEY, D.ENCRYPT, "hmac-sha256", b"k", order=cd.ChainOrder.CIPHER_THEN_HASH
    )
    data = os.urandom(64)
    src = arena.flat(data)
    resp = run_la(arena, la, s, src=src, iv=IV, digest_iova=arena.base + len(arena.buf) - 8)
    assert (resp.status, resp.cmp_err) == (CRYPTO, -17)
    assert arena.get(src.iova, 64) == data


def test_sgl_with_too_many_entries_or_misaligned_is_invalid(arena: Arena, la: LaHandler) -> None:
    s = cd.cipher_session("aes-128-ctr", KEY, D.ENCRYPT)
    desc = bytearray(ops.sgl_descriptor([(arena.alloc(16), 16)]))
    struct.pack_into("<I", desc, 8, SGL_MAX_ENTRIES + 1)
    bad = ops.Sgl(arena.put(bytes(desc), align=8), 16)
    assert run_la(arena, la, s, src=bad, iv=IV).status == CRYPTO | INVAL
    good = arena.sgl(bytes(32), [16])
    req = ops.la_request(s, arena.put(s.cd), opaque=1, src=good, iv=IV)
    struct.pack_into("<QQ", req, 32, good.iova + 4, good.iova + 4)
    assert send(la, arena, req).status == CRYPTO | INVAL


def test_cbc_decrypt_needs_key_convert_or_the_reversed_key(arena: Arena, la: LaHandler) -> None:
    pt = os.urandom(48)
    ct = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor().update(pt)
    good = cd.cipher_session("aes-128-cbc", KEY, D.DECRYPT)  # legacy: KEY_CONVERT, forward key
    src = arena.flat(ct)
    assert run_la(arena, la, good, src=src, iv=IV).status == 0 and arena.get(src.iova, 48) == pt

    # A host that clears KEY_CONVERT but still sends the forward key: wrong bytes, as on hardware.
    cd_bytes = bytearray(good.cd)
    cd_bytes[1] &= ~0x02
    buggy = cd.LaSetup(
        bytes(cd_bytes), good.template, cipher=good.cipher, iv_size=16, block_size=16
    )
    src = arena.flat(ct)
    assert run_la(arena, la, buggy, src=src, iv=IV).status == 0
    assert arena.get(src.iova, 48) != pt

    # NO_CONVERT with the reversed key (what a UCS-form session sends) decrypts correctly.
    cd_bytes[8:24] = aeskey.reverse_key(KEY)
    fixed = cd.LaSetup(
        bytes(cd_bytes), good.template, cipher=good.cipher, iv_size=16, block_size=16
    )
    src = arena.flat(ct)
    assert run_la(arena, la, fixed, src=src, iv=IV).status == 0 and arena.get(src.iova, 48) == pt


@pytest.mark.parametrize(
    ("name", "direction", "config"),
    [
        ("aes-128-ctr", D.ENCRYPT, 0x123),  # CTR asked to decrypt
        ("aes-128-cbc", D.ENCRYPT, 0x213),  # encrypt with KEY_CONVERT
        ("aes-128-ctr", D.ENCRYPT, 0x0F3),  # mode 15
        ("aes-128-cbc", D.ENCRYPT, 0x017),  # KASUMI
    ],
)
def test_impossible_cipher_configs_are_refused(
    arena: Arena, la: LaHandler, name: str, direction: D, config: int
) -> None:
    s = cd.cipher_session(name, KEY[: catalogue.cipher(name).key_sizes[0]], direction)
    cd_bytes = bytearray(s.cd)
    struct.pack_into("<I", cd_bytes, 0, config)
    bad = cd.LaSetup(bytes(cd_bytes), s.template, cipher=s.cipher, iv_size=s.iv_size)
    resp = run_la(arena, la, bad, src=arena.flat(bytes(32)), iv=bytes(s.iv_size))
    assert resp.status & CRYPTO and resp.status & (UNSUP | INVAL)


def test_hmac_mode2_and_nested_hash_are_unsupported(arena: Arena, la: LaHandler) -> None:
    s = cd.auth_session("hmac-sha256", b"k")
    cd_bytes = bytearray(s.cd)
    cd_bytes[0] = (cd_bytes[0] & 0x0F) | 0x20  # mode 2
    bad = cd.LaSetup(bytes(cd_bytes), s.template, auth=s.auth, digest_size=32)
    assert (
        run_la(arena, la, bad, src=arena.flat(b"x"), digest_iova=arena.alloc(32)).status
        == CRYPTO | UNSUP
    )
    t = bytearray(s.template)
    t[113] = 0x01  # DO_NESTED
    bad = cd.LaSetup(s.cd, bytes(t), auth=s.auth, digest_size=32)
    assert (
        run_la(arena, la, bad, src=arena.flat(b"x"), digest_iova=arena.alloc(32)).status
        == CRYPTO | UNSUP
    )


def test_gcm_aad_length_must_agree_between_request_and_cd(arena: Arena, la: LaHandler) -> None:
    s = cd.gcm_session("aes-128-gcm", KEY, D.ENCRYPT, aad_size=16)
    req = ops.la_request(
        s, arena.put(s.cd), opaque=1, src=arena.flat(bytes(32)), iv=bytes(12),
        aad_iova=arena.put(bytes(16)), digest_iova=arena.alloc(16),
    )  # fmt: skip
    struct.pack_into("<I", req, 84, 17)
    assert send(la, arena, req).status == CRYPTO | INVAL


def test_in_place_overlap_reads_all_input_first(arena: Arena, la: LaHandler) -> None:
    """dst starts 16 bytes into src: the result is as if the input had been copied first."""
    data = os.urandom(96)
    base = arena.put(data + bytes(16))
    s = cd.cipher_session("aes-128-cbc", KEY, D.ENCRYPT)
    resp = run_la(arena, la, s, src=ops.Flat(base, 96), dst=ops.Flat(base + 16, 96), iv=IV)
    assert resp.status == 0
    want = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor().update(data)
    assert arena.get(base + 16, 96) == want


# --- compression ---------------------------------------------------------------------------


def comp_request(
    arena: Arena, data: bytes, direction: cd.CompDirection, cap: int = 4096, **kw: Any
) -> bytearray:
    s = cd.compression_session(direction, **kw)
    return ops.comp_request(s, opaque=77, src=arena.flat(data), dst=arena.flat(bytes(cap)))


def test_corrupt_streams_get_deflate_error_codes(arena: Arena, comp: CompHandler) -> None:
    cases = {
        b"\x07": -1,  # final block of reserved type 3
        b"\x01\x05\x00\x00\x00": -2,  # stored block whose LEN/NLEN do not match
    }
    dictionary = os.urandom(300)
    co = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=dictionary)
    cases[co.compress(dictionary[:200]) + co.flush()] = -10  # refers before the start
    for stream, code in cases.items():
        resp = Response(
            comp(bytes(comp_request(arena, stream, cd.CompDirection.DECOMPRESS)), arena.memory)
        )
        assert (resp.status, resp.cmp_err) == (Status.CMP, code), stream


def test_truncated_stream_is_ok_without_end_of_last_block(arena: Arena, comp: CompHandler) -> None:
    stream = zlib.compressobj(6, zlib.DEFLATED, -15).compress(b"abc" * 1000)
    stream += zlib.compressobj(6, zlib.DEFLATED, -15).flush(zlib.Z_SYNC_FLUSH)
    resp = Response(
        comp(bytes(comp_request(arena, stream[:-3], cd.CompDirection.DECOMPRESS)), arena.memory)
    )
    assert resp.status == 0 and not resp.status & Status.CMP_END_OF_LAST_BLK


def test_decompression_overflow_is_reported_with_counters(arena: Arena, comp: CompHandler) -> None:
    data = b"0123456789" * 500
    stream = zlib.compress(data)[2:-4]
    req = comp_request(arena, stream, cd.CompDirection.DECOMPRESS, cap=1000)
    resp = Response(comp(bytes(req), arena.memory))
    assert (resp.status, resp.cmp_err) == (Status.CMP, -11)
    assert resp.counters[1] == 1000


def test_non_final_compression_ends_on_a_byte_boundary(arena: Arena, comp: CompHandler) -> None:
    req = comp_request(arena, b"hello " * 50, cd.CompDirection.COMPRESS)
    struct.pack_into("<I", req, 72, 0x10003)  # SOP EOP CNV, no BFINAL
    resp = Response(comp(bytes(req), arena.memory))
    produced = resp.counters[1]
    out = arena.get(struct.unpack_from("<Q", req, 40)[0], produced)
    assert resp.status == 0 and out.endswith(b"\x00\x00\xff\xff")
    assert zlib.decompressobj(-15).decompress(out) == b"hello " * 50


def test_cnv_flag_only_when_requested_and_checksums_are_seeded(
    arena: Arena, comp: CompHandler
) -> None:
    data = b"seeded checksums" * 20
    req = comp_request(arena, data, cd.CompDirection.COMPRESS)
    struct.pack_into("<III", req, 64, 0x1234, 0x5678, 0x43)  # crc seed, adler seed, no CNV
    resp = Response(comp(bytes(req), arena.memory))
    assert not resp.hdr_flags & 0x40
    assert resp.counters[2:] == (zlib.crc32(data, 0x1234), zlib.adler32(data, 0x5678))


@pytest.mark.parametrize(
    ("offset", "value", "status"),
    [
        (1, 5, Status.CMP | UNSUP),  # LZ4 compress command
        (4, 0x04, Status.CMP | UNSUP),  # stateful
        (6, 0x00, Status.CMP | UNSUP),  # CD pointer instead of inline words
        (11, 0x27 | 0x40, Status.CMP | UNSUP),  # hardware format LZ4 (byte-swapped word)
        (10, 0x38, Status.CMP | INVAL),  # search depth 8
        (72, 0x41, Status.CMP | UNSUP),  # SOP without EOP
    ],
)
def test_bad_compression_requests(
    arena: Arena, comp: CompHandler, offset: int, value: int, status: int
) -> None:
    req = comp_request(
        arena, b"x" * 100, cd.CompDirection.COMPRESS, huffman=catalogue.Huffman.STATIC
    )
    req[offset] = value
    assert Response(comp(bytes(req), arena.memory)).status == status


def test_compression_lengths_beyond_buffers_are_invalid(arena: Arena, comp: CompHandler) -> None:
    req = comp_request(arena, b"x" * 100, cd.CompDirection.COMPRESS)
    struct.pack_into("<I", req, 56, 101)
    assert Response(comp(bytes(req), arena.memory)).status == Status.CMP | INVAL
    req = comp_request(arena, b"x" * 100, cd.CompDirection.COMPRESS, cap=64)
    struct.pack_into("<I", req, 60, 65)
    assert Response(comp(bytes(req), arena.memory)).status == Status.CMP | INVAL


def test_compression_dma_fault(arena: Arena, comp: CompHandler) -> None:
    req = comp_request(arena, b"x" * 100, cd.CompDirection.COMPRESS)
    struct.pack_into("<Q", req, 40, 0x10)
    resp = Response(comp(bytes(req), arena.memory))
    assert (resp.status, resp.cmp_err) == (Status.CMP | Status.XLAT, -17)


# --- fuzz ----------------------------------------------------------------------------------


def _valid_requests(arena: Arena) -> list[bytes]:
    out = [bytes(cbc_request(arena))]
    g = cd.gcm_session("aes-256-gcm", bytes(32), D.ENCRYPT, aad_size=8)
    gcm = ops.la_request(
        g,
        arena.put(g.cd),
        opaque=2,
        src=arena.flat(bytes(40)),
        iv=bytes(12),
        aad_iova=arena.put(bytes(8)),
        digest_iova=arena.alloc(16),
    )
    out.append(bytes(gcm))
    h = cd.chain_session(
        "aes-128-cbc",
        KEY,
        D.DECRYPT,
        "hmac-sha1",
        b"k",
        order=cd.ChainOrder.HASH_THEN_CIPHER,
        verify=True,
    )
    out.append(
        bytes(
            ops.la_request(
                h,
                arena.put(h.cd),
                opaque=3,
                src=arena.sgl(bytes(64), [20]),
                iv=IV,
                digest_iova=arena.alloc(20),
            )
        )
    )
    out.append(bytes(comp_request(arena, b"fuzz" * 40, cd.CompDirection.COMPRESS)))
    out.append(
        bytes(comp_request(arena, zlib.compress(b"z" * 300)[2:-4], cd.CompDirection.DECOMPRESS))
    )
    return out


@given(
    which=st.integers(0, 4),
    flips=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=6),
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mutated_requests_always_get_a_response_never_an_exception(
    which: int, flips: list[tuple[int, int]]
) -> None:
    arena = Arena(size=1 << 16)
    reqs = _valid_requests(arena)
    h: dict[ServiceType, LaHandler | CompHandler] = {
        ServiceType.LA: LaHandler(),
        ServiceType.COMP: CompHandler(),
    }
    req = bytearray(reqs[which])
    for off, val in flips:
        req[off] = val
    handler = h.get(ServiceType(req[2])) if req[2] in (4, 9) else h[ServiceType.LA]
    assert handler is not None
    resp = handler(bytes(req), arena.memory)
    assert len(resp) == 32 and resp[3] & 0x80 and resp[8:16] == req[24:32]
    assert all(x.internal_errors == 0 for x in h.values()), [
        x.last_internal_error for x in h.values()
    ]


@given(req=st.binary(min_size=128, max_size=128), mem=st.binary(min_size=256, max_size=256))
@settings(max_examples=300, deadline=None)
def test_random_bytes_always_get_a_response(req: bytes, mem: bytes) -> None:
    arena = Arena(size=4096, base=0)
    arena.memory.write(0, mem * 16)
    for handler in (LaHandler(), CompHandler()):
        resp = handler(req, arena.memory)
        assert len(resp) == 32 and resp[3] & 0x80
        assert handler.internal_errors == 0, handler.last_internal_error


def test_two_pass_gcm_hashes_with_the_h_in_the_cd(arena: Arena, la_gen2: LaHandler) -> None:
    """The GALOIS slice takes H from state2: a host that stores a wrong H gets wrong tags."""
    la = la_gen2  # gen2's legacy layout: H at byte 56 of the CD
    s = cd.gcm_session("aes-128-gcm", KEY, D.ENCRYPT, single_pass=False, offer=offers.GEN2)
    good = bytearray(s.cd)
    tags = []
    for cd_bytes in (bytes(good), bytes(good[:56]) + bytes([good[56] ^ 1]) + bytes(good[57:])):
        setup = cd.LaSetup(cd_bytes, s.template, cipher=s.cipher, iv_size=12, digest_size=16)
        tag = arena.alloc(16)
        src = arena.flat(b"same plaintext, same key, same nonce")
        assert run_la(arena, la, setup, src=src, iv=bytes(12), digest_iova=tag).status == 0
        tags.append(arena.get(tag, 16))
    assert tags[0] != tags[1]
    sealed = AESGCM(KEY).encrypt(bytes(12), b"same plaintext, same key, same nonce", b"")
    assert tags[0] == sealed[-16:]


def test_mode0_hash_resumes_from_the_state_in_the_cd(arena: Arena, la: LaHandler) -> None:
    """Mode 0 with a mid-stream state and a byte count: the slice continues that hash."""
    prefix, rest = b"p" * 128, b"and the rest of the message"
    state = sha.ShaState(sha.SHA256)
    state.update(prefix)
    mid, length = state.export()
    s = cd.auth_session("sha256")
    cd_bytes = bytearray(s.cd)
    struct.pack_into(">I", cd_bytes, 8, length)
    cd_bytes[16:48] = mid
    setup = cd.LaSetup(bytes(cd_bytes), s.template, auth=s.auth, digest_size=32)
    digest = arena.alloc(32)
    assert run_la(arena, la, setup, src=arena.flat(rest), digest_iova=digest).status == 0
    assert arena.get(digest, 32) == hashlib.sha256(prefix + rest).digest()


@pytest.mark.parametrize(("direction", "config"), [(D.ENCRYPT, 0x003), (D.DECRYPT, 0x303)])
def test_ecb_mode_runs_on_the_shared_context(
    arena: Arena, la: LaHandler, direction: D, config: int
) -> None:
    s = cd.cipher_session("aes-128-cbc", KEY, direction)
    cd_bytes = bytearray(s.cd)
    struct.pack_into("<I", cd_bytes, 0, config)
    ecb = cd.LaSetup(bytes(cd_bytes), s.template, cipher=s.cipher, iv_size=16, block_size=16)
    data = os.urandom(64)
    c = Cipher(algorithms.AES(KEY), modes.ECB())
    want = (c.encryptor() if direction == D.ENCRYPT else c.decryptor()).update(data)
    for _ in range(2):  # twice: the shared ECB context must carry nothing over
        src = arena.flat(data)
        assert run_la(arena, la, ecb, src=src, iv=bytes(16)).status == 0
        assert arena.get(src.iova, 64) == want


def test_decompression_that_exactly_fills_the_output_is_not_an_overflow(
    arena: Arena, comp: CompHandler
) -> None:
    data = b"exact fit " * 300
    stream = zlib.compress(data)[2:-4]
    req = comp_request(arena, stream, cd.CompDirection.DECOMPRESS, cap=len(data))
    resp = Response(comp(bytes(req), arena.memory))
    assert resp.status == Status.CMP_END_OF_LAST_BLK
    assert resp.counters[:2] == (len(stream), len(data))


def test_zero_output_capacity(arena: Arena, comp: CompHandler) -> None:
    stream = zlib.compress(b"some data")[2:-4]
    req = comp_request(arena, stream, cd.CompDirection.DECOMPRESS, cap=16)
    struct.pack_into("<I", req, 60, 0)
    resp = Response(comp(bytes(req), arena.memory))
    assert (resp.status, resp.cmp_err, resp.counters[:2]) == (Status.CMP, -11, (0, 0))
    req = comp_request(arena, b"some data", cd.CompDirection.COMPRESS, cap=16)
    struct.pack_into("<I", req, 60, 1)  # not even an empty block fits
    resp = Response(comp(bytes(req), arena.memory))
    assert (resp.xlat_err, resp.counters[:2]) == (-11, (0, 0))


def test_comp_batch_runs_each_request_in_order(arena: Arena, comp: CompHandler) -> None:
    reqs = [comp_request(arena, bytes([i]) * 500, cd.CompDirection.COMPRESS) for i in range(5)]
    reqs[2][1] = 7  # an unsupported command in the middle
    batch = np.frombuffer(b"".join(bytes(r) for r in reqs), np.uint8).reshape(-1, 128)
    out = comp.process_batch(batch, arena.memory)
    assert [r[6] for r in out] == [8, 8, Status.CMP | UNSUP, 8, 8]
    assert [r[8] for r in out] == [77] * 5
