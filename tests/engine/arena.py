"""A bump allocator over a fake device's memory, for building requests in tests."""

from __future__ import annotations

import random
import struct

from fakedev.memory import DeviceMemory
from qathw.service import wire as ops

BASE = 0x10_0000_0000


class Arena:
    """Device memory with an allocator: put bytes in, get IOVAs out.

    Args:
        size: bytes of device memory.
        base: IOVA of the first byte.
    """

    def __init__(self, size: int = 1 << 21, base: int = BASE) -> None:
        self.buf = bytearray(size)
        self.memory = DeviceMemory(memoryview(self.buf), base)
        self.base = base
        self._next = base

    def alloc(self, n: int, align: int = 64) -> int:
        iova = (self._next + align - 1) & ~(align - 1)
        if iova + n > self.base + len(self.buf):
            raise MemoryError("arena full")
        self._next = iova + n
        return iova

    def put(self, data: bytes, align: int = 64) -> int:
        iova = self.alloc(max(len(data), 1), align)
        self.memory.write(iova, data)
        return iova

    def get(self, iova: int, n: int) -> bytes:
        return self.memory.read(iova, n)

    def flat(self, data: bytes) -> ops.Flat:
        return ops.Flat(self.put(data), len(data))

    def sgl(self, data: bytes, pieces: list[int], rng: random.Random | None = None) -> ops.Sgl:
        """``data`` scattered over entries of the given sizes (the last takes the rest).

        Entries are placed with random gaps and alignments, in shuffled address order, so
        that contiguity cannot hide a bug.
        """
        rng = rng or random.Random(0)
        sizes: list[int] = []
        left = len(data)
        for p in pieces:
            take = min(max(p, 0), left)
            if take:
                sizes.append(take)
                left -= take
        if left or not sizes:
            sizes.append(left)
        room = max(sizes) + 48
        spots = [
            self.alloc(room, align=rng.choice((1, 8, 64))) + rng.randrange(0, 47) for _ in sizes
        ]
        rng.shuffle(spots)  # entry order differs from address order
        entries = []
        pos = 0
        for i in range(len(sizes)):
            self.memory.write(spots[i], data[pos : pos + sizes[i]])
            entries.append((spots[i], sizes[i]))
            pos += sizes[i]
        desc = self.put(ops.sgl_descriptor(entries), align=8)
        return ops.Sgl(desc, len(data))

    def read_buffer(self, buf: ops.Flat | ops.Sgl) -> bytes:
        """The bytes a flat buffer or SGL currently holds, concatenated."""
        if isinstance(buf, ops.Flat):
            return self.get(buf.iova, buf.length)
        (num,) = struct.unpack("<I", self.get(buf.iova + 8, 4))
        out = b""
        for i in range(num):
            n, addr = struct.unpack("<I4xQ", self.get(buf.iova + 16 + 16 * i, 16))
            out += self.get(addr, n)
        return out
