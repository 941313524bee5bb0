"""Per-operation request fields: buffers, regions, IV, digest and AAD addresses.

A request starts as a copy of its session's template (:mod:`qathw.service.cd`); the
functions here fill what changes per operation, checking everything a caller can get
wrong before the request leaves the host (a :class:`ValueError` that says what to fix).

Buffers are IOVAs of DMA memory the caller already holds:

* :class:`Flat` — one contiguous buffer.
* :class:`Sgl` — a scatter-gather list: the IOVA of a buffer-list descriptor built with
  :func:`sgl_descriptor`, and the total bytes it describes.

Source and destination are both flat or both SGL (one pointer-type bit covers both). A
destination equal to the source (or omitted) is in-place. Regions are byte offsets into
the source as one logical buffer (SGL entries concatenated). Out of place, the device
writes ``dst[0:end)``, ``end`` being the end of the last region (the in-buffer digest
included): the bytes outside the cipher region are copied from the source.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from qathw.fw import common, comp, la, sgl
from qathw.fw.common import PTR_TYPE_FLAT, PTR_TYPE_SGL
from qathw.service.algorithms import AeadAlgorithm, CipherAlgorithm
from qathw.service.cd import CompSetup, LaSetup

_U32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1

_MID = la.icp_qat_fw_la_bulk_req.comn_mid.offset
OPAQUE_OFF = _MID + common.icp_qat_fw_comn_req_mid.opaque_data.offset
SRC_ADDR_OFF = _MID + common.icp_qat_fw_comn_req_mid.src_data_addr.offset
DST_ADDR_OFF = _MID + common.icp_qat_fw_comn_req_mid.dest_data_addr.offset
SRC_LEN_OFF = _MID + common.icp_qat_fw_comn_req_mid.src_length.offset
DST_LEN_OFF = _MID + common.icp_qat_fw_comn_req_mid.dst_length.offset
FLAGS_OFF = common.icp_qat_fw_comn_req_hdr.serv_specif_flags.offset
COMN_FLAGS_OFF = common.icp_qat_fw_comn_req_hdr.comn_req_flags.offset
CIPHER_OFF = la.CIPHER_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_cipher_req_params.cipher_offset.offset
CIPHER_LEN = la.CIPHER_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_cipher_req_params.cipher_length.offset
IV_OFF = la.CIPHER_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_cipher_req_params.u.offset
AUTH_OFF = la.AUTH_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_auth_req_params.auth_off.offset
AUTH_LEN = la.AUTH_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_auth_req_params.auth_len.offset
AAD_ADDR_OFF = la.AUTH_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_auth_req_params.u1.offset
AUTH_RES_OFF = la.AUTH_REQ_PARAMS_OFFSET + la.icp_qat_fw_la_auth_req_params.auth_res_addr.offset
_COMP_PARS = comp.icp_qat_fw_comp_req.comp_pars.offset
COMP_LEN_OFF = _COMP_PARS + comp.icp_qat_fw_comp_req_params.comp_len.offset
COMP_OUT_SZ_OFF = _COMP_PARS + comp.icp_qat_fw_comp_req_params.out_buffer_sz.offset

# The single-pass (cipher_20) AAD and tag addresses share the auth params' offsets.
assert la.icp_qat_fw_la_cipher_20_req_params.spc_aad_addr.offset + 56 == AAD_ADDR_OFF
assert la.icp_qat_fw_la_cipher_20_req_params.spc_auth_res_addr.offset + 56 == AUTH_RES_OFF


@dataclass(frozen=True)
class Flat:
    """A contiguous DMA buffer: device address and length."""

    iova: int
    length: int


@dataclass(frozen=True)
class Sgl:
    """A scatter-gather buffer: the IOVA of its list descriptor and the total length."""

    iova: int
    length: int


Buffer = Flat | Sgl


def sgl_descriptor(entries: Sequence[tuple[int, int]]) -> bytes:
    """The bytes of a buffer-list descriptor for ``(iova, length)`` entries.

    Place them in DMA memory (8-byte aligned) and pass ``Sgl(that_iova, total)``.

    Raises:
        ValueError: no entries, more than the device takes, or a bad address/length.
    """
    if not entries:
        raise ValueError("a scatter-gather list needs at least one entry")
    if len(entries) > sgl.SGL_MAX_ENTRIES:
        raise ValueError(
            f"{len(entries)} entries; the device takes at most {sgl.SGL_MAX_ENTRIES} per list"
        )
    out = bytearray(sgl.sgl_size(len(entries)))
    struct.pack_into("<8xII", out, 0, len(entries), len(entries))
    for i, (iova, length) in enumerate(entries):
        _check_u64(iova, "SGL entry address")
        _check_u32(length, "SGL entry length")
        struct.pack_into("<I4xQ", out, 16 + 16 * i, length, iova)
    return bytes(out)


def _check_u32(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U32:
        raise ValueError(f"{what} must be an integer in 0..2**32-1, got {value!r}")
    return value


def _check_u64(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U64:
        raise ValueError(f"{what} must be an integer in 0..2**64-1, got {value!r}")
    return value


def _set_buffers(req: bytearray | memoryview, src: Buffer, dst: Buffer | None) -> None:
    dst = src if dst is None else dst
    if type(src) is not type(dst):
        raise ValueError("source and destination must both be flat or both scatter-gather")
    ptr = PTR_TYPE_SGL if isinstance(src, Sgl) else PTR_TYPE_FLAT
    if isinstance(src, Sgl) and (src.iova % sgl.SGL_DESC_ALIGN or dst.iova % sgl.SGL_DESC_ALIGN):
        raise ValueError("scatter-gather descriptors must be 8-byte aligned")
    req[COMN_FLAGS_OFF] = (req[COMN_FLAGS_OFF] & ~1) | ptr
    struct.pack_into(
        "<QQII",
        req,
        SRC_ADDR_OFF,
        _check_u64(src.iova, "source address"),
        _check_u64(dst.iova, "destination address"),
        _check_u32(src.length, "source length"),
        _check_u32(dst.length, "destination length"),
    )


def la_request(
    setup: LaSetup,
    cd_iova: int,
    *,
    opaque: int,
    src: Buffer,
    dst: Buffer | None = None,
    cipher_offset: int = 0,
    cipher_length: int | None = None,
    auth_offset: int = 0,
    auth_length: int | None = None,
    iv: bytes | None = None,
    iv_iova: int | None = None,
    digest_iova: int | None = None,
    aad_iova: int | None = None,
) -> bytearray:
    """A complete LA request for one operation of ``setup``.

    Args:
        setup: the session's CD and template.
        cd_iova: where the session's CD lives in DMA memory.
        opaque: 64-bit cookie echoed in the response.
        src: source buffer.
        dst: destination (default: in place).
        cipher_offset: start of the cipher region in the source.
        cipher_length: its length (default: the rest of the source, less an in-buffer
            digest).
        auth_offset: start of the hashed region (plain hash, HMAC, chains).
        auth_length: its length (default: as the cipher region for chains, else the
            rest of the source less an in-buffer digest).
        iv: the IV, carried inline in the request (at most 16 bytes). For a UCS-form XTS
            session this is the plain tweak; it is encrypted with key2 here.
        iv_iova: or the IOVA of the IV in DMA memory (UCS-form XTS: the encrypted tweak,
            see :meth:`LaSetup.ucs_xts_tweak`).
        digest_iova: where the device writes (or reads, to verify) the digest/tag, when
            the session does not keep it in the buffer.
        aad_iova: GCM associated data (``setup.aad_size`` bytes) in DMA memory.

    Returns:
        The 128-byte request.

    Raises:
        ValueError: a missing or inconsistent parameter (the message says which).
    """
    req = setup.request(cd_iova)
    _check_u64(opaque, "opaque")
    struct.pack_into("<Q", req, OPAQUE_OFF, opaque)
    _set_buffers(req, src, dst)
    in_buf = setup.digest_size if setup.digest_in_buffer else 0
    total = src.length
    dst_len = (dst or src).length
    single_pass = bool(
        struct.unpack_from("<H", req, FLAGS_OFF)[0] & (1 << la.SINGLE_PASS_PROTO_BITPOS)
    )
    ends: list[int] = []

    if setup.cipher is not None:
        if cipher_length is None:
            cipher_length = total - cipher_offset - in_buf
        _check_region(cipher_offset, cipher_length, total, "cipher region")
        if isinstance(setup.cipher, CipherAlgorithm):
            setup.cipher.check_length(cipher_length)
        struct.pack_into("<II", req, CIPHER_OFF, cipher_offset, cipher_length)
        ends.append(cipher_offset + cipher_length)
        _set_iv(req, setup, iv, iv_iova)
    elif iv is not None or iv_iova is not None:
        raise ValueError("this session has no cipher and takes no IV")

    is_gcm = isinstance(setup.cipher, AeadAlgorithm)
    if setup.auth is not None:
        if auth_length is None:
            auth_length = total - auth_offset - in_buf
        _check_region(auth_offset, auth_length, total, "auth region")
        struct.pack_into("<II", req, AUTH_OFF, auth_offset, auth_length)
        ends.append(auth_offset + auth_length + in_buf)
    elif is_gcm:
        if auth_length is not None or auth_offset:
            raise ValueError("GCM authenticates the cipher region; it takes no auth region")
        assert cipher_length is not None
        if not single_pass:
            # two-pass GCM: the GALOIS slice hashes exactly the cipher region
            struct.pack_into("<II", req, AUTH_OFF, cipher_offset, cipher_length)
        ends.append(cipher_offset + cipher_length + in_buf)
    elif auth_length is not None or auth_offset:
        raise ValueError("this session does not hash; it takes no auth region")

    if setup.digest_size:
        if setup.digest_in_buffer:
            if digest_iova is not None:
                raise ValueError("the digest is in the buffer; do not pass digest_iova")
        else:
            if digest_iova is None:
                what = "verify" if setup.verify else "write"
                raise ValueError(
                    f"digest_iova is needed: where the device should {what} the digest"
                )
            struct.pack_into("<Q", req, AUTH_RES_OFF, _check_u64(digest_iova, "digest address"))
    elif digest_iova is not None:
        raise ValueError("this session produces no digest")

    if setup.aad_size:
        if aad_iova is None:
            raise ValueError(
                f"aad_iova is needed: the session expects {setup.aad_size} bytes of AAD"
            )
        struct.pack_into("<Q", req, AAD_ADDR_OFF, _check_u64(aad_iova, "AAD address"))
    elif aad_iova is not None:
        raise ValueError("the session has no associated data (aad_size=0)")

    end = max(ends, default=0)
    if end > total:
        raise ValueError(f"the regions and digest need {end} bytes; the source has {total}")
    if end > dst_len:
        raise ValueError(f"the regions and digest need {end} bytes; the destination has {dst_len}")
    return req


def _check_region(offset: int, length: int, total: int, what: str) -> None:
    _check_u32(offset, f"{what} offset")
    _check_u32(length, f"{what} length")
    if offset + length > total:
        raise ValueError(
            f"{what} [{offset}, {offset + length}) runs past the buffer ({total} bytes)"
        )


def _set_iv(req: bytearray, setup: LaSetup, iv: bytes | None, iv_iova: int | None) -> None:
    flags = struct.unpack_from("<H", req, FLAGS_OFF)[0]
    if iv is not None and iv_iova is not None:
        raise ValueError("pass the IV inline (iv) or by address (iv_iova), not both")
    if iv is not None:
        if len(iv) != setup.iv_size:
            raise ValueError(f"the IV is {setup.iv_size} bytes, got {len(iv)}")
        if setup.tweak_key is not None:
            iv = setup.ucs_xts_tweak(bytes(iv))  # UCS XTS: the device takes E(key2, tweak)
        req[IV_OFF : IV_OFF + 16] = bytes(iv).ljust(16, b"\0")
        flags |= 1 << la.CIPH_IV_FLD_BITPOS
    elif iv_iova is not None:
        struct.pack_into("<Q8x", req, IV_OFF, _check_u64(iv_iova, "IV address"))
        flags &= ~(1 << la.CIPH_IV_FLD_BITPOS)
    elif setup.iv_size:
        raise ValueError(f"an IV is needed ({setup.iv_size} bytes)")
    struct.pack_into("<H", req, FLAGS_OFF, flags)


def comp_request(
    setup: CompSetup,
    *,
    opaque: int,
    src: Buffer,
    dst: Buffer,
    input_length: int | None = None,
    output_capacity: int | None = None,
) -> bytearray:
    """A complete compression or decompression request.

    Args:
        setup: the session template.
        opaque: 64-bit cookie echoed in the response.
        src: the input.
        dst: the output buffer (out of place only: the device cannot deflate in place).
        input_length: bytes of input to process (default: all of ``src``).
        output_capacity: bytes the device may write (default: all of ``dst``).

    Raises:
        ValueError: in-place, or lengths beyond the buffers.
    """
    if input_length is None:
        input_length = src.length
    if output_capacity is None:
        output_capacity = dst.length
    if src == dst:
        raise ValueError("compression is out of place: give a separate destination buffer")
    _check_u32(input_length, "input length")
    _check_u32(output_capacity, "output capacity")
    if input_length > src.length:
        raise ValueError(f"input length {input_length} exceeds the source ({src.length} bytes)")
    if output_capacity > dst.length:
        raise ValueError(
            f"output capacity {output_capacity} exceeds the destination ({dst.length} bytes)"
        )
    req = setup.request()
    _check_u64(opaque, "opaque")
    struct.pack_into("<Q", req, OPAQUE_OFF, opaque)
    _set_buffers(req, src, dst)
    struct.pack_into("<II", req, COMP_LEN_OFF, input_length, output_capacity)
    return req
