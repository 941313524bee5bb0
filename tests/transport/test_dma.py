"""The device-window DMA pool: alignment by IOVA, first fit, coalescing, clear errors."""

from __future__ import annotations

import itertools

import pytest

from qathw.dma import DmaBuffer, DmaPool, WindowDmaPool
from qathw.errors import DmaError, DmaPoolExhaustedError

BASE = 0x10_0000_0000


@pytest.fixture
def pool() -> WindowDmaPool:
    return WindowDmaPool(memoryview(bytearray(0x10000)), BASE, name="test pool")


def test_it_is_a_dma_pool(pool: WindowDmaPool) -> None:
    assert isinstance(pool, DmaPool)
    assert isinstance(pool.alloc(16), DmaBuffer)


def test_buffers_are_aligned_by_iova() -> None:
    # A window whose IOVA is only 64-byte aligned: alignment must follow the IOVA.
    pool = WindowDmaPool(memoryview(bytearray(0x10000)), BASE + 0x40)
    for align in (64, 128, 4096, 0x4000):
        buf = pool.alloc(100, align)
        assert buf.iova % align == 0
        assert len(buf.view) == buf.size == 100


def test_views_are_the_window(pool: WindowDmaPool) -> None:
    backing = bytearray(0x1000)
    pool = WindowDmaPool(memoryview(backing), BASE)
    buf = pool.alloc(8, 64)
    buf.view[:] = b"abcdefgh"
    off = buf.iova - BASE
    assert backing[off : off + 8] == b"abcdefgh"


def test_buffers_do_not_overlap(pool: WindowDmaPool) -> None:
    bufs = [pool.alloc(s, a) for s, a in [(100, 64), (4096, 4096), (1, 8), (300, 256)]]
    spans = sorted((b.iova, b.iova + b.size) for b in bufs)
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans))


def test_freeing_everything_coalesces_into_one_block(pool: WindowDmaPool) -> None:
    bufs = [pool.alloc(0x1000, 0x1000) for _ in range(16)]
    for buf in bufs[::2] + bufs[1::2]:
        pool.free(buf)
    assert pool.free_bytes == pool.largest_free == 0x10000
    assert pool.alloc(0x10000, 0x10000).iova == BASE


def test_first_fit_reuses_a_freed_hole(pool: WindowDmaPool) -> None:
    a = pool.alloc(0x100)
    pool.alloc(0x100)
    pool.free(a)
    assert pool.alloc(0x80).iova == a.iova


def test_exhaustion_says_how_large_the_pool_is(pool: WindowDmaPool) -> None:
    pool.alloc(0x8000)
    with pytest.raises(DmaPoolExhaustedError) as info:
        pool.alloc(0x9000)
    text = str(info.value)
    assert "65536 bytes" in text and "32768 of 65536 bytes free" in text
    assert info.value.hint


def test_fragmentation_is_reported_as_the_largest_block(pool: WindowDmaPool) -> None:
    bufs = [pool.alloc(0x1000, 0x1000) for _ in range(16)]
    for buf in bufs[::2]:
        pool.free(buf)
    with pytest.raises(DmaPoolExhaustedError, match="largest free block 4096"):
        pool.alloc(0x2000)


def test_double_free_and_foreign_buffers_are_refused(pool: WindowDmaPool) -> None:
    buf = pool.alloc(64)
    pool.free(buf)
    with pytest.raises(DmaError, match="not allocated here"):
        pool.free(buf)
    other = WindowDmaPool(memoryview(bytearray(0x1000)), BASE).alloc(64)
    with pytest.raises(DmaError, match="not allocated here"):
        pool.free(other)


def test_a_freed_buffer_has_no_view(pool: WindowDmaPool) -> None:
    buf = pool.alloc(64)
    pool.free(buf)
    with pytest.raises(DmaError, match="freed"):
        buf.view  # noqa: B018


@pytest.mark.parametrize(("size", "align"), [(0, 64), (-1, 64), (64, 3), (64, 0)])
def test_bad_arguments(pool: WindowDmaPool, size: int, align: int) -> None:
    with pytest.raises(ValueError):
        pool.alloc(size, align)


def test_close_releases_every_view_so_the_mapping_can_close() -> None:
    import mmap

    mm = mmap.mmap(-1, 0x4000)
    pool = WindowDmaPool(memoryview(mm)[0x1000:], BASE)
    bufs = [pool.alloc(0x100) for _ in range(4)]
    pool.close()
    mm.close()  # would raise BufferError if a view were still exported
    with pytest.raises(DmaError, match="closed"):
        pool.alloc(16)
    assert bufs[0].size == 0x100


def test_read_only_window_is_refused() -> None:
    with pytest.raises(ValueError, match="writable"):
        WindowDmaPool(memoryview(bytes(16)), BASE)
