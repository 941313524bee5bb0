"""Partial packets of a SHA hash or HMAC: the chaining state carried between requests.

The protocol is qatlib's (``lac_sym_qat_hash.c``, docs/hardware.md#la-request): a session
keeps a *hash state buffer*, state storage (``icp_qat_hw_auth_counter``: the byte count
as BE32 and 4 reserved bytes, then ``inner_state1_sz`` bytes of chaining state) followed by
the prefix/AAD (none for a plain SHA or a mode-1 HMAC).

* PARTIAL START: ``auth_partial_st_prefix`` points past the state storage (at the prefix;
  the device works out where the state goes), ``hash_state_sz`` is the prefix (0); the
  state comes from the content descriptor.
* PARTIAL MID / END: ``auth_partial_st_prefix`` points at the state storage,
  ``hash_state_sz`` covers storage and prefix; the state comes from there.
* START and MID hash whole blocks, write the new state and byte count back and return no
  digest; END finishes the hash from the state (the outer hash too, for HMAC) and
  returns or compares the digest as a full request does.

Only SHA-1/SHA-2 hashes and HMACs take partial packets here; UPDATE_STATE on a cipher
(the IV written back) is refused as unsupported.
"""

from __future__ import annotations

import hmac

from fakedev import wire
from fakedev.engine.buffers import LogicalBuffer
from fakedev.engine.la_plan import INVALID, UNSUPPORTED, Plan
from fakedev.engine.reject import Reject
from fakedev.engine.sharesume import Advance, Resume
from fakedev.memory import DeviceMemory
from qathw.fw import hw, la
from qathw.fw.common import Status

FLAGS = (la.PARTIAL_MASK << la.PARTIAL_BITPOS) | (1 << la.UPDATE_STATE_BITPOS)
_COUNTER = 8  # icp_qat_hw_auth_counter: BE32 count, 4 reserved
_MAX_COUNT = 0xFFFF_FFFF


def check(plan: Plan) -> None:
    """Refuse partial-packet flags on anything but a SHA hash or HMAC.

    Raises:
        Reject: UNSUPPORTED for other sessions, INVALID for UPDATE_STATE alone.
    """
    a = plan.auth
    if plan.kind != "auth" or a is None or a.sha is None or a.mode not in (0, 1):
        raise Reject(UNSUPPORTED, "partial packets / state update on this session")
    if not (plan.flags >> la.PARTIAL_BITPOS) & la.PARTIAL_MASK:
        raise Reject(INVALID, "UPDATE_STATE without a partial packet type")
    if plan.digest_in_buffer:
        raise Reject(UNSUPPORTED, "a partial packet with the digest in the buffer")


def storage_size(plan: Plan) -> int:
    """Bytes of state storage at the start of the hash state buffer."""
    assert plan.auth is not None and plan.auth.sha is not None
    return _COUNTER + hw.round_up(plan.auth.sha.state_size, 8)


def run(
    plan: Plan,
    req: bytes,
    mem: DeviceMemory,
    src: LogicalBuffer,
    advance: Advance,
    resume: Resume,
) -> int:
    """Execute one partial packet; the response status (0, or CRYPTO on a failed compare).

    Raises:
        Reject: a length that is not whole blocks (START, MID), a state size that does not
            match the session, a byte count past 2**32 - 1.
    """
    a = plan.auth
    assert a is not None and a.sha is not None
    s = a.sha
    kind = (plan.flags >> la.PARTIAL_BITPOS) & la.PARTIAL_MASK
    a_off, a_len, st_addr, res_addr, _, st_qw, _ = wire.auth_params(req)
    storage = storage_size(plan)
    if kind == la.PARTIAL_START:
        if st_qw:
            raise Reject(INVALID, f"hash_state_sz {st_qw} on a first packet (no prefix)")
        state, count, state_addr = a.state1, a.counter, st_addr - storage
    else:
        if st_qw * 8 != storage:
            raise Reject(INVALID, f"hash_state_sz {st_qw} qw; the state storage is {storage} B")
        raw = mem.read(st_addr, storage)
        state, count, state_addr = raw[_COUNTER : _COUNTER + s.state_size], 0, st_addr
        count = int.from_bytes(raw[:4], "big")
    if a_off + a_len > src.length:
        raise Reject(INVALID, f"auth region ends at {a_off + a_len}; buffer is {src.length}")
    if count + a_len > _MAX_COUNT:
        raise Reject(INVALID, "a partial hash past 2**32 - 1 bytes")
    data = src.gather(a_off, a_len)
    if kind != la.PARTIAL_END:
        if a_len % s.block_size:
            raise Reject(INVALID, f"auth_len {a_len} is not whole {s.block_size}-byte blocks")
        mem.view(state_addr, storage)  # fault before anything is computed
        new = advance(s, state, count, data)
        tail = b"\0" * (storage - _COUNTER - len(new))
        mem.write(state_addr, (count + a_len).to_bytes(4, "big") + bytes(4) + new + tail)
        return 0
    digest = resume(s, state, count, data)
    if a.mode == hw.AuthMode.MODE1:
        digest = resume(s, a.state2, a.counter, digest)
    digest = digest[: a.final_sz]
    if plan.cmp:
        expected = mem.read(res_addr, a.final_sz)
        return 0 if hmac.compare_digest(digest, expected) else Status.CRYPTO
    if plan.ret:
        mem.write(res_addr, digest)
    return 0
