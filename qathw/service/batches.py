"""Batches: many ops sent together, as one array of requests when they allow it.

:func:`batch_work` is what ``instance.perform_batch`` and the other batch forms send.
Ops of one cipher or GCM session in one direction are built as one array straight from
the session's request template, with per-op columns filled in:

* on plain bytes (cipher ops): every op's data is staged in one DMA block; consecutive
  small CBC requests of one session are what the device runs multi-buffer;
* on plain bytes (GCM ops in place, of one nonce and AAD size): data and zero-padded AAD
  staged in one DMA block each, single pass or two-pass
  (:class:`~qathw.service.gcm_batch.AeadBatch`);
* on the caller's flat device buffers (cipher and single-pass GCM ops): nothing is copied.

Anything else is each op prepared on its own and sent as one submission
(:class:`~qathw.service.work.Many`). Tests pin the arrays to the requests the ops build
one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np
from cryptography.exceptions import InvalidTag

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import RequestError
from qathw.fw import common, la
from qathw.service import columns
from qathw.service import status as st
from qathw.service.buffers import DATA_ALIGN, DeviceBuffer, ScatterBuffer, as_view, lines
from qathw.service.cd import Direction
from qathw.service.columns import CIPHER as _CIPHER
from qathw.service.columns import MID as _MID
from qathw.service.columns import SPC as _SPC
from qathw.service.columns import block as _block
from qathw.service.columns import failures as _failures
from qathw.service.completion import Rows, Work
from qathw.service.gcm_batch import AeadBatch
from qathw.service.operations import AeadOp, CipherOp, Op, stage_aad
from qathw.service.placed import PlacedSetup
from qathw.service.work import Many, One

T = TypeVar("T")


class _CipherBatch:
    """Many cipher ops of one session on plain bytes, built and read as arrays.

    One DMA block holds every op's data (64-byte aligned slots, processed in place); the
    requests are the session's template with the per-op columns filled in (addresses,
    lengths, IV).
    """

    __slots__ = ("_block", "_lengths", "_offsets", "_pool", "_sources", "_what", "n", "rows")

    def __init__(
        self,
        pool: DmaPool,
        template: bytes,
        sources: list[memoryview],
        ivs: list[bytes],
        what: str,
    ) -> None:
        n = len(sources)
        lengths = np.fromiter((len(v) for v in sources), dtype=np.int64, count=n)
        slots = (lengths + (DATA_ALIGN - 1)) // DATA_ALIGN * DATA_ALIGN
        offsets = np.zeros(n, np.int64)
        if n > 1:
            np.cumsum(slots[:-1], out=offsets[1:])
        total = int(offsets[-1] + slots[-1])
        self._block = pool.alloc(max(total, 1), align=DATA_ALIGN)
        self._pool: DmaPool | None = pool
        self._sources = sources
        self._lengths = lengths.tolist()
        self._offsets = offsets.tolist()
        self._what = what
        self.n = n
        self._copy_in(range(n))
        rows = columns.from_template(template, n)
        iova = np.uint64(self._block.iova) + offsets.astype(np.uint64)
        mid = _block(rows, common.REQ_MID_OFFSET, _MID)
        mid["src_data_addr"] = mid["dest_data_addr"] = iova  # in place
        mid["src_length"] = mid["dst_length"] = lengths
        region = _block(rows, la.CIPHER_REQ_PARAMS_OFFSET, _CIPHER)
        region["cipher_offset"] = 0
        region["cipher_length"] = lengths
        columns.set_ivs(rows, b"".join(ivs), len(ivs[0]))
        self.rows = rows

    def _copy_in(self, indices: Sequence[int]) -> None:
        view = self._block.view
        for i in indices:
            off = self._offsets[i]
            src = self._sources[i]
            view[off : off + len(src)] = src

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> list[bytes | BaseException]:
        """Each op's output bytes, or its error."""
        assert isinstance(responses, np.ndarray)
        view = self._block.view
        out: list[bytes | BaseException] = [
            bytes(view[o : o + n]) for o, n in zip(self._offsets, self._lengths, strict=True)
        ]
        for i in _failures(responses):
            if i not in lost:
                raw = responses[i].tobytes()
                out[i] = st.la_error(raw, self._what, verify=False) or RequestError(self._what)
        for i, exc in lost.items():
            out[i] = exc
        return out

    def replayable(self, index: int) -> bool:
        """Always: the input was staged from the caller's bytes and is copied in again."""
        return True

    def restage(self, indices: Sequence[int]) -> None:
        """Copy those ops' bytes in again before their replay."""
        self._copy_in(indices)

    def release(self) -> None:
        """Free the data block. Idempotent."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.free(self._block)


@dataclass
class _Columns:
    """Per-op fields of a :class:`_BufferBatch`, gathered in one pass over the ops."""

    src: list[int] = field(default_factory=list)
    src_len: list[int] = field(default_factory=list)
    dst: list[int] = field(default_factory=list)
    dst_len: list[int] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    iv: list[bytes] = field(default_factory=list)
    aad: list[bytes] = field(default_factory=list)
    digest: list[int] = field(default_factory=list)
    keep: list[DeviceBuffer] = field(default_factory=list)
    replayable: list[bool] = field(default_factory=list)


class _BufferBatch:
    """Many ops of one ``fast`` setup on the caller's flat device buffers, as one array.

    Nothing is copied: the requests point at the buffers (in place, or into ``out``). The
    associated data of GCM ops, if any, is staged in one DMA block.
    """

    __slots__ = ("_aad", "_keep", "_pool", "_replayable", "_verify", "_what", "n", "rows")

    def __init__(self, pool: DmaPool, placed: PlacedSetup, cols: _Columns, what: str) -> None:
        n = len(cols.src)
        self.n = n
        self._pool: DmaPool | None = pool
        self._what = what
        self._verify = placed.setup.verify  # GCM decryption: a failed check is InvalidTag
        self._keep = cols.keep
        self._replayable = cols.replayable
        self._aad: DmaBuffer | None = None
        rows = columns.from_template(placed.template, n)
        mid = _block(rows, common.REQ_MID_OFFSET, _MID)
        mid["src_data_addr"] = cols.src
        mid["dest_data_addr"] = cols.dst
        mid["src_length"] = cols.src_len
        mid["dst_length"] = cols.dst_len
        region = _block(rows, la.CIPHER_REQ_PARAMS_OFFSET, _CIPHER)
        region["cipher_offset"] = 0
        region["cipher_length"] = cols.length
        columns.set_ivs(rows, b"".join(cols.iv), len(cols.iv[0]))
        # GCM here is single pass (a fast setup): its AAD and tag addresses are spc_* fields.
        spc = _block(rows, la.CIPHER_REQ_PARAMS_OFFSET, _SPC)
        if cols.digest:
            spc["spc_auth_res_addr"] = cols.digest
        aad = cols.aad
        if aad and aad[0]:
            slot = lines(len(aad[0]))
            self._aad = pool.alloc(slot * n, align=DATA_ALIGN)
            view = self._aad.view
            for k, a in enumerate(aad):
                stage_aad(view[k * slot : (k + 1) * slot], a)
            at = np.uint64(self._aad.iova) + np.arange(n, dtype=np.uint64) * np.uint64(slot)
            spc["spc_aad_addr"] = at
        self.rows = rows

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> list[DeviceBuffer | BaseException]:
        """Each op's output (its buffer, or the part of it the result fills), or its error."""
        assert isinstance(responses, np.ndarray)
        out: list[DeviceBuffer | BaseException] = list(self._keep)
        for i in _failures(responses):
            if i in lost:
                continue
            raw = responses[i].tobytes()
            if self._verify and st.auth_failed(raw):
                out[i] = InvalidTag()
            else:
                out[i] = st.la_error(raw, self._what, verify=False) or RequestError(self._what)
        for i, exc in lost.items():
            out[i] = exc
        return out

    def replayable(self, index: int) -> bool:
        """Whether op ``index`` worked out of place (its input is intact)."""
        return self._replayable[index]

    def restage(self, indices: Sequence[int]) -> None:
        """Nothing to do: only out-of-place requests are replayed, their input intact."""

    def release(self) -> None:
        """Free the AAD block. Idempotent."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if self._aad is not None:
                pool.free(self._aad)


def _buffer_columns(
    ops: Sequence[Op[object]], first: CipherOp[object] | AeadOp[object]
) -> _Columns | None:
    """The columns of ops like ``first`` on flat device buffers, or None when one is not."""
    cols = _Columns()
    for op in ops:
        if type(op) is not type(first):
            return None
        assert isinstance(op, CipherOp | AeadOp)
        if op.setups is not first.setups:  # another session
            return None
        data, out = op.data, op.out
        if type(data) is not DeviceBuffer or (out is not None and type(out) is not DeviceBuffer):
            return None
        if isinstance(op, AeadOp):
            assert isinstance(first, AeadOp)
            if (
                op.direction is not first.direction
                or len(op.aad) != len(first.aad)
                or len(op.nonce) != len(first.nonce)
                or (op.out is None) != (first.out is None)
            ):
                return None
            body = op.body
            cols.iv.append(op.iv)
            cols.aad.append(op.aad)
            encrypt = op.direction is Direction.ENCRYPT
            if out is not None:
                cols.digest.append((out.iova if encrypt else data.iova) + body)
            keep_len = body + op.tag_size if encrypt else body
        else:
            assert isinstance(first, CipherOp)
            if op.direction is not first.direction:
                return None
            body = keep_len = op.length
            cols.iv.append(op.iv)
        target = data if out is None else out
        cols.src.append(data.iova)
        cols.src_len.append(len(data))
        cols.dst.append(target.iova)
        cols.dst_len.append(len(target))
        cols.length.append(body)
        cols.keep.append(target if len(target) == keep_len else target.region(0, keep_len))
        cols.replayable.append(out is not None)
    return cols


def _cipher_batch(ops: Sequence[Op[object]], first: CipherOp[object]) -> Work[object] | None:
    """Cipher ops of one session in one direction as one array, or None."""
    direction = first.direction
    what = f"{first.algorithm.name} {direction.value}"
    if type(first.data) is DeviceBuffer:
        placed = first.setups.get(direction)
        cols = _buffer_columns(ops, first)
        if cols is None or not placed.fast:
            return None
        return _BufferBatch(first.channel.pool, placed, cols, what)
    sources: list[memoryview] = []
    ivs: list[bytes] = []
    for op in ops:
        if (
            type(op) is not CipherOp
            or op.setups is not first.setups
            or op.direction is not direction
            or op.out is not None
            or isinstance(op.data, DeviceBuffer | ScatterBuffer | list | tuple)
        ):
            return None
        sources.append(as_view(op.data))
        ivs.append(op.iv)
    placed = first.setups.get(direction)
    if placed.setup.tweak_key is not None:
        return None  # UCS-form XTS encrypts each tweak on the host: one by one
    return _CipherBatch(first.channel.pool, placed.template, sources, ivs, what)


def _aead_bytes_batch(ops: Sequence[Op[object]], first: AeadOp[object]) -> Work[object] | None:
    """GCM ops of one session on plain bytes, in place, of one nonce and AAD size, or None.

    Each op was checked when it was made (nonce, AAD, offer), and they share a setup.
    """
    direction, aad_size, nonce_size = first.direction, len(first.aad), len(first.nonce)
    sources: list[bytes | memoryview] = []
    ivs: list[bytes] = []
    aads: list[bytes] = []
    for op in ops:
        if (
            type(op) is not AeadOp
            or op.setups is not first.setups
            or op.direction is not direction
            or op.out is not None
            or len(op.aad) != aad_size
            or len(op.nonce) != nonce_size
        ):
            return None
        data = op.data
        if type(data) is not bytes:  # bytes as they are; other bytes-likes as a byte view
            if isinstance(data, DeviceBuffer | ScatterBuffer | list | tuple):
                return None
            data = as_view(data)
        sources.append(data)
        ivs.append(op.iv)
        aads.append(op.aad)
    placed = first.setups.get((direction, aad_size, True, nonce_size))
    what = f"{first.algorithm.name} {direction.value}"
    encrypt = direction is Direction.ENCRYPT
    pool = first.channel.pool
    return AeadBatch(
        pool, placed, sources, ivs, aads, tag=first.tag_size, encrypt=encrypt, what=what
    )


def _aead_batch(ops: Sequence[Op[object]], first: AeadOp[object]) -> Work[object] | None:
    """GCM ops of one session as one array (flat device buffers, or plain bytes), or None."""
    if type(first.data) is not DeviceBuffer:
        if isinstance(first.data, ScatterBuffer | list | tuple):
            return None
        return _aead_bytes_batch(ops, first)
    placed = first.setups.get(
        (first.direction, len(first.aad), first.out is None, len(first.nonce))
    )
    cols = _buffer_columns(ops, first)
    if cols is None or not placed.fast:
        return None
    what = f"{first.algorithm.name} {first.direction.value}"
    return _BufferBatch(first.channel.pool, placed, cols, what)


def batch_work(ops: Sequence[Op[T]]) -> Work[T]:
    """The work of many ops submitted together (one array when they allow it).

    Args:
        ops: the ops, of any sessions of one channel.

    Returns:
        Work whose outcomes are the ops' results, in order.

    Raises:
        ValueError: no ops.
        Exception: what preparing an op raised (nothing is left allocated).
    """
    if not ops:
        raise ValueError("a batch needs at least one op")
    first = ops[0]
    fast: Work[object] | None = None
    if isinstance(first, CipherOp):
        fast = _cipher_batch(ops, first)
    elif isinstance(first, AeadOp):
        fast = _aead_batch(ops, first)
    if fast is not None:
        # The arrays give what each op would: its output bytes, or its buffer.
        return cast(Work[T], fast)
    works: list[One[T]] = []
    try:
        for op in ops:
            works.append(op.prepare())
    except BaseException:
        for w in works:
            w.release()
        raise
    return Many(works)
