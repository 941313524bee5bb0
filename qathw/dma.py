"""DMA-able memory: buffers with a device address (IOVA) and a CPU view.

The transport and request layers allocate descriptors, rings and data buffers from a
:class:`DmaPool`; they never know where the memory comes from. Implementations:

* the device-memory window of an emulated endpoint (the device can reach nothing else);
* VFIO: anonymous memory mapped into the IOMMU with ``VFIO_IOMMU_MAP_DMA``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
