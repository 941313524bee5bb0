"""What a response's status means: nothing, or the exception the caller gets.

Convention of the firmware (docs/hardware.md#response) as the engine follows it:

* LA: a failed digest or tag comparison sets CRYPTO alone, error code 0 — on a verify
  request that is an authentication failure, raised as ``cryptography`` raises it
  (``InvalidTag`` for AEAD, ``InvalidSignature`` for a hash/HMAC); CRYPTO with
  UNSUPPORTED_REQUEST or INVALID_PARAM is a refusal; error code -17 is a DMA fault.
* COMP: error codes -1..-10 are a corrupt stream; -11 is an output overflow, reported
  with the byte counters so the caller can continue (:class:`~qathw.errors.OutputOverflowError`);
  CMP_END_OF_LAST_BLK is a flag, not an error.

Every error keeps ``status`` and ``error_code`` (:class:`~qathw.errors.RequestError`).

* Emulated endpoints only: an error status with :data:`~qathw.emulated.DEFECT_ERROR_CODE`
  in both error bytes is fakedev saying its own code failed on the request (no firmware
  writes that code). The request's channel turns it into
  :class:`~qathw.errors.FakedevDefectError` (:func:`defective`, :func:`defect_error`)
  before the op sees it; on real hardware the same bytes would stay a ``RequestError``.
"""

from __future__ import annotations

from collections.abc import Container

import numpy as np
import numpy.typing as npt

from qathw.emulated import DEFECT_ERROR_CODE, Defect
from qathw.errors import FakedevDefectError, RequestError
from qathw.fw.common import (
    RESP_CMP_ERR_OFFSET,
    RESP_ERROR_FIELDS,
    RESP_HEADER_SZ,
    RESP_STATUS_OFFSET,
    RESP_XLAT_ERR_OFFSET,
    STATUS_ERROR_MASK,
    ErrCode,
    Status,
)

ERROR_MASK = int(STATUS_ERROR_MASK)
_REFUSED = int(Status.INVALID_PARAM | Status.UNSUPPORTED_REQUEST)
_codes = RESP_ERROR_FIELDS.unpack_from  # xlat_err_code, cmp_err_code
_DEFECT_BYTE = DEFECT_ERROR_CODE & 0xFF
_DEFECT_MARK = bytes((_DEFECT_BYTE,))


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
    xlat, cmp_ = _codes(raw, RESP_XLAT_ERR_OFFSET)
    return raw[RESP_STATUS_OFFSET], xlat, cmp_


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


def defective(responses: bytes | npt.NDArray[np.uint8], skip: Container[int] = ()) -> list[int]:
    """Which responses say that fakedev failed on the request (emulated endpoints only).

    Args:
        responses: one 32-byte response, or ``(n, 32)`` response rows.
        skip: rows that hold no response (requests that got none); not looked at.

    Returns:
        The indices of the defect responses (``[0]`` or ``[]`` for a single response).
    """
    cmp_, xlat, status = RESP_CMP_ERR_OFFSET, RESP_XLAT_ERR_OFFSET, RESP_STATUS_OFFSET
    if isinstance(responses, bytes):
        if len(responses) < RESP_HEADER_SZ or responses[cmp_] != _DEFECT_BYTE or 0 in skip:
            return []
        return [0] if responses[status] & ERROR_MASK and responses[xlat] == _DEFECT_BYTE else []
    if _DEFECT_MARK not in responses[:, cmp_].tobytes():  # the common case, in well under 1 µs
        return []
    rows = np.flatnonzero(
        (responses[:, cmp_] == _DEFECT_BYTE)
        & (responses[:, xlat] == _DEFECT_BYTE)
        & (responses[:, status] & ERROR_MASK != 0)
    )
    return [i for i in rows.tolist() if i not in skip]


def defect_error(what: str, defect: Defect | None) -> FakedevDefectError:
    """The error a request fakedev failed on ends with.

    Args:
        what: the channel or op, for the message.
        defect: the control page's defect record as read after the response came
            (``None``: it could not be read).

    Returns:
        The error; its message names where the fake failed, when the page says.
    """
    text = defect.text if defect is not None else ""
    where = text or "its control page records no defect"
    return FakedevDefectError(
        f"{what}: fakedev defect, not a device status: the fake device's own code failed "
        f"on this request ({where})",
        defect=text,
        count=defect.count if defect is not None else 0,
        hint="report it as a fakedev bug, with the traceback the backend printed on its "
        "stderr ('python -m fakedev serve' or the test that ran the device)",
    )
