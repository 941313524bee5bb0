"""Requests whose destination is the source, overlaps it, touches it, or lies apart.

``cryptography`` refuses overlapping memory in its ``*_into`` calls (51 raises), and
``update_into`` wants a block less one of room after its output. In place, a destination
a few bytes off the source, and a destination whose room reaches the source must all
still give the device's answer; buffers apart must still run zero copy. Every answer is
checked against ``cryptography`` run on copies, over the whole device memory: nothing
outside the destination span may change.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fakedev.engine import LaHandler
from fakedev.engine.fastpath import Scratch, for_plan
from fakedev.engine.la_plan import build_plan
from qathw.service import cd
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import Response

D = cd.Direction
KEY = bytes(range(16))
IV = bytes(range(100, 116))
NONCE = bytes(range(40, 52))
AAD = bytes(range(200, 216))
HEADER = 16  # bytes before the cipher region: copied, not transformed, out of place


@dataclass(frozen=True)
class Kind:
    """One session shape and what ``cryptography`` says it produces.

    Attributes:
        mode: ``"cbc"``, ``"ctr"`` or ``"gcm"``.
        encrypt: the direction.
        n: cipher region bytes.
        tag: GCM tag bytes (0 for the ciphers).
        in_buffer: GCM: the tag follows the region (else it is at its own address).
    """

    mode: str
    encrypt: bool
    n: int
    tag: int = 0
    in_buffer: bool = True

    @property
    def setup(self) -> cd.LaSetup:
        d = D.ENCRYPT if self.encrypt else D.DECRYPT
        if self.mode == "gcm":
            return cd.gcm_session(
                "aes-128-gcm",
                KEY,
                d,
                tag_size=self.tag,
                aad_size=16,
                digest_in_buffer=self.in_buffer,
            )
        return cd.cipher_session(f"aes-128-{self.mode}", KEY, d)

    @property
    def trailer(self) -> int:
        """Bytes after the region that belong to the buffer (an in-buffer tag)."""
        return self.tag if self.in_buffer else 0

    def reference(self, plaintext: bytes) -> tuple[bytes, bytes]:
        """``(ciphertext, tag)`` from ``cryptography`` (tag empty for the ciphers)."""
        if self.mode == "gcm":
            sealed = AESGCM(KEY).encrypt(NONCE, plaintext, AAD)
            return sealed[:-16], sealed[-16:][: self.tag]
        mode = modes.CBC(IV) if self.mode == "cbc" else modes.CTR(IV)
        ctx = Cipher(algorithms.AES(KEY), mode).encryptor()
        return ctx.update(plaintext) + ctx.finalize(), b""


KINDS = {
    "cbc-encrypt": Kind("cbc", True, 64),
    "cbc-decrypt": Kind("cbc", False, 64),
    "ctr-encrypt": Kind("ctr", True, 61),
    "ctr-decrypt": Kind("ctr", False, 61),
    "gcm-encrypt": Kind("gcm", True, 61, 16),  # AESGCM.encrypt_into where it exists
    "gcm-decrypt": Kind("gcm", False, 61, 16),
    "gcm-encrypt-tag12": Kind("gcm", True, 61, 12),  # a cipher context
    "gcm-decrypt-tag12": Kind("gcm", False, 61, 12),
    "gcm-encrypt-tag-apart": Kind("gcm", True, 61, 16, in_buffer=False),
    "gcm-decrypt-tag-apart": Kind("gcm", False, 61, 16, in_buffer=False),
}
kinds = pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
GCM = [name for name, k in KINDS.items() if k.mode == "gcm"]


@dataclass
class Case:
    """One request placed in device memory, and the memory it must leave behind."""

    request: bytes
    expected: bytes


def place(
    arena: Arena,
    kind: Kind,
    src_at: int,
    dst_at: int,
    header: int = HEADER,
    aad_at: int | None = None,
) -> Case:
    """Source at ``zone + src_at``, destination at ``zone + dst_at``, in a random zone.

    ``header`` bytes precede the cipher region in both buffers. The AAD (GCM) lies at
    ``zone + aad_at``, or outside the zone.

    The zone and the separate tag slot hold random bytes first, so a stray write shows.
    The expected memory is computed on copies, as the device orders it: every input
    read, then the destination span written (header copied, region transformed,
    in-buffer tag after it), then a separate tag.
    """
    rng = random.Random(f"{kind}{src_at}{dst_at}{aad_at}")
    setup = kind.setup
    cd_iova = arena.put(setup.cd)
    tag_iova = arena.put(rng.randbytes(16))
    zone = arena.put(rng.randbytes(4096))
    aad_iova = arena.put(AAD) if aad_at is None else zone + aad_at
    arena.memory.write(aad_iova, AAD)
    src, dst = zone + src_at, zone + dst_at
    plaintext = rng.randbytes(kind.n)
    ciphertext, tag = kind.reference(plaintext)
    length = header + kind.n + kind.trailer
    data_in, data_out = (plaintext, ciphertext) if kind.encrypt else (ciphertext, plaintext)
    trailer_in = arena.get(src + header + kind.n, kind.trailer)
    if not kind.encrypt and kind.tag:
        if kind.in_buffer:
            trailer_in = tag
        else:
            arena.memory.write(tag_iova, tag)
    leading = arena.get(src, header)
    arena.memory.write(src + header, data_in + trailer_in)

    expected = bytearray(arena.buf)
    at = dst - arena.base
    expected[at : at + length] = leading + data_out + (tag if kind.in_buffer else b"")
    if kind.encrypt and kind.tag and not kind.in_buffer:
        expected[tag_iova - arena.base : tag_iova - arena.base + 16] = tag

    req = ops.la_request(
        setup,
        cd_iova,
        opaque=7,
        src=ops.Flat(src, length),
        dst=ops.Flat(dst, length),
        cipher_offset=header,
        cipher_length=kind.n,
        iv=NONCE if kind.mode == "gcm" else IV,
        aad_iova=aad_iova if kind.mode == "gcm" else None,
        digest_iova=tag_iova if kind.tag and not kind.in_buffer else None,
    )
    return Case(bytes(req), bytes(expected))


def run_engine(arena: Arena, case: Case) -> None:
    """Run ``case`` through a fresh LA handler; it must succeed and leave ``expected``."""
    la = LaHandler()
    resp = Response(la(case.request, arena.memory))
    assert (resp.status, resp.cmp_err) == (0, 0), la.last_internal_error
    assert bytes(arena.buf) == case.expected


def run_fast_path(arena: Arena, kind: Kind, case: Case) -> Scratch:
    """Run ``case`` through the fast path alone; it must answer, and leave ``expected``."""
    req = case.request
    (flags,) = struct.unpack_from("<H", req, 4)
    plan = build_plan(req[1], flags, req[108:128], kind.setup.cd)
    scratch = Scratch()
    fast = for_plan(plan, scratch)
    assert fast is not None
    window = arena.memory.view(arena.base, arena.memory.size)
    resp = fast(req, window, arena.base)
    assert resp is not None, "the fast path passed the request on"
    assert Response(resp).status == 0
    assert bytes(arena.buf) == case.expected
    return scratch


def span(kind: Kind, header: int = HEADER) -> int:
    """Bytes of a buffer: the leading bytes, the region, an in-buffer tag."""
    return header + kind.n + kind.trailer


@kinds
def test_in_place_equals_cryptography(arena: Arena, kind: Kind) -> None:
    run_engine(arena, place(arena, kind, 512, 512))


@kinds
def test_in_place_runs_on_the_fast_path_with_one_copy_through_scratch(
    arena: Arena, kind: Kind
) -> None:
    scratch = run_fast_path(arena, kind, place(arena, kind, 512, 512))
    assert scratch.uses == 1


@kinds
@pytest.mark.parametrize("k", [-17, -16, -1, 1, 15, 16, 17])
def test_destination_a_few_bytes_off_the_source_equals_cryptography(
    arena: Arena, kind: Kind, k: int
) -> None:
    run_engine(arena, place(arena, kind, 512, 512 + k))


@kinds
@pytest.mark.parametrize("gap", [0, 1, 14, 15])
def test_source_region_just_after_the_destination_equals_cryptography(
    arena: Arena, kind: Kind, gap: int
) -> None:
    # No leading bytes, so the source region starts right after the destination span:
    # CBC's update_into wants 15 bytes of room past its output, and gaps 0..14 put the
    # source region inside that room though the buffers themselves do not overlap.
    run_engine(arena, place(arena, kind, 512 + span(kind, 0) + gap, 512, header=0))


@kinds
def test_source_just_before_the_destination_equals_cryptography(arena: Arena, kind: Kind) -> None:
    run_engine(arena, place(arena, kind, 512, 512 + span(kind)))


@kinds
def test_buffers_apart_run_zero_copy_on_the_fast_path(arena: Arena, kind: Kind) -> None:
    scratch = run_fast_path(arena, kind, place(arena, kind, 256, 2048))
    assert scratch.uses == 0


@pytest.mark.parametrize(("gap", "uses"), [(7, 1), (15, 0)])
def test_cbc_output_room_reaching_the_source_region_goes_through_scratch(
    arena: Arena, gap: int, uses: int
) -> None:
    kind = KINDS["cbc-encrypt"]
    case = place(arena, kind, 512 + span(kind, 0) + gap, 512, header=0)
    assert run_fast_path(arena, kind, case).uses == uses


@pytest.mark.parametrize("kind", [k for k in KINDS.values() if k.mode == "gcm"], ids=GCM)
def test_aad_inside_the_destination_is_read_before_it_is_overwritten(
    arena: Arena, kind: Kind
) -> None:
    run_engine(arena, place(arena, kind, 256, 2048, aad_at=2048 + HEADER + 8))
