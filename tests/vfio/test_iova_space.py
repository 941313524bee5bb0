"""The IOVA allocator: inside the IOMMU's valid ranges, aligned, never at 0, reusable."""

from __future__ import annotations

import pytest

from qathw.errors import DmaError
from qathw.iova import DEFAULT_IOVA_BASE, IovaSpace

MSI_HOLE = [(0, 0xFEE0_0000), (0xFEF0_0000, 1 << 39)]


def test_the_first_block_starts_at_the_base_not_at_zero() -> None:
    assert IovaSpace(MSI_HOLE).reserve(4096) == DEFAULT_IOVA_BASE


def test_blocks_are_rounded_up_to_the_granule_and_do_not_overlap() -> None:
    space = IovaSpace(MSI_HOLE)
    a, b = space.reserve(100), space.reserve(100)
    assert b - a == 4096


def test_alignment_is_honoured() -> None:
    space = IovaSpace(MSI_HOLE)
    space.reserve(4096)
    assert space.reserve(4096, align=1 << 21) % (1 << 21) == 0


def test_no_block_straddles_the_msi_window() -> None:
    space = IovaSpace([(0x200000, 0xFEE0_0000), (0xFEF0_0000, 0x1_0000_0000)])
    space.reserve(0xFEE0_0000 - 0x200000 - 0x1000)
    block = space.reserve(0x2000)
    assert block >= 0xFEF0_0000


def test_a_released_block_is_reused_and_neighbours_coalesce() -> None:
    space = IovaSpace([(0, 0x600000)])
    a, b = space.reserve(0x100000), space.reserve(0x100000)
    space.release(a)
    space.release(b)
    assert space.reserve(0x200000) == a


def test_exhaustion_says_how_much_is_free() -> None:
    space = IovaSpace([(0, 0x300000)])
    space.reserve(0x80000)
    with pytest.raises(DmaError, match=r"no free IOVA range of 0x100000 bytes .* 0x80000 of"):
        space.reserve(0x100000)


def test_releasing_an_unknown_address_is_an_error() -> None:
    with pytest.raises(DmaError, match="not the start of a reserved block"):
        IovaSpace(MSI_HOLE).release(0x1234000)


@pytest.mark.parametrize(("size", "align"), [(0, None), (-1, None), (4096, 3000)])
def test_bad_sizes_and_alignments_are_value_errors(size: int, align: int | None) -> None:
    with pytest.raises(ValueError):
        IovaSpace(MSI_HOLE).reserve(size, align)
