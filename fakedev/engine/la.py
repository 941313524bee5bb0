"""The LA (lookaside symmetric crypto) service: execute a request as the firmware would.

A request is decoded in two parts: the session part (command, flags, ``cd_ctrl``, the
content descriptor) into a cached :class:`~fakedev.engine.la_plan.Plan`; the operation
part (buffers, regions, IV, AAD, digest address) per request. Then the slices run:
cipher, hash, both in the command's order, or GCM.

How data moves:

* Every input — source bytes, IV by pointer, AAD, a digest to compare — is read before
  any output is written, so in-place and overlapping buffers behave.
* Out of place, the device writes ``dst[0:end)``, ``end`` being the end of the last
  region (in-buffer digest included); bytes outside the cipher region are copied from
  the source. Nothing past ``end`` is touched.
* Flat CBC/CTR and single-pass GCM requests run in :mod:`fakedev.engine.fastpath`: zero
  copy (``update_into`` from one device-memory view into another) when source and
  destination are apart, through one reused scratch buffer when they overlap (in place
  included: ``cryptography`` refuses overlapping memory). Everything else goes through a
  working copy.
* Regions are bounded by the buffers (``src_length``/``dst_length`` for flat buffers,
  the entries for SGLs); the digest and AAD addresses are checked before anything is
  written.
* GCM associated data is read in whole 16-byte blocks, ``round16(len)`` bytes, and every
  byte read enters GHASH: a host that leaves stale bytes after the AAD gets the tag the
  hardware would give, not the standard one (qatlib zero-pads; docs/hardware.md#la-request).
* The endpoint runs only what its generation and capability word offer
  (:mod:`fakedev.engine.offer`).

Status (docs/hardware.md#response): a failed digest or tag comparison sets CRYPTO alone, with no
error code; anything the device cannot run sets CRYPTO plus UNSUPPORTED_REQUEST (an
algorithm, mode or feature it does not implement) or INVALID_PARAM (impossible or
inconsistent parameters); an address outside device memory sets CRYPTO with error code
-17 (ENDPOINT_ERROR) in byte 5. So a host maps "CRYPTO and nothing else" on a verify
request to an authentication failure.
"""

from __future__ import annotations

import hashlib
import hmac
import traceback
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from fakedev import wire
from fakedev.engine import fastpath, mbcbc, partial, primitives, sharesume, shram
from fakedev.engine.buffers import LogicalBuffer, open_buffer
from fakedev.engine.la_plan import (
    INVALID,
    UNSUPPORTED,
    AuthPlan,
    CipherPlan,
    Plan,
    build_plan,
    check_header_flags,
)
from fakedev.engine.offer import SliceOffer
from fakedev.engine.reject import Reject
from fakedev.memory import DeviceMemory, DmaFault
from fakedev.wire import make_response
from qathw.fw import hw, la
from qathw.fw.common import (
    HDR_FLAG_VALID,
    REQ_COMN_FLAGS_OFFSET,
    REQ_DEFAULT_SZ,
    RESP_DEFAULT_SZ,
    ErrCode,
    ServiceType,
    Status,
)
from qathw.ids import Generation

Bytes2D = npt.NDArray[np.uint8]

_CMDS = frozenset((la.LaCmd.CIPHER, la.LaCmd.AUTH, la.LaCmd.CIPHER_HASH, la.LaCmd.HASH_CIPHER))
_BLOCK_MODES = frozenset((hw.CipherMode.ECB, hw.CipherMode.CBC))
_J0_ONE = b"\0\0\0\1"
_AAD_BLOCK = 16  # the device reads GCM AAD in whole blocks
_SLICE = 1 << 18  # bytes ciphered per call on the general path (a multiple of every block)
_REFUSED = Status.INVALID_PARAM | Status.UNSUPPORTED_REQUEST  # these carry the CRYPTO bit too


class LaHandler:
    """The LA service handler (``ServiceHandler`` with ``process_batch``).

    One instance serves one device thread: plans hold cipher contexts that are reused
    across requests, so two threads must not share a handler.

    Args:
        cache_size: plans kept, keyed by the session bytes (0 disables the cache, to
            measure what it saves).
        resume: how a hash resumes from a CD state (default: libcrypto if present).
        generation: the endpoint's generation: which ciphers and slices it runs.
        capabilities: the capability word the endpoint reports (``None``: everything its
            generation has); a clear ``AES_V2`` or ``AESGCM_SPC`` takes the UCS slice or
            single-pass GCM away.

    Attributes:
        hits / misses: plan-cache counters.
        batched: requests executed by the multi-buffer path.
        internal_errors: requests that hit a bug in the engine (answered with an error
            response; a test that fuzzes the engine expects 0).
        last_internal_error: the traceback of the last one.
    """

    def __init__(
        self,
        *,
        cache_size: int = 1024,
        resume: sharesume.Resume | None = None,
        generation: Generation = Generation.GEN4,
        capabilities: int | None = None,
    ) -> None:
        self.cache_size = cache_size
        self.offer = SliceOffer(generation, capabilities)
        self._resume = resume or sharesume.resume
        self._advance = sharesume.advance if resume is None else sharesume.python_advance
        self._plans: dict[bytes, Plan] = {}
        self._scratch = fastpath.Scratch()  # shared by this handler's fast paths
        self.hits = 0
        self.misses = 0
        self.batched = 0
        self.internal_errors = 0
        self.last_internal_error: str | None = None

    # --- entry points -------------------------------------------------------------------

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        """Execute one 128-byte request; return its 32-byte response. Never raises."""
        req = bytes(request)
        try:
            return self._execute(req, memory)
        except Reject as r:
            status = r.status | (Status.CRYPTO if r.status & _REFUSED else 0)
            return make_response(_pad(req), status, cmp_err=r.cmp_err, xlat_err=r.xlat_err)
        except DmaFault:
            return make_response(_pad(req), Status.CRYPTO, cmp_err=ErrCode.ENDPOINT_ERROR)
        except Exception as exc:
            from fakedev.dispatch import defect_response

            # A bug of the engine, not a device outcome: never answered as a firmware status.
            self.internal_errors += 1
            self.last_internal_error = traceback.format_exc()
            return defect_response(_pad(req), exc)

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        """Execute a ``(n, 128)`` batch of one ring in order; ``(n, 32)`` responses.

        Consecutive requests of one AES/DES-CBC session with small flat buffers run as
        one multi-buffer job (:mod:`fakedev.engine.mbcbc`); everything else one by one.
        Never raises.
        """
        reqs = np.ascontiguousarray(requests, dtype=np.uint8).reshape(-1, REQ_DEFAULT_SZ)
        n = reqs.shape[0]
        out = np.empty((n, RESP_DEFAULT_SZ), dtype=np.uint8)
        raw = reqs.tobytes()  # slicing bytes is cheaper than a row's tobytes() per request
        flat = out.data.cast("B")
        q, r = REQ_DEFAULT_SZ, RESP_DEFAULT_SZ
        for start, stop in mbcbc.segments(reqs):
            if stop - start >= 2 and self._try_multibuffer(
                reqs[start:stop], memory, out[start:stop]
            ):
                continue
            for i in range(start, stop):
                flat[r * i : r * i + r] = self(raw[q * i : q * i + q], memory)
        return out

    def _try_multibuffer(self, reqs: Bytes2D, memory: DeviceMemory, out: Bytes2D) -> bool:
        try:
            plan = self._plan(reqs[0].tobytes(), memory)
        except (Reject, DmaFault):
            return False
        c = plan.cipher
        if plan.kind != "cipher" or c is None or c.mode != hw.CipherMode.CBC:
            return False
        try:
            done = mbcbc.run(c, reqs, memory, out)
        except Exception as exc:
            from fakedev.dispatch import defect_responses

            # mbcbc writes device memory only as its very last step: nothing was executed,
            # and the host is told so rather than served by a fallback that hides the bug.
            self.internal_errors += 1
            self.last_internal_error = traceback.format_exc()
            out[:] = defect_responses(reqs, exc)
            return True
        if done:
            self.batched += reqs.shape[0]
        return done

    # --- decoding -----------------------------------------------------------------------

    def _execute(self, req: bytes, mem: DeviceMemory) -> bytes:
        if len(req) != REQ_DEFAULT_SZ:
            raise Reject(INVALID, f"LA requests are 128 bytes, got {len(req)}")
        cmd, svc, hflags, flags, cflags, _ = wire.header(req)
        if svc != ServiceType.LA:
            raise Reject(UNSUPPORTED, f"service type {svc} sent to the LA service")
        if not hflags & HDR_FLAG_VALID:
            raise Reject(INVALID, "the request's valid bit is clear")
        if cmd not in _CMDS:
            raise Reject(UNSUPPORTED, f"LA command {cmd}")
        if cflags & wire.INLINE_CD_FLAG and not flags & shram.FLAG:
            # qatlib sends 16 bytes of data only with configs in the constants table.
            raise Reject(UNSUPPORTED, "16 bytes of inline setup data without the constants table")
        if cflags & ~wire.COMN_FLAGS_DEFINED:
            raise Reject(INVALID, f"reserved comn_req_flags bits {cflags:#x}")
        # One view of all device memory, sliced with our own bounds checks: cheaper than a
        # checked view per access on the hot path.
        win, base = mem.view(mem.iova_base, mem.size), mem.iova_base
        plan = self._plan(req, mem, win)  # header flags are checked when a plan is built
        if plan.fast is not None and not cflags & wire.SGL_FLAG:
            response: bytes | None = plan.fast(req, win, base)
            if response is not None:
                return response
        return self._run(plan, req, mem)

    def _plan(self, req: bytes, mem: DeviceMemory, win: memoryview | None = None) -> Plan:
        if req[REQ_COMN_FLAGS_OFFSET] & wire.INLINE_CD_FLAG:
            # Constants-table mode (checked by _execute): the 16 bytes are the setup data,
            # which shram.expand reads as it reads a CD by address, so one key fits both.
            return self._cached_plan(req, req[wire.CD_PARS])
        cd_addr, cd_qw = wire.content_descriptor(req)
        if cd_qw == 0:
            raise Reject(INVALID, "content_desc_params_sz is 0")
        if cd_addr % 8:
            raise Reject(INVALID, f"content descriptor at {cd_addr:#x} is not 8-byte aligned")
        if win is None:
            win = mem.view(mem.iova_base, mem.size)
        cd = bytes(_span(win, mem.iova_base, cd_addr, cd_qw * 8))
        return self._cached_plan(req, cd)

    def _cached_plan(self, req: bytes, cd: bytes) -> Plan:
        key = wire.la_session(req) + cd
        plan = self._plans.get(key)
        if plan is not None:
            self.hits += 1
            return plan
        self.misses += 1
        cmd, _, _, flags, _, ext = wire.header(req)
        check_header_flags(flags, ext)
        plan_flags, ctrl = flags, wire.cd_ctrl(req)
        if flags & shram.FLAG:
            plan_flags, ctrl, cd = shram.expand(cmd, flags, ctrl, cd)
        plan = build_plan(cmd, plan_flags, ctrl, cd)
        if flags & partial.FLAGS:
            partial.check(plan)
        self.offer.check(plan)
        plan.fast = fastpath.for_plan(plan, self._scratch)
        if self.cache_size:
            if len(self._plans) >= self.cache_size:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = plan
        return plan

    # --- execution ----------------------------------------------------------------------

    def _run(self, plan: Plan, req: bytes, mem: DeviceMemory) -> bytes:
        _, src_addr, dst_addr, src_len, dst_len = wire.middle(req)
        sgl = wire.is_sgl(req)
        src = open_buffer(mem, src_addr, src_len, sgl)
        dst = src if dst_addr == src_addr else open_buffer(mem, dst_addr, dst_len, sgl)
        if plan.flags & partial.FLAGS:
            status = partial.run(plan, req, mem, src, self._advance, self._resume)
            return make_response(req, status)
        return self._run_general(plan, req, mem, src, dst)

    def _regions(self, plan: Plan, req: bytes) -> tuple[int, int, int, int]:
        c_off = c_len = a_off = a_len = 0
        if plan.cipher is not None:
            c_off, c_len = wire.cipher_region(req)
            _check_cipher_length(plan.cipher, c_len)
        if plan.kind in ("auth", "chain", "gcm2"):
            a_off, a_len = wire.auth_region(req)
        if plan.kind == "gcm2" and (a_off, a_len) != (c_off, c_len):
            raise Reject(INVALID, "two-pass GCM: the auth region must equal the cipher region")
        return c_off, c_len, a_off, a_len

    def _digest_params(self, plan: Plan, req: bytes) -> tuple[int, int, int]:
        """(AAD address, AAD length, digest/tag address), after their consistency checks."""
        if plan.kind == "gcm1":
            assert plan.cipher is not None
            aad_off, aad_sz, aad_addr, res_addr, res_sz = wire.spc_params(req)
            if res_sz != plan.cipher.aead_tag:
                raise Reject(
                    INVALID, f"spc_auth_res_sz {res_sz} != config tag length {plan.cipher.aead_tag}"
                )
            if aad_sz != plan.cipher.aead_aad:
                raise Reject(
                    INVALID, f"spc_aad_sz {aad_sz} != config AAD length {plan.cipher.aead_aad}"
                )
            if aad_off:
                raise Reject(UNSUPPORTED, "an AAD offset (the AAD must be at spc_aad_addr)")
            return aad_addr, aad_sz, res_addr
        _, _, u1, res_addr, u2, _, res_sz = wire.auth_params(req)
        if res_sz not in (0, plan.digest_len):
            raise Reject(INVALID, f"auth_res_sz {res_sz} != final_sz {plan.digest_len}")
        if plan.kind == "gcm2":
            assert plan.auth is not None
            if u2 != hw.round_up(plan.auth.aad_len, 16):
                raise Reject(INVALID, f"aad_sz {u2} != round16(AAD length {plan.auth.aad_len})")
            return u1, plan.auth.aad_len, res_addr
        return 0, 0, res_addr

    def _iv(self, plan: Plan, req: bytes, mem: DeviceMemory) -> bytes:
        c = plan.cipher
        assert c is not None
        if c.mode == hw.CipherMode.ECB:
            return b""
        n = (12 if plan.gcm_iv12 else 16) if plan.kind in ("gcm1", "gcm2") else c.state_len
        if plan.iv_inline:
            return wire.inline_iv(req, n)
        return mem.read(wire.iv_pointer(req), n)

    def _context(self, c: CipherPlan, iv: bytes) -> Any:
        if c.mode == hw.CipherMode.ECB:
            return _EcbOnce(c.ecb(not c.decrypt))
        mode = modes.CBC(iv) if c.mode == hw.CipherMode.CBC else modes.CTR(iv)
        cipher = Cipher(c.algorithm, mode)
        return cipher.decryptor() if c.decrypt else cipher.encryptor()

    def _run_general(
        self, plan: Plan, req: bytes, mem: DeviceMemory, src: LogicalBuffer, dst: LogicalBuffer
    ) -> bytes:
        c_off, c_len, a_off, a_len = self._regions(plan, req)
        n = plan.digest_len
        gcm = plan.kind in ("gcm1", "gcm2")
        ends = []
        if plan.cipher is not None:
            ends.append(c_off + c_len)
        if plan.kind in ("auth", "chain"):
            ends.append(a_off + a_len)
        dig_off = c_off + c_len if gcm else a_off + a_len
        if n and plan.digest_in_buffer:
            ends.append(dig_off + n)
        end = max(ends)
        if end > src.length or end > dst.length:
            raise Reject(
                INVALID, f"regions end at byte {end}; buffers are {src.length}/{dst.length}"
            )

        # Read every input before writing anything.
        aad_addr, aad_len, res_addr = (0, 0, 0)
        if n:
            aad_addr, aad_len, res_addr = self._digest_params(plan, req)
        iv = self._iv(plan, req, mem) if plan.cipher is not None else b""
        # The device reads the AAD in whole blocks and hashes all it reads.
        aad_read = mem.read(aad_addr, hw.round_up(aad_len, _AAD_BLOCK)) if aad_len else b""
        aad = aad_read if any(aad_read[aad_len:]) else aad_read[:aad_len]
        expected_at_addr = b""
        if n and not plan.digest_in_buffer:
            if plan.cmp:
                expected_at_addr = mem.read(res_addr, n)
            else:
                mem.view(res_addr, n)  # fault now, not after the data was written
        work = src.gather(0, end)  # the one working copy (docs/hardware.md#request-bounds)

        ok = True
        digest_out: bytes | None = None
        if plan.kind == "cipher":
            assert plan.cipher is not None
            self._cipher(plan.cipher, iv, work, c_off, c_len)
        elif plan.kind == "auth":
            ok, digest_out = self._auth(plan, work, a_off, a_len, dig_off, expected_at_addr)
        elif plan.kind == "chain":
            assert plan.cipher is not None
            if plan.cmd == la.LaCmd.CIPHER_HASH:
                self._cipher(plan.cipher, iv, work, c_off, c_len)
                ok, digest_out = self._auth(plan, work, a_off, a_len, dig_off, expected_at_addr)
            else:
                ok, digest_out = self._auth(plan, work, a_off, a_len, dig_off, expected_at_addr)
                self._cipher(plan.cipher, iv, work, c_off, c_len)
        else:
            decrypt = (
                plan.cipher is not None and plan.cipher.decrypt
                if plan.kind == "gcm1"
                else plan.cmd == la.LaCmd.HASH_CIPHER
            )
            data = bytes(memoryview(work)[c_off : c_off + c_len])
            expected = (
                bytes(work[dig_off : dig_off + n]) if plan.digest_in_buffer else expected_at_addr
            )
            out, tag, ok = self._gcm(plan, iv, aad, aad_len, data, decrypt, expected)
            work[c_off : c_off + c_len] = out
            if plan.ret:
                if plan.digest_in_buffer:
                    work[dig_off : dig_off + n] = tag[:n]
                else:
                    digest_out = tag[:n]
        dst.write(0, work)
        if digest_out is not None:
            mem.write(res_addr, digest_out)
        return make_response(req, 0 if ok else Status.CRYPTO)

    def _cipher(self, c: CipherPlan, iv: bytes, work: bytearray, off: int, length: int) -> None:
        if not length:
            return
        if c.mode == hw.CipherMode.XTS:
            region = bytes(memoryview(work)[off : off + length])
            t0 = c.tweak_ecb().update(iv) if c.key2 is not None else iv
            work[off : off + length] = primitives.xts(
                c.ecb(True), c.ecb(False), t0, region, not c.decrypt
            )
            return
        # In slices, so that a long region costs one slice of extra memory, not a copy of
        # itself; ECB/CBC/CTR give back exactly what they take for block-multiple slices.
        ctx = self._context(c, iv)
        with memoryview(work) as mv:
            for pos in range(off, off + length, _SLICE):
                stop = min(pos + _SLICE, off + length)
                mv[pos:stop] = ctx.update(mv[pos:stop])
        ctx.finalize()

    def _auth(
        self,
        plan: Plan,
        work: bytearray,
        a_off: int,
        a_len: int,
        dig_off: int,
        expected_at_addr: bytes,
    ) -> tuple[bool, bytes | None]:
        a = plan.auth
        assert a is not None
        n = a.final_sz
        digest = self._digest(a, memoryview(work)[a_off : a_off + a_len])[:n]
        if plan.ret:
            if plan.digest_in_buffer:
                work[dig_off : dig_off + n] = digest
                return True, None
            return True, digest
        expected = bytes(work[dig_off : dig_off + n]) if plan.digest_in_buffer else expected_at_addr
        return hmac.compare_digest(digest, expected), None

    def _digest(self, a: AuthPlan, data: bytes | memoryview) -> bytes:
        s = a.sha
        assert s is not None
        if a.standard:
            return hashlib.new(s.name, data).digest()
        inner = self._resume(s, a.state1, a.counter, data)
        if a.mode == hw.AuthMode.MODE0:
            return inner
        return self._resume(s, a.state2, a.counter, inner)

    def _gcm(
        self,
        plan: Plan,
        iv: bytes,
        aad: bytes,
        aad_len: int,
        data: bytes,
        decrypt: bool,
        expected: bytes,
    ) -> tuple[bytes, bytes, bool]:
        """GCM over ``aad`` as read: ``aad_len`` bytes, or whole blocks with stale padding."""
        c = plan.cipher
        assert c is not None
        n = plan.digest_len
        j0 = iv + _J0_ONE if plan.gcm_iv12 else iv
        h_ok = plan.kind == "gcm1" or plan.h_is_aes_k0
        if h_ok and j0[12:] == _J0_ONE and len(aad) == aad_len:
            if not decrypt:
                ctx = Cipher(c.algorithm, modes.GCM(j0[:12])).encryptor()
                ctx.authenticate_additional_data(aad)
                out = ctx.update(data) + ctx.finalize()
                ok = not plan.cmp or hmac.compare_digest(ctx.tag[:n], expected)
                return out, ctx.tag, ok
            if plan.cmp and not plan.ret:
                dctx = Cipher(c.algorithm, modes.GCM(j0[:12], min_tag_length=4)).decryptor()
                dctx.authenticate_additional_data(aad)
                out = dctx.update(data)
                try:
                    dctx.finalize_with_tag(expected)
                except InvalidTag:
                    return out, b"", False
                return out, b"", True
        # The device's arithmetic with the H and J0 it was given.
        enc = c.ecb(True)
        h = plan.auth.h if plan.kind == "gcm2" and plan.auth is not None else enc.update(bytes(16))
        out, tag = primitives.gcm(enc, h, j0, aad, data, encrypt=not decrypt, aad_len=aad_len)
        ok = not plan.cmp or hmac.compare_digest(tag[:n], expected)
        return out, tag, ok


class _EcbOnce:
    """An ECB context shared across requests, shaped like a one-shot context."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def update(self, data: bytes) -> bytes:
        out: bytes = self._ctx.update(data)
        return out

    def finalize(self) -> bytes:
        return b""  # never finalize the shared context


def _check_cipher_length(c: CipherPlan, length: int) -> None:
    if c.mode in _BLOCK_MODES and length % c.block:
        raise Reject(INVALID, f"cipher_length {length} is not a multiple of {c.block}")
    if c.mode == hw.CipherMode.XTS and 0 < length < 16:
        raise Reject(INVALID, f"XTS needs at least 16 bytes, got {length}")


def _span(win: memoryview, base: int, iova: int, n: int) -> memoryview:
    """``n`` bytes at ``iova`` of the device-memory window ``win`` (DmaFault outside it)."""
    off = iova - base
    if off < 0 or n < 0 or off + n > len(win):
        raise DmaFault(iova, n, f"outside device memory [{base:#x}, {base + len(win):#x})")
    return win[off : off + n]


def _pad(req: bytes) -> bytes:
    return req.ljust(REQ_DEFAULT_SZ, b"\0")
