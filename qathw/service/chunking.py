"""How much of a stream one request carries, from the instance's DMA memory.

A streaming object never stages more than its chunk (times the requests it keeps in
flight) in DMA memory, whatever the caller hands it: a 256 MiB input through an endpoint
of 16 MiB is 256 MiB / chunk requests. The chunk is a power of two between
:data:`MIN_CHUNK` and :data:`MAX_CHUNK`, about 1/16 of the pool, so that the input, the
output room (deflate: input + 1/8) and a few requests in flight fit beside the session's
own descriptors and other sessions' requests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from qathw.dma import DmaPool

MIN_CHUNK = 16 << 10
MAX_CHUNK = 1 << 20
MAX_IN_FLIGHT = 8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunking:
    """A stream's request size and how many requests it keeps in flight.

    Attributes:
        chunk: input bytes per request.
        in_flight: requests sent together (one batch).
    """

    chunk: int
    in_flight: int


def plan(pool: DmaPool, *, per_byte: float = 2.25, block: int = 64) -> Chunking:
    """The chunking for a stream whose requests stage ``per_byte`` bytes of DMA memory per
    input byte (deflate: input + output room), in multiples of ``block``.

    Raises:
        ValueError: the pool cannot hold even one minimum chunk.
    """
    chunk = MAX_CHUNK
    while chunk > MIN_CHUNK and chunk * 16 > pool.capacity:
        chunk //= 2
    chunk -= chunk % block
    cost = int(chunk * per_byte) + 4096
    free = getattr(pool, "largest_free", pool.capacity)  # WindowDmaPool has it
    in_flight = max(1, min(MAX_IN_FLIGHT, free // (2 * cost)))
    if cost > free:
        raise ValueError(
            f"the instance's DMA memory ({free} bytes free) cannot hold one {chunk}-byte request"
        )
    result = Chunking(chunk, in_flight)
    log.debug(
        "chunking: %d-byte requests, %d in flight (pool of %d bytes)",
        chunk,
        in_flight,
        pool.capacity,
    )
    return result
