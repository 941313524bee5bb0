"""The framings around a raw deflate stream: none (RFC 1951), zlib (RFC 1950), gzip (RFC 1952).

The device produces and consumes raw deflate only (docs/hardware.md#comp-request); the
headers and trailers are written and checked here, on the host, with the checksums the
device reports (zlib: Adler-32, gzip: CRC-32 and the length modulo 2**32).

``wbits`` has zlib's meaning: -9..-15 raw, 9..15 zlib, 25..31 gzip, and for
decompression 40..47 (or 0) "zlib or gzip, from the header".
"""

from __future__ import annotations

import enum
import struct
import zlib

from qathw.errors import QatError

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_DEFLATE = 8
_FTEXT, _FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 1, 2, 4, 8, 16
_GZIP_RESERVED = 0xE0
_OS_UNKNOWN = 255  # what Python's gzip writes
MAX_GZIP_HEADER = 1 << 20  # names and extra fields beyond this are refused, not buffered
EMPTY_FINAL_BLOCK = b"\x03\x00"  # a final fixed-Huffman block with only end-of-block


class CorruptStreamError(QatError, ValueError):
    """The compressed data is not a valid stream of the framing asked for (bad header,
    bad deflate data, wrong checksum or length). Nothing was returned for it."""


class TruncatedStreamError(CorruptStreamError, EOFError):
    """The compressed data ended before its stream did (as ``gzip``'s ``EOFError``)."""


class Framing(enum.Enum):
    """What surrounds the deflate stream."""

    RAW = "raw"
    ZLIB = "zlib"
    GZIP = "gzip"
    AUTO = "auto"  # decompression only: zlib or gzip, from the first bytes

    @property
    def header_size(self) -> int:
        """Bytes of the shortest header."""
        return {"raw": 0, "zlib": 2, "gzip": 10, "auto": 2}[self.value]

    @property
    def trailer_size(self) -> int:
        """Bytes of the trailer."""
        return {"raw": 0, "zlib": 4, "gzip": 8, "auto": 0}[self.value]


def for_compression(wbits: int) -> Framing:
    """The framing a compressor writes for zlib's ``wbits``.

    The device's window is 32 KiB, so only the 15-bit windows can be declared honestly.

    Raises:
        ValueError: any other ``wbits`` (the message says which to use).
    """
    if not isinstance(wbits, int) or isinstance(wbits, bool):
        raise TypeError(f"wbits must be an int, not {type(wbits).__name__}")
    framing = {-15: Framing.RAW, 15: Framing.ZLIB, 31: Framing.GZIP}.get(wbits)
    if framing is None:
        raise ValueError(
            f"wbits {wbits} is not supported for compression: the device's window is 32 KiB; "
            "use -15 (raw deflate), 15 (zlib) or 31 (gzip)"
        )
    return framing


def for_decompression(wbits: int) -> Framing:
    """The framing a decompressor expects for zlib's ``wbits``.

    Raises:
        ValueError: not a ``wbits`` zlib accepts.
    """
    if not isinstance(wbits, int) or isinstance(wbits, bool):
        raise TypeError(f"wbits must be an int, not {type(wbits).__name__}")
    if -15 <= wbits <= -8:
        return Framing.RAW
    if 8 <= wbits <= 15:
        return Framing.ZLIB
    if 24 <= wbits <= 31:
        return Framing.GZIP
    if wbits == 0 or 40 <= wbits <= 47:
        return Framing.AUTO
    raise ValueError(f"invalid wbits {wbits}: use -8..-15, 8..15, 24..31, 40..47 or 0, as zlib")


# --- writing ------------------------------------------------------------------------------


def header(framing: Framing, level: int) -> bytes:
    """The header a compressor writes before the deflate stream."""
    if framing is Framing.ZLIB:
        cmf = 0x78  # deflate, 32 KiB window
        flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
        flg = flevel << 6
        flg |= 31 - (cmf * 256 + flg) % 31
        return bytes((cmf, flg))
    if framing is Framing.GZIP:
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        return struct.pack("<2sBBIBB", GZIP_MAGIC, _GZIP_DEFLATE, 0, 0, xfl, _OS_UNKNOWN)
    return b""


def trailer(framing: Framing, crc32: int, adler32: int, length: int) -> bytes:
    """The trailer after the deflate stream: zlib Adler-32 (big-endian), gzip CRC-32 and
    length modulo 2**32 (little-endian)."""
    if framing is Framing.ZLIB:
        return struct.pack(">I", adler32)
    if framing is Framing.GZIP:
        return struct.pack("<II", crc32, length & 0xFFFF_FFFF)
    return b""


# --- reading ------------------------------------------------------------------------------


def detect(head: bytes | bytearray) -> Framing:
    """zlib or gzip, from at least two first bytes (for :attr:`Framing.AUTO`)."""
    return Framing.GZIP if head[:2] == GZIP_MAGIC else Framing.ZLIB


def parse_header(framing: Framing, buf: bytes | bytearray) -> int | None:
    """Bytes of the header at the start of ``buf``, or ``None`` if more are needed.

    Raises:
        CorruptStreamError: not such a header.
    """
    if framing is Framing.RAW:
        return 0
    if framing is Framing.ZLIB:
        return _zlib_header(buf)
    if framing is Framing.GZIP:
        return _gzip_header(buf)
    raise ValueError("detect() the framing of an AUTO stream first")


def _zlib_header(buf: bytes | bytearray) -> int | None:
    if len(buf) < 2:
        return None
    cmf, flg = buf[0], buf[1]
    if (cmf * 256 + flg) % 31:
        raise CorruptStreamError("incorrect header check", hint="this is not zlib data")
    if cmf & 0x0F != 8:
        raise CorruptStreamError("unknown compression method", hint="this is not zlib data")
    if cmf >> 4 > 7:
        raise CorruptStreamError("invalid window size", hint="this is not zlib data")
    if flg & 0x20:
        raise CorruptStreamError(
            "the stream needs a preset dictionary",
            hint="dictionaries are not supported; decompress it with zlib",
        )
    return 2


def _gzip_header(buf: bytes | bytearray) -> int | None:
    if len(buf) < 10:
        if buf[: min(len(buf), 2)] != GZIP_MAGIC[: min(len(buf), 2)]:
            raise CorruptStreamError("not a gzip file (bad magic number)")
        return None
    magic, method, flags = bytes(buf[:2]), buf[2], buf[3]
    if magic != GZIP_MAGIC:
        raise CorruptStreamError("not a gzip file (bad magic number)")
    if method != _GZIP_DEFLATE:
        raise CorruptStreamError(f"unknown gzip compression method {method}")
    if flags & _GZIP_RESERVED:
        raise CorruptStreamError(f"reserved gzip flag bits set ({flags:#x})")
    pos = 10
    if flags & _FEXTRA:
        if len(buf) < pos + 2:
            return _more(buf)  # None, or raises
        (xlen,) = struct.unpack_from("<H", buf, pos)
        pos += 2 + xlen
        if len(buf) < pos:
            return _more(buf)  # None, or raises
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = bytes(buf).find(b"\0", pos)
            if end < 0:
                return _more(buf)  # None, or raises
            pos = end + 1
    if flags & _FHCRC:
        if len(buf) < pos + 2:
            return _more(buf)  # None, or raises
        (hcrc,) = struct.unpack_from("<H", buf, pos)
        if hcrc != zlib.crc32(bytes(buf[:pos])) & 0xFFFF:
            raise CorruptStreamError("gzip header CRC mismatch")
        pos += 2
    return pos


def _more(buf: bytes | bytearray) -> int | None:
    """``None`` (more bytes needed), unless the header is already too long."""
    if len(buf) > MAX_GZIP_HEADER:
        raise CorruptStreamError(
            f"gzip header longer than {MAX_GZIP_HEADER} bytes",
            hint="a file name, comment or extra field that long is refused",
        )
    return None


def check_trailer(
    framing: Framing, buf: bytes | bytearray, crc32: int, adler32: int, length: int
) -> None:
    """Check a complete trailer against the checksums of the data decompressed.

    Raises:
        CorruptStreamError: a checksum or the length differs.
    """
    if framing is Framing.ZLIB:
        (want,) = struct.unpack(">I", bytes(buf[:4]))
        if want != adler32:
            raise CorruptStreamError(
                "incorrect data check (Adler-32)", hint="the zlib data is corrupt"
            )
    elif framing is Framing.GZIP:
        want_crc, want_len = struct.unpack("<II", bytes(buf[:8]))
        if want_crc != crc32:
            raise CorruptStreamError("CRC check failed", hint="the gzip data is corrupt")
        if want_len != length & 0xFFFF_FFFF:
            raise CorruptStreamError("incorrect length check", hint="the gzip data is corrupt")
