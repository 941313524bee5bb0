"""The message fields fakedev reads and writes, and the one place a response is made.

Every byte position here comes from :mod:`qathw.fw`, computed from the firmware layouts
and pinned there against docs/hardware.md#messages; no other fakedev module states one.
The readers are small; the engine's hot paths use the same precompiled structs of
:mod:`qathw.fw` directly, at the offsets named there.

Responses are made only here: :func:`make_response` answers one request,
:func:`responses_for` a group as an array whose rows are :func:`make_response`'s. So the
valid bit, ``service_id``, the echoed ``response_type``, ``cmd_id`` and cookie, and the
status and error bytes are laid out in one place, for results, refusals, DMA faults and
fakedev defects alike (docs/hardware.md#response).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from qathw.fw import comp, la
from qathw.fw.common import (
    CD_FLD_TYPE_16BYTE_DATA,
    COMN_CD_FLD_TYPE_BITPOS,
    COMN_PTR_TYPE_BITPOS,
    HDR_FLAG_VALID,
    PTR_TYPE_SGL,
    REQ_CD_ADDR_OFFSET,
    REQ_CD_FIELDS,
    REQ_CD_PARS_OFFSET,
    REQ_CD_PARS_SZ,
    REQ_CMD_ID_OFFSET,
    REQ_COMN_FLAGS_OFFSET,
    REQ_DEFAULT_SZ,
    REQ_EXT_FLAGS_OFFSET,
    REQ_HEADER_FIELDS,
    REQ_MID_FIELDS,
    REQ_OPAQUE_OFFSET,
    REQ_OPAQUE_SZ,
    REQ_SERV_SPECIF_FLAGS_OFFSET,
    REQ_SERV_SPECIF_FLAGS_SZ,
    REQ_SERVICE_TYPE_OFFSET,
    RESP_CMD_ID_OFFSET,
    RESP_DEFAULT_SZ,
    RESP_HDR_FLAGS_OFFSET,
    RESP_OPAQUE_FIELD,
    RESP_OPAQUE_OFFSET,
    RESP_OPAQUE_SZ,
    RESP_SERV_SPECIF_SZ,
    RESP_STATUS_OFFSET,
    RESP_TYPE_OFFSET,
    RESPONSE_FIELDS,
    RespServiceId,
)
from qathw.fw.sgl import SGL_ENTRY_FIELDS

Bytes2D = npt.NDArray[np.uint8]  # (n, msg_size) requests or (n, 32) responses
Message = bytes | bytearray | memoryview

# --- request bytes, as slices (numpy columns, cache keys) -------------------------------

HEADER = slice(REQ_CMD_ID_OFFSET, REQ_CMD_ID_OFFSET + REQ_HEADER_FIELDS.size)  # after resrvd1
CD_PARS = slice(REQ_CD_PARS_OFFSET, REQ_CD_PARS_OFFSET + REQ_CD_PARS_SZ)
OPAQUE = slice(REQ_OPAQUE_OFFSET, REQ_OPAQUE_OFFSET + REQ_OPAQUE_SZ)
CD_CTRL = slice(la.CD_CTRL_OFFSET, la.CD_CTRL_OFFSET + la.CD_CTRL_SZ)
_CMD = slice(REQ_CMD_ID_OFFSET, REQ_CMD_ID_OFFSET + 1)
_FLAGS = slice(
    REQ_SERV_SPECIF_FLAGS_OFFSET, REQ_SERV_SPECIF_FLAGS_OFFSET + REQ_SERV_SPECIF_FLAGS_SZ
)
_EXT = slice(REQ_EXT_FLAGS_OFFSET, REQ_EXT_FLAGS_OFFSET + 1)

# comn_req_flags bits (the only two defined; the others are reserved)
SGL_FLAG = PTR_TYPE_SGL << COMN_PTR_TYPE_BITPOS  # source and destination are lists
INLINE_CD_FLAG = CD_FLD_TYPE_16BYTE_DATA << COMN_CD_FLD_TYPE_BITPOS  # 16 bytes, no CD address
COMN_FLAGS_DEFINED = SGL_FLAG | INLINE_CD_FLAG

_header = REQ_HEADER_FIELDS.unpack_from
_cd = REQ_CD_FIELDS.unpack_from
_mid = REQ_MID_FIELDS.unpack_from
_cipher_region = la.REQ_CIPHER_REGION_FIELDS.unpack_from
_auth_region = la.REQ_AUTH_REGION_FIELDS.unpack_from
_auth_params = la.REQ_AUTH_PARAM_FIELDS.unpack_from
_spc_params = la.REQ_SPC_PARAM_FIELDS.unpack_from
_iv_ptr = la.REQ_CIPHER_IV_PTR_FIELD.unpack_from
_comp_params = comp.REQ_COMP_PARAM_FIELDS.unpack_from
_slice_cfg = comp.REQ_SLICE_CFG_FIELDS.unpack_from


def service_type(request: Message) -> int:
    """``service_type``: which service the request is for."""
    return request[REQ_SERVICE_TYPE_OFFSET]


def service_types(requests: Bytes2D) -> Bytes2D:
    """The ``service_type`` column of ``(n, msg_size)`` requests."""
    return requests[:, REQ_SERVICE_TYPE_OFFSET]


def header(request: Message) -> tuple[int, int, int, int, int, int]:
    """``(service_cmd_id, service_type, hdr_flags, serv_specif_flags, comn_req_flags,
    ext_flags)``."""
    return _header(request, REQ_CMD_ID_OFFSET)


def is_sgl(request: Message) -> bool:
    """Source and destination are buffer lists, not flat buffers (``comn_req_flags``)."""
    return bool(request[REQ_COMN_FLAGS_OFFSET] & SGL_FLAG)


def content_descriptor(request: Message) -> tuple[int, int]:
    """``(content_desc_addr, content_desc_params_sz)``: the CD's IOVA and quadwords."""
    return _cd(request, REQ_CD_ADDR_OFFSET)


def middle(request: Message) -> tuple[int, int, int, int, int]:
    """``(opaque, src_data_addr, dest_data_addr, src_length, dst_length)``."""
    return _mid(request, REQ_OPAQUE_OFFSET)


def la_session(request: bytes) -> bytes:
    """The request bytes a LA session fixes: command, flags, ext_flags, ``cd_ctrl``.

    With the content descriptor they make the key of a cached plan.
    """
    return request[_CMD] + request[_FLAGS] + request[_EXT] + request[CD_CTRL]


def cd_ctrl(request: bytes) -> bytes:
    """The LA content-descriptor control header (``icp_qat_fw_la_cipher_auth_cd_ctrl_hdr``)."""
    return request[CD_CTRL]


def cipher_region(request: Message) -> tuple[int, int]:
    """``(cipher_offset, cipher_length)``."""
    return _cipher_region(request, la.REQ_CIPHER_OFF_OFFSET)


def auth_region(request: Message) -> tuple[int, int]:
    """``(auth_off, auth_len)``."""
    return _auth_region(request, la.REQ_AUTH_OFF_OFFSET)


def auth_params(request: Message) -> tuple[int, int, int, int, int, int, int]:
    """``(auth_off, auth_len, aad_adr, auth_res_addr, aad_sz, hash_state_sz, auth_res_sz)``."""
    return _auth_params(request, la.REQ_AUTH_OFF_OFFSET)


def spc_params(request: Message) -> tuple[int, int, int, int, int]:
    """Single pass: ``(spc_aad_offset, spc_aad_sz, spc_aad_addr, spc_auth_res_addr,
    spc_auth_res_sz)``."""
    return _spc_params(request, la.REQ_SPC_AAD_OFF_OFFSET)


def inline_iv(request: bytes, n: int) -> bytes:
    """The first ``n`` bytes of the IV field (``cipher_IV_array``)."""
    return request[la.REQ_CIPHER_IV_OFFSET : la.REQ_CIPHER_IV_OFFSET + n]


def iv_pointer(request: Message) -> int:
    """``cipher_IV_ptr``: the IV's IOVA, when it is not inline."""
    return int(_iv_ptr(request, la.REQ_CIPHER_IV_OFFSET)[0])


def comp_params(request: Message) -> tuple[int, int, int, int, int]:
    """``(comp_len, out_buffer_sz, initial_crc32, initial_adler, req_par_flags)``."""
    return _comp_params(request, comp.REQ_COMP_LEN_OFFSET)


def slice_cfg_words(request: Message) -> tuple[int, int]:
    """Gen4: the lower and upper slice config words, as field values (stored big-endian)."""
    return _slice_cfg(request, comp.REQ_SLICE_CFG_LOWER_OFFSET)


def sgl_ranges(entries: bytes) -> list[tuple[int, int]]:
    """``(addr, len)`` of each entry in the bytes of a run of SGL entries."""
    return [(addr, n) for n, addr in SGL_ENTRY_FIELDS.iter_unpack(entries)]


# --- responses -----------------------------------------------------------------------

_pack_response = RESPONSE_FIELDS.pack
_RESP_OPAQUE = slice(RESP_OPAQUE_OFFSET, RESP_OPAQUE_OFFSET + RESP_OPAQUE_SZ)
_NO_TAIL = b""
_ZERO_REQUEST = bytes(REQ_DEFAULT_SZ)
# The valid bit in a response's first little-endian 32-bit word (rings write it last).
VALID_IN_FIRST_WORD = HDR_FLAG_VALID << (8 * RESP_HDR_FLAGS_OFFSET)


def _s8(code: int) -> int:
    """``code`` as the signed byte its low eight bits are (error bytes are ``int8``)."""
    return (code & 0x7F) - (code & 0x80)


def make_response(
    request: Message,
    status: int = 0,
    *,
    cmp_err: int = 0,
    xlat_err: int = 0,
    hdr_flags: int = 0,
    tail: bytes = _NO_TAIL,
) -> bytes:
    """The 32-byte response to ``request``.

    Echoes what the firmware echoes: ``response_type`` = the request's ``service_type``,
    ``cmd_id``, and the opaque cookie; sets the valid bit, ``service_id`` = CPM_FW.

    Args:
        request: the request (at least its header and opaque cookie).
        status: the ``comn_status`` byte (:class:`qathw.fw.common.Status` bits).
        cmp_err: compression error code (a signed byte; only its low 8 bits are kept).
        xlat_err: translator error code (likewise).
        hdr_flags: response header flags besides the valid bit (CNV, ...).
        tail: up to 16 service-specific bytes (COMP: counters and checksums), zero-filled.

    Returns:
        32 bytes.
    """
    if len(tail) > RESP_SERV_SPECIF_SZ:
        raise ValueError(f"response tail is at most {RESP_SERV_SPECIF_SZ} bytes")
    cookie = request[OPAQUE]
    return _pack_response(
        0,
        RespServiceId.CPM_FW,
        request[REQ_SERVICE_TYPE_OFFSET],
        HDR_FLAG_VALID | hdr_flags,
        _s8(xlat_err) if xlat_err else 0,
        _s8(cmp_err) if cmp_err else 0,
        status & 0xFF,
        request[REQ_CMD_ID_OFFSET],
        cookie if type(cookie) is bytes else bytes(cookie),
        tail,  # struct zero-fills a short one
    )


@functools.lru_cache(maxsize=64)
def _template(status: int, hdr_flags: int, cmp_err: int, xlat_err: int) -> Bytes2D:
    """The response row to an all-zero request: what no echoed field changes."""
    row = np.frombuffer(
        make_response(
            _ZERO_REQUEST, status, cmp_err=cmp_err, xlat_err=xlat_err, hdr_flags=hdr_flags
        ),
        dtype=np.uint8,
    ).copy()
    row.flags.writeable = False
    return row


def responses_for(
    requests: Bytes2D,
    status: int = 0,
    *,
    hdr_flags: int = 0,
    cmp_err: int = 0,
    xlat_err: int = 0,
) -> Bytes2D:
    """The array form of :func:`make_response`: one response row per request row.

    Args:
        requests: ``(n, msg_size)`` requests.
        status / hdr_flags / cmp_err / xlat_err: as :func:`make_response`, for every row.

    Returns:
        ``(n, 32)`` responses, bytes 16-31 zero.
    """
    out = np.empty((requests.shape[0], RESP_DEFAULT_SZ), dtype=np.uint8)
    out[:] = _template(int(status), hdr_flags, cmp_err, xlat_err)
    # The fields make_response echoes, a column at a time.
    out[:, RESP_TYPE_OFFSET] = requests[:, REQ_SERVICE_TYPE_OFFSET]
    out[:, RESP_CMD_ID_OFFSET] = requests[:, REQ_CMD_ID_OFFSET]
    out[:, _RESP_OPAQUE] = requests[:, OPAQUE]
    return out


def mark_valid(responses: Bytes2D) -> None:
    """Set the valid bit of ``(n, 32)`` responses, so no slot written looks empty."""
    responses[:, RESP_HDR_FLAGS_OFFSET] |= HDR_FLAG_VALID


def response_outcome(response: Message) -> tuple[int, bool, int]:
    """What a driver reads back from one response: its cookie, the valid bit, the status.

    Args:
        response: one 32-byte response.

    Returns:
        ``(opaque, valid, comn_status)``.
    """
    (opaque,) = RESP_OPAQUE_FIELD.unpack_from(response, RESP_OPAQUE_OFFSET)
    valid = bool(response[RESP_HDR_FLAGS_OFFSET] & HDR_FLAG_VALID)
    return opaque, valid, response[RESP_STATUS_OFFSET]
