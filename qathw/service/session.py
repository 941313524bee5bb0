"""Sessions: an algorithm and its key on an instance, and the operations they make.

A session keeps its content descriptors (CDs) in the instance's DMA memory with the
request template of each — built once per direction (and, for GCM, per AAD length) —
so an operation only copies a template and fills in buffers, lengths and the IV
(:mod:`~qathw.service.ops`).

Every operation has two forms: ``encrypt(...)`` runs it now (``instance.perform``), and
``encrypt_op(...)`` returns an :class:`Op` for the other call forms (``instance.submit``,
``instance.perform_async``, ``instance.perform_batch``). Arguments are checked when the op
is made, before anything is sent: a wrong key, IV or length raises ``ValueError``, a
``str`` ``TypeError``, as ``cryptography`` does; an unknown algorithm or key size raises
:class:`~qathw.errors.UnsupportedAlgorithmError` when the session is made.

Data: bytes-like objects (copied to DMA memory, results returned as ``bytes``), a list
or tuple of them (a scatter-gather request, one entry per piece), or the instance's own
:class:`~qathw.service.buffers.DeviceBuffer` / :class:`~qathw.service.buffers.ScatterBuffer`
(zero copy: processed in place, or into the buffer given as ``out=``, which is returned).

Authentication failures raise what ``cryptography`` raises: ``InvalidTag`` for GCM,
``InvalidSignature`` for a hash/HMAC verify (alone or in a chain).
"""

from __future__ import annotations

import abc
import struct
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidSignature, InvalidTag

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import OutputOverflowError, QatError, RequestError
from qathw.fw import comp, la
from qathw.fw.common import RESP_HDR_FLAG_CNV, Status
from qathw.service import cd, ops
from qathw.service import status as st
from qathw.service.algorithms import (
    AeadAlgorithm,
    CipherAlgorithm,
    HashAlgorithm,
    HmacAlgorithm,
    Huffman,
    aead,
    as_bytes,
    auth,
    cipher,
)
from qathw.service.buffers import (
    DeviceBuffer,
    ScatterBuffer,
    Staged,
    UserBuffer,
    as_view,
    borrow,
    check_owner,
    lines,
    stage,
    stage_output,
)
from qathw.service.cd import ChainOrder, CompDirection, Direction, LaSetup, SliceForm

if TYPE_CHECKING:
    from qathw.service.completion import Channel, Work

Rows = npt.NDArray[np.uint8]
Data = object  # bytes-like, a list/tuple of bytes-likes, DeviceBuffer or ScatterBuffer
_AUX = 256  # one small DMA block per request: digest, expected digest, AAD
_DATA_ALIGN = 64
_COMP_PARS = comp.icp_qat_fw_comp_req.comp_pars.offset
_CRC_OFF = _COMP_PARS + comp.icp_qat_fw_comp_req_params.initial_crc32.offset
_ADLER_OFF = _COMP_PARS + comp.icp_qat_fw_comp_req_params.initial_adler.offset
_PAR_FLAGS_OFF = _COMP_PARS + comp.icp_qat_fw_comp_req_params.req_par_flags.offset
_BFINAL = 1 << comp.COMP_BFINAL_BITPOS
_COUNTERS = struct.Struct("<IIII")  # response @16: consumed, produced, CRC32, Adler-32
_MID = struct.Struct("<QQII")  # src, dst addresses, src, dst lengths
_REGION = struct.Struct("<II")  # offset, length
_ADDR = struct.Struct("<Q")


class Performer(Protocol):
    """What a session needs of its instance."""

    def perform(self, op: Op, *, timeout: float | None = None) -> Any: ...


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainResult:
    """A cipher + hash chain's outcome.

    Attributes:
        data: the cipher's output (``bytes``, or your buffer).
        digest: the digest the device computed (or, when it verified one, that digest).
    """

    data: bytes | DeviceBuffer | ScatterBuffer
    digest: bytes


@dataclass(frozen=True)
class DcResult:
    """A compression or decompression request's outcome.

    Attributes:
        output: the bytes produced (``bytes``, or a region of your buffer).
        consumed: input bytes consumed.
        produced: output bytes written.
        crc32 / adler32: checksums of the uncompressed bytes (continue a stream by
            passing them to the next request).
        end_of_stream: the deflate stream's final block was written (compression with
            ``final=True``) or reached (decompression).
    """

    output: bytes | DeviceBuffer | ScatterBuffer
    consumed: int
    produced: int
    crc32: int
    adler32: int
    end_of_stream: bool


# --- work: what ops become at submit time ------------------------------------------------


class _One:
    """The work of one request."""

    n = 1
    __slots__ = ("_aux", "_finish", "_pool", "_replayable", "_staged", "rows")

    def __init__(
        self,
        request: bytearray,
        finish: Callable[[bytes], object],
        staged: Sequence[Staged],
        aux: list[DmaBuffer],
        pool: DmaPool,
        replayable: bool,
    ) -> None:
        self.rows = request
        self._finish = finish
        self._staged = staged
        self._aux = aux
        self._pool = pool
        self._replayable = replayable

    def finish(self, responses: Rows | bytes, lost: dict[int, BaseException]) -> list[object]:
        if lost:
            return [lost[0]]
        raw = responses if isinstance(responses, bytes) else responses[0].tobytes()
        try:
            return [self._finish(raw)]
        except Exception as exc:
            return [exc]

    def replayable(self, index: int) -> bool:
        return self._replayable

    def restage(self, indices: Sequence[int]) -> None:
        for s in self._staged:
            s.restage()

    def release(self) -> None:
        for s in self._staged:
            s.release()
        if self._aux:
            aux, self._aux = self._aux, []
            for block in aux:
                self._pool.free(block)


class _Many:
    """Several ops' work as one submission (a batch of mixed ops)."""

    __slots__ = ("_works", "n", "rows")

    def __init__(self, works: list[_One]) -> None:
        self._works = works
        self.n = len(works)
        self.rows: Rows = np.frombuffer(
            bytearray(b"".join(w.rows for w in works)), np.uint8
        ).reshape(self.n, -1)

    def finish(self, responses: Rows | bytes, lost: dict[int, BaseException]) -> list[object]:
        assert isinstance(responses, np.ndarray)
        out: list[object] = []
        for i, w in enumerate(self._works):
            if i in lost:
                out.append(lost[i])
            else:
                out += w.finish(responses[i].tobytes(), {})
        return out

    def replayable(self, index: int) -> bool:
        return self._works[index].replayable(0)

    def restage(self, indices: Sequence[int]) -> None:
        for i in indices:
            self._works[i].restage((0,))

    def release(self) -> None:
        for w in self._works:
            w.release()


class _CipherBatch:
    """Many cipher ops of one session on plain bytes, built and read as arrays.

    One DMA block holds every op's data (64-byte aligned slots); the requests are the
    session's template with the per-op columns filled in (cookie, addresses, lengths,
    IV). Consecutive small CBC requests of one session are what the device runs
    multi-buffer.
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
        slots = (lengths + (_DATA_ALIGN - 1)) // _DATA_ALIGN * _DATA_ALIGN
        offsets = np.zeros(n, np.int64)
        if n > 1:
            np.cumsum(slots[:-1], out=offsets[1:])
        total = int(offsets[-1] + slots[-1])
        self._block = pool.alloc(max(total, 1), align=_DATA_ALIGN)
        self._pool: DmaPool | None = pool
        self._sources = sources
        self._lengths = lengths.tolist()
        self._offsets = offsets.tolist()
        self._what = what
        self.n = n
        self._copy_in(range(n))
        rows = np.empty((n, len(template)), np.uint8)
        rows[:] = np.frombuffer(template, np.uint8)
        iova = (np.uint64(self._block.iova) + offsets.astype(np.uint64)).view(np.uint8)
        rows[:, 32:40] = iova.reshape(n, 8)  # src_data_addr
        rows[:, 40:48] = iova.reshape(n, 8)  # dest_data_addr: in place
        length4 = lengths.astype("<u4").view(np.uint8).reshape(n, 4)
        rows[:, 48:52] = length4  # src_length
        rows[:, 52:56] = length4  # dst_length
        rows[:, 56:60] = 0  # cipher_offset
        rows[:, 60:64] = length4  # cipher_length
        iv_size = len(ivs[0])
        rows[:, 64 : 64 + iv_size] = np.frombuffer(b"".join(ivs), np.uint8).reshape(n, iv_size)
        rows[:, 64 + iv_size : 80] = 0
        self.rows = rows

    def _copy_in(self, indices: Sequence[int]) -> None:
        view = self._block.view
        for i in indices:
            off = self._offsets[i]
            src = self._sources[i]
            view[off : off + len(src)] = src

    def finish(self, responses: Rows | bytes, lost: dict[int, BaseException]) -> list[object]:
        assert isinstance(responses, np.ndarray)
        view = self._block.view
        out: list[object] = [
            bytes(view[o : o + n]) for o, n in zip(self._offsets, self._lengths, strict=True)
        ]
        bad = np.flatnonzero(responses[:, 6] & st.ERROR_MASK)
        for i in bad.tolist():
            if i not in lost:
                out[i] = st.la_error(responses[i].tobytes(), self._what, verify=False)
        for i, exc in lost.items():
            out[i] = exc
        return out

    def replayable(self, index: int) -> bool:
        return True  # the input was staged from the caller's bytes: it is copied in again

    def restage(self, indices: Sequence[int]) -> None:
        self._copy_in(indices)

    def release(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.free(self._block)


class _BufferBatch:
    """Many ops of one ``fast`` setup on the caller's flat device buffers, as one array.

    Nothing is copied: the requests point at the buffers (in place, or into ``out``). The
    associated data of GCM ops, if any, is staged in one DMA block.
    """

    __slots__ = ("_aad", "_keep", "_pool", "_replayable", "_verify", "_what", "n", "rows")

    def __init__(
        self,
        pool: DmaPool,
        placed: _Cd,
        columns: _Columns,
        what: str,
    ) -> None:
        n = len(columns.src)
        self.n = n
        self._pool: DmaPool | None = pool
        self._what = what
        self._verify = placed.setup.verify  # GCM decryption: a failed check is InvalidTag
        self._keep = columns.keep
        self._replayable = columns.replayable
        self._aad: DmaBuffer | None = None
        rows = np.empty((n, len(placed.template)), np.uint8)
        rows[:] = np.frombuffer(placed.template, np.uint8)
        rows[:, 32:40] = _u64_columns(columns.src)
        rows[:, 40:48] = _u64_columns(columns.dst)
        rows[:, 48:52] = _u32_columns(columns.src_len)
        rows[:, 52:56] = _u32_columns(columns.dst_len)
        rows[:, 56:60] = 0
        rows[:, 60:64] = _u32_columns(columns.length)
        iv = b"".join(columns.iv)
        size = len(columns.iv[0])
        rows[:, 64 : 64 + size] = np.frombuffer(iv, np.uint8).reshape(n, size)
        if columns.digest:
            rows[:, ops.AUTH_RES_OFF : ops.AUTH_RES_OFF + 8] = _u64_columns(columns.digest)
        aad = columns.aad
        if aad and aad[0]:
            slot = lines(len(aad[0]))
            self._aad = pool.alloc(slot * n, align=_DATA_ALIGN)
            view = self._aad.view
            for k, a in enumerate(aad):
                view[k * slot : k * slot + len(a)] = a
            at = np.uint64(self._aad.iova) + np.arange(n, dtype=np.uint64) * np.uint64(slot)
            rows[:, ops.AAD_ADDR_OFF : ops.AAD_ADDR_OFF + 8] = at.view(np.uint8).reshape(n, 8)
        self.rows = rows

    def finish(self, responses: Rows | bytes, lost: dict[int, BaseException]) -> list[object]:
        assert isinstance(responses, np.ndarray)
        out: list[object] = list(self._keep)
        bad = np.flatnonzero(responses[:, 6] & st.ERROR_MASK)
        for i in bad.tolist():
            if i in lost:
                continue
            raw = responses[i].tobytes()
            if self._verify and st.auth_failed(raw):
                out[i] = InvalidTag()
            else:
                out[i] = st.la_error(raw, self._what, verify=False)
        for i, exc in lost.items():
            out[i] = exc
        return out

    def replayable(self, index: int) -> bool:
        return self._replayable[index]

    def restage(self, indices: Sequence[int]) -> None:
        pass  # only out-of-place requests are replayed: their input is intact

    def release(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if self._aad is not None:
                pool.free(self._aad)


@dataclass
class _Columns:
    """Per-op fields of a :class:`_BufferBatch`, gathered in one pass over the ops."""

    src: list[int]
    src_len: list[int]
    dst: list[int]
    dst_len: list[int]
    length: list[int]
    iv: list[bytes]
    aad: list[bytes]
    digest: list[int]
    keep: list[object]
    replayable: list[bool]


def _u64_columns(values: list[int]) -> Rows:
    return np.asarray(values, dtype="<u8").view(np.uint8).reshape(len(values), 8)


def _u32_columns(values: list[int]) -> Rows:
    return np.asarray(values, dtype="<u4").view(np.uint8).reshape(len(values), 4)


def _buffer_columns(ops_: Sequence[Op], session: Session, tag: int | None) -> _Columns | None:
    """The columns of ops on flat device buffers of ``session``, or None when one is not."""
    cols = _Columns([], [], [], [], [], [], [], [], [], [])
    first = ops_[0]
    for op in ops_:
        if type(op) is not type(first) or op.session is not session:
            return None
        assert isinstance(op, CipherOp | AeadOp)
        data, out = op.data, op.out
        if type(data) is not DeviceBuffer or (out is not None and type(out) is not DeviceBuffer):
            return None
        if isinstance(op, AeadOp):
            assert isinstance(first, AeadOp) and tag is not None
            if (
                op.direction is not first.direction
                or len(op.aad) != len(first.aad)
                or (op.out is None) != (first.out is None)
            ):
                return None
            body = op.body
            cols.iv.append(op.nonce)
            cols.aad.append(op.aad)
            encrypt = op.direction is Direction.ENCRYPT
            if out is not None:
                cols.digest.append((out.iova if encrypt else data.iova) + body)
            keep_len = body + tag if encrypt else body
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


# --- ops ---------------------------------------------------------------------------------


class Op(abc.ABC):
    """One operation of a session, ready for ``instance.submit`` and the other call forms.

    An op can be submitted more than once; each submission stages its data afresh.
    """

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    @abc.abstractmethod
    def _work(self) -> _One:
        """Stage this op's data and say how to finish it (each op kind does its own)."""


def _length(data: Data, what: str = "data") -> int:
    if isinstance(data, DeviceBuffer | ScatterBuffer):
        return len(data)
    if isinstance(data, list | tuple):
        return sum(len(as_view(p, "each piece")) for p in data)
    return len(as_view(data, what))


def _check_out(out: object, need: int, what: str = "out") -> UserBuffer | None:
    if out is None:
        return None
    if not isinstance(out, DeviceBuffer | ScatterBuffer):
        raise TypeError(
            f"{what} must be a buffer from instance.alloc() or alloc_scatter(), not "
            f"{type(out).__name__}"
        )
    if len(out) < need:
        raise ValueError(f"{what} has {len(out)} bytes; the result needs {need}")
    return out


class _LaOp(Op):
    """Common staging of a symmetric-crypto op."""

    __slots__ = ("data", "out")

    def __init__(self, session: Session, data: Data, out: UserBuffer | None) -> None:
        super().__init__(session)
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            check_owner(data, session.owner)
        if out is not None:
            check_owner(out, session.owner, "out")
        if out is data:
            out = None  # the same buffer: in place
        if out is not None and isinstance(data, DeviceBuffer | ScatterBuffer):
            if isinstance(out, ScatterBuffer) != isinstance(data, ScatterBuffer):
                raise ValueError("data and out must both be flat or both scatter buffers")
        self.data = data
        self.out = out

    def _stage(self, extra: int = 0) -> tuple[Staged, Staged | None, list[Staged]]:
        pool = self.session.pool
        data = self.data
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            src = borrow(data, self.session.owner)
        else:
            src = stage(pool, data, extra=extra)
        staged = [src]
        dst: Staged | None = None
        if self.out is not None:
            if isinstance(self.out, ScatterBuffer) != isinstance(src.ref, ops.Sgl):
                src.release()
                raise ValueError(
                    "data and out must both be flat or both scatter-gather (a list of "
                    "pieces goes with a ScatterBuffer)"
                )
            dst = borrow(self.out, self.session.owner, "out")
            staged.append(dst)
        return src, dst, staged

    def _result_buffer(self) -> UserBuffer | None:
        if self.out is not None:
            return self.out
        if isinstance(self.data, DeviceBuffer | ScatterBuffer):
            return self.data
        return None

    def _build(
        self,
        setup: _Cd,
        src: Staged,
        dst: Staged | None,
        staged: list[Staged],
        aux: list[DmaBuffer],
        finish: Callable[[bytes], object],
        **fields: Any,
    ) -> _One:
        pool = self.session.pool
        try:
            request = ops.la_request(
                setup.setup,
                setup.iova,
                opaque=0,
                src=src.ref,
                dst=None if dst is None else dst.ref,
                **fields,
            )
        except BaseException:
            for s in staged:
                s.release()
            for block in aux:
                pool.free(block)
            raise
        replayable = dst is not None or not src.borrowed
        return _One(request, finish, staged, aux, pool, replayable)

    def _build_flat(
        self,
        setup: _Cd,
        src: Staged,
        dst: Staged | None,
        staged: list[Staged],
        aux: list[DmaBuffer],
        finish: Callable[[bytes], object],
        length: int,
        iv: bytes,
        aad_iova: int | None = None,
        digest_iova: int | None = None,
    ) -> _One:
        """As :meth:`_build` through the template (flat buffers, ``fast`` setups)."""
        s, d = src.ref, (src if dst is None else dst).ref
        request = setup.flat_request(
            s.iova, s.length, d.iova, d.length, length, iv, aad_iova, digest_iova
        )
        replayable = dst is not None or not src.borrowed
        return _One(request, finish, staged, aux, self.session.pool, replayable)

    def _flat(self, setup: _Cd, src: Staged, dst: Staged | None) -> bool:
        return (
            setup.fast and type(src.ref) is ops.Flat and (dst is None or type(dst.ref) is ops.Flat)
        )


def _aux(pool: DmaPool, staged: list[Staged]) -> DmaBuffer:
    try:
        return pool.alloc(_AUX, align=_DATA_ALIGN)
    except BaseException:
        for s in staged:
            s.release()
        raise


def _slice(buf: UserBuffer, length: int) -> UserBuffer:
    if isinstance(buf, DeviceBuffer) and len(buf) != length:
        return buf.region(0, length)
    return buf


class CipherOp(_LaOp):
    """A cipher operation (see :meth:`CipherSession.encrypt_op`)."""

    __slots__ = ("direction", "iv", "length")

    def __init__(
        self,
        session: CipherSession,
        direction: Direction,
        data: Data,
        iv: object,
        out: object,
    ) -> None:
        alg = session.algorithm
        self.iv = alg.check_iv(iv)
        self.length = _length(data)
        alg.check_length(self.length)
        super().__init__(session, data, _check_out(out, self.length))
        self.direction = direction

    def _work(self) -> _One:
        session = self.session
        assert isinstance(session, CipherSession)
        setup = session._setup(self.direction)
        src, dst, staged = self._stage()
        keep = self._result_buffer()
        length = self.length
        what = f"{session.algorithm.name} {self.direction.value}"

        def finish(raw: bytes) -> object:
            if raw[6] & st.ERROR_MASK:
                raise st.la_error(raw, what, verify=False) or RequestError(what)
            if keep is not None:
                return _slice(keep, length)
            return src.read(length)

        if self._flat(setup, src, dst):
            return self._build_flat(setup, src, dst, staged, [], finish, length, self.iv)
        return self._build(setup, src, dst, staged, [], finish, iv=self.iv)


class HashOp(_LaOp):
    """A digest, or a digest check (see :meth:`HashSession.digest_op`)."""

    __slots__ = ("expected",)

    def __init__(self, session: HashSession, data: Data, expected: bytes | None) -> None:
        super().__init__(session, data, None)
        _length(data)
        self.expected = expected

    def _work(self) -> _One:
        session = self.session
        assert isinstance(session, HashSession)
        verify = self.expected is not None
        setup = session._setup(verify)
        src, dst, staged = self._stage()
        digest = _aux(session.pool, staged)
        size = session.digest_size
        if self.expected is not None:
            digest.view[:size] = self.expected
        what = f"{session.algorithm.name} {'verify' if verify else 'digest'}"

        def finish(raw: bytes) -> object:
            if raw[6] & st.ERROR_MASK:
                if verify and st.auth_failed(raw):
                    raise InvalidSignature("Signature did not match digest.")
                raise st.la_error(raw, what, verify=verify) or RequestError(what)
            return None if verify else bytes(digest.view[:size])

        return self._build(setup, src, dst, staged, [digest], finish, digest_iova=digest.iova)


class AeadOp(_LaOp):
    """A GCM encryption or decryption (see :meth:`AeadSession.encrypt_op`)."""

    __slots__ = ("aad", "body", "direction", "nonce")

    def __init__(
        self,
        session: AeadSession,
        direction: Direction,
        nonce: object,
        data: Data,
        associated_data: object,
        out: object,
    ) -> None:
        alg = session.algorithm
        self.nonce = alg.check_iv(nonce)
        self.aad = b"" if associated_data is None else as_bytes(associated_data, "associated_data")
        alg.check_aad_size(len(self.aad))
        length = _length(data)
        self.direction = direction
        tag = session.tag_size
        user = isinstance(data, DeviceBuffer | ScatterBuffer)
        if direction is Direction.ENCRYPT:
            if user and out is None:
                if length < tag:
                    raise ValueError(
                        f"encrypting in place, the buffer holds the plaintext and {tag} bytes "
                        f"of room for the tag; it has only {length} bytes"
                    )
                self.body = length - tag
            else:
                self.body = length
            need = self.body + tag
        else:
            if length < tag:
                raise InvalidTag()  # as cryptography: too short to hold a tag
            self.body = length - tag
            need = self.body
        if isinstance(out, ScatterBuffer):
            raise ValueError(
                "GCM writes into a DeviceBuffer out of place; work in place on a ScatterBuffer"
            )
        super().__init__(session, data, _check_out(out, need))

    def _work(self) -> _One:
        session = self.session
        assert isinstance(session, AeadSession)
        tag = session.tag_size
        encrypt = self.direction is Direction.ENCRYPT
        in_buffer = self.out is None  # in place: the tag sits right after the data
        setup = session._setup(self.direction, len(self.aad), in_buffer)
        user = isinstance(self.data, DeviceBuffer | ScatterBuffer)
        src, dst, staged = self._stage(tag if encrypt and in_buffer and not user else 0)
        body = self.body
        fields: dict[str, Any] = {"iv": self.nonce}
        aux: list[DmaBuffer] = []
        if self.aad:
            block = _aux(session.pool, staged)
            block.view[: len(self.aad)] = self.aad
            aux.append(block)
            fields["aad_iova"] = block.iova
        if dst is not None:
            # Out of place (flat buffers): the tag is written after the ciphertext in the
            # destination, or read from after the ciphertext in the source.
            fields["cipher_length"] = body
            fields["digest_iova"] = (dst.ref.iova if encrypt else src.ref.iova) + body
        out_len = body + tag if encrypt else body
        keep = self._result_buffer()
        what = f"{session.algorithm.name} {self.direction.value}"

        def finish(raw: bytes) -> object:
            if raw[6] & st.ERROR_MASK:
                if not encrypt and st.auth_failed(raw):
                    raise InvalidTag()
                raise st.la_error(raw, what, verify=not encrypt) or RequestError(what)
            if keep is not None:
                return _slice(keep, out_len)
            return src.read(out_len)

        if self._flat(setup, src, dst):
            return self._build_flat(
                setup,
                src,
                dst,
                staged,
                aux,
                finish,
                body,
                self.nonce,
                fields.get("aad_iova"),
                fields.get("digest_iova"),
            )
        return self._build(setup, src, dst, staged, aux, finish, **fields)


class ChainOp(_LaOp):
    """A cipher + hash chain operation (see :meth:`ChainSession.encrypt_op`)."""

    __slots__ = ("direction", "expected", "iv", "length")

    def __init__(
        self,
        session: ChainSession,
        direction: Direction,
        data: Data,
        iv: object,
        expected: object,
        out: object,
    ) -> None:
        alg = session.cipher_algorithm
        self.iv = alg.check_iv(iv)
        self.length = _length(data)
        alg.check_length(self.length)
        self.expected = None if expected is None else as_bytes(expected, "digest")
        if self.expected is not None and len(self.expected) != session.digest_size:
            raise InvalidSignature("Signature did not match digest.")
        super().__init__(session, data, _check_out(out, self.length))
        self.direction = direction

    def _work(self) -> _One:
        session = self.session
        assert isinstance(session, ChainSession)
        verify = self.expected is not None
        setup = session._setup(self.direction, verify)
        src, dst, staged = self._stage()
        digest = _aux(session.pool, staged)
        size = session.digest_size
        if self.expected is not None:
            digest.view[:size] = self.expected
        keep = self._result_buffer()
        length = self.length
        what = f"{session.name} {self.direction.value}"

        def finish(raw: bytes) -> object:
            if raw[6] & st.ERROR_MASK:
                if verify and st.auth_failed(raw):
                    raise InvalidSignature("Signature did not match digest.")
                raise st.la_error(raw, what, verify=verify) or RequestError(what)
            data = _slice(keep, length) if keep is not None else src.read(length)
            return ChainResult(data, bytes(digest.view[:size]))

        return self._build(
            setup, src, dst, staged, [digest], finish, iv=self.iv, digest_iova=digest.iova
        )


class DcOp(Op):
    """A compression or decompression (see :meth:`CompressionSession.compress_op`)."""

    __slots__ = ("adler32", "crc32", "data", "direction", "final", "out", "output_size")

    def __init__(
        self,
        session: CompressionSession,
        direction: CompDirection,
        data: Data,
        *,
        final: bool,
        output_size: int | None,
        out: object,
        crc32: int,
        adler32: int,
    ) -> None:
        super().__init__(session)
        length = _length(data)
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            check_owner(data, session.owner)
        for name, value in (("crc32", crc32), ("adler32", adler32)):
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
                raise ValueError(f"{name} must be a 32-bit checksum, not {value!r}")
        if out is not None:
            buf = _check_out(out, 0)
            assert buf is not None
            check_owner(buf, session.owner, "out")
            if buf is data:
                raise ValueError("compression is out of place: out must differ from data")
            size = len(buf) if output_size is None else output_size
            if size > len(buf):
                raise ValueError(f"output_size {size} exceeds out ({len(buf)} bytes)")
        elif output_size is None:
            size = session.default_output(direction, length)
        else:
            size = output_size
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"output_size must be a non-negative int, not {size!r}")
        self.direction = direction
        self.data = data
        self.final = final
        self.output_size = size
        self.out = out if out is None else _check_out(out, 0)
        self.crc32 = crc32
        self.adler32 = adler32

    def _work(self) -> _One:
        session = self.session
        assert isinstance(session, CompressionSession)
        pool = session.pool
        data = self.data
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            src = borrow(data, session.owner)
        else:
            src = stage(pool, data)
        staged = [src]
        scatter = isinstance(src.ref, ops.Sgl)
        try:
            if self.out is not None:
                if isinstance(self.out, ScatterBuffer) != scatter:
                    raise ValueError("data and out must both be flat or both scatter-gather")
                dst = borrow(self.out, session.owner, "out")
                dst_ref: ops.Buffer = dst.ref
            else:
                pages = [self.output_size] if not scatter else _pages(self.output_size)
                dst = stage_output(pool, pages, scatter=scatter)
                dst_ref = dst.ref
            staged.append(dst)
            request = ops.comp_request(
                session._setup(self.direction),
                opaque=0,
                src=src.ref,
                dst=dst_ref,
                output_capacity=self.output_size,
            )
        except BaseException:
            for s in staged:
                s.release()
            raise
        flags = struct.unpack_from("<I", request, _PAR_FLAGS_OFF)[0]
        if self.direction is CompDirection.COMPRESS and not self.final:
            struct.pack_into("<I", request, _PAR_FLAGS_OFF, flags & ~_BFINAL)
        struct.pack_into("<II", request, _CRC_OFF, self.crc32, self.adler32)
        keep = self.out
        compress = self.direction is CompDirection.COMPRESS
        what = f"deflate {self.direction.value}"

        def result(raw: bytes) -> DcResult:
            consumed, produced, crc, adler = _COUNTERS.unpack_from(raw, 16)
            output: bytes | DeviceBuffer | ScatterBuffer
            if keep is None:
                output = dst.read(produced)
            else:
                output = _slice(keep, produced)
            eos = bool(raw[6] & Status.CMP_END_OF_LAST_BLK)
            return DcResult(output, consumed, produced, crc, adler, eos)

        def finish(raw: bytes) -> object:
            if raw[6] & st.ERROR_MASK:
                status, _, code = st.codes(raw)
                if st.overflowed(raw):
                    partial = result(raw)
                    raise OutputOverflowError(
                        f"{what}: the output did not fit in {self.output_size} bytes "
                        f"({partial.consumed} input bytes consumed, {partial.produced} "
                        "output bytes written)",
                        result=partial,
                        status=status,
                        error_code=code or st.codes(raw)[1],
                        hint="continue with the rest of the input (error.result tells how "
                        "much was done), or give a larger output_size",
                    )
                raise st.comp_error(raw, what) or RequestError(what)
            if compress and not raw[3] & RESP_HDR_FLAG_CNV:
                raise RequestError(
                    f"{what}: the device did not verify its output (no CNV flag)",
                    status=raw[6],
                    hint="the firmware ignored compress-and-verify; do not trust the output",
                )
            return result(raw)

        return _One(request, finish, staged, [], pool, True)


def _pages(size: int, page: int = 4096) -> list[int]:
    full, rest = divmod(max(size, 1), page)
    return [page] * full + ([rest] if rest else [])


# --- sessions --------------------------------------------------------------------------------


class _Cd:
    """A content descriptor in DMA memory and the request template pointing at it.

    ``fast``: a cipher-only or single-pass GCM setup, whose flat requests
    :meth:`flat_request` builds with a few stores instead of ``ops.la_request`` (the
    op's arguments were checked when it was made; a test pins the two to the same bytes).
    """

    __slots__ = ("block", "fast", "iova", "setup", "template")

    def __init__(self, setup: LaSetup, block: DmaBuffer) -> None:
        self.setup = setup
        self.block = block
        self.iova = block.iova
        self.template = bytes(setup.request(block.iova))
        flags = struct.unpack_from("<H", self.template, ops.FLAGS_OFF)[0]
        single_pass = bool(flags >> la.SINGLE_PASS_PROTO_BITPOS & 1)
        self.fast = (
            setup.tweak_key is None
            and setup.auth is None
            and (isinstance(setup.cipher, CipherAlgorithm) or single_pass)
        )

    def flat_request(
        self,
        src: int,
        src_len: int,
        dst: int,
        dst_len: int,
        length: int,
        iv: bytes,
        aad_iova: int | None = None,
        digest_iova: int | None = None,
    ) -> bytearray:
        """The request for flat buffers, cipher region ``[0, length)`` (``fast`` setups)."""
        req = bytearray(self.template)
        _MID.pack_into(req, ops.SRC_ADDR_OFF, src, dst, src_len, dst_len)
        _REGION.pack_into(req, ops.CIPHER_OFF, 0, length)
        req[ops.IV_OFF : ops.IV_OFF + len(iv)] = iv
        if aad_iova is not None:
            _ADDR.pack_into(req, ops.AAD_ADDR_OFF, aad_iova)
        if digest_iova is not None:
            _ADDR.pack_into(req, ops.AUTH_RES_OFF, digest_iova)
        return req


class Session:
    """Base of every session: its instance, DMA memory and content descriptors.

    Close a session (or use it as a context manager) when its ops are done; the instance
    closes what is left when it closes.
    """

    def __init__(self, instance: Performer, channel: Channel, name: str) -> None:
        self._instance = instance
        self._channel = channel
        self.name = name
        self._cds: dict[Hashable, _Cd] = {}
        self._closed = False

    @property
    def pool(self) -> DmaPool:
        return self._channel.pool

    @property
    def owner(self) -> object:
        return self._channel.owner

    @property
    def channel(self) -> Channel:
        return self._channel

    def _place(self, key: Hashable, build: Callable[[], LaSetup]) -> _Cd:
        found = self._cds.get(key)
        if found is not None:
            return found
        if self._closed:
            raise QatError(f"{self.name} session is closed", hint="open a new session")
        setup = build()
        block = self.pool.alloc(lines(len(setup.cd)), align=64)
        block.view[: len(setup.cd)] = setup.cd
        placed = _Cd(setup, block)
        self._cds[key] = placed
        return placed

    def _check_open(self) -> None:
        if self._closed:
            raise QatError(f"{self.name} session is closed", hint="open a new session")

    def _perform(self, op: Op, timeout: float | None) -> Any:
        return self._instance.perform(op, timeout=timeout)

    def close(self) -> None:
        """Free the session's content descriptors. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for placed in self._cds.values():
            self.pool.free(placed.block)
        self._cds.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{' closed' if self._closed else ''}>"


class CipherSession(Session):
    """A block cipher with its key: AES-CBC/CTR/XTS, DES-CBC, 3DES-CBC.

    Args:
        instance / channel: where it runs.
        algorithm: catalogue name (``aes-128-cbc``, ``des-cbc``, ``aes-256-xts``...).
        key: the key (XTS: key1 ‖ key2).
        form: cipher slice layout override (AES only).

    Raises:
        UnsupportedAlgorithmError: not a supported cipher.
        ValueError / TypeError: a bad key.
    """

    def __init__(
        self,
        instance: Performer,
        channel: Channel,
        algorithm: str,
        key: object,
        *,
        form: SliceForm | None = None,
    ) -> None:
        alg = cipher(algorithm)
        super().__init__(instance, channel, alg.name)
        self.algorithm: CipherAlgorithm = alg
        self._key = alg.check_key(key)
        self._form = form
        self._setup(Direction.ENCRYPT)  # builds the CD now: bad forms fail here

    def _setup(self, direction: Direction) -> _Cd:
        found = self._cds.get(direction)
        if found is not None:
            return found
        return self._place(
            direction,
            lambda: cd.cipher_session(self.algorithm.name, self._key, direction, form=self._form),
        )

    def encrypt_op(self, data: Data, iv: object, *, out: object = None) -> CipherOp:
        """An encryption of ``data`` with ``iv`` (XTS: the tweak), for the call forms.

        Raises:
            ValueError: wrong IV size; a length the mode refuses (CBC: whole blocks).
            TypeError: not bytes-like.
        """
        self._check_open()
        return CipherOp(self, Direction.ENCRYPT, data, iv, out)

    def decrypt_op(self, data: Data, iv: object, *, out: object = None) -> CipherOp:
        """A decryption; see :meth:`encrypt_op`."""
        self._check_open()
        return CipherOp(self, Direction.DECRYPT, data, iv, out)

    def encrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> Any:
        """Encrypt now.

        Returns:
            ``bytes`` for bytes-like data; your buffer (``out``, else ``data``) otherwise.

        Raises:
            ValueError / TypeError: see :meth:`encrypt_op`.
            RequestError: the device reported an error (status kept).
        """
        return self._perform(self.encrypt_op(data, iv, out=out), timeout)

    def decrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> Any:
        """Decrypt now; see :meth:`encrypt`."""
        return self._perform(self.decrypt_op(data, iv, out=out), timeout)

    def _batch(self, ops_: Sequence[Op]) -> Work | None:
        """Many ops of this session in one direction as one array (or None): on plain
        bytes (staged together), or on the caller's flat device buffers (zero copy)."""
        first = ops_[0]
        if not isinstance(first, CipherOp):
            return None
        direction = first.direction
        if type(first.data) is DeviceBuffer:
            placed = self._setup(direction)
            cols = _buffer_columns(ops_, self, None)
            if cols is None or not placed.fast:
                return None
            return _BufferBatch(self.pool, placed, cols, f"{self.algorithm.name} {direction.value}")
        sources: list[memoryview] = []
        ivs: list[bytes] = []
        for op in ops_:
            if (
                type(op) is not CipherOp
                or op.session is not self
                or op.direction is not direction
                or op.out is not None
                or isinstance(op.data, DeviceBuffer | ScatterBuffer | list | tuple)
            ):
                return None
            sources.append(as_view(op.data))
            ivs.append(op.iv)
        placed = self._setup(direction)
        if placed.setup.tweak_key is not None:
            return None  # UCS-form XTS encrypts each tweak on the host: one by one
        what = f"{self.algorithm.name} {direction.value}"
        return _CipherBatch(self.pool, placed.template, sources, ivs, what)


class HashSession(Session):
    """A hash (SHA-1/224/256/384/512) or an HMAC over one.

    Args:
        instance / channel: where it runs.
        algorithm: ``sha256``... or ``hmac-sha256``...
        key: the HMAC key (``None`` for a plain hash).
        digest_size: truncate digests to this many bytes.

    Raises:
        UnsupportedAlgorithmError: not a supported hash.
        ValueError / TypeError: a key for a plain hash, none for HMAC, a bad digest size.
    """

    def __init__(
        self,
        instance: Performer,
        channel: Channel,
        algorithm: str,
        key: object = None,
        *,
        digest_size: int | None = None,
    ) -> None:
        alg = auth(algorithm)
        super().__init__(instance, channel, alg.name)
        self.algorithm: HashAlgorithm | HmacAlgorithm = alg
        self._key = key
        self.digest_size = alg.check_digest_size(digest_size)
        self._setup(False)

    def _setup(self, verify: bool) -> _Cd:
        return self._place(
            verify,
            lambda: cd.auth_session(
                self.algorithm.name, self._key, verify=verify, digest_size=self.digest_size
            ),
        )

    def digest_op(self, data: Data) -> HashOp:
        """A digest of ``data``, for the call forms."""
        self._check_open()
        return HashOp(self, data, None)

    def verify_op(self, data: Data, signature: object) -> HashOp:
        """A check of ``signature`` against ``data``'s digest, done by the device.

        Raises:
            InvalidSignature: ``signature`` is not :attr:`digest_size` bytes long.
        """
        self._check_open()
        expected = as_bytes(signature, "signature")
        if len(expected) != self.digest_size:
            raise InvalidSignature("Signature did not match digest.")
        return HashOp(self, data, expected)

    def digest(self, data: Data, *, timeout: float | None = None) -> bytes:
        """The digest (or HMAC) of ``data``, now."""
        return self._perform(self.digest_op(data), timeout)  # type: ignore[no-any-return]

    def verify(self, data: Data, signature: object, *, timeout: float | None = None) -> None:
        """Check ``signature`` now.

        Raises:
            InvalidSignature: it does not match (as ``cryptography``'s ``HMAC.verify``).
        """
        self._perform(self.verify_op(data, signature), timeout)


class AeadSession(Session):
    """AES-GCM with its key, used like ``cryptography``'s ``AESGCM``.

    ``encrypt(nonce, data, associated_data)`` returns ciphertext ‖ tag;
    ``decrypt(nonce, data, associated_data)`` takes ciphertext ‖ tag, returns the plaintext
    or raises ``InvalidTag``. The device takes a 12-byte nonce and at most 240 bytes of
    associated data. On a device buffer in place, encryption expects the plaintext
    followed by ``tag_size`` bytes of room for the tag (and leaves ciphertext ‖ tag);
    out of place, ``data`` is just the plaintext and ``out`` gets ciphertext ‖ tag.

    Args:
        instance / channel: where it runs.
        algorithm: ``aes-128-gcm``, ``aes-192-gcm`` or ``aes-256-gcm``.
        key: the AES key.
        tag_size: bytes of tag (4, 8, 12..16).
        single_pass: gen4's one-command form (default) or the two-pass chain.

    Raises:
        UnsupportedAlgorithmError / ValueError / TypeError: bad name, key or tag size.
    """

    def __init__(
        self,
        instance: Performer,
        channel: Channel,
        algorithm: str,
        key: object,
        *,
        tag_size: int = 16,
        single_pass: bool = True,
    ) -> None:
        alg = aead(algorithm)
        super().__init__(instance, channel, alg.name)
        self.algorithm: AeadAlgorithm = alg
        self._key = alg.check_key(key)
        self.tag_size = alg.check_tag_size(tag_size)
        self._single_pass = single_pass
        self._setup(Direction.ENCRYPT, 0)

    def _setup(self, direction: Direction, aad_size: int, in_buffer: bool = True) -> _Cd:
        key = (direction, aad_size, in_buffer)
        found = self._cds.get(key)
        if found is not None:
            return found
        return self._place(
            key,
            lambda: cd.gcm_session(
                self.algorithm.name,
                self._key,
                direction,
                tag_size=self.tag_size,
                aad_size=aad_size,
                single_pass=self._single_pass,
                digest_in_buffer=in_buffer,
            ),
        )

    def _batch(self, ops_: Sequence[Op]) -> Work | None:
        """Many ops on the caller's flat device buffers as one array (or None)."""
        first = ops_[0]
        if not isinstance(first, AeadOp) or type(first.data) is not DeviceBuffer:
            return None
        placed = self._setup(first.direction, len(first.aad), first.out is None)
        cols = _buffer_columns(ops_, self, self.tag_size)
        if cols is None or not placed.fast:
            return None
        return _BufferBatch(
            self.pool, placed, cols, f"{self.algorithm.name} {first.direction.value}"
        )

    def encrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: object = None
    ) -> AeadOp:
        """An encryption, for the call forms (see the class)."""
        self._check_open()
        return AeadOp(self, Direction.ENCRYPT, nonce, data, associated_data, out)

    def decrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: object = None
    ) -> AeadOp:
        """A decryption, for the call forms.

        Raises:
            InvalidTag: ``data`` is shorter than a tag (as ``cryptography``).
        """
        self._check_open()
        return AeadOp(self, Direction.DECRYPT, nonce, data, associated_data, out)

    def encrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: object = None,
        timeout: float | None = None,
    ) -> Any:
        """Encrypt now: ciphertext ‖ tag."""
        return self._perform(self.encrypt_op(nonce, data, associated_data, out=out), timeout)

    def decrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: object = None,
        timeout: float | None = None,
    ) -> Any:
        """Decrypt and verify now.

        Raises:
            InvalidTag: the tag does not match.
        """
        return self._perform(self.decrypt_op(nonce, data, associated_data, out=out), timeout)


class ChainSession(Session):
    """A cipher and a hash in one request, in either order.

    ``order`` is the slice order on the device (CPA's chain order): CIPHER_THEN_HASH
    hashes the cipher's output, HASH_THEN_CIPHER hashes its input. So encrypt-then-MAC
    sends with CIPHER_THEN_HASH and verifies with HASH_THEN_CIPHER on decryption.

    Args:
        instance / channel: where it runs.
        cipher_algorithm / cipher_key: the cipher.
        auth_algorithm / auth_key: the hash or HMAC (no key for a plain hash).
        order: which slice runs first.
        digest_size: truncate the digest.
        form: cipher slice layout override (AES only).

    Raises:
        UnsupportedAlgorithmError / ValueError / TypeError: as the single sessions.
    """

    def __init__(
        self,
        instance: Performer,
        channel: Channel,
        cipher_algorithm: str,
        cipher_key: object,
        auth_algorithm: str,
        auth_key: object = None,
        *,
        order: ChainOrder,
        digest_size: int | None = None,
        form: SliceForm | None = None,
    ) -> None:
        calg = cipher(cipher_algorithm)
        aalg = auth(auth_algorithm)
        super().__init__(instance, channel, f"{calg.name}+{aalg.name}")
        if not isinstance(order, ChainOrder):
            raise TypeError(f"order must be a ChainOrder, not {type(order).__name__}")
        self.cipher_algorithm: CipherAlgorithm = calg
        self.auth_algorithm: HashAlgorithm | HmacAlgorithm = aalg
        self.order = order
        self._ckey = calg.check_key(cipher_key)
        self._akey = auth_key
        self.digest_size = aalg.check_digest_size(digest_size)
        self._form = form
        self._setup(Direction.ENCRYPT, False)

    def _setup(self, direction: Direction, verify: bool) -> _Cd:
        return self._place(
            (direction, verify),
            lambda: cd.chain_session(
                self.cipher_algorithm.name,
                self._ckey,
                direction,
                self.auth_algorithm.name,
                self._akey,
                order=self.order,
                verify=verify,
                digest_size=self.digest_size,
                form=self._form,
            ),
        )

    def encrypt_op(self, data: Data, iv: object, *, out: object = None) -> ChainOp:
        """An encryption with its digest, for the call forms."""
        self._check_open()
        return ChainOp(self, Direction.ENCRYPT, data, iv, None, out)

    def decrypt_op(
        self, data: Data, iv: object, *, digest: object = None, out: object = None
    ) -> ChainOp:
        """A decryption; with ``digest``, the device verifies it.

        Raises:
            InvalidSignature: ``digest`` has the wrong length.
        """
        self._check_open()
        return ChainOp(self, Direction.DECRYPT, data, iv, digest, out)

    def encrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> ChainResult:
        """Encrypt and digest now."""
        return self._perform(self.encrypt_op(data, iv, out=out), timeout)  # type: ignore[no-any-return]

    def decrypt(
        self,
        data: Data,
        iv: object,
        *,
        digest: object = None,
        out: object = None,
        timeout: float | None = None,
    ) -> ChainResult:
        """Decrypt (and verify ``digest``) now.

        Raises:
            InvalidSignature: the digest does not match.
        """
        return self._perform(  # type: ignore[no-any-return]
            self.decrypt_op(data, iv, digest=digest, out=out), timeout
        )


class CompressionSession(Session):
    """Stateless deflate (raw RFC 1951) with static or dynamic Huffman codes.

    Each request reports CRC32 and Adler-32 of the uncompressed bytes. When the output
    does not fit, the request raises :class:`~qathw.errors.OutputOverflowError` whose
    ``result`` says how much input was consumed and holds the output produced (whole,
    non-final deflate blocks): compress the rest in a new request and concatenate.

    Args:
        instance / channel: where it runs.
        huffman: static or dynamic codes.
        level: 1..9.

    Raises:
        ValueError: a level outside 1..9.
    """

    def __init__(
        self,
        instance: Performer,
        channel: Channel,
        *,
        huffman: Huffman = Huffman.DYNAMIC,
        level: int = 6,
    ) -> None:
        super().__init__(instance, channel, "deflate")
        if not isinstance(huffman, Huffman):
            raise TypeError(f"huffman must be a Huffman, not {type(huffman).__name__}")
        self.huffman = huffman
        self.level = level
        self._templates = {
            d: cd.compression_session(d, huffman=huffman, level=level) for d in CompDirection
        }

    def _setup(self, direction: CompDirection) -> cd.CompSetup:
        self._check_open()
        return self._templates[direction]

    @staticmethod
    def default_output(direction: CompDirection, length: int) -> int:
        """The output room a request gets when the caller names none."""
        if direction is CompDirection.COMPRESS:
            return length + (length >> 3) + 256  # above deflate's worst case
        return max(4 * length, 64 << 10)

    def compress_op(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: object = None,
        crc32: int = 0,
        adler32: int = 1,
    ) -> DcOp:
        """A compression, for the call forms.

        Args:
            data: the input.
            final: end the stream (final block); false ends on a byte boundary, so the
                next request's output can follow.
            output_size: output room (default: enough for any input).
            out: your buffer for the output (zero copy).
            crc32 / adler32: seeds, to continue the checksums of earlier requests.
        """
        self._check_open()
        return DcOp(
            self,
            CompDirection.COMPRESS,
            data,
            final=final,
            output_size=output_size,
            out=out,
            crc32=crc32,
            adler32=adler32,
        )

    def decompress_op(
        self, data: Data, *, output_size: int | None = None, out: object = None
    ) -> DcOp:
        """A decompression, for the call forms (``output_size`` default: 4 x the input)."""
        self._check_open()
        return DcOp(
            self,
            CompDirection.DECOMPRESS,
            data,
            final=True,
            output_size=output_size,
            out=out,
            crc32=0,
            adler32=1,
        )

    def compress(
        self,
        data: Data,
        *,
        final: bool = True,
        output_size: int | None = None,
        out: object = None,
        crc32: int = 0,
        adler32: int = 1,
        timeout: float | None = None,
    ) -> DcResult:
        """Compress now; see :meth:`compress_op`.

        Raises:
            OutputOverflowError: the output did not fit (``error.result`` has the part).
        """
        op = self.compress_op(
            data, final=final, output_size=output_size, out=out, crc32=crc32, adler32=adler32
        )
        return self._perform(op, timeout)  # type: ignore[no-any-return]

    def decompress(
        self,
        data: Data,
        *,
        output_size: int | None = None,
        out: object = None,
        timeout: float | None = None,
    ) -> DcResult:
        """Decompress now. Without ``output_size`` and ``out``, the output room doubles
        until the data fits (each try runs the whole request again).

        Raises:
            OutputOverflowError: the output did not fit the room you gave.
            RequestError: not a valid deflate stream (the error code says why).
        """
        grow = output_size is None and out is None
        size = output_size
        while True:
            op = self.decompress_op(data, output_size=size, out=out)
            try:
                return self._perform(op, timeout)  # type: ignore[no-any-return]
            except OutputOverflowError:
                if not grow:
                    raise
                size = 2 * op.output_size
                if size > self.pool.capacity:
                    raise


def batch_work(ops_: Sequence[Op]) -> Work:
    """The work of many ops submitted together (one array when they allow it).

    Raises:
        ValueError: no ops.
        Exception: what preparing an op raised (nothing is left allocated).
    """
    if not ops_:
        raise ValueError("a batch needs at least one op")
    first = ops_[0].session
    if isinstance(first, CipherSession | AeadSession):
        fast = first._batch(ops_)
        if fast is not None:
            return fast
    works: list[_One] = []
    try:
        for op in ops_:
            works.append(op._work())
    except BaseException:
        for w in works:
            w.release()
        raise
    return _Many(works)
