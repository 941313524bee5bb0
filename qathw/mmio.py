"""Register access on a memory mapping: one small class, bounds-checked, closes cleanly.

Every 32- and 64-bit register access in qathw goes through :class:`Mmio`. Its typed views
(``memoryview.cast("I")`` / ``cast("Q")``) are built once when the window is made, so an
access is one native load or store of the right width (CPython's ``struct`` and slicing
give no width guarantee; a cast memoryview index does one aligned access).

A window can be carved out of another (:meth:`Mmio.window`) — the CSR and PMISC BARs of
an emulated endpoint are windows of one shared file. Closing a window releases its views;
closing the root also closes every window made from it and then the mapping, so
``mmap.close`` never fails with "exported pointers exist".
"""

from __future__ import annotations

import mmap
import os
from types import TracebackType

from qathw.errors import DeviceAccessError, MmioError


def _outside(name: str, what: str, offset: int, length: int, total: int) -> str:
    return f"{name}: {what} [{offset:#x}, {offset + length:#x}) outside {total:#x} bytes"


class Mmio:
    """A bounds-checked register window over a memory mapping.

    Use :meth:`map_file` to map a file (a sysfs ``resourceN``, a fakedev file, a VFIO region
    through its device fd), or wrap an existing mapping.

    Args:
        mapping: the mapping (an ``mmap.mmap``, or any writable buffer).
        offset: where this window starts in ``mapping``; 8-byte aligned.
        size: bytes in the window; the rest of ``mapping`` when ``None``.
        name: how errors name this window ("BAR0 of 0000:6b:00.1").
        owns_mapping: close ``mapping`` when this window is closed.

    Raises:
        MmioError: the window does not fit in the mapping or is misaligned.
    """

    def __init__(
        self,
        mapping: mmap.mmap | bytearray | memoryview,
        offset: int = 0,
        size: int | None = None,
        *,
        name: str = "mmio",
        owns_mapping: bool = False,
    ) -> None:
        total = len(mapping)
        if size is None:
            size = total - offset
        if offset < 0 or size <= 0 or offset + size > total:
            raise MmioError(_outside(name, "window", offset, size, total))
        if offset % 8:
            raise MmioError(f"{name}: window offset {offset:#x} is not 8-byte aligned")
        self._mapping = mapping
        self._owns = owns_mapping
        self._name = name
        self._offset = offset
        self._size = size
        self._bytes: memoryview | None = memoryview(mapping)[offset : offset + size]
        self._u32: memoryview | None = self._bytes[: size - size % 4].cast("I")
        self._u64: memoryview | None = self._bytes[: size - size % 8].cast("Q")
        self._children: list[Mmio] = []

    @classmethod
    def map_file(
        cls,
        path: str | os.PathLike[str],
        size: int | None = None,
        *,
        offset: int = 0,
        writable: bool = True,
        name: str | None = None,
    ) -> Mmio:
        """Map ``size`` bytes of ``path`` starting at file offset ``offset``.

        Args:
            path: the file to map (``/sys/bus/pci/devices/<bdf>/resource0``, a fakedev file).
            size: bytes to map; the file's size minus ``offset`` when ``None``.
            offset: file offset of the first byte; a multiple of the page size.
            writable: map read-write (``False``: read-only; writes raise).
            name: how errors name the window; the path by default.

        Returns:
            A window that owns its mapping.

        Raises:
            DeviceAccessError: the file cannot be opened or mapped (errno, path, hint kept).
        """
        label = name or os.fspath(path)
        flags = os.O_RDWR if writable else os.O_RDONLY
        try:
            fd = os.open(path, flags | os.O_CLOEXEC)
        except OSError as exc:
            raise DeviceAccessError.from_oserror(exc, f"opening {label}") from exc
        try:
            if size is None:
                size = os.fstat(fd).st_size - offset
            if size <= 0:
                raise DeviceAccessError(
                    f"{label} has nothing to map at offset {offset:#x}",
                    hint="is the device's BAR enabled and the file the right one?",
                    path=path,
                )
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            try:
                mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, prot, offset=offset)
            except OSError as exc:
                raise DeviceAccessError.from_oserror(exc, f"mapping {label}") from exc
        finally:
            os.close(fd)
        return cls(mapping, 0, size, name=label, owns_mapping=True)

    # --- properties -----------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes in this window."""
        return self._size

    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._bytes is None

    # --- register access ------------------------------------------------------------

    def _check(self, offset: int, width: int) -> None:
        if self._bytes is None:
            raise MmioError(f"{self._name}: access after close")
        if offset < 0 or offset + width > self._size:
            raise MmioError(
                f"{self._name}: {width * 8}-bit access at {offset:#x} outside {self._size:#x} bytes"
            )
        if offset % width:
            raise MmioError(f"{self._name}: {width * 8}-bit access at {offset:#x} is unaligned")

    def read32(self, offset: int) -> int:
        """Read the 32-bit register at ``offset`` (bytes from the window start)."""
        self._check(offset, 4)
        assert self._u32 is not None
        return int(self._u32[offset >> 2])

    def write32(self, offset: int, value: int) -> None:
        """Write the 32-bit register at ``offset``; ``value`` must fit in 32 bits."""
        self._check(offset, 4)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"value {value:#x} does not fit in 32 bits")
        assert self._u32 is not None
        self._u32[offset >> 2] = value

    def read64(self, offset: int) -> int:
        """Read the 64-bit register at ``offset``."""
        self._check(offset, 8)
        assert self._u64 is not None
        return int(self._u64[offset >> 3])

    def write64(self, offset: int, value: int) -> None:
        """Write the 64-bit register at ``offset``; ``value`` must fit in 64 bits."""
        self._check(offset, 8)
        if not 0 <= value < 1 << 64:
            raise ValueError(f"value {value:#x} does not fit in 64 bits")
        assert self._u64 is not None
        self._u64[offset >> 3] = value

    # --- bulk memory and sub-windows ------------------------------------------------

    def view(self, offset: int = 0, length: int | None = None) -> memoryview:
        """A byte view of ``length`` bytes at ``offset`` (ring memory, buffers).

        The caller must release the view (``with mmio.view(...) as v`` or ``v.release()``)
        before the window is closed.
        """
        if self._bytes is None:
            raise MmioError(f"{self._name}: view after close")
        if length is None:
            length = self._size - offset
        if offset < 0 or length < 0 or offset + length > self._size:
            raise MmioError(_outside(self._name, "view", offset, length, self._size))
        return self._bytes[offset : offset + length]

    def window(self, offset: int, size: int, *, name: str | None = None) -> Mmio:
        """A sub-window sharing this window's mapping; closed when this one closes."""
        if self._bytes is None:
            raise MmioError(f"{self._name}: window after close")
        if offset < 0 or size <= 0 or offset + size > self._size:
            raise MmioError(_outside(self._name, "sub-window", offset, size, self._size))
        child = Mmio(self._bytes, offset, size, name=name or f"{self._name}+{offset:#x}")
        self._children.append(child)
        return child

    def close(self) -> None:
        """Release the views (and sub-windows); close the mapping if this window owns it."""
        for child in self._children:
            child.close()
        self._children.clear()
        for view in (self._u32, self._u64, self._bytes):
            if view is not None:
                view.release()
        self._u32 = self._u64 = self._bytes = None
        if self._owns and isinstance(self._mapping, mmap.mmap) and not self._mapping.closed:
            self._mapping.close()

    def __enter__(self) -> Mmio:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._size:#x} bytes"
        return f"<Mmio {self._name}: {state}>"
