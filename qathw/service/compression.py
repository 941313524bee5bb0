"""The deflate session: stateless compression and decompression on a dc channel.

See :mod:`~qathw.service.sessions` for what sessions and their ops are; a compression
session keeps no content descriptor in DMA memory, only one request template per
direction, which its ops copy.
"""

from __future__ import annotations

from typing import TypeVar, overload

from qathw.errors import OutputOverflowError
from qathw.service import calls, cd, operations
from qathw.service.algorithms import Huffman
from qathw.service.buffers import Data, UserBuffer
from qathw.service.cd import CompDirection, CompSetup
from qathw.service.completion import Channel
from qathw.service.operations import DcOp
from qathw.service.placed import Setups
from qathw.service.results import DcResult
from qathw.service.sessions import Session

B = TypeVar("B", bound=UserBuffer)  # the caller's own buffer, returned to it


class CompressionSession(Session[CompDirection, CompSetup]):
    """Stateless deflate (raw RFC 1951) with static or dynamic Huffman codes.

    Each request reports CRC32 and Adler-32 of the uncompressed bytes. When the output
    does not fit, the request raises :class:`~qathw.errors.OutputOverflowError` whose
    ``result`` says how much input was consumed and holds the output produced (whole,
    non-final deflate blocks): compress the rest in a new request and concatenate.

    Args:
        channel: where it runs.
        huffman: static or dynamic codes.
        level: 1..9.

    Raises:
        ValueError: a level outside 1..9.
    """

    default_output = staticmethod(operations.default_output)

    def __init__(
        self, channel: Channel, *, huffman: Huffman = Huffman.DYNAMIC, level: int = 6
    ) -> None:
        if not isinstance(huffman, Huffman):
            raise TypeError(f"huffman must be a Huffman, not {type(huffman).__name__}")
        super().__init__(
            Setups(
                channel,
                "deflate",
                lambda direction: cd.compression_session(direction, huffman=huffman, level=level),
            )
        )
        self.huffman = huffman
        self.level = level
        for direction in CompDirection:
            self._cds.get(direction)  # both templates now: a bad level fails here

    def _op(
        self,
        direction: CompDirection,
        data: Data,
        final: bool,
        output_size: int | None,
        out: object,
        crc32: int,
        adler32: int,
    ) -> DcOp[object]:
        self._check_open()
        return DcOp(
            self._cds,
            direction,
            data,
            final=final,
            output_size=output_size,
            out=out,
            crc32=crc32,
            adler32=adler32,
        )

    @overload
    def compress_op(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: B,
        crc32: int = 0,
        adler32: int = 1,
    ) -> DcOp[B]: ...
    @overload
    def compress_op(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: None = None,
        crc32: int = 0,
        adler32: int = 1,
    ) -> DcOp[bytes]: ...

    def compress_op(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: object = None,
        crc32: int = 0,
        adler32: int = 1,
    ) -> DcOp[object]:
        """A compression, for the call forms.

        Args:
            data: the input.
            final: end the stream (final block); false ends on a byte boundary, so the
                next request's output can follow.
            output_size: output room (default: enough for any input).
            out: your buffer for the output (zero copy).
            crc32 / adler32: seeds, to continue the checksums of earlier requests.
        """
        return self._op(CompDirection.COMPRESS, data, final, output_size, out, crc32, adler32)

    @overload
    def decompress_op(self, data: Data, *, output_size: int | None = None, out: B) -> DcOp[B]: ...
    @overload
    def decompress_op(
        self, data: Data, *, output_size: int | None = None, out: None = None
    ) -> DcOp[bytes]: ...

    def decompress_op(
        self, data: Data, *, output_size: int | None = None, out: object = None
    ) -> DcOp[object]:
        """A decompression, for the call forms (``output_size`` default: 4 x the input)."""
        return self._op(CompDirection.DECOMPRESS, data, True, output_size, out, 0, 1)

    @overload
    def compress(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: B,
        crc32: int = 0,
        adler32: int = 1,
        timeout: float | None = None,
    ) -> DcResult[B]: ...
    @overload
    def compress(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: None = None,
        crc32: int = 0,
        adler32: int = 1,
        timeout: float | None = None,
    ) -> DcResult[bytes]: ...

    def compress(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: object = None,
        crc32: int = 0,
        adler32: int = 1,
        timeout: float | None = None,
    ) -> DcResult[object]:
        """Compress now; see :meth:`compress_op`.

        Raises:
            OutputOverflowError: the output did not fit (``error.result`` has the part).
        """
        op = self._op(CompDirection.COMPRESS, data, final, output_size, out, crc32, adler32)
        return calls.perform(self.channel, op, timeout=timeout)

    @overload
    def decompress(
        self,
        data: Data,
        *,
        output_size: int | None = None,
        out: B,
        timeout: float | None = None,
    ) -> DcResult[B]: ...
    @overload
    def decompress(
        self,
        data: Data,
        *,
        output_size: int | None = None,
        out: None = None,
        timeout: float | None = None,
    ) -> DcResult[bytes]: ...

    def decompress(
        self,
        data: Data,
        *,
        output_size: int | None = None,
        out: object = None,
        timeout: float | None = None,
    ) -> DcResult[object]:
        """Decompress now. Without ``output_size`` and ``out``, the output room doubles
        until the data fits (each try runs the whole request again).

        Raises:
            OutputOverflowError: the output did not fit the room you gave.
            RequestError: not a valid deflate stream (the error code says why).
        """
        grow = output_size is None and out is None
        size = output_size
        while True:
            op = self._op(CompDirection.DECOMPRESS, data, True, size, out, 0, 1)
            try:
                return calls.perform(self.channel, op, timeout=timeout)
            except OutputOverflowError:
                if not grow:
                    raise
                size = 2 * op.output_size
                if size > self.pool.capacity:
                    raise
