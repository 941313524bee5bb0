"""Per-plan fast paths for the common requests: flat cipher and single-pass GCM.

Built once per plan, each fast path is a closure with everything it needs already bound
(algorithm object, mode, direction, sizes), so a request costs a few struct unpacks, slices
of the device-memory window, and the ``cryptography`` calls: ``update_into`` straight
from the source view into the destination view (zero copy). A GCM encryption whose
16-byte tag follows its ciphertext (the usual in-buffer layout) is one
``AESGCM.encrypt_into`` call, about half the Python work of a cipher context.

A fast path handles only the normal case. Anything unusual (a region or address that does
not fit, a partial overlap of source and destination, a length the mode refuses, no room
after the destination for ``update_into``'s block of slack, an empty region) returns
``None`` before touching memory, and the general path runs the request and produces the
precise answer or error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fakedev.engine.la_plan import Plan
from qathw.fw import hw
from qathw.fw.common import HDR_FLAG_VALID, RespServiceId, Status

# (request, whole device-memory window, its IOVA) -> response, or None: not handled here
FastPath = Callable[[bytes, memoryview, int], "bytes | None"]

_MID = struct.Struct("<QQII")  # @32: src, dst, src_length, dst_length
_REGION = struct.Struct("<II")  # @56: cipher_offset, cipher_length
_SPC = struct.Struct("<IIQQ3xB")  # @80: aad offset, aad size, aad addr, tag addr, tag size
_HEAD = struct.Struct("<BBBBBBBB")
_ZERO16 = bytes(16)
_CRYPTO = int(Status.CRYPTO)


def _iv(req: bytes, win: memoryview, base: int, inline: bool, n: int) -> bytes | None:
    """The IV: inline at request byte 64, or at the IOVA stored there (None: outside)."""
    if inline:
        return req[64 : 64 + n]
    p = int.from_bytes(req[64:72], "little") - base
    if p < 0 or p + n > len(win):
        return None
    return bytes(win[p : p + n])


def response(req: bytes, status: int) -> bytes:
    """The response to ``req`` with ``status`` and no error code (``make_response``, fast)."""
    head = _HEAD.pack(0, RespServiceId.CPM_FW, req[2], HDR_FLAG_VALID, 0, 0, status, req[1])
    return head + req[24:32] + _ZERO16


def for_plan(plan: Plan) -> FastPath | None:
    """The fast path for ``plan``, or None when its kind has none."""
    c = plan.cipher
    if c is None:
        return None
    if plan.kind == "cipher" and c.mode in (hw.CipherMode.CBC, hw.CipherMode.CTR):
        return _cipher_fast(plan)
    if plan.kind == "gcm1" and plan.gcm_iv12:
        if not c.decrypt and plan.ret and not plan.cmp:
            return _gcm_encrypt_fast(plan)
        if c.decrypt and plan.cmp and not plan.ret:
            return _gcm_decrypt_fast(plan)
    return None


def _cipher_fast(plan: Plan) -> FastPath:
    c = plan.cipher
    assert c is not None
    algorithm = c.algorithm
    mode_cls = modes.CBC if c.mode == hw.CipherMode.CBC else modes.CTR
    decrypt = c.decrypt
    block = c.block if c.mode == hw.CipherMode.CBC else 1
    slack = block - 1
    iv_len = c.state_len
    inline = plan.iv_inline

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        src, dst, src_len, dst_len = _MID.unpack_from(req, 32)
        off, n = _REGION.unpack_from(req, 56)
        end = off + n
        if n % block or end > src_len or end > dst_len or not n:
            return None
        s0, d0 = src - base, dst - base
        size = len(win)
        if s0 < 0 or d0 < 0 or s0 + end > size or d0 + end + slack > size:
            return None
        if src != dst and s0 < d0 + end and d0 < s0 + end:
            return None
        iv = _iv(req, win, base, inline, iv_len)
        if iv is None:
            return None
        cipher = Cipher(algorithm, mode_cls(iv))
        ctx = cipher.decryptor() if decrypt else cipher.encryptor()
        if src != dst and off:
            win[d0 : d0 + off] = win[s0 : s0 + off]
        ctx.update_into(win[s0 + off : s0 + end], win[d0 + off : d0 + end + slack])
        ctx.finalize()
        return response(req, 0)

    return run


def _gcm_common(plan: Plan) -> tuple[object, int, int, bool, bool]:
    c = plan.cipher
    assert c is not None
    return c.algorithm, c.aead_tag, c.aead_aad, plan.digest_in_buffer, plan.iv_inline


_GcmSpans = tuple[int, int, int, int, int, int, int, int, bytes]


def _gcm_spans(
    req: bytes,
    win: memoryview,
    base: int,
    tag_len: int,
    aad_len: int,
    in_buffer: bool,
    inline: bool,
    *,
    tag_in_dst: bool,
) -> _GcmSpans | None:
    """Where a single-pass GCM request's data, AAD and tag lie in the window, all checked.

    ``None`` hands the request to the general path (which answers any fault properly).
    Returns ``(src, dst, off, n, s0, d0, a0, t0, iv)``: IOVAs, the region, window offsets of
    source, destination, AAD and tag, and the IV. An in-buffer tag follows the region in the
    destination (encrypt writes it) or in the source (decrypt reads it).
    """
    src, dst, src_len, dst_len = _MID.unpack_from(req, 32)
    off, n = _REGION.unpack_from(req, 56)
    aad_off, aad_sz, aad_addr, tag_addr, tag_sz = _SPC.unpack_from(req, 80)
    if aad_sz != aad_len or tag_sz != tag_len or aad_off:
        return None
    end = off + n + (tag_len if in_buffer else 0)
    if end > src_len or end > dst_len:
        return None
    s0, d0, a0 = src - base, dst - base, aad_addr - base
    t0 = (d0 if tag_in_dst else s0) + off + n if in_buffer else tag_addr - base
    size = len(win)
    if min(s0, d0, t0) < 0 or max(s0, d0) + end > size or t0 + tag_len > size:
        return None
    if aad_len and (a0 < 0 or a0 + aad_len > size):
        return None
    if src != dst and s0 < d0 + end and d0 < s0 + end:
        return None
    iv = _iv(req, win, base, inline, 12)
    if iv is None:
        return None
    return src, dst, off, n, s0, d0, a0, t0, iv


def _one_shot(algorithm: object, tag_len: int) -> AESGCM | None:
    """The one-call AEAD object for full 16-byte tags (``encrypt_into``/``decrypt_into``)."""
    key = getattr(algorithm, "key", None)
    return AESGCM(key) if tag_len == 16 and isinstance(key, bytes) else None


def _gcm_encrypt_fast(plan: Plan) -> FastPath:
    algorithm, tag_len, aad_len, in_buffer, inline = _gcm_common(plan)
    one_shot = _one_shot(algorithm, tag_len)

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        spans = _gcm_spans(req, win, base, tag_len, aad_len, in_buffer, inline, tag_in_dst=True)
        if spans is None:
            return None
        src, dst, off, n, s0, d0, a0, t0, iv = spans
        if one_shot is not None and t0 == d0 + off + n:
            # The tag follows the ciphertext: one call writes both, in place or not.
            if src != dst and off:
                win[d0 : d0 + off] = win[s0 : s0 + off]
            aad = win[a0 : a0 + aad_len] if aad_len else None
            one_shot.encrypt_into(iv, win[s0 + off : s0 + off + n], aad, win[d0 + off : t0 + 16])
            return response(req, 0)
        ctx = Cipher(algorithm, modes.GCM(iv)).encryptor()  # type: ignore[arg-type]
        if aad_len:
            ctx.authenticate_additional_data(win[a0 : a0 + aad_len])
        if src != dst and off:
            win[d0 : d0 + off] = win[s0 : s0 + off]
        if n:
            ctx.update_into(win[s0 + off : s0 + off + n], win[d0 + off : d0 + off + n])
        ctx.finalize()
        win[t0 : t0 + tag_len] = ctx.tag[:tag_len]
        return response(req, 0)

    return run


def _gcm_decrypt_fast(plan: Plan) -> FastPath:
    algorithm, tag_len, aad_len, in_buffer, inline = _gcm_common(plan)

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        spans = _gcm_spans(req, win, base, tag_len, aad_len, in_buffer, inline, tag_in_dst=False)
        if spans is None:
            return None
        src, dst, off, n, s0, d0, a0, t0, iv = spans
        expected = bytes(win[t0 : t0 + tag_len])  # read before anything is written
        gcm = modes.GCM(iv, min_tag_length=4)
        ctx = Cipher(algorithm, gcm).decryptor()  # type: ignore[arg-type]
        if aad_len:
            ctx.authenticate_additional_data(win[a0 : a0 + aad_len])
        if src != dst:
            if off:
                win[d0 : d0 + off] = win[s0 : s0 + off]
            if in_buffer:
                win[d0 + off + n : d0 + off + n + tag_len] = expected
        if n:
            ctx.update_into(win[s0 + off : s0 + off + n], win[d0 + off : d0 + off + n])
        try:
            ctx.finalize_with_tag(expected)
        except InvalidTag:
            return response(req, _CRYPTO)
        return response(req, 0)

    return run
