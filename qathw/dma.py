"""DMA-able memory: buffers with a device address (IOVA) and a CPU view.

The transport and request layers allocate descriptors, rings and data buffers from a
:class:`DmaPool`; they never know where the memory comes from. Implementations:

* the device-memory window of an emulated endpoint (the device can reach nothing else):
  :class:`WindowDmaPool`, below;
* VFIO: anonymous memory mapped into the IOMMU with ``VFIO_IOMMU_MAP_DMA`` (``qathw.vfio``).
"""

from __future__ import annotations

import contextlib
from typing import Protocol, runtime_checkable

from qathw.errors import DmaError, DmaPoolExhaustedError


@runtime_checkable
class DmaBuffer(Protocol):
    """A block of DMA-able memory.

    Attributes:
        iova: the address the device uses for the first byte.
        size: bytes in the block.
        view: a writable byte view of the block (``len(view) == size``).
    """

    @property
    def iova(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def view(self) -> memoryview: ...


@runtime_checkable
class DmaPool(Protocol):
    """Where DMA-able buffers come from."""

    @property
    def capacity(self) -> int:
        """Bytes the pool manages in total."""
        ...

    def alloc(self, size: int, align: int = 64) -> DmaBuffer:
        """Allocate ``size`` bytes aligned to ``align`` (a power of two) in device address.

        Raises:
            DmaPoolExhaustedError: no free block is large enough (the message says how
                large the pool is and how much is free).
            ValueError: ``size`` is not positive or ``align`` not a power of two.
        """
        ...

    def free(self, buf: DmaBuffer) -> None:
        """Give a buffer back. Freeing twice or a foreign buffer raises :class:`DmaError`."""
        ...

    def close(self) -> None:
        """Release the pool's memory and mappings; buffers become unusable."""
        ...


# --- the device-memory window of an emulated endpoint -----------------------------------


class DmaBlock:
    """What every DMA buffer implementation shares: IOVA, size, and a view until freed.

    Attributes:
        iova: device address of the first byte.
        size: bytes in the block.
        view: a writable byte view of the block; released when the block is freed or the
            pool closes (drop any numpy array made over it first).
    """

    __slots__ = ("_iova", "_size", "_view")

    def __init__(self, iova: int, size: int, view: memoryview) -> None:
        self._iova = iova
        self._size = size
        self._view: memoryview | None = view

    @property
    def iova(self) -> int:
        return self._iova

    @property
    def size(self) -> int:
        return self._size

    @property
    def view(self) -> memoryview:
        if self._view is None:
            raise DmaError(f"DMA buffer at IOVA {self._iova:#x} was freed")
        return self._view

    @property
    def freed(self) -> bool:
        return self._view is None

    def _release(self) -> None:
        """Release the view (the pool calls this on free and close)."""
        view, self._view = self._view, None
        if view is not None:
            # A caller still holding a slice of it keeps that slice valid: not our error.
            with contextlib.suppress(BufferError):
                view.release()

    def __repr__(self) -> str:
        state = "freed" if self._view is None else f"{self._size:#x} bytes"
        return f"<{type(self).__name__} iova={self._iova:#x} {state}>"


class WindowDmaBuffer(DmaBlock):
    """A block of a :class:`WindowDmaPool`."""

    __slots__ = ("_offset", "_pool")

    def __init__(self, pool: WindowDmaPool, offset: int, size: int, view: memoryview) -> None:
        super().__init__(pool.iova_base + offset, size, view)
        self._pool = pool
        self._offset = offset


class WindowDmaPool:
    """DMA-able memory carved from one window whose device addresses are known.

    This is the pool of an emulated endpoint: its device-memory window, where IOVA
    ``iova_base + x`` is byte ``x`` of the window. The device can reach nothing else, so
    everything the driver hands it (rings, descriptors, buffers) comes from here.

    Allocation is first fit over an address-ordered free list; freeing coalesces with
    both neighbours, so a pool whose buffers are all freed is one block again.
    Alignment is of the IOVA (what the device checks), not of the CPU address.

    Args:
        window: a writable byte view of the window (e.g. ``Mmio.view()`` of it).
        iova_base: device address of ``window[0]``.
        name: how errors name the pool.
        hint: what to tell the user when the pool is exhausted.

    Raises:
        ValueError: the window is read-only or empty.
    """

    def __init__(
        self,
        window: memoryview,
        iova_base: int,
        *,
        name: str = "DMA pool",
        hint: str = "free buffers you no longer need, or use a larger pool",
    ) -> None:
        if window.readonly:
            raise ValueError("a DMA pool window must be writable")
        if len(window) == 0:
            raise ValueError("a DMA pool window must not be empty")
        self._window: memoryview | None = window
        self._base = iova_base
        self._capacity = len(window)
        self._name = name
        self._hint = hint
        self._free: list[tuple[int, int]] = [(0, len(window))]  # (offset, size), by offset
        self._used: dict[int, WindowDmaBuffer] = {}  # offset -> buffer

    @property
    def capacity(self) -> int:
        """Bytes the pool manages in total."""
        return self._capacity

    @property
    def iova_base(self) -> int:
        """Device address of the first byte of the window."""
        return self._base

    @property
    def free_bytes(self) -> int:
        """Bytes not allocated (possibly fragmented)."""
        return sum(size for _, size in self._free)

    @property
    def largest_free(self) -> int:
        """The largest free block, before alignment."""
        return max((size for _, size in self._free), default=0)

    def alloc(self, size: int, align: int = 64) -> WindowDmaBuffer:
        """Allocate ``size`` bytes whose IOVA is a multiple of ``align``.

        Args:
            size: bytes wanted (> 0).
            align: a power of two (rings: their own size; descriptors: 64).

        Returns:
            The buffer; its view is zero-copy into the window.

        Raises:
            DmaPoolExhaustedError: no free block fits (the message says how large the pool
                is, how much is free and the largest free block).
            DmaError: the pool is closed.
            ValueError: ``size`` is not positive or ``align`` not a power of two.
        """
        if self._window is None:
            raise DmaError(f"{self._name} is closed")
        if size <= 0:
            raise ValueError(f"DMA allocation size must be positive, not {size}")
        if align <= 0 or align & (align - 1):
            raise ValueError(f"DMA alignment must be a power of two, not {align}")
        for i, (off, blk) in enumerate(self._free):
            start = off + (-(self._base + off) % align)
            if start + size > off + blk:
                continue
            pieces = []
            if start > off:
                pieces.append((off, start - off))
            if start + size < off + blk:
                pieces.append((start + size, off + blk - start - size))
            self._free[i : i + 1] = pieces
            buf = WindowDmaBuffer(self, start, size, self._window[start : start + size])
            self._used[start] = buf
            return buf
        raise DmaPoolExhaustedError(
            f"{self._name} cannot allocate {size} bytes aligned to {align}: "
            f"{self.free_bytes} of {self._capacity} bytes free, "
            f"largest free block {self.largest_free} bytes",
            hint=self._hint,
        )

    def carve(self, offset: int, size: int, *, name: str, hint: str | None = None) -> WindowDmaPool:
        """A pool over bytes ``[offset, offset + size)`` of the window, taken from this one.

        Several processes may map the same window (an emulated endpoint shared between
        processes), each with its own bookkeeping; carving ranges they agree on (one per
        bank) keeps them out of each other's memory. The range stays allocated here until
        this pool closes.

        Args:
            offset: first byte, from the start of the window.
            size: bytes (> 0).
            name: how errors name the new pool.
            hint: what to tell the user when the new pool is exhausted.

        Raises:
            DmaError: the pool is closed, or the range is not wholly free.
            ValueError: the range is empty or leaves the window.
        """
        if self._window is None:
            raise DmaError(f"{self._name} is closed")
        if size <= 0 or offset < 0 or offset + size > self._capacity:
            raise ValueError(
                f"cannot carve [{offset:#x}, {offset + size:#x}) from a "
                f"{self._capacity:#x}-byte window"
            )
        for i, (off, blk) in enumerate(self._free):
            if off <= offset and offset + size <= off + blk:
                pieces = []
                if offset > off:
                    pieces.append((off, offset - off))
                if offset + size < off + blk:
                    pieces.append((offset + size, off + blk - offset - size))
                self._free[i : i + 1] = pieces
                buf = WindowDmaBuffer(self, offset, size, self._window[offset : offset + size])
                self._used[offset] = buf
                return WindowDmaPool(buf.view, buf.iova, name=name, hint=hint or self._hint)
        raise DmaError(
            f"{self._name}: bytes [{offset:#x}, {offset + size:#x}) are already in use",
            hint="carve a range before allocating from the pool it comes from",
        )

    def free(self, buf: DmaBuffer) -> None:
        """Give ``buf`` back; its view is released.

        Raises:
            DmaError: ``buf`` is not a live buffer of this pool (freed twice, or foreign).
        """
        if self._window is None:
            raise DmaError(f"{self._name} is closed")
        off = buf.iova - self._base
        if not isinstance(buf, WindowDmaBuffer) or self._used.get(off) is not buf:
            raise DmaError(
                f"{self._name}: buffer at {buf.iova:#x} is not allocated here",
                hint="free each buffer once, to the pool it came from",
            )
        del self._used[off]
        buf._release()
        self._insert_free(off, buf.size)

    def _insert_free(self, off: int, size: int) -> None:
        lo, hi = 0, len(self._free)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._free[mid][0] < off:
                lo = mid + 1
            else:
                hi = mid
        i = lo
        if i < len(self._free) and off + size == self._free[i][0]:
            size += self._free[i][1]
            del self._free[i]
        if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == off:
            off, size = self._free[i - 1][0], self._free[i - 1][1] + size
            i -= 1
            del self._free[i]
        self._free.insert(i, (off, size))

    def close(self) -> None:
        """Release every buffer's view and the window view; buffers become unusable."""
        for buf in self._used.values():
            buf._release()
        self._used.clear()
        self._free = []
        if self._window is not None:
            self._window.release()
            self._window = None

    def __repr__(self) -> str:
        state = "closed" if self._window is None else f"{self.free_bytes}/{self._capacity} free"
        return f"<WindowDmaPool {self._name} iova={self._base:#x}: {state}>"
