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

from fakedev import wire
from fakedev.engine.la_plan import CipherPlan
from fakedev.memory import DeviceMemory
from qathw.fw import la
from qathw.fw.common import (
    HDR_FLAG_VALID,
    REQ_DST_ADDR_OFFSET,
    REQ_DST_LEN_OFFSET,
    REQ_HEADER_FIELDS,
    REQ_SRC_ADDR_OFFSET,
    REQ_SRC_LEN_OFFSET,
    ServiceType,
)

Bytes2D = npt.NDArray[np.uint8]

MAX_MESSAGE = 1024  # bytes; larger messages run faster one by one
_FLAGS_IV_INLINE = 1 << la.CIPH_IV_FLD_BITPOS  # the only flag of a plain legacy cipher request
# The header bytes (wire.HEADER) of such a request: flat buffers, CD by address, no ext flags.
_ELIGIBLE_HEADER = np.frombuffer(
    REQ_HEADER_FIELDS.pack(la.LaCmd.CIPHER, ServiceType.LA, HDR_FLAG_VALID, _FLAGS_IV_INLINE, 0, 0),
    dtype=np.uint8,
)
_U64 = np.dtype("<u8")
_U32 = np.dtype("<u4")


def segments(reqs: Bytes2D) -> list[tuple[int, int]]:
    """Split a batch into runs that may go multi-buffer, and single requests.

    A run is consecutive cipher requests with an inline IV, flat buffers and the same
    session bytes (header, CD pointer, ``cd_ctrl``); every other request is a run of one.
    """
    n = reqs.shape[0]
    eligible = (reqs[:, wire.HEADER] == _ELIGIBLE_HEADER).all(axis=1)
    if np.count_nonzero(eligible) < 2:
        return [(i, i + 1) for i in range(n)]  # nothing to join (GCM, hashes...): quick
    same = np.zeros(n, dtype=bool)
    if n > 1:
        cd, ctrl = wire.CD_PARS, wire.CD_CTRL
        same[1:] = (reqs[1:, cd] == reqs[:-1, cd]).all(axis=1) & (
            reqs[1:, ctrl] == reqs[:-1, ctrl]
        ).all(axis=1)
    joins = eligible & np.concatenate(([False], eligible[:-1])) & same
    starts = np.flatnonzero(~joins).tolist()
    return list(zip(starts, [*starts[1:], n], strict=True))


def _u64(reqs: Bytes2D, off: int) -> npt.NDArray[np.uint64]:
    """The little-endian u64 field at request byte ``off``, a column."""
    return np.ascontiguousarray(reqs[:, off : off + _U64.itemsize]).view(_U64).ravel()


def _u32(reqs: Bytes2D, off: int) -> npt.NDArray[np.int64]:
    """The little-endian u32 field at request byte ``off``, a column (as int64)."""
    column = np.ascontiguousarray(reqs[:, off : off + _U32.itemsize]).view(_U32)
    return column.ravel().astype(np.int64)


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
    src = _u64(reqs, REQ_SRC_ADDR_OFFSET)
    dst = _u64(reqs, REQ_DST_ADDR_OFFSET)
    src_len, dst_len = _u32(reqs, REQ_SRC_LEN_OFFSET), _u32(reqs, REQ_DST_LEN_OFFSET)
    c_off, c_len = _u32(reqs, la.REQ_CIPHER_OFF_OFFSET), _u32(reqs, la.REQ_CIPHER_LEN_OFFSET)
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
    ivs = reqs[:, la.REQ_CIPHER_IV_OFFSET : la.REQ_CIPHER_IV_OFFSET + b]
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

    out[:] = wire.responses_for(reqs)
    return True
