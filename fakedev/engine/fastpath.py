"""Per-plan fast paths for the common requests: flat cipher and single-pass GCM.

Built once per plan, each fast path is a closure with everything it needs already bound
(algorithm object, mode, direction, sizes), so a request costs a few struct unpacks, slices
of the device-memory window, and the ``cryptography`` calls.

Where the output is written depends on how the buffers lie. ``cryptography`` refuses
overlapping memory in its ``*_into`` calls (51 raises ``ValueError``), and
``update_into`` wants ``block - 1`` bytes of room after its output, so:

* the source region shares no byte with what is written before it is read (the
  destination's leading bytes, its region, and that room): zero copy, ``update_into``
  straight from the source view into the destination view;
* in place, overlapping, or the room reaching into the source region: the output goes to
  the handler's :class:`Scratch` buffer and is copied back once, after every input was
  read (the device's order too).

A GCM encryption with a full 16-byte tag that follows its ciphertext (the usual in-buffer
layout) is one ``AESGCM.encrypt_into`` call where the release has it
(:mod:`fakedev.engine.compat`), about half the Python work of a cipher context.

A fast path handles only the normal case. Anything unusual (a region or address that does
not fit, a length the mode refuses, an empty cipher region) returns ``None`` before
touching memory, and the general path runs the request and produces the precise answer
or error.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fakedev.engine.compat import GCM_ENCRYPT_INTO, STREAM_ROOM
from fakedev.engine.la_plan import Plan
from fakedev.wire import make_response
from qathw.fw import hw, la
from qathw.fw.common import REQ_BUFFER_FIELDS, REQ_SRC_ADDR_OFFSET, Status

# (request, whole device-memory window, its IOVA) -> response, or None: not handled here
FastPath = Callable[[bytes, memoryview, int], "bytes | None"]
# (source region, output view): a cryptography call that writes the output
_Fill = Callable[[memoryview, memoryview], object]

# The request's fields, read on every request by qathw.fw's precompiled structs (a call to
# a fakedev.wire reader each would cost more than the unpack).
_buffers = REQ_BUFFER_FIELDS.unpack_from  # at _BUFFERS: src, dst, src_length, dst_length
_BUFFERS = REQ_SRC_ADDR_OFFSET
_region = la.REQ_CIPHER_REGION_FIELDS.unpack_from  # at _REGION: cipher_offset, cipher_length
_REGION = la.REQ_CIPHER_OFF_OFFSET
_spc = la.REQ_SPC_PARAM_FIELDS.unpack_from  # at _SPC: AAD offset, size, address; tag address, size
_SPC = la.REQ_SPC_AAD_OFF_OFFSET
_iv_ptr = la.REQ_CIPHER_IV_PTR_FIELD.unpack_from
_IV = la.REQ_CIPHER_IV_OFFSET
_CRYPTO = int(Status.CRYPTO)
_FULL_TAG = 16


class Scratch:
    """The output buffer for requests whose output may not go straight to the destination.

    One per handler, bound into its fast paths (a handler serves one thread). It grows to
    the largest such request and is kept: a fresh buffer per request costs more than the
    copy back.

    Attributes:
        uses: requests that went through it; the others ran zero copy.
    """

    __slots__ = ("_buf", "uses")

    def __init__(self) -> None:
        self._buf = memoryview(bytearray())
        self.uses = 0

    def take(self, n: int) -> memoryview:
        """``n`` bytes of scratch space (contents undefined), counted as one use.

        Args:
            n: bytes needed.

        Returns:
            A writable view, valid until the next ``take``.
        """
        if len(self._buf) < n:
            self._buf = memoryview(bytearray(max(n, 2 * len(self._buf))))
        self.uses += 1
        return self._buf[:n]


def _apart(a0: int, a1: int, b0: int, b1: int) -> bool:
    """The byte ranges ``[a0, a1)`` and ``[b0, b1)`` share no byte."""
    return a1 <= b0 or b1 <= a0


def _copy_head(win: memoryview, s0: int, d0: int, off: int) -> None:
    """Out of place, the destination's bytes before the region come from the source."""
    if off and s0 != d0:
        win[d0 : d0 + off] = win[s0 : s0 + off]  # memmove: overlap is fine


def _into(
    fill: _Fill,
    win: memoryview,
    scratch: Scratch,
    s0: int,
    d0: int,
    off: int,
    n: int,
    out_n: int,
    room: int,
) -> None:
    """Run ``fill`` over the source region, its ``out_n`` bytes landing at the destination's.

    Zero copy when the source region shares no byte with what is written while it is
    still unread: the leading bytes copied out of place, and the output view with its
    room. Otherwise ``fill`` writes into ``scratch``, copied back once every source byte
    was read. The leading bytes may overlap their source: their copy is a memmove.

    Args:
        fill: writes the output for a source view into an output view.
        win: the device-memory window.
        scratch: where the output goes when it may not go straight to the destination.
        s0 / d0: window offsets of the source and destination buffers.
        off / n: the region (offset and length) in both.
        out_n: bytes ``fill`` produces (the region, or the region and a GCM tag).
        room: extra bytes ``fill`` wants in its output view (``update_into``'s slack).
    """
    i0, o0 = s0 + off, d0 + off
    stop = o0 + out_n + room
    if s0 != d0 and stop <= len(win) and _apart(i0, i0 + n, d0, stop):
        _copy_head(win, s0, d0, off)
        fill(win[i0 : i0 + n], win[o0:stop])
        return
    out = scratch.take(out_n + room)
    fill(win[i0 : i0 + n], out)  # every source byte is read here, before any write
    _copy_head(win, s0, d0, off)
    win[o0 : o0 + out_n] = out[:out_n]


def _iv(req: bytes, win: memoryview, base: int, inline: bool, n: int) -> bytes | None:
    """The IV: inline in the request's IV field, or at the IOVA stored there (None: outside)."""
    if inline:
        return req[_IV : _IV + n]
    p = _iv_ptr(req, _IV)[0] - base
    if p < 0 or p + n > len(win):
        return None
    return bytes(win[p : p + n])


def for_plan(plan: Plan, scratch: Scratch) -> FastPath | None:
    """The fast path for ``plan``, or None when its kind has none.

    Args:
        plan: a decoded session.
        scratch: the handler's scratch buffer, for outputs that overlap their input.

    Returns:
        The fast path, or None.
    """
    c = plan.cipher
    if c is None:
        return None
    if plan.kind == "cipher" and c.mode in (hw.CipherMode.CBC, hw.CipherMode.CTR):
        return _cipher_fast(plan, scratch)
    if plan.kind == "gcm1" and plan.gcm_iv12:
        if not c.decrypt and plan.ret and not plan.cmp:
            return _gcm_encrypt_fast(plan, scratch)
        if c.decrypt and plan.cmp and not plan.ret:
            return _gcm_decrypt_fast(plan, scratch)
    return None


def _cipher_fast(plan: Plan, scratch: Scratch) -> FastPath:
    c = plan.cipher
    assert c is not None
    algorithm = c.algorithm
    cbc = c.mode == hw.CipherMode.CBC
    mode_cls = modes.CBC if cbc else modes.CTR
    decrypt = c.decrypt
    block = c.block if cbc else 1
    slack = block - 1 if cbc else STREAM_ROOM
    iv_len = c.state_len
    inline = plan.iv_inline

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        src, dst, src_len, dst_len = _buffers(req, _BUFFERS)
        off, n = _region(req, _REGION)
        end = off + n
        if n % block or end > src_len or end > dst_len or not n:
            return None
        s0, d0 = src - base, dst - base
        size = len(win)
        if s0 < 0 or d0 < 0 or s0 + end > size or d0 + end > size:
            return None
        iv = _iv(req, win, base, inline, iv_len)
        if iv is None:
            return None
        cipher = Cipher(algorithm, mode_cls(iv))
        ctx = cipher.decryptor() if decrypt else cipher.encryptor()
        _into(ctx.update_into, win, scratch, s0, d0, off, n, n, slack)
        ctx.finalize()
        return make_response(req)

    return run


def _gcm_common(plan: Plan) -> tuple[object, int, int, bool, bool]:
    c = plan.cipher
    assert c is not None
    return c.algorithm, c.aead_tag, c.aead_aad, plan.digest_in_buffer, plan.iv_inline


_GcmSpans = tuple[int, int, int, int, int, int, bytes]


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
    Returns ``(off, n, s0, d0, a0, t0, iv)``: the region, window offsets of source,
    destination, AAD and tag, and the IV. An in-buffer tag follows the region in the
    destination (encrypt writes it) or in the source (decrypt reads it).
    """
    src, dst, src_len, dst_len = _buffers(req, _BUFFERS)
    off, n = _region(req, _REGION)
    aad_off, aad_sz, aad_addr, tag_addr, tag_sz = _spc(req, _SPC)
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
    if aad_len:
        # The device reads whole 16-byte blocks: stale padding is the general path's.
        a_end = a0 + hw.round_up(aad_len, 16)
        if a0 < 0 or a_end > size or any(win[a0 + aad_len : a_end]):
            return None
    iv = _iv(req, win, base, inline, 12)
    if iv is None:
        return None
    return off, n, s0, d0, a0, t0, iv


def _one_shot(algorithm: object, tag_len: int) -> AESGCM | None:
    """The one-call AEAD object for full 16-byte tags, where ``encrypt_into`` exists."""
    key = getattr(algorithm, "key", None)
    if GCM_ENCRYPT_INTO and tag_len == _FULL_TAG and isinstance(key, bytes):
        return AESGCM(key)
    return None


def _gcm_encrypt_fast(plan: Plan, scratch: Scratch) -> FastPath:
    algorithm, tag_len, aad_len, in_buffer, inline = _gcm_common(plan)
    one_shot = _one_shot(algorithm, tag_len)

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        spans = _gcm_spans(req, win, base, tag_len, aad_len, in_buffer, inline, tag_in_dst=True)
        if spans is None:
            return None
        off, n, s0, d0, a0, t0, iv = spans
        aad: memoryview | bytes | None = win[a0 : a0 + aad_len] if aad_len else None
        if one_shot is not None and t0 == d0 + off + n:
            # The tag follows the ciphertext: one call writes both.
            if aad is not None and not _apart(a0, a0 + aad_len, d0, t0 + _FULL_TAG):
                aad = bytes(aad)  # the output may land on it: read it first
            aead = one_shot

            def seal(data: memoryview, out: memoryview) -> None:
                aead.encrypt_into(iv, data, aad, out)

            _into(seal, win, scratch, s0, d0, off, n, n + _FULL_TAG, 0)
            return make_response(req)
        ctx = Cipher(algorithm, modes.GCM(iv)).encryptor()  # type: ignore[arg-type]
        if aad is not None:
            ctx.authenticate_additional_data(aad)
        if n:
            _into(ctx.update_into, win, scratch, s0, d0, off, n, n, STREAM_ROOM)
        else:
            _copy_head(win, s0, d0, off)
        ctx.finalize()
        win[t0 : t0 + tag_len] = ctx.tag[:tag_len]  # last: every input has been read
        return make_response(req)

    return run


def _gcm_decrypt_fast(plan: Plan, scratch: Scratch) -> FastPath:
    algorithm, tag_len, aad_len, in_buffer, inline = _gcm_common(plan)

    def run(req: bytes, win: memoryview, base: int) -> bytes | None:
        spans = _gcm_spans(req, win, base, tag_len, aad_len, in_buffer, inline, tag_in_dst=False)
        if spans is None:
            return None
        off, n, s0, d0, a0, t0, iv = spans
        expected = bytes(win[t0 : t0 + tag_len])  # read before anything is written
        gcm = modes.GCM(iv, min_tag_length=4)
        ctx = Cipher(algorithm, gcm).decryptor()  # type: ignore[arg-type]
        if aad_len:
            ctx.authenticate_additional_data(win[a0 : a0 + aad_len])
        if n:
            _into(ctx.update_into, win, scratch, s0, d0, off, n, n, STREAM_ROOM)
        else:
            _copy_head(win, s0, d0, off)
        if in_buffer and s0 != d0:
            # Out of place the device writes the whole span, the tag copied from the source.
            win[d0 + off + n : d0 + off + n + tag_len] = expected
        try:
            ctx.finalize_with_tag(expected)
        except InvalidTag:
            return make_response(req, _CRYPTO)
        return make_response(req)

    return run
