"""Streaming hashes and HMACs in ``hashlib``'s shape, on the device's partial packets.

A :class:`StreamingHash` sends its input as partial packets (docs/hardware.md#la-request,
flags PARTIAL and UPDATE_STATE; the protocol is qatlib's): the first packet starts from the
session's content descriptor, each packet of whole blocks leaves the chaining state and the
byte count in a small *hash state buffer* in DMA memory, and :meth:`StreamingHash.digest`
sends the tail as the last packet, which returns the digest and leaves the state as it was
(so ``digest()`` can be called again and ``update()`` can go on, as in ``hashlib``).

The object never holds more than one request of input (:mod:`~qathw.service.chunking`):
``update`` sends every whole chunk at once and keeps at most a chunk. An input shorter
than a chunk in all is hashed by one full (not partial) request. Packets of one stream are
sent one at a time: each reads the state the previous one wrote.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Self

from qathw.dma import DmaBuffer
from qathw.errors import QatError, RequestError
from qathw.fw import la
from qathw.fw.common import REQ_SERV_SPECIF_FLAGS_OFFSET, RESP_STATUS_OFFSET
from qathw.fw.hw import round_up
from qathw.service import calls, wire
from qathw.service import status as st
from qathw.service.algorithms import BytesLike, HashAlgorithm
from qathw.service.buffers import DATA_ALIGN, as_view, stage
from qathw.service.chunking import plan
from qathw.service.operations import Op
from qathw.service.sessions import HashSession
from qathw.service.work import One

log = logging.getLogger(__name__)

_FLAGS = struct.Struct("<H")
_ADDR = struct.Struct("<Q")
_COUNTER = 8  # icp_qat_hw_auth_counter before the state: BE32 byte count, 4 reserved
_DIGEST = 64


class _Packet(Op[bytes | None]):
    """One partial packet of a stream: START, MID (no result) or END (the digest)."""

    __slots__ = ("data", "kind", "session", "state")

    def __init__(self, session: HashSession, data: memoryview, kind: int, state: DmaBuffer) -> None:
        super().__init__(session.channel)
        self.session = session
        self.data = data
        self.kind = kind
        self.state = state

    def prepare(self) -> One[bytes | None]:
        session = self.session
        setup = session._cds.get(False)  # the session's digest setup (not verify)
        pool = self.channel.pool
        src = stage(pool, self.data if len(self.data) else b"\0")
        try:
            digest = pool.alloc(_DIGEST, align=DATA_ALIGN)
        except BaseException:
            src.release()
            raise
        try:
            request = wire.la_request(
                setup.setup,
                setup.iova,
                opaque=0,
                src=src.ref,
                auth_length=len(self.data),
                digest_iova=digest.iova,
            )
        except BaseException:
            src.release()
            pool.free(digest)
            raise
        end = self.kind == la.PARTIAL_END
        (flags,) = _FLAGS.unpack_from(request, REQ_SERV_SPECIF_FLAGS_OFFSET)
        flags &= ~(la.PARTIAL_MASK << la.PARTIAL_BITPOS)
        flags |= self.kind << la.PARTIAL_BITPOS | 1 << la.UPDATE_STATE_BITPOS
        if not end:
            flags &= ~(1 << la.RET_AUTH_RES_BITPOS)  # no digest until the last packet
        _FLAGS.pack_into(request, REQ_SERV_SPECIF_FLAGS_OFFSET, flags)
        storage = state_storage(session)
        first = self.kind == la.PARTIAL_START
        # qatlib: the first packet points past the state storage (the device finds where
        # to write the state), the others at it, with its size in quadwords.
        _ADDR.pack_into(
            request, la.REQ_AAD_ADDR_OFFSET, self.state.iova + (storage if first else 0)
        )
        request[la.REQ_HASH_STATE_SZ_OFFSET] = 0 if first else storage // 8
        size = session.digest_size
        what = f"{session.name} partial packet"

        def finish(raw: bytes) -> bytes | None:
            if raw[RESP_STATUS_OFFSET] & st.ERROR_MASK:
                raise st.la_error(raw, what, verify=False) or RequestError(what)
            return bytes(digest.view[:size]) if end else None

        return One(request, finish, [src], [digest], pool, False)


def _sha(session: HashSession) -> HashAlgorithm:
    alg = session.algorithm
    return alg if isinstance(alg, HashAlgorithm) else alg.hash


def state_storage(session: HashSession) -> int:
    """Bytes of the hash state buffer's state storage (counter, then the chaining state)."""
    return _COUNTER + round_up(_sha(session).sha.state_size, 8)


class StreamingHash:
    """A hash or HMAC fed piece by piece, as ``hashlib.new(name)`` / ``hmac.new(...)``.

    Args:
        factory: makes the hash or HMAC session the object uses alone (again for
            :meth:`copy`); the object closes it.
        data: first input.
        name: what :attr:`name` reports (``sha256``, ``hmac-sha256``).

    Attributes:
        name / digest_size / block_size: as ``hashlib``.
        chunk: input bytes per request.

    Raises:
        TypeError: ``data`` is not bytes-like.
    """

    def __init__(
        self, factory: Callable[[], HashSession], data: BytesLike = b"", *, name: str
    ) -> None:
        self._factory = factory
        session = self._session = factory()
        self.name = name
        self.digest_size = session.digest_size
        self.block_size = _sha(session).block_size
        self.chunk = plan(session.pool, per_byte=1.0, block=128).chunk
        self._state = session.pool.alloc(128, align=DATA_ALIGN)
        self._pending = bytearray()
        self._started = False
        self._closed = False
        if data:
            self.update(data)

    def update(self, data: BytesLike) -> None:
        """Hash more input (bytes-like).

        Raises:
            TypeError: not bytes-like.
            QatError: the object was closed.
            RequestError: the device failed a packet.
        """
        view = as_view(data)
        self._check_open()
        if len(self._pending) + len(view) <= self.chunk:
            self._pending += view
            return
        if self._pending:
            take = self.chunk - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            self._send(memoryview(self._pending))
            self._pending = bytearray()
        # Keep at least one byte back: the last packet must carry data.
        whole = (len(view) - 1) // self.chunk * self.chunk
        for pos in range(0, whole, self.chunk):
            self._send(view[pos : pos + self.chunk])
        self._pending += view[whole:]

    def digest(self) -> bytes:
        """The digest of everything so far (the object can go on)."""
        self._check_open()
        if not self._started:
            return self._session.digest(bytes(self._pending))
        op = _Packet(self._session, memoryview(bytes(self._pending)), la.PARTIAL_END, self._state)
        result = calls.perform(self._session.channel, op)
        assert result is not None
        return result

    def hexdigest(self) -> str:
        """:meth:`digest` as hex."""
        return self.digest().hex()

    def copy(self) -> StreamingHash:
        """An independent copy (its own session and state buffer)."""
        self._check_open()
        twin = object.__new__(StreamingHash)
        twin._factory = self._factory
        twin._session = self._factory()
        twin.name = self.name
        twin.digest_size = self.digest_size
        twin.block_size = self.block_size
        twin.chunk = self.chunk
        twin._state = twin._session.pool.alloc(128, align=DATA_ALIGN)
        twin._state.view[:128] = self._state.view[:128]
        twin._pending = bytearray(self._pending)
        twin._started = self._started
        twin._closed = False
        return twin

    def close(self) -> None:
        """Free the session and the state buffer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._session.pool.free(self._state)
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise QatError(f"this {self.name} object is closed", hint="make a new one")

    def _send(self, piece: memoryview) -> None:
        kind = la.PARTIAL_MID if self._started else la.PARTIAL_START
        calls.perform(self._session.channel, _Packet(self._session, piece, kind, self._state))
        self._started = True

    def __repr__(self) -> str:
        return f"<qathw {self.name} streaming hash on {self._session.channel.name}>"
