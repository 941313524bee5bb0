"""Source and destination buffers as the device sees them: flat, or scatter-gather lists.

An SGL is one logical buffer: request offsets count bytes of its entries concatenated
(docs/hardware.md#sgl). Every address goes through :class:`~fakedev.memory.DeviceMemory`, so a
bad one raises :class:`~fakedev.memory.DmaFault`; the list itself is bounded (entry
count, 8-byte alignment) before it is walked, and so is its total length
(docs/hardware.md#request-bounds): entries may alias, and a guest must not make the
backend gather more bytes than its device memory holds.
"""

from __future__ import annotations

from fakedev import wire
from fakedev.engine.reject import Reject
from fakedev.memory import DeviceMemory
from qathw.fw.common import Status
from qathw.fw.sgl import (
    SGL_DESC_ALIGN,
    SGL_ENTRY_SZ,
    SGL_HEADER_SZ,
    SGL_MAX_ENTRIES,
    SGL_NUM_BUFS_FIELD,
    SGL_NUM_BUFS_OFFSET,
)

# The device's length and counter fields are 32-bit: no request moves more bytes.
MAX_REQUEST_BYTES = 0xFFFF_FFFF


def max_logical_length(memory: DeviceMemory) -> int:
    """The longest logical buffer a request may name (docs/hardware.md#request-bounds)."""
    return min(memory.size, MAX_REQUEST_BYTES)


class LogicalBuffer:
    """Bytes spread over one or more device-memory ranges, addressed as one.

    Args:
        memory: device memory the ranges live in.
        ranges: ``(iova, length)`` pieces, in order.
    """

    __slots__ = ("_memory", "_ranges", "length")

    def __init__(self, memory: DeviceMemory, ranges: list[tuple[int, int]]) -> None:
        self._memory = memory
        self._ranges = ranges
        self.length = sum(n for _, n in ranges)
        for iova, n in ranges:  # fault now, before anything is read or written
            memory.view(iova, n)

    def _pieces(self, offset: int, length: int) -> list[tuple[int, int]]:
        """Device ranges covering ``[offset, offset+length)``."""
        if offset < 0 or length < 0 or offset + length > self.length:
            raise Reject(
                Status.INVALID_PARAM,
                f"bytes [{offset}, {offset + length}) outside a {self.length}-byte buffer",
            )
        out: list[tuple[int, int]] = []
        pos = 0
        for iova, n in self._ranges:
            if length <= 0:
                break
            if offset < pos + n:
                skip = max(0, offset - pos)
                take = min(n - skip, length)
                if take > 0:
                    out.append((iova + skip, take))
                    offset += take
                    length -= take
            pos += n
        return out

    def read(self, offset: int, length: int) -> bytes:
        """A copy of ``length`` bytes at logical ``offset``."""
        pieces = self._pieces(offset, length)
        if len(pieces) == 1:
            return self._memory.read(*pieces[0])
        return b"".join(self._memory.view(i, n) for i, n in pieces)  # one allocation

    def gather(self, offset: int, length: int) -> bytearray:
        """A writable copy of ``length`` bytes at logical ``offset``: one allocation."""
        out = bytearray(length)
        pos = 0
        for iova, n in self._pieces(offset, length):
            out[pos : pos + n] = self._memory.view(iova, n)
            pos += n
        return out

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at logical ``offset``."""
        mv = memoryview(data).cast("B")
        pos = 0
        for iova, n in self._pieces(offset, len(mv)):
            self._memory.write(iova, mv[pos : pos + n])
            pos += n


def open_buffer(memory: DeviceMemory, addr: int, length: int, sgl: bool) -> LogicalBuffer:
    """The logical buffer a request's address names.

    Args:
        memory: device memory.
        addr: ``src_data_addr`` or ``dest_data_addr``.
        length: ``src_length`` / ``dst_length`` (flat buffers only; SGLs carry their own).
        sgl: the request's pointer type is SGL.

    Raises:
        Reject: a misaligned list, too many entries, or entries longer in total than
            :func:`max_logical_length` (INVALID_PARAM).
        DmaFault: the list or an entry leaves device memory.
    """
    if not sgl:
        return LogicalBuffer(memory, [(addr, length)])
    if addr % SGL_DESC_ALIGN:
        raise Reject(Status.INVALID_PARAM, f"buffer list at {addr:#x} is not 8-byte aligned")
    count = SGL_NUM_BUFS_FIELD
    (num,) = count.unpack(memory.read(addr + SGL_NUM_BUFS_OFFSET, count.size))
    if num == 0 or num > SGL_MAX_ENTRIES:
        raise Reject(Status.INVALID_PARAM, f"buffer list has {num} entries (1..{SGL_MAX_ENTRIES})")
    raw = memory.read(addr + SGL_HEADER_SZ, SGL_ENTRY_SZ * num)
    ranges = wire.sgl_ranges(raw)
    total, limit = sum(n for _, n in ranges), max_logical_length(memory)
    if total > limit:
        raise Reject(
            Status.INVALID_PARAM, f"buffer list holds {total} bytes, over the {limit}-byte bound"
        )
    return LogicalBuffer(memory, ranges)
