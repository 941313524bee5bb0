"""Data buffers: the caller's bytes staged into DMA memory, and zero-copy device buffers.

The device reads and writes only DMA memory (an emulated endpoint: nothing outside its
device-memory window at all). There are two ways to give it data:

* **any bytes-like object** (``bytes``, ``bytearray``, ``memoryview``, a numpy array, ...)
  — copied into DMA memory for the request and the result copied back as ``bytes``; a
  list or tuple of bytes-like pieces becomes a scatter-gather list, one entry per piece
  (each its own DMA block: the request spans as many pages as the data has);
* **a buffer allocated from the instance** — :class:`DeviceBuffer` (flat) or
  :class:`ScatterBuffer` (pages described by a buffer list) — filled by the caller and
  processed where it is, in place or into another such buffer: zero copies.

The staging here is internal to the request layer; applications see the two buffer
classes and pass bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import DmaError
from qathw.fw.sgl import SGL_DESC_ALIGN, SGL_MAX_ENTRIES
from qathw.service import wire

DATA_ALIGN = 64  # cache line: what DPDK aligns data buffers to


def lines(size: int) -> int:
    """``size`` rounded up to whole cache lines (at least one).

    Every allocation of the request layer is whole lines: one that ended mid-line would
    leave a sliver before the next aligned one, and slivers slow every later allocation.
    """
    return (max(size, 1) + DATA_ALIGN - 1) // DATA_ALIGN * DATA_ALIGN


def as_view(data: object, what: str = "data") -> memoryview:
    """``data`` as a flat byte view (no copy when it is contiguous).

    Raises:
        TypeError: not bytes-like (a ``str``, say).
    """
    if isinstance(data, str):
        raise TypeError(f"{what} must be bytes-like, not str (encode it first)")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}") from None
    if view.c_contiguous:
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    return memoryview(view.tobytes())


class DeviceBuffer:
    """Bytes in an instance's DMA memory: the device reads and writes them where they are.

    Get one from ``instance.alloc(size)``; fill :attr:`view`; pass it to a session call
    (in place, or with ``out=`` another buffer); read :attr:`view` afterwards. Free it with
    :meth:`free` (or use it as a context manager). :meth:`region` gives a window onto part
    of it, for operating on a prefix or a slice.

    Attributes:
        iova: the device address of the first byte.
    """

    __slots__ = ("_block", "_length", "_offset", "_owner", "_pool", "iova")

    def __init__(
        self,
        block: DmaBuffer,
        pool: DmaPool | None,
        owner: object,
        offset: int = 0,
        length: int | None = None,
    ) -> None:
        self._block = block
        self._pool = pool  # None: a region, which does not own the memory
        self._owner = owner
        self._offset = offset
        self._length = block.size - offset if length is None else length
        self.iova = block.iova + offset

    @property
    def owner(self) -> object:
        """The endpoint whose memory this is (a buffer works only with its own endpoint)."""
        return self._owner

    @property
    def view(self) -> memoryview:
        """A writable view of the bytes (raises :class:`DmaError` once freed)."""
        return self._block.view[self._offset : self._offset + self._length]

    def __len__(self) -> int:
        return self._length

    def region(self, offset: int, length: int | None = None) -> DeviceBuffer:
        """The bytes ``[offset, offset + length)`` of this buffer, as a buffer (no copy).

        Raises:
            ValueError: the region leaves the buffer.
        """
        if length is None:
            length = self._length - offset
        if offset < 0 or length < 0 or offset + length > self._length:
            raise ValueError(
                f"region [{offset}, {offset + length}) is outside a {self._length}-byte buffer"
            )
        return DeviceBuffer(self._block, None, self._owner, self._offset + offset, length)

    def write(self, data: object, offset: int = 0) -> None:
        """Copy bytes-like ``data`` in at ``offset``.

        Raises:
            ValueError: it does not fit.
        """
        src = as_view(data)
        if offset < 0 or offset + len(src) > self._length:
            raise ValueError(
                f"{len(src)} bytes at {offset} do not fit a {self._length}-byte buffer"
            )
        self.view[offset : offset + len(src)] = src

    def tobytes(self) -> bytes:
        """A copy of the bytes."""
        return bytes(self.view)

    def free(self) -> None:
        """Give the memory back (a region frees nothing). Idempotent."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.free(self._block)

    def __enter__(self) -> DeviceBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"<DeviceBuffer iova={self.iova:#x} length={self._length}>"


class ScatterBuffer:
    """Data in many separate DMA blocks ("pages"), described by one buffer list.

    Get one from ``instance.alloc_scatter(size, page_size)``. The device sees the pages as
    one buffer; so does :meth:`write` and :meth:`tobytes`.

    Attributes:
        pages: a writable view of each page, in order.
    """

    def __init__(
        self, pages: list[DmaBuffer], sizes: Sequence[int], pool: DmaPool, owner: object
    ) -> None:
        if not pages or len(pages) > SGL_MAX_ENTRIES:
            raise ValueError(f"a scatter buffer has 1..{SGL_MAX_ENTRIES} pages, not {len(pages)}")
        self._blocks = pages
        self._sizes = list(sizes)
        self._pool: DmaPool | None = pool
        self._owner = owner
        desc = wire.sgl_descriptor([(b.iova, n) for b, n in zip(pages, self._sizes, strict=True)])
        try:
            self._desc = pool.alloc(lines(len(desc)), align=SGL_DESC_ALIGN)
        except BaseException:
            for b in pages:
                pool.free(b)
            raise
        self._desc.view[: len(desc)] = desc
        self._length = sum(self._sizes)

    @property
    def owner(self) -> object:
        return self._owner

    @property
    def iova(self) -> int:
        """The device address of the buffer list."""
        return self._desc.iova

    @property
    def pages(self) -> tuple[memoryview, ...]:
        return tuple(b.view[:n] for b, n in zip(self._blocks, self._sizes, strict=True))

    def __len__(self) -> int:
        return self._length

    def write(self, data: object) -> None:
        """Spread ``data`` over the pages from the start.

        Raises:
            ValueError: it does not fit.
        """
        src = as_view(data)
        if len(src) > self._length:
            raise ValueError(f"{len(src)} bytes do not fit a {self._length}-byte scatter buffer")
        pos = 0
        for page in self.pages:
            take = min(len(page), len(src) - pos)
            if take <= 0:
                break
            page[:take] = src[pos : pos + take]
            pos += take

    def tobytes(self) -> bytes:
        """The pages' bytes, concatenated."""
        return b"".join(bytes(p) for p in self.pages)

    def free(self) -> None:
        """Give every page and the list back. Idempotent."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        for b in (*self._blocks, self._desc):
            pool.free(b)

    def __enter__(self) -> ScatterBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"<ScatterBuffer {len(self._blocks)} pages, {self._length} bytes>"


UserBuffer = DeviceBuffer | ScatterBuffer
# What a session call takes as data, checked at run time (a str raises TypeError, as in
# cryptography): a bytes-like object, a list or tuple of them (the pieces of a
# scatter-gather request), or a DeviceBuffer / ScatterBuffer.
Data: TypeAlias = object


class Staged:
    """One request's buffer as the device sees it, and how to get the bytes back.

    Made by :func:`stage` (a copy of the caller's bytes), :func:`stage_output` (room for a
    result) or :func:`borrow` (the caller's own device buffer).

    Attributes:
        ref: what the request points at (flat or scatter-gather).
        borrowed: the memory is the caller's (nothing to free, nothing to re-copy).
    """

    __slots__ = ("_blocks", "_pieces", "_pool", "_source", "borrowed", "ref")

    def __init__(
        self,
        ref: wire.Buffer,
        blocks: list[DmaBuffer],
        pieces: list[tuple[DmaBuffer, int]],
        pool: DmaPool | None,
        source: list[memoryview] | None,
        borrowed: bool,
    ) -> None:
        self.ref = ref
        self._blocks = blocks  # to free
        self._pieces = pieces  # (block, bytes used), in order
        self._pool = pool
        self._source = source  # the caller's bytes, for a replay
        self.borrowed = borrowed

    def read(self, length: int | None = None, offset: int = 0) -> bytes:
        """``length`` bytes from logical ``offset`` (default: all)."""
        total = self.ref.length if length is None else offset + length
        if len(self._pieces) == 1:
            block, _ = self._pieces[0]
            return bytes(block.view[offset:total])
        out = bytearray()
        pos = 0
        for block, n in self._pieces:
            lo, hi = max(offset - pos, 0), min(total - pos, n)
            if lo < hi:
                out += block.view[lo:hi]
            pos += n
        return bytes(out)

    def view(self) -> memoryview:
        """The single flat block (for writing a digest, AAD...)."""
        return self._pieces[0][0].view

    def restage(self) -> None:
        """Copy the caller's bytes in again (before a replay of an in-place request)."""
        if self._source is None:
            return
        for (block, _), src in zip(self._pieces, self._source, strict=True):
            block.view[: len(src)] = src

    def release(self) -> None:
        """Free the DMA memory this staging took. Idempotent."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for block in self._blocks:
                pool.free(block)


def _alloc(pool: DmaPool, size: int, blocks: list[DmaBuffer]) -> DmaBuffer:
    try:
        block = pool.alloc(lines(size), align=DATA_ALIGN)
    except BaseException:
        for b in blocks:
            pool.free(b)
        raise
    blocks.append(block)
    return block


def _pieces_of(data: object) -> list[memoryview] | None:
    """The pieces of a scatter input (list/tuple of bytes-likes), else None."""
    if isinstance(data, list | tuple):
        if not data:
            raise ValueError("a scatter-gather input needs at least one piece")
        if len(data) > SGL_MAX_ENTRIES:
            raise ValueError(f"{len(data)} pieces; the device takes at most {SGL_MAX_ENTRIES}")
        return [as_view(p, "each piece") for p in data]
    return None


def stage(pool: DmaPool, data: object, *, extra: int = 0) -> Staged:
    """Copy the caller's bytes into DMA memory, with ``extra`` bytes of room after them.

    A list or tuple of bytes-like pieces becomes a scatter-gather list (the extra room
    goes to the last piece).

    Raises:
        TypeError: not bytes-like.
        DmaPoolExhaustedError: not enough DMA memory.
    """
    pieces = _pieces_of(data)
    blocks: list[DmaBuffer] = []
    if pieces is None:
        src = as_view(data)
        block = _alloc(pool, len(src) + extra, blocks)
        block.view[: len(src)] = src
        return Staged(
            wire.Flat(block.iova, len(src) + extra),
            blocks,
            [(block, len(src) + extra)],
            pool,
            [src],
            False,
        )
    placed: list[tuple[DmaBuffer, int]] = []
    for i, src in enumerate(pieces):
        n = len(src) + (extra if i == len(pieces) - 1 else 0)
        block = _alloc(pool, n, blocks)
        block.view[: len(src)] = src
        placed.append((block, n))
    return _with_descriptor(pool, blocks, placed, pieces)


def stage_output(pool: DmaPool, sizes: Sequence[int], *, scatter: bool) -> Staged:
    """Room for a result: one flat block, or one block per size behind a buffer list."""
    blocks: list[DmaBuffer] = []
    if not scatter:
        total = sum(sizes)
        block = _alloc(pool, total, blocks)
        return Staged(wire.Flat(block.iova, total), blocks, [(block, total)], pool, None, False)
    placed = [(_alloc(pool, n, blocks), n) for n in sizes]
    return _with_descriptor(pool, blocks, placed, None)


def _with_descriptor(
    pool: DmaPool,
    blocks: list[DmaBuffer],
    placed: list[tuple[DmaBuffer, int]],
    source: list[memoryview] | None,
) -> Staged:
    desc_bytes = wire.sgl_descriptor([(b.iova, n) for b, n in placed])
    try:
        desc = pool.alloc(lines(len(desc_bytes)), align=SGL_DESC_ALIGN)
    except BaseException:
        for b in blocks:
            pool.free(b)
        raise
    blocks.append(desc)
    desc.view[: len(desc_bytes)] = desc_bytes
    total = sum(n for _, n in placed)
    return Staged(wire.Sgl(desc.iova, total), blocks, placed, pool, source, False)


def check_owner(buf: UserBuffer, owner: object, what: str = "data") -> None:
    """Raise ValueError unless ``buf`` is memory of endpoint ``owner``."""
    if buf.owner is not owner:
        raise ValueError(
            f"{what}: this buffer was allocated from another endpoint's memory, which this "
            "device cannot reach; allocate it from the instance you use it with"
        )


def borrow(buf: UserBuffer, owner: object, what: str = "data") -> Staged:
    """The caller's own device buffer, as a request buffer (zero copy).

    Raises:
        ValueError: the buffer belongs to another endpoint (the device cannot reach it).
        DmaError: it was freed.
    """
    check_owner(buf, owner, what)
    if isinstance(buf, DeviceBuffer):
        buf.view  # noqa: B018 - raises DmaError when freed
        piece: list[tuple[DmaBuffer, int]] = [(_Region(buf), len(buf))]
        return Staged(wire.Flat(buf.iova, len(buf)), [], piece, None, None, True)
    if buf._pool is None:
        raise DmaError(f"{buf!r} was freed")
    pieces: list[tuple[Any, int]] = list(zip(buf._blocks, buf._sizes, strict=True))
    return Staged(wire.Sgl(buf.iova, len(buf)), [], pieces, None, None, True)


class _Region:
    """A :class:`DeviceBuffer` looking like a DMA block (``view`` of just its bytes)."""

    __slots__ = ("_buf",)

    def __init__(self, buf: DeviceBuffer) -> None:
        self._buf = buf

    @property
    def view(self) -> memoryview:
        return self._buf.view

    @property
    def iova(self) -> int:
        return self._buf.iova

    @property
    def size(self) -> int:
        return len(self._buf)
