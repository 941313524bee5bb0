"""Operations: what a session's ``*_op`` methods make, ready for every call form.

An op holds its arguments, checked when it is made — a wrong IV, length or buffer raises
there, before anything is sent — and its session's :class:`~qathw.service.placed.Setups`.
:meth:`Op.prepare`, called by every call form once per submission, stages the op's data
in DMA memory, builds its request (:mod:`~qathw.service.wire`) and returns it as
:class:`~qathw.service.work.One`, with how to read the response: ``bytes`` for
bytes-like data, the caller's own buffer for zero-copy data, a
:class:`~qathw.service.results.ChainResult` or :class:`~qathw.service.results.DcResult`.
``Op[T]`` is typed by that result.

Authentication failures raise what ``cryptography`` raises: ``InvalidTag`` for GCM,
``InvalidSignature`` for a hash/HMAC verify (alone or in a chain).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from cryptography.exceptions import InvalidSignature, InvalidTag

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import OutputOverflowError, RequestError
from qathw.fw import comp
from qathw.fw.common import RESP_HDR_FLAG_CNV, RESP_HDR_FLAGS_OFFSET, RESP_STATUS_OFFSET, Status
from qathw.service import gcmj0, wire
from qathw.service import status as st
from qathw.service.algorithms import AeadAlgorithm, CipherAlgorithm, as_bytes
from qathw.service.buffers import (
    DATA_ALIGN,
    Data,
    DeviceBuffer,
    ScatterBuffer,
    Staged,
    UserBuffer,
    as_view,
    borrow,
    check_owner,
    stage,
    stage_output,
)
from qathw.service.cd import CompDirection, CompSetup, Direction
from qathw.service.completion import Channel
from qathw.service.offers import GCM_SPC_NONCE_SIZE
from qathw.service.placed import PlacedSetup, Setups
from qathw.service.results import ChainResult, DcResult
from qathw.service.work import One

T_co = TypeVar("T_co", covariant=True)  # an op's result
D_co = TypeVar("D_co", covariant=True)  # an op's output: bytes, or the caller's buffer

_AUX = 256  # one small DMA block per request: digest, expected digest, AAD
_AAD_BLOCK = 16  # the device reads GCM AAD in whole blocks
_IV12 = GCM_SPC_NONCE_SIZE  # nonces of this size go to the device as they are
_COUNTERS = comp.RESP_COMP_PARAM_FIELDS  # consumed, produced, CRC32, Adler-32
_AUTH_FAILED = "Signature did not match digest."  # cryptography's InvalidSignature text


class Op(abc.ABC, Generic[T_co]):
    """One operation of a session, for ``instance.submit`` and the other call forms.

    An op can be submitted more than once; each submission stages its data afresh.

    Attributes:
        channel: the session's channel (the op runs on its instance only).
    """

    __slots__ = ("channel",)

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    @abc.abstractmethod
    def prepare(self) -> One[T_co]:
        """Stage this op's data in DMA memory and build its request (every submission).

        Returns:
            The work to send; releasing it frees what staging took.

        Raises:
            QatError: the session was closed.
            DmaPoolExhaustedError: no DMA memory for the data.
            ValueError: data and ``out`` are not both flat or both scatter-gather.
        """


def default_output(direction: CompDirection, length: int) -> int:
    """The output room a compression request gets when the caller names none."""
    if direction is CompDirection.COMPRESS:
        return length + (length >> 3) + 256  # above deflate's worst case
    return max(4 * length, 64 << 10)


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


def _slice(buf: UserBuffer, length: int) -> UserBuffer:
    if isinstance(buf, DeviceBuffer) and len(buf) != length:
        return buf.region(0, length)
    return buf


def _output(keep: UserBuffer | None, src: Staged, length: int) -> bytes | UserBuffer:
    """The caller's buffer (its first ``length`` bytes) if there is one, else the bytes."""
    return src.read(length) if keep is None else _slice(keep, length)


def _aux(pool: DmaPool, staged: list[Staged]) -> DmaBuffer:
    try:
        return pool.alloc(_AUX, align=DATA_ALIGN)
    except BaseException:
        for s in staged:
            s.release()
        raise


def stage_aad(view: memoryview, aad: bytes) -> None:
    """Write ``aad`` at the start of ``view`` and zero it up to the next 16-byte boundary.

    The device reads GCM associated data in whole 16-byte blocks and hashes every byte
    it reads (qatlib ``lac_sym_alg_chain.c`` pads the AAD buffer to a block multiple; a
    two-pass request says ``aad_sz = round16(len)``), and DMA memory is reused: stale
    bytes after a short AAD would enter GHASH (docs/hardware.md#la-request).
    """
    n = len(aad)
    view[:n] = aad
    view[n : n + (-n % _AAD_BLOCK)] = bytes(-n % _AAD_BLOCK)


def _failed(raw: bytes) -> bool:
    return bool(raw[RESP_STATUS_OFFSET] & st.ERROR_MASK)


class _LaOp(Op[T_co]):
    """Common staging of a symmetric-crypto op."""

    __slots__ = ("data", "out")

    def __init__(self, channel: Channel, data: Data, out: UserBuffer | None) -> None:
        super().__init__(channel)
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            check_owner(data, channel.owner)
        if out is not None:
            check_owner(out, channel.owner, "out")
        if out is data:
            out = None  # the same buffer: in place
        if out is not None and isinstance(data, DeviceBuffer | ScatterBuffer):
            if isinstance(out, ScatterBuffer) != isinstance(data, ScatterBuffer):
                raise ValueError("data and out must both be flat or both scatter buffers")
        self.data = data
        self.out = out

    def _stage(self, extra: int = 0) -> tuple[Staged, Staged | None, list[Staged]]:
        owner = self.channel.owner
        data = self.data
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            src = borrow(data, owner)
        else:
            src = stage(self.channel.pool, data, extra=extra)
        staged = [src]
        dst: Staged | None = None
        if self.out is not None:
            if isinstance(self.out, ScatterBuffer) != isinstance(src.ref, wire.Sgl):
                src.release()
                raise ValueError(
                    "data and out must both be flat or both scatter-gather (a list of "
                    "pieces goes with a ScatterBuffer)"
                )
            dst = borrow(self.out, owner, "out")
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
        setup: PlacedSetup,
        src: Staged,
        dst: Staged | None,
        staged: list[Staged],
        aux: list[DmaBuffer],
        finish: Callable[[bytes], T_co],
        *,
        iv: bytes | None = None,
        cipher_length: int | None = None,
        digest_iova: int | None = None,
        aad_iova: int | None = None,
    ) -> One[T_co]:
        pool = self.channel.pool
        try:
            request = wire.la_request(
                setup.setup,
                setup.iova,
                opaque=0,
                src=src.ref,
                dst=None if dst is None else dst.ref,
                cipher_length=cipher_length,
                iv=iv,
                digest_iova=digest_iova,
                aad_iova=aad_iova,
            )
        except BaseException:
            for s in staged:
                s.release()
            for block in aux:
                pool.free(block)
            raise
        replayable = dst is not None or not src.borrowed
        return One(request, finish, staged, aux, pool, replayable)

    def _build_flat(
        self,
        setup: PlacedSetup,
        src: Staged,
        dst: Staged | None,
        staged: list[Staged],
        aux: list[DmaBuffer],
        finish: Callable[[bytes], T_co],
        length: int,
        iv: bytes,
        aad_iova: int | None = None,
        digest_iova: int | None = None,
    ) -> One[T_co]:
        """As :meth:`_build` through the template (flat buffers, ``fast`` setups)."""
        s, d = src.ref, (src if dst is None else dst).ref
        request = setup.flat_request(
            s.iova, s.length, d.iova, d.length, length, iv, aad_iova, digest_iova
        )
        replayable = dst is not None or not src.borrowed
        return One(request, finish, staged, aux, self.channel.pool, replayable)

    @staticmethod
    def _flat(setup: PlacedSetup, src: Staged, dst: Staged | None) -> bool:
        return (
            setup.fast
            and type(src.ref) is wire.Flat
            and (dst is None or type(dst.ref) is wire.Flat)
        )


class CipherOp(_LaOp[D_co]):
    """A cipher operation (see :meth:`CipherSession.encrypt_op`).

    Attributes:
        setups / algorithm / direction: the session's setups, its cipher, which way.
        iv: the IV (XTS: the tweak).
        length: bytes of data.
    """

    __slots__ = ("algorithm", "direction", "iv", "length", "setups")

    def __init__(
        self,
        setups: Setups[Direction, PlacedSetup],
        algorithm: CipherAlgorithm,
        direction: Direction,
        data: Data,
        iv: object,
        out: object,
    ) -> None:
        self.iv = algorithm.check_iv(iv)
        self.length = _length(data)
        algorithm.check_length(self.length)
        super().__init__(setups.channel, data, _check_out(out, self.length))
        self.setups = setups
        self.algorithm = algorithm
        self.direction = direction

    def prepare(self) -> One[D_co]:
        setup = self.setups.get(self.direction)
        src, dst, staged = self._stage()
        keep = self._result_buffer()
        length = self.length
        what = f"{self.algorithm.name} {self.direction.value}"

        def finish(raw: bytes) -> D_co:
            if _failed(raw):
                raise st.la_error(raw, what, verify=False) or RequestError(what)
            # D_co was fixed from this op's data and out by the session's overloads.
            return cast(D_co, _output(keep, src, length))

        if self._flat(setup, src, dst):
            return self._build_flat(setup, src, dst, staged, [], finish, length, self.iv)
        return self._build(setup, src, dst, staged, [], finish, iv=self.iv)


class HashOp(_LaOp[T_co]):
    """A digest (``HashOp[bytes]``), or a check of ``expected`` (``HashOp[None]``).

    See :meth:`HashSession.digest_op`.

    Raises:
        InvalidSignature: ``expected`` is not ``digest_size`` bytes long.
    """

    __slots__ = ("expected", "setups", "size")

    def __init__(
        self,
        setups: Setups[bool, PlacedSetup],
        digest_size: int,
        data: Data,
        expected: bytes | None,
    ) -> None:
        if expected is not None and len(expected) != digest_size:
            raise InvalidSignature(_AUTH_FAILED)
        self.expected = expected
        super().__init__(setups.channel, data, None)
        _length(data)
        self.setups = setups
        self.size = digest_size

    def prepare(self) -> One[T_co]:
        expected = self.expected
        verify = expected is not None
        setup = self.setups.get(verify)
        src, dst, staged = self._stage()
        digest = _aux(self.channel.pool, staged)
        size = self.size
        if expected is not None:
            digest.view[:size] = expected
        what = f"{self.setups.name} {'verify' if verify else 'digest'}"

        def finish(raw: bytes) -> T_co:
            if _failed(raw):
                if verify and st.auth_failed(raw):
                    raise InvalidSignature(_AUTH_FAILED)
                raise st.la_error(raw, what, verify=verify) or RequestError(what)
            # T_co is None for a check, bytes for a digest (the session says which).
            return cast(T_co, None if verify else bytes(digest.view[:size]))

        return self._build(setup, src, dst, staged, [digest], finish, digest_iova=digest.iova)


class AeadOp(_LaOp[D_co]):
    """A GCM encryption or decryption (see :meth:`AeadSession.encrypt_op`).

    Attributes:
        setups / direction: the session's setups, which way.
        nonce / aad: the nonce and associated data.
        iv: what the request carries: the nonce if it is 12 bytes, else the J0 the host
            computed from it (:mod:`~qathw.service.gcmj0`).
        body: bytes of plaintext or ciphertext (the data less the tag's room).
        tag_size: bytes of tag.
    """

    __slots__ = ("aad", "algorithm", "body", "direction", "iv", "nonce", "setups", "tag_size")

    def __init__(
        self,
        setups: Setups[tuple[Direction, int, bool, int], PlacedSetup],
        algorithm: AeadAlgorithm,
        hash_subkey: int,
        tag_size: int,
        direction: Direction,
        nonce: object,
        data: Data,
        associated_data: object,
        out: object,
    ) -> None:
        self.nonce = algorithm.check_iv(nonce)
        setups.channel.offer.check_gcm_nonce(algorithm, len(self.nonce))
        self.iv = gcmj0.j0(hash_subkey, self.nonce) if len(self.nonce) != _IV12 else self.nonce
        self.aad = b"" if associated_data is None else as_bytes(associated_data, "associated_data")
        algorithm.check_aad_size(len(self.aad))
        length = _length(data)
        self.direction = direction
        tag = tag_size
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
        super().__init__(setups.channel, data, _check_out(out, need))
        self.setups = setups
        self.algorithm = algorithm
        self.tag_size = tag_size

    def prepare(self) -> One[D_co]:
        tag = self.tag_size
        encrypt = self.direction is Direction.ENCRYPT
        in_buffer = self.out is None  # in place: the tag sits right after the data
        setup = self.setups.get((self.direction, len(self.aad), in_buffer, len(self.nonce)))
        user = isinstance(self.data, DeviceBuffer | ScatterBuffer)
        src, dst, staged = self._stage(tag if encrypt and in_buffer and not user else 0)
        body = self.body
        aux: list[DmaBuffer] = []
        aad_iova: int | None = None
        cipher_length: int | None = None
        digest_iova: int | None = None
        if self.aad:
            block = _aux(self.channel.pool, staged)
            stage_aad(block.view, self.aad)
            aux.append(block)
            aad_iova = block.iova
        if dst is not None:
            # Out of place (flat buffers): the tag is written after the ciphertext in the
            # destination, or read from after the ciphertext in the source.
            cipher_length = body
            digest_iova = (dst.ref.iova if encrypt else src.ref.iova) + body
        out_len = body + tag if encrypt else body
        keep = self._result_buffer()
        what = f"{self.algorithm.name} {self.direction.value}"

        def finish(raw: bytes) -> D_co:
            if _failed(raw):
                if not encrypt and st.auth_failed(raw):
                    raise InvalidTag()
                raise st.la_error(raw, what, verify=not encrypt) or RequestError(what)
            # D_co was fixed from this op's data and out by the session's overloads.
            return cast(D_co, _output(keep, src, out_len))

        if self._flat(setup, src, dst):
            return self._build_flat(
                setup, src, dst, staged, aux, finish, body, self.iv, aad_iova, digest_iova
            )
        return self._build(
            setup,
            src,
            dst,
            staged,
            aux,
            finish,
            iv=self.iv,
            cipher_length=cipher_length,
            digest_iova=digest_iova,
            aad_iova=aad_iova,
        )


class ChainOp(_LaOp[ChainResult[D_co]]):
    """A cipher + hash chain operation (see :meth:`ChainSession.encrypt_op`)."""

    __slots__ = ("direction", "expected", "iv", "length", "setups", "size")

    def __init__(
        self,
        setups: Setups[tuple[Direction, bool], PlacedSetup],
        algorithm: CipherAlgorithm,
        digest_size: int,
        direction: Direction,
        data: Data,
        iv: object,
        expected: object,
        out: object,
    ) -> None:
        self.iv = algorithm.check_iv(iv)
        self.length = _length(data)
        algorithm.check_length(self.length)
        self.expected = None if expected is None else as_bytes(expected, "digest")
        if self.expected is not None and len(self.expected) != digest_size:
            raise InvalidSignature(_AUTH_FAILED)
        super().__init__(setups.channel, data, _check_out(out, self.length))
        self.setups = setups
        self.size = digest_size
        self.direction = direction

    def prepare(self) -> One[ChainResult[D_co]]:
        verify = self.expected is not None
        setup = self.setups.get((self.direction, verify))
        src, dst, staged = self._stage()
        digest = _aux(self.channel.pool, staged)
        size = self.size
        if self.expected is not None:
            digest.view[:size] = self.expected
        keep = self._result_buffer()
        length = self.length
        what = f"{self.setups.name} {self.direction.value}"

        def finish(raw: bytes) -> ChainResult[D_co]:
            if _failed(raw):
                if verify and st.auth_failed(raw):
                    raise InvalidSignature(_AUTH_FAILED)
                raise st.la_error(raw, what, verify=verify) or RequestError(what)
            # D_co was fixed from this op's data and out by the session's overloads.
            data = cast(D_co, _output(keep, src, length))
            return ChainResult(data, bytes(digest.view[:size]))

        return self._build(
            setup, src, dst, staged, [digest], finish, iv=self.iv, digest_iova=digest.iova
        )


class DcOp(Op[DcResult[D_co]]):
    """A compression or decompression (see :meth:`CompressionSession.compress_op`).

    Attributes:
        setups / direction: the session's templates, which way.
        final: compression ends the deflate stream.
        output_size: bytes of output room.
        crc32 / adler32: the checksum seeds.
    """

    __slots__ = (
        "adler32",
        "crc32",
        "data",
        "direction",
        "final",
        "out",
        "output_size",
        "setups",
    )

    def __init__(
        self,
        setups: Setups[CompDirection, CompSetup],
        direction: CompDirection,
        data: Data,
        *,
        final: bool,
        output_size: int | None,
        out: object,
        crc32: int,
        adler32: int,
    ) -> None:
        channel = setups.channel
        super().__init__(channel)
        length = _length(data)
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            check_owner(data, channel.owner)
        for name, value in (("crc32", crc32), ("adler32", adler32)):
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
                raise ValueError(f"{name} must be a 32-bit checksum, not {value!r}")
        if out is not None:
            buf = _check_out(out, 0)
            assert buf is not None
            check_owner(buf, channel.owner, "out")
            if buf is data:
                raise ValueError("compression is out of place: out must differ from data")
            size = len(buf) if output_size is None else output_size
            if size > len(buf):
                raise ValueError(f"output_size {size} exceeds out ({len(buf)} bytes)")
        elif output_size is None:
            size = default_output(direction, length)
        else:
            size = output_size
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"output_size must be a non-negative int, not {size!r}")
        self.setups = setups
        self.direction = direction
        self.data = data
        self.final = final
        self.output_size = size
        self.out = _check_out(out, 0)
        self.crc32 = crc32
        self.adler32 = adler32

    def prepare(self) -> One[DcResult[D_co]]:
        pool = self.channel.pool
        owner = self.channel.owner
        data = self.data
        compress = self.direction is CompDirection.COMPRESS
        if isinstance(data, DeviceBuffer | ScatterBuffer):
            src = borrow(data, owner)
        else:
            src = stage(pool, data)
        staged = [src]
        scatter = isinstance(src.ref, wire.Sgl)
        try:
            if self.out is not None:
                if isinstance(self.out, ScatterBuffer) != scatter:
                    raise ValueError("data and out must both be flat or both scatter-gather")
                dst = borrow(self.out, owner, "out")
            else:
                pages = [self.output_size] if not scatter else _pages(self.output_size)
                dst = stage_output(pool, pages, scatter=scatter)
            staged.append(dst)
            request = wire.comp_request(
                self.setups.get(self.direction),
                opaque=0,
                src=src.ref,
                dst=dst.ref,
                output_capacity=self.output_size,
                final=self.final or not compress,  # only compression ends a stream early
                crc32=self.crc32,
                adler32=self.adler32,
            )
        except BaseException:
            for s in staged:
                s.release()
            raise
        keep = self.out
        what = f"deflate {self.direction.value}"
        room = self.output_size

        def result(raw: bytes) -> DcResult[D_co]:
            consumed, produced, crc, adler = _COUNTERS.unpack_from(raw, comp.RESP_COMP_PARS_OFFSET)
            # D_co was fixed from this op's out by the session's overloads.
            output = cast(D_co, _output(keep, dst, produced))
            eos = bool(raw[RESP_STATUS_OFFSET] & Status.CMP_END_OF_LAST_BLK)
            return DcResult(output, consumed, produced, crc, adler, eos)

        def finish(raw: bytes) -> DcResult[D_co]:
            if _failed(raw):
                status, _, code = st.codes(raw)
                if st.overflowed(raw):
                    partial = result(raw)
                    raise OutputOverflowError(
                        f"{what}: the output did not fit in {room} bytes "
                        f"({partial.consumed} input bytes consumed, {partial.produced} "
                        "output bytes written)",
                        result=partial,
                        status=status,
                        error_code=code or st.codes(raw)[1],
                        hint="continue with the rest of the input (error.result tells how "
                        "much was done), or give a larger output_size",
                    )
                raise st.comp_error(raw, what) or RequestError(what)
            if compress and not raw[RESP_HDR_FLAGS_OFFSET] & RESP_HDR_FLAG_CNV:
                raise RequestError(
                    f"{what}: the device did not verify its output (no CNV flag)",
                    status=raw[RESP_STATUS_OFFSET],
                    hint="the firmware ignored compress-and-verify; do not trust the output",
                )
            return result(raw)

        return One(request, finish, staged, [], pool, True)


def _pages(size: int, page: int = 4096) -> list[int]:
    full, rest = divmod(max(size, 1), page)
    return [page] * full + ([rest] if rest else [])
