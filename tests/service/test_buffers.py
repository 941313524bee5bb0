"""Buffers: any bytes-like in, scatter-gather over many pages, device buffers in and out of
place (zero copy), and DMA memory given back."""

from __future__ import annotations

import array
import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.dma import WindowDmaPool
from qathw.errors import DmaError
from qathw.service.buffers import DeviceBuffer, ScatterBuffer
from qathw.service.instance import CyInstance, DcInstance

KEY, IV = os.urandom(32), os.urandom(16)


def _ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


@pytest.mark.parametrize(
    "make",
    [
        bytes,
        bytearray,
        lambda b: memoryview(b),
        lambda b: memoryview(bytearray(b)),
        lambda b: array.array("I", b),
        lambda b: np.frombuffer(b, np.uint8).reshape(4, -1),  # two dimensions
        lambda b: np.repeat(np.frombuffer(b, np.uint8), 2)[::2],  # strided: copied first
    ],
    ids=["bytes", "bytearray", "memoryview", "rw-memoryview", "array", "numpy-2d", "strided"],
)
def test_any_bytes_like_input_works(cy: CyInstance, make: object) -> None:
    data = os.urandom(256)
    with cy.cipher("aes-256-ctr", KEY) as s:
        assert s.encrypt(make(data), IV) == _ctr(data)  # type: ignore[operator]


def test_a_list_of_pieces_is_one_scatter_gather_request_over_many_pages(cy: CyInstance) -> None:
    data = os.urandom(200_000)  # 49 pages of 4 KiB: far beyond one page
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    with cy.cipher("aes-256-ctr", KEY) as s:
        assert s.encrypt(pieces, IV) == _ctr(data)
    with cy.hash("sha512") as h:
        import hashlib

        assert h.digest(pieces) == hashlib.sha512(data).digest()


def test_a_scatter_buffer_is_processed_in_place_and_out_of_place(cy: CyInstance) -> None:
    data = os.urandom(100_000)
    with (
        cy.cipher("aes-256-ctr", KEY) as s,
        cy.alloc_scatter(len(data), page_size=4096) as src,
        cy.alloc_scatter(len(data), page_size=8192) as dst,
    ):
        assert len(src.pages) == 25 and all(len(p) <= 4096 for p in src.pages)
        src.write(data)
        assert s.encrypt(src, IV, out=dst) is dst
        assert dst.tobytes() == _ctr(data) and src.tobytes() == data
        assert s.encrypt(src, IV) is src  # in place
        assert src.tobytes() == _ctr(data)


def test_a_device_buffer_in_place_is_transformed_where_it_is(cy: CyInstance) -> None:
    data = os.urandom(4096)
    with cy.cipher("aes-256-ctr", KEY) as s, cy.alloc(4096) as buf:
        buf.write(data)
        view = buf.view
        assert s.encrypt(buf, IV) is buf
        assert bytes(view) == _ctr(data)  # the same memory the caller holds
        assert s.decrypt(buf, IV) is buf and buf.tobytes() == data


def test_a_region_processes_part_of_a_buffer_and_leaves_the_rest(cy: CyInstance) -> None:
    data = os.urandom(1000)
    with cy.cipher("aes-256-ctr", KEY) as s, cy.alloc(1000) as buf:
        buf.write(data)
        part = s.encrypt(buf.region(100, 500), IV)
        assert isinstance(part, DeviceBuffer) and len(part) == 500
        assert buf.tobytes() == data[:100] + _ctr(data[100:600]) + data[600:]


def test_gcm_on_device_buffers_in_place_and_out_of_place(cy: CyInstance) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, msg = os.urandom(12), os.urandom(3000)
    want = AESGCM(KEY).encrypt(nonce, msg, b"aad")
    with cy.aead("aes-256-gcm", KEY) as g, cy.alloc(3016) as buf, cy.alloc(3016) as out:
        buf.write(msg)  # plaintext, then 16 bytes of room for the tag
        assert g.encrypt(nonce, buf, b"aad").tobytes() == want
        clear = g.decrypt(nonce, buf, b"aad")
        assert clear.tobytes() == msg and len(clear) == 3000
        src = buf.region(0, 3000)
        src.write(msg)
        assert g.encrypt(nonce, src, b"aad", out=out).tobytes() == want
        assert src.tobytes() == msg
        assert g.decrypt(nonce, out, b"aad", out=buf).tobytes() == msg


def test_compression_reads_and_writes_device_buffers(dc: DcInstance) -> None:
    import zlib

    data = b"zero copy " * 3000
    with dc.compression() as s, dc.alloc(len(data)) as src, dc.alloc(len(data)) as dst:
        src.write(data)
        r = s.compress(src, out=dst)
        assert isinstance(r.output, DeviceBuffer) and len(r.output) == r.produced
        assert zlib.decompressobj(-15).decompress(r.output.tobytes()) == data


def test_a_buffer_from_another_endpoint_is_refused(cy: CyInstance, dc: DcInstance) -> None:
    with cy.cipher("aes-256-ctr", KEY) as s, dc.alloc(64) as foreign:
        with pytest.raises(ValueError, match="another endpoint's memory"):
            s.encrypt(foreign, IV)
        with cy.alloc(64) as mine, pytest.raises(ValueError, match="another endpoint"):
            s.encrypt(mine, IV, out=foreign)


def test_a_freed_buffer_is_refused(cy: CyInstance) -> None:
    buf = cy.alloc(64)
    buf.free()
    buf.free()  # idempotent
    with cy.cipher("aes-256-ctr", KEY) as s, pytest.raises(DmaError, match="freed"):
        s.encrypt(buf, IV)


def test_flat_and_scatter_do_not_mix(cy: CyInstance) -> None:
    with (
        cy.cipher("aes-256-ctr", KEY) as s,
        cy.alloc(64) as flat,
        cy.alloc_scatter(64) as sg,
        pytest.raises(ValueError, match="both be flat or both scatter"),
    ):
        s.encrypt(flat, IV, out=sg)


def test_buffer_writes_that_do_not_fit_are_refused(cy: CyInstance) -> None:
    with cy.alloc(16) as buf, cy.alloc_scatter(16) as sg:
        with pytest.raises(ValueError, match="do not fit"):
            buf.write(bytes(17))
        with pytest.raises(ValueError, match="do not fit"):
            sg.write(bytes(17))
        with pytest.raises(ValueError, match="outside a 16-byte buffer"):
            buf.region(8, 9)
    with pytest.raises(ValueError, match="positive"):
        cy.alloc(0)


def test_every_request_gives_its_dma_memory_back(cy: CyInstance, dc: DcInstance) -> None:
    pool = cy.channel.pool
    assert isinstance(pool, WindowDmaPool)
    s = cy.cipher("aes-256-ctr", KEY)
    g = cy.aead("aes-256-gcm", KEY)
    h = cy.hmac("sha256", b"k")
    s.encrypt(b"warm", IV)
    g.encrypt(bytes(12), b"warm", b"a")  # the sessions' CDs are placed now
    free = pool.free_bytes
    ops = []
    for i in range(200):
        ops += [
            s.encrypt_op(os.urandom(i + 1), IV),
            s.encrypt_op([os.urandom(100), os.urandom(i + 1)], IV),
            g.encrypt_op(bytes(12), os.urandom(i), b"a"),
            h.digest_op(os.urandom(i)),
        ]
    cy.perform_batch(ops)
    assert pool.free_bytes == free
    assert isinstance(ScatterBuffer, type)


def test_a_batch_of_gcm_ops_on_device_buffers_runs_in_place(cy: CyInstance) -> None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    msgs = [os.urandom(1000 + i) for i in range(8)]
    nonces = [os.urandom(12) for _ in msgs]
    bufs = [cy.alloc(len(m) + 16) for m in msgs]
    with cy.aead("aes-256-gcm", KEY) as g:
        for b, m in zip(bufs, msgs, strict=True):
            b.write(m)
        sealed = cy.perform_batch(
            [g.encrypt_op(n, b, b"ad") for n, b in zip(nonces, bufs, strict=True)]
        )
        for s, n, m in zip(sealed, nonces, msgs, strict=True):
            assert s.tobytes() == AESGCM(KEY).encrypt(n, m, b"ad")
        bufs[3].view[0] ^= 1  # one corrupted ciphertext
        out = cy.perform_batch(
            [g.decrypt_op(n, b, b"ad") for n, b in zip(nonces, bufs, strict=True)],
            return_exceptions=True,
        )
        assert isinstance(out[3], InvalidTag)
        # every op but the corrupted one gave its buffer (an exception has no tobytes)
        assert [o.tobytes() for i, o in enumerate(out) if i != 3] == [  # type: ignore[union-attr]
            m for i, m in enumerate(msgs) if i != 3
        ]
    for b in bufs:
        b.free()
