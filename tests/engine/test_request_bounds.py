"""What one request may cost the backend, whatever the guest wrote.

The bounds are in docs/hardware.md#request-bounds.

Memory is measured with tracemalloc (every buffer the engine makes is a Python object);
time against one zlib deflate of the same input on this machine.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from fakedev.engine import CompHandler, LaHandler
from qathw.fw.common import Status
from qathw.fw.sgl import SGL_MAX_ENTRIES
from qathw.service import cd
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import Response, run_la

T = TypeVar("T")
KEY = bytes(range(16))
IV = bytes(range(100, 116))
WINDOW = 4 << 20


def aliasing_sgl(arena: Arena, entry_len: int) -> ops.Sgl:
    """A list of the most entries the device takes, every one the same ``entry_len`` bytes."""
    region = arena.alloc(entry_len)
    desc = ops.sgl_descriptor([(region, entry_len)] * SGL_MAX_ENTRIES)
    return ops.Sgl(arena.put(desc, align=8), entry_len * SGL_MAX_ENTRIES)


def single_entry_sgl(arena: Arena, data: bytes) -> ops.Sgl:
    desc = ops.sgl_descriptor([(arena.put(data), len(data))])
    return ops.Sgl(arena.put(desc, align=8), len(data))


def peak_allocated(run: Callable[[], T]) -> tuple[T, int]:
    """``run()``'s result and the most bytes it held allocated at once."""
    tracemalloc.start()
    try:
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_an_sgl_longer_in_total_than_device_memory_is_refused_before_it_is_gathered(
    la: LaHandler,
) -> None:
    arena = Arena(WINDOW)
    s = cd.cipher_session("aes-128-ctr", KEY, cd.Direction.ENCRYPT)
    src = aliasing_sgl(arena, 1 << 20)  # 255 MiB of logical length over 1 MiB
    resp, peak = peak_allocated(lambda: run_la(arena, la, s, src=src, iv=IV))
    assert resp.status == Status.CRYPTO | Status.INVALID_PARAM
    assert peak < 2 * WINDOW


def test_an_aliasing_sgl_within_the_bound_costs_one_working_copy(la: LaHandler) -> None:
    arena = Arena(WINDOW)
    s = cd.cipher_session("aes-128-ctr", KEY, cd.Direction.ENCRYPT)
    src = aliasing_sgl(arena, 8 << 10)  # 2 MiB of logical length over 8 KiB
    resp, peak = peak_allocated(lambda: run_la(arena, la, s, src=src, iv=IV))
    assert resp.status == 0
    assert peak < 1.5 * src.length


def test_gcm_the_library_cannot_run_costs_well_under_a_second_per_mib(la: LaHandler) -> None:
    arena = Arena(WINDOW)
    # A 16-byte nonce: the request carries J0 whole (GCM_IV_LEN clear), two-pass; a J0 not
    # ending in 1 is one the library cannot take, so GHASH is the engine's own.
    s = cd.gcm_session(
        "aes-128-gcm", KEY, cd.Direction.ENCRYPT, tag_size=16, aad_size=0, nonce_size=16
    )
    data = bytes(1 << 20)
    src = arena.flat(data)
    req = ops.la_request(
        s, arena.put(s.cd), opaque=1, src=src, iv=IV, digest_iova=arena.put(bytes(16))
    )
    started = time.perf_counter()
    status = la(bytes(req), arena.memory)[6]
    elapsed = time.perf_counter() - started
    assert status == 0 and arena.get(src.iova, len(data)) != data
    assert elapsed < 0.8


def test_deflate_one_byte_short_costs_a_few_deflates_not_a_search_of_them(
    comp: CompHandler,
) -> None:
    arena = Arena(16 << 20)
    data = np.random.default_rng(0).integers(0, 16, 4 << 20, dtype=np.uint8).tobytes()
    started = time.perf_counter()
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    whole = z.compress(data) + z.flush()
    one_deflate = time.perf_counter() - started
    s = cd.compression_session(cd.CompDirection.COMPRESS)
    dst = arena.flat(bytes(len(whole) - 1))
    req = ops.comp_request(s, opaque=1, src=arena.flat(data), dst=dst)
    started = time.perf_counter()
    resp = Response(comp(bytes(req), arena.memory))
    elapsed = time.perf_counter() - started
    assert resp.xlat_err == -11 and 0 < resp.counters[0] < len(data)
    assert elapsed < 10 * one_deflate


def test_an_inflate_bomb_overflows_without_holding_its_output(comp: CompHandler) -> None:
    arena = Arena(16 << 20)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = bomb.compress(bytes(64 << 20)) + bomb.flush()  # 64 KiB that inflate to 64 MiB
    cap = 8 << 20
    s = cd.compression_session(cd.CompDirection.DECOMPRESS)
    req = ops.comp_request(s, opaque=1, src=arena.flat(stream), dst=arena.flat(bytes(cap)))
    raw, peak = peak_allocated(lambda: comp(bytes(req), arena.memory))
    resp = Response(raw)
    assert (resp.status, resp.cmp_err, resp.counters[1]) == (Status.CMP, -11, cap)
    assert peak < cap // 4


def test_inflating_into_an_aliasing_destination_longer_than_device_memory_is_invalid(
    comp: CompHandler,
) -> None:
    arena = Arena(WINDOW)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = bomb.compress(bytes(64 << 20)) + bomb.flush()
    s = cd.compression_session(cd.CompDirection.DECOMPRESS)
    dst = aliasing_sgl(arena, 64 << 10)  # 64 MiB of logical length over 64 KiB
    req = ops.comp_request(s, opaque=1, src=single_entry_sgl(arena, stream), dst=dst)
    resp = Response(comp(bytes(req), arena.memory))
    assert resp.status == Status.CMP | Status.INVALID_PARAM
