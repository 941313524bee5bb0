"""What the ops that return more than their output give back.

A cipher or GCM op returns its output alone (``bytes``, or the caller's buffer), a hash
its digest; a chain and a compression request return these. The type parameter is the
output's type: ``bytes`` when the data was bytes-like, the caller's
:class:`~qathw.service.buffers.DeviceBuffer` or ``ScatterBuffer`` when the op worked on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

D_co = TypeVar("D_co", covariant=True)


@dataclass(frozen=True)
class ChainResult(Generic[D_co]):
    """A cipher + hash chain's outcome.

    Attributes:
        data: the cipher's output (``bytes``, or your buffer).
        digest: the digest the device computed (or, when it verified one, that digest).
    """

    data: D_co
    digest: bytes


@dataclass(frozen=True)
class DcResult(Generic[D_co]):
    """A compression or decompression request's outcome.

    Attributes:
        output: the bytes produced (``bytes``, or a region of your buffer).
        consumed: input bytes consumed.
        produced: output bytes written.
        crc32 / adler32: checksums of the uncompressed bytes (continue a stream by
            passing them to the next request).
        end_of_stream: the deflate stream's final block was written (compression with
            ``final=True``) or reached (decompression).
    """

    output: D_co
    consumed: int
    produced: int
    crc32: int
    adler32: int
    end_of_stream: bool
