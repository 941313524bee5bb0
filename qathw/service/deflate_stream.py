"""Streaming compression and decompression on a deflate session, in zlib's shape.

:class:`Compressor` is ``zlib.compressobj``: input is cut into chunks of the instance's
request size (:mod:`~qathw.service.chunking`); each chunk is one stateless request, several
sent as one batch; every chunk but the last ends on a byte boundary (a sync flush, so the
next chunk's output follows it) and the last one carries BFINAL. Each request reports the
CRC-32 and Adler-32 of its chunk (seeded empty), and the stream's checksums are combined
on the host (:mod:`~qathw.service.checksums`) for the zlib or gzip trailer
(:mod:`~qathw.service.framing`).

:class:`Decompressor` is ``zlib.decompressobj``. Gen4 devices have no stateful
decompression (qatlib reports ``statefulDeflateDecompression`` false for them, and fakedev
refuses it as they do), and a stateless response says neither where the last whole deflate
block ended nor what the decoder's state was. So a stream is decompressed by the device
in one request whenever its compressed form fits one (up to :attr:`Decompressor.limit`
bytes, its output up to the pool), which is every stream of up to a few hundred KiB on the
smallest endpoint; a longer stream is **continued on the host** with ``zlib`` from its
start, the host carrying the window and bit position that the device cannot hand back.
That switch is logged (INFO, ``qathw.service.deflate_stream``), and
:attr:`Decompressor.host_continued` tells it.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence

from qathw.errors import DmaPoolExhaustedError, OutputOverflowError, RequestError
from qathw.service import calls
from qathw.service.buffers import as_view
from qathw.service.checksums import adler32_combine, crc32_combine
from qathw.service.chunking import plan
from qathw.service.compression import CompressionSession
from qathw.service.framing import (
    EMPTY_FINAL_BLOCK,
    CorruptStreamError,
    Framing,
    TruncatedStreamError,
    check_trailer,
    detect,
    header,
    parse_header,
    trailer,
)
from qathw.service.results import DcResult

log = logging.getLogger(__name__)

Z_NO_FLUSH = zlib.Z_NO_FLUSH
Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
Z_FULL_FLUSH = zlib.Z_FULL_FLUSH
Z_FINISH = zlib.Z_FINISH


class _Sums:
    """CRC-32, Adler-32 and length of the uncompressed bytes so far."""

    __slots__ = ("adler32", "crc32", "length")

    def __init__(self) -> None:
        self.crc32, self.adler32, self.length = 0, 1, 0

    def add(self, crc32: int, adler32: int, length: int) -> None:
        self.crc32 = crc32_combine(self.crc32, crc32, length)
        self.adler32 = adler32_combine(self.adler32, adler32, length)
        self.length += length


class Compressor:
    """A compression stream (``zlib.compressobj``'s shape) on a device session.

    Args:
        session: the deflate session (its level and Huffman mode are the stream's).
        framing: RAW, ZLIB or GZIP.

    Attributes:
        framing: what surrounds the deflate stream.
        chunk: input bytes per request.
    """

    def __init__(self, session: CompressionSession, *, framing: Framing) -> None:
        if framing is Framing.AUTO:
            raise ValueError("a compressor writes RAW, ZLIB or GZIP, not AUTO")
        self._session = session
        self.framing = framing
        chunking = plan(session.pool)
        self.chunk = chunking.chunk
        self._in_flight = chunking.in_flight
        self._pending = bytearray()
        self._sums = _Sums()
        self._started = False
        self._finished = False

    def compress(self, data: object) -> bytes:
        """Compress ``data``; return what is ready (whole chunks), keep the rest.

        Raises:
            TypeError: not bytes-like.
            ValueError: the stream was finished by ``flush()``.
            RequestError: the device failed a request.
        """
        view = as_view(data)
        self._check_open()
        out = [self._start()]
        if self._pending:
            take = min(len(view), self.chunk - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == self.chunk:
                out.append(self._run([bytes(self._pending)], final=False))
                self._pending.clear()
        whole = len(view) - len(view) % self.chunk
        if whole:
            pieces = [view[i : i + self.chunk] for i in range(0, whole, self.chunk)]
            out.append(self._run(pieces, final=False))
        self._pending += view[whole:]
        return b"".join(out)

    def flush(self, mode: int = Z_FINISH) -> bytes:
        """Compress what is pending. ``Z_FINISH`` (default) ends the stream with its final
        block and trailer; ``Z_SYNC_FLUSH`` / ``Z_FULL_FLUSH`` end on a byte boundary and keep
        the stream open (every request starts afresh, so both are full flushes);
        ``Z_NO_FLUSH`` returns nothing.

        Raises:
            ValueError: an unknown mode, or the stream was already finished.
        """
        if mode not in (Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_FINISH):
            raise ValueError(f"unknown flush mode {mode!r}; use zlib.Z_FINISH, Z_SYNC_FLUSH ...")
        self._check_open()
        if mode == Z_NO_FLUSH:
            return b""
        out = [self._start()]
        final = mode == Z_FINISH
        if self._pending or final:
            out.append(self._run([bytes(self._pending)], final=final))
            self._pending.clear()
        if final:
            sums = self._sums
            out.append(trailer(self.framing, sums.crc32, sums.adler32, sums.length))
            self._finished = True
        return b"".join(out)

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("the stream was finished by flush(); start a new compressobj()")

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return header(self.framing, self._session.level)

    def _run(self, pieces: Sequence[object], *, final: bool) -> bytes:
        """Compress ``pieces`` in order, ``in_flight`` requests at a time."""
        out: list[bytes] = []
        last = len(pieces) - 1
        for start in range(0, len(pieces), self._in_flight):
            group = pieces[start : start + self._in_flight]
            ops = []
            for i, piece in enumerate(group):
                if len(memoryview(piece)) == 0:  # type: ignore[arg-type]
                    continue
                ops.append(self._session.compress_op(piece, final=final and start + i == last))
            results: list[DcResult[bytes]] = []
            if ops:
                results = calls.submit_batch(self._session.channel, ops).result()
            for r in results:
                self._sums.add(r.crc32, r.adler32, r.consumed)
                out.append(r.output)
            if final and start + len(group) > last and not (results and results[-1].end_of_stream):
                out.append(EMPTY_FINAL_BLOCK)  # nothing left to compress: end the stream
        return b"".join(out)


class Decompressor:
    """A decompression stream (``zlib.decompressobj``'s shape) on a device session.

    Output comes when a whole deflate stream has been decompressed (by the device in one
    request when it fits :attr:`limit`, else continued on the host: see the module);
    ``flush()`` returns what a truncated stream decodes to.

    Args:
        session: the deflate session.
        framing: RAW, ZLIB, GZIP, or AUTO (zlib or gzip, from the header).

    Attributes:
        eof: the end of the stream (and its trailer) was reached.
        unused_data: bytes after the end of the stream.
        unconsumed_tail: always empty (there is no output limit).
        limit: the largest compressed stream sent to the device whole.
        host_continued: the stream was longer than :attr:`limit` and the host went on.
    """

    def __init__(self, session: CompressionSession, *, framing: Framing) -> None:
        self._session = session
        self._framing = framing
        self.limit = 4 * plan(session.pool).chunk
        self.eof = False
        self.unused_data = b""
        self.unconsumed_tail = b""
        self.host_continued = False
        self._phase = "header"
        self._buf = bytearray()  # header, body or trailer bytes not yet used
        self._tried = 0  # body bytes the device last saw without reaching the end
        self._host: zlib._Decompress | None = None
        self._sums = _Sums()
        self._flushed = False

    @property
    def framing(self) -> Framing:
        """The stream's framing (AUTO until the header was seen)."""
        return self._framing

    def decompress(self, data: object) -> bytes:
        """Decompress ``data``; return the output that is complete.

        Raises:
            TypeError: not bytes-like.
            ValueError: called after ``flush()``.
            CorruptStreamError: a bad header, deflate data, checksum or length.
        """
        view = as_view(data)
        if self._flushed:
            raise ValueError("decompress() after flush(); start a new decompressobj()")
        if self.eof:
            self.unused_data += bytes(view)
            return b""
        self._buf += view
        return self._advance(final=False)

    def flush(self) -> bytes:
        """What remains: a stream's output if it is complete, else what the truncated
        stream decodes to (``eof`` stays false). The object is done afterwards."""
        if self._flushed:
            return b""
        out = b"" if self.eof else self._advance(final=True)
        self._flushed = True
        return out

    # --- the phases ---------------------------------------------------------------------

    def _advance(self, *, final: bool) -> bytes:
        out = b""
        if self._phase == "header":
            if self._framing is Framing.AUTO:
                if len(self._buf) < 2:
                    return b""
                self._framing = detect(self._buf)
            n = parse_header(self._framing, self._buf)
            if n is None:
                return b""
            del self._buf[:n]
            self._phase = "body"
        if self._phase == "body":
            out = self._body(final)
            if self._phase != "trailer":
                return out
        size = self._framing.trailer_size
        if len(self._buf) < size:
            return out
        sums = self._sums
        check_trailer(self._framing, self._buf, sums.crc32, sums.adler32, sums.length)
        self.unused_data = bytes(self._buf[size:])
        self._buf.clear()
        self._phase = "done"
        self.eof = True
        return out

    def _body(self, final: bool) -> bytes:
        if self._host is not None:
            return self._host_feed(bytes(self._buf), final)
        n = len(self._buf)
        if not n or (not final and n < self.limit and n < 2 * self._tried):
            return b""  # wait for more: each device try decodes from the start
        result: DcResult[bytes] | None = None
        try:
            if n <= self.limit:  # longer input is never sent whole
                result = self._session.decompress(bytes(self._buf))
        except (OutputOverflowError, DmaPoolExhaustedError):
            result = None  # the output does not fit one request
        except RequestError as exc:
            raise CorruptStreamError(
                f"invalid deflate data: {exc.what}", hint="the compressed data is corrupt"
            ) from exc
        if result is not None and result.end_of_stream:
            self._sums.add(result.crc32, result.adler32, result.produced)
            del self._buf[: result.consumed]
            self._phase = "trailer"
            return result.output
        self._tried = n
        if result is not None and final:
            return result.output  # a truncated stream: what its whole symbols give
        if result is not None and n < self.limit:
            return b""
        log.info(
            "decompression continues on the host: the stream is longer than one request "
            "(%d compressed bytes so far; the device has no stateful decompression)",
            n,
        )
        self.host_continued = True
        self._host = zlib.decompressobj(-15)
        return self._host_feed(bytes(self._buf), final)

    def _host_feed(self, data: bytes, final: bool) -> bytes:
        host = self._host
        assert host is not None
        self._buf.clear()
        try:
            out = host.decompress(data)
            if final:
                out += host.flush()
        except zlib.error as exc:
            raise CorruptStreamError(
                f"invalid deflate data: {exc}", hint="the compressed data is corrupt"
            ) from None
        self._sums.add(zlib.crc32(out), zlib.adler32(out), len(out))
        if host.eof:
            self._buf += host.unused_data
            self._phase = "trailer"
        return out


def finished(d: Decompressor, what: str) -> None:
    """Raise unless ``d`` reached the end of its stream.

    Raises:
        TruncatedStreamError: the data ended early.
    """
    if not d.eof:
        raise TruncatedStreamError(
            f"{what}: the compressed data ended before the end of the stream",
            hint="the data is truncated; give all of it",
        )
