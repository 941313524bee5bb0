"""The batch entry point (multi-buffer CBC) and the plan cache keyed by CD content."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fakedev.engine import LaHandler
from qathw.fw.common import Status
from qathw.ids import Generation
from qathw.service import algorithms as catalogue
from qathw.service import cd, offers
from qathw.service import wire as ops
from tests.engine.arena import Arena

D = cd.Direction
KEY = bytes(range(32))


def cbc_requests(
    arena: Arena, setup: cd.LaSetup, payloads: list[bytes], *, out_of_place: bool = False
) -> tuple[np.ndarray, list[ops.Flat], list[bytes]]:
    rng = random.Random(len(payloads))
    cd_iova = arena.put(setup.cd)
    rows, dsts, ivs = [], [], []
    for i, p in enumerate(payloads):
        iv = rng.randbytes(setup.iv_size)
        src = arena.flat(p)
        dst = arena.flat(bytes(len(p))) if out_of_place else src
        rows.append(bytes(ops.la_request(setup, cd_iova, opaque=i, src=src, dst=dst, iv=iv)))
        dsts.append(dst)
        ivs.append(iv)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 128), dsts, ivs


@pytest.mark.parametrize("direction", list(D))
@pytest.mark.parametrize("name", ["aes-128-cbc", "aes-256-cbc", "3des-cbc", "des-cbc"])
@pytest.mark.parametrize("out_of_place", [False, True])
def test_multibuffer_cbc_equals_cryptography(name: str, direction: D, out_of_place: bool) -> None:
    gen2 = not name.startswith("aes")  # DES and 3DES run on gen2, not gen4
    arena = Arena()
    la = LaHandler(generation=Generation.GEN2 if gen2 else Generation.GEN4)
    alg = catalogue.cipher(name)
    key = KEY[: alg.key_sizes[0]]
    rng = random.Random(1)
    payloads = [rng.randbytes(alg.block_size * rng.choice((1, 2, 4, 4, 8))) for _ in range(50)]
    s = cd.cipher_session(name, key, direction, offer=offers.GEN2 if gen2 else offers.GEN4)
    reqs, dsts, ivs = cbc_requests(arena, s, payloads, out_of_place=out_of_place)
    resp = la.process_batch(reqs, arena.memory)
    assert la.batched == 50
    assert (resp[:, 6] == 0).all() and (resp[:, 3] == 0x80).all()
    assert [int.from_bytes(r[8:16], "little") for r in resp] == list(range(50))
    for p, dst, iv in zip(payloads, dsts, ivs, strict=True):
        cipher_alg: Any = algorithms.AES(key) if name.startswith("aes") else None
        if cipher_alg is None:
            from fakedev.engine.compat import TripleDES

            cipher_alg = TripleDES(key * 3 if len(key) == 8 else key)
        c = Cipher(cipher_alg, modes.CBC(iv))
        ctx = c.encryptor() if direction == D.ENCRYPT else c.decryptor()
        assert arena.get(dst.iova, len(p)) == ctx.update(p) + ctx.finalize()


def test_batch_results_equal_one_by_one_results() -> None:
    payloads = [os.urandom(64) for _ in range(20)]
    results, memories = [], []
    for batch in (True, False):
        arena, la = Arena(), LaHandler()
        s = cd.cipher_session("aes-128-cbc", KEY[:16], D.ENCRYPT)
        reqs, _, _ = cbc_requests(arena, s, payloads)
        if batch:
            resp = la.process_batch(reqs, arena.memory)
        else:
            resp = np.array([np.frombuffer(la(r.tobytes(), arena.memory), np.uint8) for r in reqs])
            assert la.batched == 0
        results.append(resp)
        memories.append(bytes(arena.buf))
    assert (results[0] == results[1]).all()
    assert memories[0] == memories[1]


def test_overlapping_requests_keep_sequential_semantics() -> None:
    """Request 2 encrypts request 1's output in place: the batch must not run them together."""
    arena, la = Arena(), LaHandler()
    s = cd.cipher_session("aes-128-cbc", KEY[:16], D.ENCRYPT)
    cd_iova = arena.put(s.cd)
    data = os.urandom(64)
    buf = arena.flat(data)
    iv = bytes(16)
    one = ops.la_request(s, cd_iova, opaque=1, src=buf, iv=iv)
    reqs = np.frombuffer(bytes(one) * 2, dtype=np.uint8).reshape(2, 128)
    la.process_batch(reqs, arena.memory)
    assert la.batched == 0
    enc = Cipher(algorithms.AES(KEY[:16]), modes.CBC(iv)).encryptor().update(data)
    twice = Cipher(algorithms.AES(KEY[:16]), modes.CBC(iv)).encryptor().update(enc)
    assert arena.get(buf.iova, 64) == twice


def test_mixed_batch_keeps_order_and_isolates_a_bad_request() -> None:
    arena, la = Arena(), LaHandler()
    s = cd.cipher_session("aes-128-cbc", KEY[:16], D.ENCRYPT)
    reqs, _, _ = cbc_requests(arena, s, [os.urandom(32) for _ in range(6)])
    rows = [r.tobytes() for r in reqs]
    bad = bytearray(rows[3])
    bad[32:40] = (0x10).to_bytes(8, "little")  # source outside device memory
    rows[3] = bytes(bad)
    h = cd.auth_session("sha256")
    rows.insert(
        1,
        bytes(
            ops.la_request(
                h, arena.put(h.cd), opaque=99, src=arena.flat(b"abc"), digest_iova=arena.alloc(32)
            )
        ),
    )
    resp = la.process_batch(np.frombuffer(b"".join(rows), np.uint8).reshape(-1, 128), arena.memory)
    assert [int.from_bytes(r[8:16], "little") for r in resp] == [0, 99, 1, 2, 3, 4, 5]
    assert list(resp[:, 6]) == [0, 0, 0, 0, Status.CRYPTO, 0, 0]
    assert resp[4, 5] == 0xEF  # -17, endpoint error


def test_plan_cache_is_keyed_by_cd_content() -> None:
    arena, la = Arena(), LaHandler()
    s = cd.cipher_session("aes-128-ctr", KEY[:16], D.ENCRYPT)
    cd_iova = arena.put(s.cd)
    src = arena.flat(bytes(32))
    req = bytes(ops.la_request(s, cd_iova, opaque=1, src=src, iv=bytes(16)))
    la(req, arena.memory)
    la(req, arena.memory)
    assert (la.misses, la.hits) == (1, 1)
    # The host rewrites the key in the same CD: the device must use the new key.
    new_key = bytes(16)
    arena.memory.write(cd_iova + 16, new_key)
    arena.memory.write(src.iova, bytes(32))
    la(req, arena.memory)
    assert la.misses == 2
    want = Cipher(algorithms.AES(new_key), modes.CTR(bytes(16))).encryptor().update(bytes(32))
    assert arena.get(src.iova, 32) == want


def test_cache_disabled_gives_the_same_results() -> None:
    out = []
    for size in (0, 1024):
        arena, la = Arena(), LaHandler(cache_size=size)
        s = cd.cipher_session("aes-256-cbc", KEY, D.ENCRYPT)
        reqs, dsts, _ = cbc_requests(arena, s, [bytes(48)] * 3)
        for r in reqs:
            la(r.tobytes(), arena.memory)
        out.append([arena.get(d.iova, 48) for d in dsts])
        assert la.hits == (2 if size else 0)
    assert out[0] == out[1]


def test_cache_is_bounded() -> None:
    arena, la = Arena(), LaHandler(cache_size=4)
    for i in range(10):
        s = cd.cipher_session("aes-128-ctr", bytes([i]) * 16, D.ENCRYPT)
        la(
            bytes(
                ops.la_request(
                    s, arena.put(s.cd), opaque=i, src=arena.flat(bytes(16)), iv=bytes(16)
                )
            ),
            arena.memory,
        )
    assert len(la._plans) == 4


@given(
    seed=st.integers(0, 2**32),
    n=st.integers(2, 40),
    spread=st.sampled_from([256, 4096, 1 << 16]),
    mutate=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_a_batch_leaves_memory_and_responses_exactly_as_one_by_one(
    seed: int, n: int, spread: int, mutate: bool
) -> None:
    """Whatever the batch (overlapping buffers, mixed sessions, broken requests), the
    batch path is indistinguishable from running the requests one after another."""
    rng = random.Random(seed)
    arenas = [Arena(size=1 << 17), Arena(size=1 << 17)]
    gen2 = offers.GEN2  # a gen2 endpoint runs both AES and 3DES
    sessions = [
        cd.cipher_session("aes-128-cbc", KEY[:16], D.ENCRYPT, offer=gen2),
        cd.cipher_session("aes-128-cbc", KEY[:16], D.DECRYPT, offer=gen2),
        cd.cipher_session("3des-cbc", KEY[:24], D.ENCRYPT, offer=gen2),
    ]
    base = arenas[0].base + 4096
    cds = [a.put(s.cd) for a in arenas for s in sessions][: len(sessions)]
    for a in arenas[1:]:
        for s, iova in zip(sessions, cds, strict=True):
            a.memory.write(iova, s.cd)
    noise = rng.randbytes(spread + 1024)
    rows = []
    for i in range(n):
        k = rng.choice([0, 0, 0, 1, 2]) if i % 7 else 0
        s = sessions[k]
        length = s.block_size * rng.randrange(1, 9)
        src = base + rng.randrange(0, spread) // 8 * 8
        dst = src if rng.random() < 0.6 else base + rng.randrange(0, spread) // 8 * 8
        req = bytearray(
            ops.la_request(
                s,
                cds[k],
                opaque=i,
                src=ops.Flat(src, length),
                dst=ops.Flat(dst, length),
                iv=rng.randbytes(s.iv_size),
            )
        )
        if mutate and rng.random() < 0.2:
            req[rng.randrange(128)] = rng.randrange(256)
        rows.append(bytes(req))
    batch = np.frombuffer(b"".join(rows), np.uint8).reshape(-1, 128)
    for a in arenas:
        a.memory.write(base, noise)
    la_batch = LaHandler(generation=Generation.GEN2)
    la_seq = LaHandler(generation=Generation.GEN2)
    got = la_batch.process_batch(batch, arenas[0].memory)
    want = [la_seq(r, arenas[1].memory) for r in rows]
    assert [bytes(r) for r in got] == want
    assert arenas[0].buf == arenas[1].buf
    assert la_batch.internal_errors == la_seq.internal_errors == 0
    event(f"multi-buffer requests: {min(la_batch.batched, 1)}")
