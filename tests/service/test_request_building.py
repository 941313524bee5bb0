"""The fast request builders produce exactly the bytes ``wire.la_request`` builds.

The request layer builds flat cipher and single-pass GCM requests from the session's
template with a few stores (per op), and batches of small cipher ops as one array; both
must equal the checked, general builder byte for byte.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qathw.dma import WindowDmaPool
from qathw.fw import la
from qathw.service import wire
from qathw.service.algorithms import Family, cipher
from qathw.service.batches import _CipherBatch, batch_work
from qathw.service.cd import Direction
from qathw.service.gcm_batch import AeadBatch
from qathw.service.instance import CyInstance
from qathw.service.operations import Op
from qathw.service.placed import PlacedSetup

U64 = st.integers(0, (1 << 64) - 1).map(lambda x: x & ~7)
U32 = st.integers(0, (1 << 32) - 1)


def _placed(setup: object) -> PlacedSetup:
    pool = WindowDmaPool(memoryview(bytearray(1 << 16)), 0x10_0000_0000)
    block = pool.alloc(256)
    return PlacedSetup(setup, block)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["aes-128-cbc", "aes-256-ctr", "des-cbc", "3des-cbc", "aes-128-xts"]),
    direction=st.sampled_from(list(Direction)),
    src=U64,
    dst=U64,
    length=st.integers(0, 1 << 20).map(lambda n: n - n % 16 + 16),
    extra=st.integers(0, 64),
    data=st.data(),
)
def test_flat_cipher_requests_equal_la_request(
    name: str,
    direction: Direction,
    src: int,
    dst: int,
    length: int,
    extra: int,
    data: st.DataObject,
) -> None:
    from qathw.service import cd

    alg = cipher(name)
    key = os.urandom(alg.key_sizes[0])
    from qathw.service import offers

    # DES and 3DES run on gen2; so does legacy XTS (gen4's UCS XTS encrypts each tweak on
    # the host and has no fast form)
    gen2 = cipher(name).family is not Family.AES or name.endswith("xts")
    placed = _placed(
        cd.cipher_session(name, key, direction, offer=offers.GEN2 if gen2 else offers.GEN4)
    )
    assert placed.fast
    iv = data.draw(st.binary(min_size=alg.iv_size, max_size=alg.iv_size))
    fast = placed.flat_request(src, length + extra, dst, length, length, iv)
    slow = wire.la_request(
        placed.setup,
        placed.iova,
        opaque=0,
        src=wire.Flat(src, length + extra),
        dst=wire.Flat(dst, length),
        cipher_length=length,
        iv=iv,
    )
    assert fast == slow


@settings(max_examples=60, deadline=None)
@given(
    direction=st.sampled_from(list(Direction)),
    src=U64,
    body=st.integers(0, 1 << 16),
    aad=st.integers(0, 240),
    tag=st.sampled_from([4, 8, 12, 16]),
    in_buffer=st.booleans(),
    addrs=st.tuples(U64, U64),
)
def test_single_pass_gcm_requests_equal_la_request(
    direction: Direction,
    src: int,
    body: int,
    aad: int,
    tag: int,
    in_buffer: bool,
    addrs: tuple[int, int],
) -> None:
    from qathw.service import cd

    setup = cd.gcm_session(
        "aes-256-gcm",
        os.urandom(32),
        direction,
        tag_size=tag,
        aad_size=aad,
        digest_in_buffer=in_buffer,
    )
    placed = _placed(setup)
    assert placed.fast
    total = body + (tag if in_buffer else 0)
    aad_iova = addrs[0] if aad else None
    digest = None if in_buffer else addrs[1]
    nonce = os.urandom(12)
    fast = placed.flat_request(src, total, src, total, body, nonce, aad_iova, digest)
    slow = wire.la_request(
        setup,
        placed.iova,
        opaque=0,
        src=wire.Flat(src, total),
        iv=nonce,
        aad_iova=aad_iova,
        digest_iova=digest,
    )
    assert fast == slow


def test_chains_hashes_and_ucs_xts_are_not_fast() -> None:
    from qathw.service import cd

    assert not _placed(cd.auth_session("sha256")).fast
    assert not _placed(
        cd.cipher_session("aes-128-xts", os.urandom(32), Direction.ENCRYPT, form=cd.SliceForm.UCS)
    ).fast
    assert not _placed(
        cd.chain_session(
            "aes-128-cbc",
            bytes(16),
            Direction.ENCRYPT,
            "sha1",
            order=cd.ChainOrder.CIPHER_THEN_HASH,
        )
    ).fast
    assert not _placed(
        cd.gcm_session("aes-128-gcm", bytes(16), Direction.ENCRYPT, single_pass=False)
    ).fast


def test_a_cipher_batch_is_the_rows_la_request_builds() -> None:
    from qathw.service import cd

    placed = _placed(cd.cipher_session("aes-128-cbc", bytes(16), Direction.ENCRYPT))
    pool = WindowDmaPool(memoryview(bytearray(1 << 20)), 0x20_0000_0000)
    msgs = [os.urandom(16 * (i % 5 + 1)) for i in range(20)]
    ivs = [os.urandom(16) for _ in msgs]
    batch = _CipherBatch(pool, placed.template, [memoryview(m) for m in msgs], ivs, "x")
    for i, (m, iv) in enumerate(zip(msgs, ivs, strict=True)):
        at = int(np.frombuffer(batch.rows[i, 32:40].tobytes(), "<u8")[0])
        want = wire.la_request(
            placed.setup, placed.iova, opaque=0, src=wire.Flat(at, len(m)), iv=iv
        )
        assert batch.rows[i].tobytes() == bytes(want)
        assert batch._block.view[at - batch._block.iova :][: len(m)] == m
    batch.release()
    assert pool.free_bytes == pool.capacity


def test_a_session_places_one_cd_per_setup_and_frees_them_on_close(cy: CyInstance) -> None:
    pool = cy.channel.pool
    assert isinstance(pool, WindowDmaPool)
    free = pool.free_bytes
    g = cy.aead("aes-128-gcm", bytes(16))
    for aad in (b"", b"a", b"bb", b"a"):
        g.decrypt(bytes(12), g.encrypt(bytes(12), b"x", aad), aad)
    assert len(g._cds) == 6  # encrypt at AAD 0, 1, 2 and decrypt at 0, 1, 2
    g.close()
    g.close()
    assert pool.free_bytes == free


@pytest.mark.parametrize(
    "kind",
    [
        "cbc-in-place",
        "cbc-out",
        "gcm-enc-in-place",
        "gcm-enc-out",
        "gcm-dec-in-place",
        "gcm-dec-out",
    ],
)
def test_a_batch_on_device_buffers_is_the_requests_ops_build_one_by_one(
    cy: CyInstance, kind: str
) -> None:
    bufs = [cy.alloc(4096 + 16) for _ in range(6)]
    outs = [cy.alloc(4096 + 16) for _ in range(6)]
    ops_: list[Op[object]]
    if kind.startswith("cbc"):
        s = cy.cipher("aes-128-cbc", bytes(16))
        ops_ = [
            s.encrypt_op(b.region(0, 4096), os.urandom(16), out=o if "out" in kind else None)
            for b, o in zip(bufs, outs, strict=True)
        ]
    else:
        g = cy.aead("aes-256-gcm", bytes(32))
        make = g.encrypt_op if "enc" in kind else g.decrypt_op
        ops_ = [
            make(
                os.urandom(12),
                b if "in-place" in kind else b.region(0, 4096),
                b"hdr",
                out=o if "out" in kind else None,
            )
            for b, o in zip(bufs, outs, strict=True)
        ]
    work = batch_work(ops_)
    assert type(work).__name__ == "_BufferBatch"
    rows = work.rows
    assert isinstance(rows, np.ndarray)
    for i, op in enumerate(ops_):
        one = op.prepare()
        want = bytearray(one.rows)
        got = bytearray(rows[i].tobytes())
        # the AAD lives in a different DMA block: compare everything else
        for row in (want, got):
            row[la.REQ_AAD_ADDR_OFFSET : la.REQ_AAD_ADDR_OFFSET + 8] = bytes(8)
        assert got == want
        one.release()
    work.release()
    for b in (*bufs, *outs):
        b.free()


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
@pytest.mark.parametrize("aad", [b"", b"13-byte-TLS-h"], ids=["no-aad", "aad"])
@pytest.mark.parametrize(
    ("single_pass", "nonce_size"),
    [(None, 12), (False, 12), (None, 8)],
    ids=["single-pass", "two-pass", "j0"],
)
@pytest.mark.parametrize("lengths", ["same", "varied"])
def test_a_gcm_batch_on_bytes_is_the_requests_ops_build_one_by_one(
    cy: CyInstance,
    direction: str,
    aad: bytes,
    single_pass: bool | None,
    nonce_size: int,
    lengths: str,
) -> None:
    g = cy.aead("aes-128-gcm", bytes(16), single_pass=single_pass)
    make = g.encrypt_op if direction == "encrypt" else g.decrypt_op
    datas = [os.urandom(64 if lengths == "same" else 16 + 9 * i) for i in range(7)]
    ops_: list[Op[object]] = [make(os.urandom(nonce_size), d, aad) for d in datas]
    work = batch_work(ops_)
    assert isinstance(work, AeadBatch)
    rows = work.rows
    # the addresses point into the batch's blocks, not the ops' own: compared apart
    addresses = [(32, 48), (la.REQ_AAD_ADDR_OFFSET, la.REQ_AAD_ADDR_OFFSET + 8)]
    for i, (op, d) in enumerate(zip(ops_, datas, strict=True)):
        one = op.prepare()
        want = bytearray(one.rows)
        got = bytearray(rows[i].tobytes())
        src, dst = np.frombuffer(got[32:48], "<u8").tolist()
        assert src == dst  # in place, as the op
        at = src - work._data.iova
        assert bytes(work._data.view[at : at + len(d)]) == d
        if aad:
            aad_at = int(np.frombuffer(got[88:96], "<u8")[0]) - work._aad.iova  # type: ignore[union-attr]
            staged = bytes(work._aad.view[aad_at : aad_at + 16])  # type: ignore[union-attr]
            assert staged == aad + bytes(16 - len(aad))  # zero-padded to the block
        for lo, hi in addresses:
            want[lo:hi] = got[lo:hi] = bytes(hi - lo)
        assert got == want
        one.release()
    work.release()
    g.close()


def test_gcm_ops_on_bytes_of_different_nonce_sizes_go_one_by_one(cy: CyInstance) -> None:
    g = cy.aead("aes-128-gcm", bytes(16))
    work = batch_work([g.encrypt_op(bytes(12), b"a"), g.encrypt_op(bytes(8), b"b")])
    assert type(work).__name__ == "Many"
    work.release()
    g.close()
