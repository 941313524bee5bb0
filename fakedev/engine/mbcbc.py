"""Multi-buffer CBC: many small requests of one session in a handful of cipher calls.

CBC encryption is sequential within a message but independent across messages, so a
batch of *m* messages of *k* blocks is *k* ECB calls over a column of *m* blocks each
(block *j* of every message XOR the previous ciphertext block, as one numpy array);
decryption is one ECB call over every block of every message, then one XOR with the
shifted ciphertext. This is how Intel's multi-buffer IPsec library gets small-message
throughput, and what the hardware's many engines give a ring in parallel.

The batch keeps the semantics of running the requests one after another: it is used only
when every request's source and destination regions are disjoint from every other
request's, and it reads all input before writing any output.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fakedev.engine.la_plan import CipherPlan
from fakedev.memory import DeviceMemory
from qathw.fw.common import HDR_FLAG_VALID, RespServiceId, ServiceType
from qathw.fw.la import CIPH_IV_FLD_BITPOS, LaCmd

Bytes2D = npt.NDArray[np.uint8]

MAX_MESSAGE = 1024  # bytes; larger messages run faster one by one
_FLAGS_IV_INLINE = 1 << CIPH_IV_FLD_BITPOS  # the only flag of a plain legacy cipher request
_ELIGIBLE_HEADER = np.array(
    [LaCmd.CIPHER, ServiceType.LA, HDR_FLAG_VALID, _FLAGS_IV_INLINE, 0, 0, 0], dtype=np.uint8
)


def segments(reqs: Bytes2D) -> list[tuple[int, int]]:
    """Split a batch into runs that may go multi-buffer, and single requests.

    A run is consecutive cipher requests with an inline IV, flat buffers and the same
    session bytes (header, CD pointer, ``cd_ctrl``); every other request is a run of one.
    """
    n = reqs.shape[0]
    # bytes 1..7: cmd, service, hdr flags, LA flags (2), comn_req_flags, ext_flags
    eligible = (reqs[:, 1:8] == _ELIGIBLE_HEADER).all(axis=1)
    if np.count_nonzero(eligible) < 2:
        return [(i, i + 1) for i in range(n)]  # nothing to join (GCM, hashes...): quick
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = (reqs[1:, 8:24] == reqs[:-1, 8:24]).all(axis=1) & (
            reqs[1:, 108:128] == reqs[:-1, 108:128]
        ).all(axis=1)
    joins = eligible & np.concatenate(([False], eligible[:-1])) & same
    starts = np.flatnonzero(~joins).tolist()
    return list(zip(starts, [*starts[1:], n], strict=True))


def _u64(reqs: Bytes2D, off: int) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(reqs[:, off : off + 8]).view("<u8").ravel()


def _u32(reqs: Bytes2D, off: int) -> npt.NDArray[np.int64]:
    return np.ascontiguousarray(reqs[:, off : off + 4]).view("<u4").ravel().astype(np.int64)


def _disjoint(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]
) -> bool:
    order = np.argsort(starts, kind="stable")
    s, e, r = starts[order], ends[order], rows[order]
    clash = (s[1:] < e[:-1]) & (r[1:] != r[:-1])
    return not bool(clash.any())


def run(c: CipherPlan, reqs: Bytes2D, memory: DeviceMemory, out: Bytes2D) -> bool:
    """Execute ``reqs`` (one CBC session) as one multi-buffer job.

    Args:
        c: the session's cipher plan (CBC).
        reqs: ``(m, 128)`` requests from :func:`segments`.
        memory: device memory.
        out: ``(m, 32)`` array for the responses.

    Returns:
        True when done; False (having changed nothing) when some request does not fit
        the multi-buffer form — the caller then runs them one by one, which also
        produces the right error responses.
    """
    m = reqs.shape[0]
    b = c.block
    src = _u64(reqs, 32)
    dst = _u64(reqs, 40)
    src_len, dst_len = _u32(reqs, 48), _u32(reqs, 52)
    c_off, c_len = _u32(reqs, 56), _u32(reqs, 60)
    if (c_len % b).any() or (c_len > MAX_MESSAGE).any() or (c_len == 0).any():
        return False
    end = c_off + c_len
    if (end > src_len).any() or (end > dst_len).any():
        return False
    in_place = src == dst
    if (~in_place & (c_off != 0)).any():
        return False  # out-of-place headers are copied by the one-by-one path
    base, size = memory.iova_base, memory.size
    if (src < base).any() or (dst < base).any():
        return False
    s0 = (src - np.uint64(base)).astype(np.int64) + c_off
    d0 = (dst - np.uint64(base)).astype(np.int64) + c_off
    if (s0 < 0).any() or (d0 < 0).any() or (s0 + c_len > size).any() or (d0 + c_len > size).any():
        return False
    rows = np.arange(m, dtype=np.int64)
    starts = np.concatenate((s0, d0[~in_place]))
    ends = np.concatenate((s0 + c_len, d0[~in_place] + c_len[~in_place]))
    if not _disjoint(starts, ends, np.concatenate((rows, rows[~in_place]))):
        return False

    mem = np.frombuffer(memory.view(base, size), dtype=np.uint8)
    ivs = reqs[:, 64 : 64 + b]
    results: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]] = []
    for length in np.unique(c_len).tolist():
        sel = np.flatnonzero(c_len == length)
        k = length // b
        gather = s0[sel][:, None] + np.arange(length, dtype=np.int64)
        data = mem[gather].reshape(len(sel), k, b)
        iv = ivs[sel]
        if c.decrypt:
            plain = np.frombuffer(c.ecb(False).update(data.tobytes()), dtype=np.uint8)
            prev = np.concatenate((iv[:, None, :], data[:, :-1, :]), axis=1)
            result = plain.reshape(len(sel), k, b) ^ prev
        else:
            result = np.empty_like(data)
            enc = c.ecb(True)
            chain = iv
            for j in range(k):
                col = np.ascontiguousarray(data[:, j, :] ^ chain)
                chain = np.frombuffer(enc.update(col.tobytes()), dtype=np.uint8).reshape(
                    len(sel), b
                )
                result[:, j, :] = chain
        scatter = d0[sel][:, None] + np.arange(length, dtype=np.int64)
        results.append((scatter, result.reshape(len(sel), length)))
    for scatter, result in results:  # all input was read above; now write
        mem[scatter] = result

    out[:] = 0
    out[:, 1] = RespServiceId.CPM_FW
    out[:, 2] = reqs[:, 2]
    out[:, 3] = HDR_FLAG_VALID
    out[:, 7] = reqs[:, 1]
    out[:, 8:16] = reqs[:, 24:32]
    return True
