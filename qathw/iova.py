"""Device addresses (IOVAs) for DMA: an allocator within the IOMMU's valid ranges.

A VFIO container has one IOVA space for every device attached to it; the container owns
one :class:`IovaSpace` (built from the ranges ``VFIO_IOMMU_GET_INFO`` reports, which
leave out the MSI window and reserved regions) and every DMA pool on it reserves from
there, so no two mappings ever collide. Like qatlib's allocator it never hands out IOVA 0
and starts at 2 MiB.
"""

from __future__ import annotations

import mmap

from qathw.errors import DmaError

DEFAULT_IOVA_BASE = 0x20_0000  # 2 MiB, as qatlib: never hand out IOVA 0


class IovaSpace:
    """Allocator of device addresses within the IOMMU's valid ranges.

    Args:
        ranges: valid IOVA ranges as half-open ``(start, end)`` pairs.
        base: lowest IOVA handed out (IOVA 0 never is).
        granule: the IOMMU page size; every block is a multiple of it and aligned to it.
    """

    def __init__(
        self,
        ranges: list[tuple[int, int]],
        *,
        base: int = DEFAULT_IOVA_BASE,
        granule: int = mmap.PAGESIZE,
    ) -> None:
        if granule <= 0 or granule & (granule - 1):
            raise ValueError(f"IOVA granule {granule:#x} is not a power of two")
        self._granule = granule
        start_min = max(base, granule)
        free: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            start = max(_round_up(start, granule), start_min)
            end = end // granule * granule
            if end > start:
                free.append((start, end))
        self._free = free
        self._total = sum(e - s for s, e in free)
        self._used: dict[int, int] = {}

    @property
    def granule(self) -> int:
        return self._granule

    @property
    def free_bytes(self) -> int:
        return sum(e - s for s, e in self._free)

    def reserve(self, size: int, align: int | None = None) -> int:
        """Reserve ``size`` bytes (rounded up to the granule) aligned to ``align``.

        Returns:
            The first IOVA of the block.

        Raises:
            ValueError: ``size`` is not positive or ``align`` not a power of two.
            DmaError: no free range is large enough.
        """
        if size <= 0:
            raise ValueError(f"IOVA block size must be positive, not {size}")
        if align is not None and (align <= 0 or align & (align - 1)):
            raise ValueError(f"IOVA alignment {align:#x} is not a power of two")
        align = max(align or self._granule, self._granule)
        size = _round_up(size, self._granule)
        for i, (start, end) in enumerate(self._free):
            at = _round_up(start, align)
            if at + size > end:
                continue
            pieces = [(start, at)] if at > start else []
            if at + size < end:
                pieces.append((at + size, end))
            self._free[i : i + 1] = pieces
            self._used[at] = size
            return at
        raise DmaError(
            f"no free IOVA range of {size:#x} bytes (aligned {align:#x}); "
            f"{self.free_bytes:#x} of {self._total:#x} bytes free",
            hint="free DMA buffers you no longer need, or use fewer, larger pools",
        )

    def release(self, iova: int) -> None:
        """Give back the block that starts at ``iova``.

        Raises:
            DmaError: ``iova`` is not the start of a reserved block.
        """
        size = self._used.pop(iova, None)
        if size is None:
            raise DmaError(f"IOVA {iova:#x} is not the start of a reserved block")
        start, end = iova, iova + size
        merged: list[tuple[int, int]] = []
        for s, e in self._free:
            if e == start:
                start = s
            elif s == end:
                end = e
            else:
                merged.append((s, e))
        merged.append((start, end))
        merged.sort()
        self._free = merged


def lease_space(
    ranges: list[tuple[int, int]], window: tuple[int, int], *, granule: int = mmap.PAGESIZE
) -> IovaSpace:
    """An allocator confined to ``window``, a lease's part of a shared container.

    Args:
        ranges: the container's valid IOVA ranges, half-open.
        window: ``(start, end)`` the lender gave this process, half-open.
        granule: the IOMMU page size.

    Returns:
        An :class:`IovaSpace` over the valid ranges' intersection with ``window``.
    """
    lo, hi = window
    inside = [(max(s, lo), min(e, hi)) for s, e in ranges if s < hi and e > lo]
    return IovaSpace(inside, base=lo, granule=granule)


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align
