"""Device memory: the only memory an emulated endpoint can reach by DMA.

Every address the device model follows (ring bases, content descriptors, buffers, SGL
entries, IVs, digests, AAD) is an IOVA; :class:`DeviceMemory` turns it into a view of the
device-memory window, or raises :class:`DmaFault`. Nothing outside the window is ever
touched: a real device behind an IOMMU would take a DMA fault there.
"""

from __future__ import annotations


class DmaFault(Exception):  # noqa: N818 - the hardware term: a DMA fault
    """An access outside device memory (or misaligned where alignment is required).

    Attributes:
        iova: the device address asked for.
        length: bytes asked for.
        reason: why it faulted, for the device error log.
    """

    def __init__(self, iova: int, length: int, reason: str) -> None:
        super().__init__(f"DMA fault at {iova:#x}+{length:#x}: {reason}")
        self.iova = iova
        self.length = length
        self.reason = reason


class DeviceMemory:
    """IOVA-addressed access to the device-memory window.

    Args:
        window: a writable view of the device-memory window.
        iova_base: the device address of ``window[0]``.
    """

    def __init__(self, window: memoryview, iova_base: int) -> None:
        if window.readonly:
            raise ValueError("device memory must be writable")
        self._window = window
        self._base = iova_base
        self._end = iova_base + len(window)

    @property
    def iova_base(self) -> int:
        return self._base

    @property
    def size(self) -> int:
        return self._end - self._base

    def contains(self, iova: int, length: int) -> bool:
        """True when ``[iova, iova + length)`` lies inside device memory."""
        return length >= 0 and self._base <= iova and iova + length <= self._end

    def view(self, iova: int, length: int, *, align: int = 1) -> memoryview:
        """A zero-copy view of ``length`` bytes at ``iova``.

        Args:
            iova: device address of the first byte.
            length: bytes wanted (0 is allowed and gives an empty view).
            align: required alignment of ``iova`` (a power of two).

        Raises:
            DmaFault: the range leaves device memory, or ``iova`` is misaligned.
        """
        if not self.contains(iova, length):
            raise DmaFault(
                iova,
                length,
                f"outside device memory [{self._base:#x}, {self._end:#x})",
            )
        if iova & (align - 1):
            raise DmaFault(iova, length, f"not {align}-byte aligned")
        start = iova - self._base
        return self._window[start : start + length]

    def read(self, iova: int, length: int) -> bytes:
        """A copy of ``length`` bytes at ``iova`` (raises :class:`DmaFault`)."""
        return bytes(self.view(iova, length))

    def write(self, iova: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``iova`` (raises :class:`DmaFault`)."""
        self.view(iova, len(data))[:] = data

    def release(self) -> None:
        """Release the window view (before the backing mapping is closed)."""
        self._window.release()
