"""One operation's request on the wire: buffers, regions, IV, digest and AAD addresses.

A request starts as a copy of its session's template (:mod:`qathw.service.cd`); the
functions here fill what changes per operation, checking everything a caller can get
wrong before the request leaves the host (a :class:`ValueError` that says what to fix).
:func:`flat_la_request` is the unchecked shortcut for flat buffers that the request layer
takes once an operation's arguments have been checked; tests pin it to :func:`la_request`.

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

from collections.abc import Sequence
from dataclasses import dataclass

from qathw.fw import common, comp, la, sgl
from qathw.fw.common import PTR_TYPE_FLAT, PTR_TYPE_SGL
from qathw.service.algorithms import AeadAlgorithm, CipherAlgorithm
from qathw.service.cd import CompSetup, LaSetup

_U32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1

# Each field is written at the offset qathw.fw names for it, by the struct named with it.
_buffers = common.REQ_BUFFER_FIELDS.pack_into  # src, dst addresses; src, dst lengths
_opaque = common.REQ_OPAQUE_FIELD.pack_into
_FLAGS, _FLAGS_AT = common.REQ_SERV_SPECIF_FLAGS_FIELD, common.REQ_SERV_SPECIF_FLAGS_OFFSET
_cipher_region = la.REQ_CIPHER_REGION_FIELDS.pack_into  # cipher_offset, cipher_length
_auth_region = la.REQ_AUTH_REGION_FIELDS.pack_into  # auth_off, auth_len
_iv_ptr = la.REQ_CIPHER_IV_PTR_FIELD.pack_into
_aad_addr = la.REQ_AAD_ADDR_FIELD.pack_into
_auth_res_addr = la.REQ_AUTH_RES_ADDR_FIELD.pack_into
_COMP_PARAMS = comp.REQ_COMP_PARAM_FIELDS  # comp_len ... req_par_flags

_PTR_TYPE_MASK = 1 << common.COMN_PTR_TYPE_BITPOS
_IV_INLINE = 1 << la.CIPH_IV_FLD_BITPOS
_SINGLE_PASS = 1 << la.SINGLE_PASS_PROTO_BITPOS
_IV_OFF, _IV_SZ = la.REQ_CIPHER_IV_OFFSET, la.REQ_CIPHER_IV_SZ  # inline IV, or its address

# Single pass (cipher_20) keeps its AAD and tag addresses where the auth parameters keep
# aad_adr and auth_res_addr, so one store serves both request forms.
assert la.REQ_SPC_AAD_ADDR_OFFSET == la.REQ_AAD_ADDR_OFFSET
assert la.REQ_SPC_AUTH_RES_ADDR_OFFSET == la.REQ_AUTH_RES_ADDR_OFFSET


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
    sgl.SGL_COUNT_FIELDS.pack_into(out, sgl.SGL_NUM_BUFS_OFFSET, len(entries), len(entries))
    for i, (iova, length) in enumerate(entries):
        _check_u64(iova, "SGL entry address")
        _check_u32(length, "SGL entry length")
        sgl.SGL_ENTRY_FIELDS.pack_into(out, sgl.sgl_entry_offset(i), length, iova)
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
    flags_at = common.REQ_COMN_FLAGS_OFFSET
    req[flags_at] = (req[flags_at] & ~_PTR_TYPE_MASK) | (ptr << common.COMN_PTR_TYPE_BITPOS)
    _buffers(
        req,
        common.REQ_SRC_ADDR_OFFSET,
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
    _opaque(req, common.REQ_OPAQUE_OFFSET, _check_u64(opaque, "opaque"))
    _set_buffers(req, src, dst)
    in_buf = setup.digest_size if setup.digest_in_buffer else 0
    total = src.length
    dst_len = (dst or src).length
    single_pass = bool(_FLAGS.unpack_from(req, _FLAGS_AT)[0] & _SINGLE_PASS)
    ends: list[int] = []

    if setup.cipher is not None:
        if cipher_length is None:
            cipher_length = total - cipher_offset - in_buf
        _check_region(cipher_offset, cipher_length, total, "cipher region")
        if isinstance(setup.cipher, CipherAlgorithm):
            setup.cipher.check_length(cipher_length)
        _cipher_region(req, la.REQ_CIPHER_OFF_OFFSET, cipher_offset, cipher_length)
        ends.append(cipher_offset + cipher_length)
        _set_iv(req, setup, iv, iv_iova)
    elif iv is not None or iv_iova is not None:
        raise ValueError("this session has no cipher and takes no IV")

    is_gcm = isinstance(setup.cipher, AeadAlgorithm)
    if setup.auth is not None:
        if auth_length is None:
            auth_length = total - auth_offset - in_buf
        _check_region(auth_offset, auth_length, total, "auth region")
        _auth_region(req, la.REQ_AUTH_OFF_OFFSET, auth_offset, auth_length)
        ends.append(auth_offset + auth_length + in_buf)
    elif is_gcm:
        if auth_length is not None or auth_offset:
            raise ValueError("GCM authenticates the cipher region; it takes no auth region")
        assert cipher_length is not None
        if not single_pass:
            # two-pass GCM: the GALOIS slice hashes exactly the cipher region
            _auth_region(req, la.REQ_AUTH_OFF_OFFSET, cipher_offset, cipher_length)
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
            digest = _check_u64(digest_iova, "digest address")
            _auth_res_addr(req, la.REQ_AUTH_RES_ADDR_OFFSET, digest)
    elif digest_iova is not None:
        raise ValueError("this session produces no digest")

    if setup.aad_size:
        if aad_iova is None:
            raise ValueError(
                f"aad_iova is needed: the session expects {setup.aad_size} bytes of AAD"
            )
        _aad_addr(req, la.REQ_AAD_ADDR_OFFSET, _check_u64(aad_iova, "AAD address"))
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
    flags = _FLAGS.unpack_from(req, _FLAGS_AT)[0]
    if iv is not None and iv_iova is not None:
        raise ValueError("pass the IV inline (iv) or by address (iv_iova), not both")
    if iv is not None:
        if len(iv) != setup.iv_size:
            raise ValueError(f"the IV is {setup.iv_size} bytes, got {len(iv)}")
        if setup.tweak_key is not None:
            iv = setup.ucs_xts_tweak(bytes(iv))  # UCS XTS: the device takes E(key2, tweak)
        req[_IV_OFF : _IV_OFF + _IV_SZ] = bytes(iv).ljust(_IV_SZ, b"\0")
        flags |= _IV_INLINE
    elif iv_iova is not None:
        req[_IV_OFF : _IV_OFF + _IV_SZ] = bytes(_IV_SZ)
        _iv_ptr(req, _IV_OFF, _check_u64(iv_iova, "IV address"))
        flags &= ~_IV_INLINE
    elif setup.iv_size:
        raise ValueError(f"an IV is needed ({setup.iv_size} bytes)")
    _FLAGS.pack_into(req, _FLAGS_AT, flags)


def flat_la_request(
    template: bytes,
    src: int,
    src_len: int,
    dst: int,
    dst_len: int,
    length: int,
    iv: bytes,
    aad_iova: int | None = None,
    digest_iova: int | None = None,
) -> bytearray:
    """The request of a cipher-only or single-pass GCM setup on flat buffers, unchecked.

    The shortcut :func:`la_request` takes for such setups once the operation's arguments
    have been checked: a copy of the template and a few stores. Nothing is validated here.

    Args:
        template: the setup's request template (``LaSetup.request(cd_iova)``).
        src / src_len / dst / dst_len: the buffers (``dst == src``: in place).
        length: the cipher region, ``[0, length)``.
        iv: the IV (the GCM nonce), inline.
        aad_iova / digest_iova: GCM's associated data and out-of-buffer tag, if any.

    Returns:
        The 128-byte request, its opaque cookie left as the template has it.
    """
    req = bytearray(template)
    _buffers(req, common.REQ_SRC_ADDR_OFFSET, src, dst, src_len, dst_len)
    _cipher_region(req, la.REQ_CIPHER_OFF_OFFSET, 0, length)
    req[_IV_OFF : _IV_OFF + len(iv)] = iv
    if aad_iova is not None:
        _aad_addr(req, la.REQ_AAD_ADDR_OFFSET, aad_iova)
    if digest_iova is not None:
        _auth_res_addr(req, la.REQ_AUTH_RES_ADDR_OFFSET, digest_iova)
    return req


def comp_request(
    setup: CompSetup,
    *,
    opaque: int,
    src: Buffer,
    dst: Buffer,
    input_length: int | None = None,
    output_capacity: int | None = None,
    final: bool = True,
    crc32: int | None = None,
    adler32: int | None = None,
) -> bytearray:
    """A complete compression or decompression request.

    Args:
        setup: the session template.
        opaque: 64-bit cookie echoed in the response.
        src: the input.
        dst: the output buffer (out of place only: the device cannot deflate in place).
        input_length: bytes of input to process (default: all of ``src``).
        output_capacity: bytes the device may write (default: all of ``dst``).
        final: compression: end the deflate stream with this request's last block;
            false ends it on a byte boundary, so the next request's output can follow.
        crc32 / adler32: checksum seeds, to continue those of earlier requests (default:
            the template's, a new stream).

    Raises:
        ValueError: in-place, or lengths or seeds out of range.
    """
    if input_length is None:
        input_length = src.length
    if output_capacity is None:
        output_capacity = dst.length
    if src == dst:
        raise ValueError("compression is out of place: give a separate destination buffer")
    _check_u32(input_length, "input length")
    _check_u32(output_capacity, "output capacity")
    for name, seed in (("crc32", crc32), ("adler32", adler32)):
        if seed is not None:
            _check_u32(seed, name)
    if input_length > src.length:
        raise ValueError(f"input length {input_length} exceeds the source ({src.length} bytes)")
    if output_capacity > dst.length:
        raise ValueError(
            f"output capacity {output_capacity} exceeds the destination ({dst.length} bytes)"
        )
    req = setup.request()
    _opaque(req, common.REQ_OPAQUE_OFFSET, _check_u64(opaque, "opaque"))
    _set_buffers(req, src, dst)
    at = comp.REQ_COMP_LEN_OFFSET
    _, _, seed_crc, seed_adler, flags = _COMP_PARAMS.unpack_from(req, at)
    if not final:
        flags &= ~(1 << comp.COMP_BFINAL_BITPOS)
    _COMP_PARAMS.pack_into(
        req,
        at,
        input_length,
        output_capacity,
        seed_crc if crc32 is None else crc32,
        seed_adler if adler32 is None else adler32,
        flags,
    )
    return req
