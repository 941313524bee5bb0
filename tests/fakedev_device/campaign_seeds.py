"""Valid requests for the adversarial campaign to mutate (``make fuzz`` passes this builder).

fakedev may not import qathw's service layer, which builds content descriptors; tests may.
Each seed is a request qathw would send (cipher, hash, HMAC verify, chain, GCM,
deflate, on flat buffers and SGLs) with its CD, buffers and lists placed in the area the
campaign reserves for seeds (:data:`fakedev.campaign.SEED_AREA` bytes at ``area``).
"""

from __future__ import annotations

import random
import zlib

from fakedev.campaign import SEED_AREA, Seed
from qathw.service import cd
from qathw.service import wire as ops
from qathw.service.algorithms import Huffman
from qathw.service.cd import ChainOrder, CompDirection, Direction

KEY = bytes(range(32))
DATA = 1024  # bytes of source (and of destination) per seed


class _Area:
    """A bump allocator over the seed area, recording what goes where."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.next = base
        self.placed: list[tuple[int, bytes]] = []

    def put(self, data: bytes, align: int = 64) -> int:
        at = -(-self.next // align) * align
        if at + len(data) > self.base + SEED_AREA:
            raise ValueError("the seeds do not fit their area")
        self.placed.append((at, data))
        self.next = at + len(data)
        return at


def build(area: int) -> list[Seed]:
    """Seeds whose memory lies in ``[area, area + SEED_AREA)``."""
    rng = random.Random(0)
    mem = _Area(area)
    src = mem.put(rng.randbytes(DATA))
    dst = mem.put(bytes(DATA))
    flat_src, flat_dst = ops.Flat(src, DATA), ops.Flat(dst, DATA)
    pieces = [(src, 100), (src + 100, 412), (src + 512, DATA - 512)]
    sgl_src = ops.Sgl(mem.put(ops.sgl_descriptor(pieces), 8), DATA)
    sgl_dst = ops.Sgl(mem.put(ops.sgl_descriptor([(dst, 512), (dst + 512, DATA - 512)]), 8), DATA)
    digest = mem.put(bytes(64))
    iv = bytes(16)
    seeds: list[bytes] = []

    def la(
        setup: cd.LaSetup, *, sgl: bool, iv: bytes | None = None, digest_iova: int | None = None
    ) -> None:
        at = mem.put(setup.cd, 64)
        source, dest = (sgl_src, sgl_dst) if sgl else (flat_src, flat_dst)
        req = ops.la_request(
            setup, at, opaque=len(seeds), src=source, dst=dest, iv=iv, digest_iova=digest_iova
        )
        seeds.append(bytes(req))

    for sgl in (False, True):
        la(cd.cipher_session("aes-128-cbc", KEY[:16], Direction.ENCRYPT), sgl=sgl, iv=iv)
        la(cd.cipher_session("aes-256-ctr", KEY, Direction.DECRYPT), sgl=sgl, iv=iv)
        la(cd.auth_session("sha256"), sgl=sgl, digest_iova=digest)
        la(cd.auth_session("hmac-sha1", KEY[:20], verify=True), sgl=sgl, digest_iova=digest)
        la(
            cd.chain_session(
                "aes-128-cbc", KEY[:16], Direction.ENCRYPT, "hmac-sha256", KEY,
                order=ChainOrder.CIPHER_THEN_HASH,
            ),
            sgl=sgl, iv=iv, digest_iova=digest,
        )  # fmt: skip
        la(cd.gcm_session("aes-128-gcm", KEY[:16], Direction.ENCRYPT), sgl=sgl, iv=iv[:12],
           digest_iova=digest)  # fmt: skip
    deflated = zlib.compressobj(6, zlib.DEFLATED, -15).compress(bytes(DATA)) + b"\x03\x00"
    packed = ops.Flat(mem.put(deflated), len(deflated))
    compress = cd.compression_session(CompDirection.COMPRESS, huffman=Huffman.STATIC)
    dynamic = cd.compression_session(CompDirection.COMPRESS)
    decompress = cd.compression_session(CompDirection.DECOMPRESS)
    seeds.append(bytes(ops.comp_request(compress, opaque=90, src=flat_src, dst=flat_dst)))
    seeds.append(bytes(ops.comp_request(dynamic, opaque=91, src=sgl_src, dst=sgl_dst)))
    seeds.append(bytes(ops.comp_request(decompress, opaque=92, src=packed, dst=flat_dst)))
    placed = tuple(mem.placed)
    return [Seed(request, placed) for request in seeds]
