"""The COMP service: stateless deflate and inflate, as a gen4 endpoint runs them.

A request carries the gen4 slice configuration words inline (bytes 8-15, big-endian
values, :mod:`qathw.fw.comp20`), ``comp_len`` bytes of input and an output capacity
``out_buffer_sz``. The output is raw deflate (RFC 1951), as the hardware produces; zlib
does the work.

* Static vs dynamic Huffman: command STATIC gives fixed codes (zlib ``Z_FIXED``), DYNAMIC
  gives dynamic codes (zlib's default strategy). The hardware format in the lower word
  must be DEFLATE or ILZ77 (LZ4, LZ4S and ZSTD are unsupported); the search depth maps to
  zlib levels 1 / 6 / 9 as DPDK maps levels onto depths.
* BFINAL set: the stream ends with a final block (response flag EOLB). BFINAL clear: it
  ends on a byte boundary after a sync flush, so the next request's output can follow.
* Overflow (output larger than ``out_buffer_sz``): the device delivers the longest input
  prefix whose compressed form fits, as non-final blocks ending on a byte boundary, and
  answers ERR_CODE_OVERFLOW_ERROR (-11) with ``input_byte_counter`` = input consumed and
  ``output_byte_counter`` = bytes written: the caller continues with the rest of the input
  in a new request (DPDK's "recoverable" overflow). Dynamic compression reports it from the
  translator (XLAT status, ``xlat_err_code``), static from the compressor (CMP status,
  ``cmp_err_code``).
* Decompression stops at the end of the final block (EOLB set) or when the input runs out
  (EOLB clear, status OK: the stream was not finished). Output that does not fit is an
  overflow (-11) with the counters; a corrupt stream gives the deflate error codes -1..-10.
* Compress-and-verify (CNV, req_par_flags bit 16): the output is inflated and compared
  with the input; the response carries hdr flag CNV. Hosts require it.
* The response carries CRC32 and Adler-32 of the uncompressed bytes, seeded from the
  request's ``initial_crc32``/``initial_adler``.
"""

from __future__ import annotations

import traceback
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fakedev import wire
from fakedev.engine.buffers import LogicalBuffer, open_buffer
from fakedev.engine.reject import Reject
from fakedev.memory import DeviceMemory, DmaFault
from fakedev.wire import make_response
from qathw.fw import comp, comp20
from qathw.fw.common import (
    HDR_FLAG_VALID,
    REQ_DEFAULT_SZ,
    RESP_DEFAULT_SZ,
    RESP_HDR_FLAG_CNV,
    ErrCode,
    ServiceType,
    Status,
)

if TYPE_CHECKING:
    from zlib import _Compress as _Compressor

Bytes2D = npt.NDArray[np.uint8]

# Bytes inflated per call (the output goes to the destination a slice at a time).
_INFLATE_SLICE = 1 << 18
# Output fitting on overflow: the input is fed in at most _FIT_PROBES steps of at least
# _FIT_STEP bytes, each followed by one trial flush (docs/hardware.md#request-bounds).
_FIT_STEP = 4096
_FIT_PROBES = 256

# The response's service-specific bytes: consumed, produced, crc32, adler32.
_TAIL = comp.RESP_COMP_PARAM_FIELDS

UNSUPPORTED = Status.CMP | Status.UNSUPPORTED_REQUEST
INVALID = Status.CMP | Status.INVALID_PARAM

_LEVEL: dict[int, int] = {
    comp20.SearchDepth.LEVEL_1: 1,
    comp20.SearchDepth.LEVEL_6: 6,
    comp20.SearchDepth.LEVEL_9: 9,
}

# zlib's inflate messages -> the firmware's deflate error codes (docs/hardware.md#response)
_INFLATE_ERRORS = (
    ("invalid block type", ErrCode.INVALID_BLOCK_TYPE),
    ("invalid stored block lengths", ErrCode.NO_MATCH_ONES_COMP),
    ("too many length or distance symbols", ErrCode.TOO_MANY_LEN_OR_DIS),
    ("invalid code lengths set", ErrCode.INCOMPLETE_LEN),
    ("invalid bit length repeat", ErrCode.RPT_LEN_NO_FIRST_LEN),
    ("invalid literal/lengths set", ErrCode.INV_LIT_LEN_CODE_LEN),
    ("invalid code -- missing end-of-block", ErrCode.INV_LIT_LEN_CODE_LEN),
    ("invalid distances set", ErrCode.INV_DIS_CODE_LEN),
    ("invalid literal/length code", ErrCode.INV_LIT_LEN_DIS_IN_BLK),
    ("invalid distance code", ErrCode.INV_LIT_LEN_DIS_IN_BLK),
    ("invalid distance too far back", ErrCode.DIS_TOO_FAR_BACK),
)


class CompHandler:
    """The COMP service handler (``ServiceHandler`` with ``process_batch``).

    Attributes:
        internal_errors / last_internal_error: as :class:`~fakedev.engine.la.LaHandler`.
    """

    def __init__(self) -> None:
        self.internal_errors = 0
        self.last_internal_error: str | None = None

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        """Execute one 128-byte request; return its 32-byte response. Never raises."""
        req = bytes(request)
        padded = req.ljust(REQ_DEFAULT_SZ, b"\0")
        try:
            return self._execute(req, memory)
        except Reject as r:
            refused = r.status & (Status.INVALID_PARAM | Status.UNSUPPORTED_REQUEST)
            status = r.status | (Status.CMP if refused else 0)
            return make_response(padded, status, cmp_err=r.cmp_err, xlat_err=r.xlat_err)
        except DmaFault:
            return make_response(padded, Status.CMP | Status.XLAT, cmp_err=ErrCode.ENDPOINT_ERROR)
        except Exception as exc:
            from fakedev.dispatch import defect_response

            # A bug of the engine, not a device outcome: never answered as a firmware status.
            self.internal_errors += 1
            self.last_internal_error = traceback.format_exc()
            return defect_response(padded, exc)

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        """Execute a ``(n, 128)`` batch in order (one at a time: deflate does not batch)."""
        reqs = np.ascontiguousarray(requests, dtype=np.uint8).reshape(-1, REQ_DEFAULT_SZ)
        out = np.empty((reqs.shape[0], RESP_DEFAULT_SZ), dtype=np.uint8)
        for i in range(reqs.shape[0]):
            out[i] = np.frombuffer(self(reqs[i].tobytes(), memory), dtype=np.uint8)
        return out

    def _execute(self, req: bytes, mem: DeviceMemory) -> bytes:
        if len(req) != REQ_DEFAULT_SZ:
            raise Reject(INVALID, f"COMP requests are 128 bytes, got {len(req)}")
        cmd, svc, hflags, flags, cflags, ext = wire.header(req)
        if svc != ServiceType.COMP:
            raise Reject(UNSUPPORTED, f"service type {svc} sent to the COMP service")
        if not hflags & HDR_FLAG_VALID:
            raise Reject(INVALID, "the request's valid bit is clear")
        if cmd not in (comp.CompCmd.STATIC, comp.CompCmd.DYNAMIC, comp.CompCmd.DECOMPRESS):
            raise Reject(UNSUPPORTED, f"compression command {cmd}")
        if not cflags & wire.INLINE_CD_FLAG:
            raise Reject(UNSUPPORTED, "a compression content descriptor (gen4 takes inline words)")
        if flags & (1 << comp.COMP_SESSION_TYPE_BITPOS):
            raise Reject(UNSUPPORTED, "stateful compression")
        if ext:
            raise Reject(UNSUPPORTED, f"extended flags {ext:#x}")
        in_len, out_cap, crc0, adler0, pflags = wire.comp_params(req)
        sop = pflags & (1 << comp.COMP_SOP_BITPOS)
        eop = pflags & (1 << comp.COMP_EOP_BITPOS)
        if not (sop and eop):
            raise Reject(UNSUPPORTED, "partial (SOP/EOP) requests: stateless needs both")
        bfinal = bool(pflags & (1 << comp.COMP_BFINAL_BITPOS))
        cnv = bool(pflags & (1 << comp.COMP_CNV_BITPOS))
        lower, _ = wire.slice_cfg_words(req)  # field values (the drivers byte-swap them)

        _, src_addr, dst_addr, src_len, dst_len = wire.middle(req)
        sgl = bool(cflags & wire.SGL_FLAG)
        src = open_buffer(mem, src_addr, src_len, sgl)
        dst = open_buffer(mem, dst_addr, dst_len, sgl)
        if in_len > src.length:
            raise Reject(INVALID, f"comp_len {in_len} exceeds the {src.length}-byte source")
        if out_cap > dst.length:
            raise Reject(
                INVALID, f"out_buffer_sz {out_cap} exceeds the {dst.length}-byte destination"
            )
        data = src.read(0, in_len)

        if cmd == comp.CompCmd.DECOMPRESS:
            fmt = comp20.decomp_lower_format(lower)
            if fmt != comp20.HwDecompFormat.DEFLATE:
                raise Reject(UNSUPPORTED, f"decompression format {fmt}")
            return self._inflate(req, dst, data, out_cap, crc0, adler0)
        fmt = comp20.comp_lower_format(lower)
        if fmt not in (comp20.HwCompFormat.DEFLATE, comp20.HwCompFormat.ILZ77):
            raise Reject(UNSUPPORTED, f"compression format {fmt}")
        depth = comp20.comp_lower_search_depth(lower)
        if depth not in _LEVEL:
            raise Reject(INVALID, f"search depth {depth}")
        static = cmd == comp.CompCmd.STATIC
        return self._deflate(
            req, dst, data, out_cap, crc0, adler0, _LEVEL[depth], static, bfinal, cnv
        )

    def _deflate(
        self,
        req: bytes,
        dst: LogicalBuffer,
        data: bytes,
        out_cap: int,
        crc0: int,
        adler0: int,
        level: int,
        static: bool,
        bfinal: bool,
        cnv: bool,
    ) -> bytes:
        strategy = zlib.Z_FIXED if static else zlib.Z_DEFAULT_STRATEGY

        def compressor() -> _Compressor:
            return zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)

        c = compressor()
        out = c.compress(data) + c.flush(zlib.Z_FINISH if bfinal else zlib.Z_SYNC_FLUSH)
        consumed = len(data)
        overflow = len(out) > out_cap
        if overflow:
            consumed, out = _longest_fit(data, out_cap, compressor)
        if cnv and zlib.decompressobj(-15).decompress(out) != data[:consumed]:
            raise Reject(Status.CMP, "compress-and-verify failed", cmp_err=ErrCode.CNV_ERROR)
        dst.write(0, out)
        hdr_flags = RESP_HDR_FLAG_CNV if cnv else 0
        tail = _TAIL.pack(
            consumed,
            len(out),
            zlib.crc32(data[:consumed], crc0),
            zlib.adler32(data[:consumed], adler0),
        )
        if overflow:
            if static:
                return make_response(
                    req, Status.CMP, cmp_err=ErrCode.OVERFLOW_ERROR, hdr_flags=hdr_flags, tail=tail
                )
            return make_response(
                req, Status.XLAT, xlat_err=ErrCode.OVERFLOW_ERROR, hdr_flags=hdr_flags, tail=tail
            )
        status = Status.CMP_END_OF_LAST_BLK if bfinal else 0
        return make_response(req, status, hdr_flags=hdr_flags, tail=tail)

    def _inflate(
        self, req: bytes, dst: LogicalBuffer, data: bytes, out_cap: int, crc0: int, adler0: int
    ) -> bytes:
        d = zlib.decompressobj(-15)
        overflow = False
        produced, crc, adler = 0, crc0, adler0
        try:
            if out_cap == 0:  # zlib reads max_length 0 as "no limit"
                overflow = bool(zlib.decompressobj(-15).decompress(data, 1))
                if not overflow:
                    d.decompress(data)  # yields no output
            else:
                # Straight into the destination, a slice at a time: the output is bounded
                # by out_buffer_sz and never held whole (docs/hardware.md#request-bounds).
                tail: bytes = data
                while produced < out_cap:
                    want = min(out_cap - produced, _INFLATE_SLICE)
                    chunk = d.decompress(tail, want)
                    tail = d.unconsumed_tail
                    if chunk:
                        dst.write(produced, chunk)
                        crc, adler = zlib.crc32(chunk, crc), zlib.adler32(chunk, adler)
                        produced += len(chunk)
                    if d.eof or len(chunk) < want:
                        break
                if produced == out_cap and not d.eof:
                    overflow = bool(d.copy().decompress(d.unconsumed_tail, 1))
                    if not overflow:
                        d.decompress(d.unconsumed_tail)  # the rest yields no output
        except zlib.error as exc:
            code = _inflate_code(str(exc))
            raise Reject(Status.CMP, f"corrupt deflate stream: {exc}", cmp_err=code) from None
        if overflow and out_cap == 0:
            consumed = 0
        else:
            # After the end of the stream zlib reports the bytes past it both as
            # unconsumed_tail and as unused_data: count them once.
            tail_left = 0 if d.eof else len(d.unconsumed_tail)
            consumed = len(data) - tail_left - len(d.unused_data)
        tail_fields = _TAIL.pack(consumed, produced, crc, adler)
        if overflow:
            return make_response(req, Status.CMP, cmp_err=ErrCode.OVERFLOW_ERROR, tail=tail_fields)
        status = Status.CMP_END_OF_LAST_BLK if d.eof else 0
        return make_response(req, status, tail=tail_fields)


def _longest_fit(data: bytes, cap: int, compressor: Callable[[], _Compressor]) -> tuple[int, bytes]:
    """The longest proper prefix whose non-final deflate output fits ``cap``, and that output.

    One pass: the input is fed in steps; after each, a copy of the compressor is
    sync-flushed to see whether the prefix still fits, and the step that overflows is
    searched within (docs/hardware.md#request-bounds). zlib's output does not depend on
    how its input is split, so this is the output a one-shot deflate of the prefix gives.
    """
    step = max(_FIT_STEP, len(data) // _FIT_PROBES)
    mv = memoryview(data)
    c = compressor()
    emitted = bytearray()  # what ``c`` has output so far, for the prefix fed so far
    best_len, best_emitted, best_tail = 0, 0, c.copy().flush(zlib.Z_SYNC_FLUSH)
    if len(best_tail) > cap:
        return 0, b""
    limit = len(data) - 1  # the whole input did not fit
    start = 0
    while start < limit:
        stop = min(start + step, limit)
        before, before_len = c.copy(), len(emitted)
        emitted += c.compress(mv[start:stop])
        tail = c.copy().flush(zlib.Z_SYNC_FLUSH) if len(emitted) <= cap else None
        if tail is None or len(emitted) + len(tail) > cap:
            # The overflow is inside this step: search it, from the compressor before it.
            lo, hi = start + 1, stop - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                probe = before.copy()
                out = probe.compress(mv[start:mid]) + probe.flush(zlib.Z_SYNC_FLUSH)
                if before_len + len(out) <= cap:
                    best_len, best_emitted, best_tail = mid, before_len, out
                    lo = mid + 1
                else:
                    hi = mid - 1
            break
        best_len, best_emitted, best_tail = stop, len(emitted), tail
        start = stop
    return best_len, bytes(memoryview(emitted)[:best_emitted]) + best_tail


def _inflate_code(message: str) -> int:
    for text, code in _INFLATE_ERRORS:
        if text in message:
            return int(code)
    return int(ErrCode.SOFT_ERROR)
