"""What a response's status means: nothing, or the exception the caller gets.

Convention of the firmware (reference qat-wire-format.md §2.3) as the engine follows it:

* LA: a failed digest or tag comparison sets CRYPTO alone, error code 0 — on a verify
  request that is an authentication failure, raised as ``cryptography`` raises it
  (``InvalidTag`` for AEAD, ``InvalidSignature`` for a hash/HMAC); CRYPTO with
  UNSUPPORTED_REQUEST or INVALID_PARAM is a refusal; error code -17 is a DMA fault.
* COMP: error codes -1..-10 are a corrupt stream; -11 is an output overflow, reported
  with the byte counters so the caller can continue (:class:`~qathw.errors.OutputOverflowError`);
  CMP_END_OF_LAST_BLK is a flag, not an error.

Every error keeps ``status`` and ``error_code`` (:class:`~qathw.errors.RequestError`).
"""

from __future__ import annotations

import struct

from qathw.errors import RequestError
from qathw.fw.common import STATUS_ERROR_MASK, ErrCode, Status

ERROR_MASK = int(STATUS_ERROR_MASK)
_REFUSED = int(Status.INVALID_PARAM | Status.UNSUPPORTED_REQUEST)
_CODES = struct.Struct("<bb")  # xlat_err_code, cmp_err_code at byte 4


def describe(status: int, code: int) -> str:
    """``CRYPTO|INVALID_PARAM`` and the error code's name, for messages."""
    names = "|".join(s.name or "" for s in Status if s & status and s.name) or "0"
    text = f"status {names} ({status:#04x})"
    if code:
        known = code in ErrCode._value2member_map_
        text += f", error {ErrCode(code).name if known else 'code'} ({code})"
    return text


def codes(raw: bytes | memoryview) -> tuple[int, int, int]:
    """``(status, xlat_err_code, cmp_err_code)`` of a 32-byte response."""
    xlat, cmp_ = _CODES.unpack_from(raw, 4)
    return raw[6], xlat, cmp_


def la_error(raw: bytes | memoryview, what: str, *, verify: bool) -> RequestError | None:
    """The error a symmetric-crypto response reports, or ``None`` when it succeeded.

    An authentication failure is reported as ``None`` here and left to the caller (it
    knows which ``cryptography`` exception applies): check :func:`auth_failed` first.
    """
    status, _, code = codes(raw)
    if not status & ERROR_MASK:
        return None
    if code == ErrCode.ENDPOINT_ERROR:
        return RequestError(
            f"{what}: the device could not reach a buffer (DMA fault; {describe(status, code)})",
            status=status,
            error_code=code,
            hint="pass buffers allocated from this instance, and do not free them in flight",
        )
    if status & Status.UNSUPPORTED_REQUEST:
        return RequestError(
            f"{what}: the device does not support this request ({describe(status, code)})",
            status=status,
            error_code=code,
            hint="use an algorithm and mode from qathw.service.algorithms",
        )
    if status & Status.INVALID_PARAM:
        return RequestError(
            f"{what}: the device rejected the request's parameters ({describe(status, code)})",
            status=status,
            error_code=code,
        )
    return RequestError(f"{what} failed: {describe(status, code)}", status=status, error_code=code)


def auth_failed(raw: bytes | memoryview) -> bool:
    """A digest/tag comparison failed: CRYPTO alone, error code 0."""
    status, _, code = codes(raw)
    return status & ERROR_MASK == Status.CRYPTO and code == 0


def comp_error(raw: bytes | memoryview, what: str) -> RequestError | None:
    """The error a compression response reports (not overflow), or ``None``."""
    status, xlat, code = codes(raw)
    if not status & ERROR_MASK:
        return None
    err = code or xlat
    if err == ErrCode.ENDPOINT_ERROR:
        return RequestError(
            f"{what}: the device could not reach a buffer (DMA fault; {describe(status, err)})",
            status=status,
            error_code=err,
        )
    if status & _REFUSED:
        return RequestError(
            f"{what}: the device refused the request ({describe(status, err)})",
            status=status,
            error_code=err,
        )
    if ErrCode.DIS_TOO_FAR_BACK <= err <= ErrCode.INVALID_BLOCK_TYPE:
        return RequestError(
            f"{what}: the input is not a valid deflate stream ({describe(status, err)})",
            status=status,
            error_code=err,
            hint="decompress raw deflate (RFC 1951) without zlib or gzip framing",
        )
    return RequestError(f"{what} failed: {describe(status, err)}", status=status, error_code=err)


def overflowed(raw: bytes | memoryview) -> bool:
    """The output did not fit (error code -11, from the compressor or the translator)."""
    status, xlat, code = codes(raw)
    return bool(status & ERROR_MASK) and ErrCode.OVERFLOW_ERROR in (code, xlat)
