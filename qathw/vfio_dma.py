"""DMA-able memory for a device opened through VFIO: a :class:`~qathw.dma.DmaPool`.

Memory comes in *slabs*: anonymous private mappings (``MADV_DONTFORK``, so a child
process never shares pinned pages), each mapped into the container's IOMMU with
``VFIO_IOMMU_MAP_DMA`` at an IOVA from the container's :class:`~qathw.iova.IovaSpace`.
Buffers are carved from slabs (first fit, aligned in device address). A slab that
becomes empty is unmapped and unpinned, except the last one, which is kept for reuse.
:meth:`VfioDmaPool.close` unmaps everything; pools still open when the interpreter exits
are closed then. This is libusdm's model (docs/hardware.md#vfio) at a smaller scale.

``RLIMIT_MEMLOCK`` is checked before each slab is pinned, and the kernel's ENOMEM is
turned into the same :class:`~qathw.errors.MemlockLimitError` (current and needed).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import mmap
import os
import threading
from typing import Protocol

from qathw.dma import DmaBlock, DmaBuffer
from qathw.errors import DmaError, DmaPoolExhaustedError
from qathw.iova import IovaSpace
from qathw.memlock import can_lock_unlimited, locked_bytes, memlock_error, soft_limit

DEFAULT_SLAB_SIZE = 2 * 1024 * 1024
_GRANULE = 64  # bytes; every buffer is a multiple, so descriptors keep cache-line alignment


class DmaMapper(Protocol):
    """What the pool needs from a VFIO container (:class:`~qathw.vfio.VfioContainer`)."""

    @property
    def iova_space(self) -> IovaSpace: ...

    def map_dma(
        self, vaddr: int, iova: int, size: int, *, read: bool = True, write: bool = True
    ) -> None: ...

    def unmap_dma(self, iova: int, size: int) -> int: ...


class _Slab:
    """One pinned mapping and the free blocks in it (offsets from the slab start)."""

    def __init__(self, mapping: mmap.mmap, iova: int, size: int) -> None:
        self.mapping = mapping
        self.iova = iova
        self.size = size
        self.view: memoryview | None = memoryview(mapping)
        self.free: list[tuple[int, int]] = [(0, size)]
        self.used: dict[int, int] = {}

    def carve(self, size: int, align: int) -> int | None:
        for i, (off, length) in enumerate(self.free):
            at = _round_up(self.iova + off, align) - self.iova
            if at + size > off + length:
                continue
            pieces = [(off, at - off)] if at > off else []
            if at + size < off + length:
                pieces.append((at + size, off + length - at - size))
            self.free[i : i + 1] = pieces
            self.used[at] = size
            return at
        return None

    def give_back(self, at: int) -> None:
        size = self.used.pop(at)
        start, end = at, at + size
        kept: list[tuple[int, int]] = []
        for off, length in self.free:
            if off + length == start:
                start = off
            elif off == end:
                end = off + length
            else:
                kept.append((off, length))
        kept.append((start, end - start))
        kept.sort()
        self.free = kept

    @property
    def empty(self) -> bool:
        return not self.used


class VfioDmaBuffer(DmaBlock):
    """A block of pinned memory the device reaches at :attr:`iova`."""

    __slots__ = ("_pool", "_slab", "_slab_offset")

    def __init__(
        self, pool: VfioDmaPool, slab: _Slab, offset: int, size: int, view: memoryview
    ) -> None:
        super().__init__(slab.iova + offset, size, view)
        self._pool = pool
        self._slab = slab
        self._slab_offset = offset


# Open pools, held strongly: a pool dropped without close() keeps its pages pinned in the
# kernel anyway, so it stays here until close() or interpreter exit unmaps them.
_OPEN_POOLS: set[VfioDmaPool] = set()


@atexit.register
def _close_open_pools() -> None:
    for pool in list(_OPEN_POOLS):
        if pool.pid != os.getpid():
            continue  # inherited across fork(): the mappings are the parent's
        with contextlib.suppress(Exception):
            pool.close()


class VfioDmaPool:
    """DMA buffers pinned and mapped through a VFIO container.

    Args:
        container: the device's container (``device.container``) or any :class:`DmaMapper`.
        capacity: most bytes the pool may pin at once (slabs included).
        slab_size: bytes pinned at a time; larger requests get a slab of their own.

    Raises:
        ValueError: ``capacity`` or ``slab_size`` is not a positive multiple of the page size.
    """

    def __init__(
        self, container: DmaMapper, capacity: int, *, slab_size: int = DEFAULT_SLAB_SIZE
    ) -> None:
        page = mmap.PAGESIZE
        for name, value in (("capacity", capacity), ("slab_size", slab_size)):
            if value <= 0 or value % page:
                raise ValueError(f"{name} {value} is not a positive multiple of {page}")
        self._mapper = container
        self._capacity = capacity
        self._slab_size = min(slab_size, capacity)
        self._slabs: list[_Slab] = []
        self._buffers: dict[int, VfioDmaBuffer] = {}
        self._lock = threading.Lock()
        self._closed = False
        # The process whose pages are pinned. A forked child inherits this object and the
        # container fd, not the slabs (MADV_DONTFORK); an unmap from it would remove the
        # parent's mappings, so a child never unmaps (:meth:`close`).
        self.pid = os.getpid()
        _OPEN_POOLS.add(self)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def pinned(self) -> int:
        """Bytes currently pinned and mapped (the slabs)."""
        return sum(s.size for s in self._slabs)

    @property
    def closed(self) -> bool:
        return self._closed

    def alloc(self, size: int, align: int = 64) -> VfioDmaBuffer:
        """Allocate ``size`` bytes whose IOVA is aligned to ``align``.

        Raises:
            ValueError: ``size`` not positive, or ``align`` not a power of two.
            DmaPoolExhaustedError: the pool's capacity would be exceeded.
            MemlockLimitError: ``RLIMIT_MEMLOCK`` too low to pin another slab.
            DmaError: the pool is closed, or the IOMMU refused the mapping.
        """
        if size <= 0:
            raise ValueError(f"DMA buffer size must be positive, not {size}")
        if align <= 0 or align & (align - 1):
            raise ValueError(f"alignment {align} is not a power of two")
        rounded = _round_up(size, _GRANULE)
        with self._lock:
            if self._closed:
                raise DmaError("the VFIO DMA pool is closed")
            for slab in self._slabs:
                at = slab.carve(rounded, align)
                if at is not None:
                    return self._hand_out(slab, at, size)
            slab = self._new_slab(rounded, align)
            at = slab.carve(rounded, align)
            assert at is not None  # a fresh slab is large and aligned enough
            return self._hand_out(slab, at, size)

    def _hand_out(self, slab: _Slab, at: int, size: int) -> VfioDmaBuffer:
        assert slab.view is not None
        buf = VfioDmaBuffer(self, slab, at, size, slab.view[at : at + size])
        self._buffers[id(buf)] = buf
        return buf

    def _new_slab(self, size: int, align: int) -> _Slab:
        page = mmap.PAGESIZE
        slab_size = max(self._slab_size, _round_up(size, page))
        if self.pinned + slab_size > self._capacity:
            in_use = sum(sum(s.used.values()) for s in self._slabs)
            raise DmaPoolExhaustedError(
                f"VFIO DMA pool of {self._capacity} bytes cannot fit {size} more bytes "
                f"({in_use} in use, {self.pinned} pinned)",
                hint="free buffers you are done with, or create the pool with a larger capacity",
            )
        if not can_lock_unlimited() and locked_bytes() + slab_size > soft_limit():
            raise memlock_error(slab_size)
        space = self._mapper.iova_space
        slab_align = max(align, min(1 << (slab_size - 1).bit_length(), DEFAULT_SLAB_SIZE))
        iova = space.reserve(slab_size, slab_align)
        mapping: mmap.mmap | None = None
        try:
            mapping = mmap.mmap(
                -1,
                slab_size,
                mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
            mapping.madvise(mmap.MADV_DONTFORK)
            self._mapper.map_dma(_address_of(mapping), iova, slab_size)
        except BaseException:
            if mapping is not None:
                mapping.close()
            space.release(iova)
            raise
        slab = _Slab(mapping, iova, slab_size)
        self._slabs.append(slab)
        return slab

    def free(self, buf: DmaBuffer) -> None:
        """Give a buffer back; its view is released and must not be used again.

        Raises:
            DmaError: the buffer is not this pool's, or was freed already.
        """
        with self._lock:
            if self._closed and isinstance(buf, VfioDmaBuffer) and buf._pool is self:
                return  # closing the pool released every buffer already
            if not isinstance(buf, VfioDmaBuffer) or self._buffers.get(id(buf)) is not buf:
                freed = isinstance(buf, VfioDmaBuffer) and buf.freed and buf._pool is self
                state = "was freed already" if freed else "is not from this pool"
                raise DmaError(f"DMA buffer {buf!r} {state}")
            del self._buffers[id(buf)]
            slab = buf._slab
            buf._release()
            slab.give_back(buf._slab_offset)
            if slab.empty and len(self._slabs) > 1:
                self._slabs.remove(slab)
                self._drop_slab(slab)

    def _drop_slab(self, slab: _Slab) -> None:
        try:
            self._mapper.unmap_dma(slab.iova, slab.size)
        finally:
            self._mapper.iova_space.release(slab.iova)
            if slab.view is not None:
                with contextlib.suppress(BufferError):
                    slab.view.release()
                slab.view = None
            with contextlib.suppress(BufferError):  # a caller still holds a slice: GC closes it
                slab.mapping.close()

    def close(self) -> None:
        """Unmap and unpin every slab; every buffer becomes unusable. Idempotent.

        In a forked child the pool is only forgotten: its mappings are the parent's.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for buf in list(self._buffers.values()):
                buf._release()
            self._buffers.clear()
            _OPEN_POOLS.discard(self)
            if self.pid != os.getpid():
                self._slabs.clear()  # the parent's mappings: not this process's to remove
                return
            errors: list[BaseException] = []
            for slab in self._slabs:
                try:
                    self._drop_slab(slab)
                except Exception as exc:  # keep going: every slab must be dropped
                    errors.append(exc)
            self._slabs.clear()
            _OPEN_POOLS.discard(self)
        if errors:
            raise errors[0]

    def __enter__(self) -> VfioDmaPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.pinned} of {self._capacity} bytes pinned"
        return f"<VfioDmaPool {state}>"


def _address_of(mapping: mmap.mmap) -> int:
    anchor = ctypes.c_char.from_buffer(mapping)
    try:
        return ctypes.addressof(anchor)
    finally:
        del anchor  # drop the buffer export at once, so the mapping can be closed later


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align
