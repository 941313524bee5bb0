"""CRC-32 and Adler-32 of a concatenation, from the checksums of its parts.

Compression requests run on chunks independently (several in flight at once, each seeded
with the empty checksum), and the device reports each chunk's CRC-32 and Adler-32
(docs/hardware.md#response). The stream's checksum is then combined on the host, with the
arithmetic of zlib's ``crc32_combine`` and ``adler32_combine``, which Python's ``zlib``
does not expose.
"""

from __future__ import annotations

_CRC_POLY = 0xEDB88320  # CRC-32 (ISO-HDLC), bit-reflected
_ADLER_BASE = 65521  # the largest prime below 2**16


def _multmodp(a: int, b: int) -> int:
    """``a * b`` modulo the CRC polynomial, both in reflected form."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1


def _x2n_table() -> tuple[int, ...]:
    p = 1 << 30  # x**1
    table = [p]
    for _ in range(31):
        p = _multmodp(p, p)
        table.append(p)
    return tuple(table)


_X2N = _x2n_table()  # x**(2**n) modulo the polynomial


def _x8nmodp(n: int) -> int:
    """``x**(8 * n)`` modulo the polynomial: the shift of ``n`` bytes."""
    p = 1 << 31  # x**0
    k = 3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)``.

    Args:
        crc1: CRC-32 of the first part.
        crc2: CRC-32 of the second part.
        length2: bytes in the second part.

    Returns:
        What ``zlib.crc32(A + B)`` returns.

    Raises:
        ValueError: a negative length.
    """
    if length2 < 0:
        raise ValueError(f"length2 must be >= 0, not {length2}")
    return _multmodp(_x8nmodp(length2), crc1) ^ crc2


def adler32_combine(adler1: int, adler2: int, length2: int) -> int:
    """Adler-32 of ``A + B`` from ``adler32(A)``, ``adler32(B)`` and ``len(B)``.

    Args:
        adler1: Adler-32 of the first part.
        adler2: Adler-32 of the second part.
        length2: bytes in the second part.

    Returns:
        What ``zlib.adler32(A + B)`` returns.

    Raises:
        ValueError: a negative length.
    """
    if length2 < 0:
        raise ValueError(f"length2 must be >= 0, not {length2}")
    base = _ADLER_BASE
    rem = length2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % base
    sum1 += (adler2 & 0xFFFF) + base - 1
    sum2 += (adler1 >> 16) + (adler2 >> 16) + base - rem
    return (sum1 % base) | ((sum2 % base) << 16)
