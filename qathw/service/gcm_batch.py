"""AES-GCM on plain bytes, many ops of one session at once, built and read as arrays.

Op by op (:class:`~qathw.service.operations.AeadOp`), a GCM request on the caller's bytes
takes its data staged in DMA memory (encryption: with room for the tag after it, where
the device writes it; decryption: ciphertext ‖ tag, compared by the device), its AAD
staged zero-padded to a 16-byte boundary (the device reads and hashes whole blocks:
docs/hardware.md#content-descriptors), and a copy of the session's template with the
buffers, lengths, IV (the nonce, or the J0 the host computed for other sizes) and AAD
address filled in. :class:`AeadBatch` does the same for ``n`` ops of one setup at once:
one DMA block for every op's data, one for every op's AAD, each per-op column written
once with numpy; responses are read as arrays too (the status column, every output
sliced from one copy of the data). Tests pin its rows to the requests the ops build one
by one.

:func:`many` is the batch form of making the ops themselves: the checks ``AeadOp`` makes
per op, made once per batch, for a session's ``encrypt_many`` / ``decrypt_many``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from cryptography.exceptions import InvalidTag

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import RequestError
from qathw.fw import common, la
from qathw.service import columns, gcmj0
from qathw.service import status as st
from qathw.service.algorithms import AeadAlgorithm, as_bytes
from qathw.service.buffers import DATA_ALIGN, as_view, lines
from qathw.service.cd import Direction
from qathw.service.columns import AUTH, CIPHER, MID, block
from qathw.service.completion import Rows
from qathw.service.offers import GCM_SPC_NONCE_SIZE
from qathw.service.placed import PlacedSetup, Setups

_AAD_BLOCK = 16  # the device reads GCM AAD in whole blocks
_U64 = np.dtype("<u8")
_SINGLE_PASS = 1 << la.SINGLE_PASS_PROTO_BITPOS
_flags = common.REQ_SERV_SPECIF_FLAGS_FIELD.unpack_from

# Single pass keeps its AAD address where two-pass keeps aad_adr: one column serves both.
assert la.REQ_SPC_AAD_ADDR_OFFSET == la.REQ_AAD_ADDR_OFFSET


class AeadBatch:
    """Many GCM ops of one setup on plain bytes, in place, as one array of requests.

    Args:
        pool: the channel's DMA memory.
        placed: the setup every op uses (direction, AAD size, tag in the buffer, nonce size).
        sources: each op's data (encryption: the plaintext; decryption: ciphertext ‖ tag).
        ivs: each op's IV as the request carries it (12 bytes, or a 16-byte J0), all one size.
        aad: each op's associated data, all one length, or one for every op.
        tag: bytes of tag.
        encrypt: which way (the setup's direction).
        what: how errors name the ops (``aes-128-gcm encrypt``).

    Raises:
        DmaPoolExhaustedError: no DMA memory for the data or the AAD (nothing is kept).
    """

    __slots__ = (
        "_aad",
        "_data",
        "_encrypt",
        "_offsets",
        "_out_lens",
        "_pool",
        "_slot",
        "_sources",
        "_what",
        "n",
        "rows",
    )

    def __init__(
        self,
        pool: DmaPool,
        placed: PlacedSetup,
        sources: Sequence[Any],
        ivs: Sequence[bytes],
        aad: bytes | Sequence[bytes],
        *,
        tag: int,
        encrypt: bool,
        what: str,
    ) -> None:
        n = len(sources)
        self.n = n
        self._sources = sources
        self._encrypt = encrypt
        self._what = what
        extra = tag if encrypt else 0  # encryption: the device writes the tag after the data
        lengths = list(map(len, sources))
        first = lengths[0]
        sizes: Any  # the staged lengths: one int when every op has the same, else a column
        bodies: Any  # bytes each op ciphers (decryption: less the tag)
        if lengths.count(first) == n:
            # The common case: every slot the same, the copy and the reads one 2-D array each.
            self._slot = lines(first + extra)
            offsets = np.arange(n, dtype=np.uint64) * np.uint64(self._slot)
            total = self._slot * n
            sizes, bodies = first + extra, first - tag + extra
            self._out_lens: list[int] = [first + (tag if encrypt else -tag)]
        else:
            self._slot = 0
            column = np.array(lengths, np.int64)
            slots = (column + (extra + DATA_ALIGN - 1)) // DATA_ALIGN * DATA_ALIGN
            starts = np.zeros(n, np.int64)
            np.cumsum(slots[:-1], out=starts[1:])
            offsets = starts.astype(np.uint64)
            total = int(slots.sum())
            sizes, bodies = column + extra, column - tag + extra
            self._out_lens = (column + (tag if encrypt else -tag)).tolist()
        self._offsets: list[int] = offsets.tolist()
        self._data = pool.alloc(total, align=DATA_ALIGN)
        self._pool: DmaPool | None = pool
        self._aad: DmaBuffer | None = None
        try:
            aad_at = self._stage_aad(pool, aad)
        except BaseException:
            self.release()
            raise
        self._copy_in(range(n))
        rows = columns.from_template(placed.template, n)
        at = np.uint64(self._data.iova) + offsets
        mid = block(rows, common.REQ_MID_OFFSET, MID)
        mid["src_data_addr"] = at  # in place: the tag goes in (or comes from) the buffer
        mid["dest_data_addr"] = at
        mid["src_length"] = sizes
        mid["dst_length"] = sizes
        region = block(rows, la.CIPHER_REQ_PARAMS_OFFSET, CIPHER)
        region["cipher_offset"] = 0
        region["cipher_length"] = bodies
        columns.set_ivs(rows, b"".join(ivs), len(ivs[0]))
        if not _flags(placed.template, common.REQ_SERV_SPECIF_FLAGS_OFFSET)[0] & _SINGLE_PASS:
            # two-pass: the GALOIS slice hashes exactly the cipher region
            auth = block(rows, la.AUTH_REQ_PARAMS_OFFSET, AUTH)
            auth["auth_off"] = 0
            auth["auth_len"] = bodies
        if aad_at is not None:
            block(rows, la.REQ_AAD_ADDR_OFFSET, _U64)[:] = aad_at
        self.rows: Rows = rows

    def _stage_aad(self, pool: DmaPool, aad: bytes | Sequence[bytes]) -> Any:
        """Every op's AAD in one block, each zero-padded to 16 bytes; their addresses."""
        n = self.n
        size = len(aad) if isinstance(aad, bytes) else len(aad[0])
        if not size:
            return None
        slot = lines(size)
        self._aad = pool.alloc(slot * n, align=DATA_ALIGN)
        grid = np.frombuffer(self._aad.view, np.uint8).reshape(n, slot)
        if isinstance(aad, bytes):
            grid[:, :size] = np.frombuffer(aad, np.uint8)  # one AAD, broadcast to every op
        else:
            grid[:, :size] = np.frombuffer(b"".join(aad), np.uint8).reshape(n, size)
        # DMA memory is reused: stale bytes up to the block boundary would enter GHASH.
        grid[:, size : size + (-size % _AAD_BLOCK)] = 0
        return np.uint64(self._aad.iova) + np.arange(n, dtype=np.uint64) * np.uint64(slot)

    def _copy_in(self, indices: Sequence[int]) -> None:
        sources = self._sources
        if self._slot and len(indices) == self.n:
            n, length = self.n, len(sources[0])
            grid = np.frombuffer(self._data.view, np.uint8).reshape(n, self._slot)
            grid[:, :length] = np.frombuffer(b"".join(sources), np.uint8).reshape(n, length)
            return
        view = self._data.view
        offsets = self._offsets
        for i in indices:
            at = offsets[i]
            src = sources[i]
            view[at : at + len(src)] = src

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> list[bytes | BaseException]:
        """Each op's output (ciphertext ‖ tag, or the plaintext), or its error.

        A failed tag comparison (decryption) is ``InvalidTag`` for that op only.
        """
        assert isinstance(responses, np.ndarray)
        n = self.n
        out: list[bytes | BaseException]
        if self._slot:
            size = self._out_lens[0]
            if size:
                grid = np.frombuffer(self._data.view, np.uint8).reshape(n, self._slot)
                # One copy, read as n opaque records of ``size`` bytes: tolist() makes each
                # a bytes object (all its bytes; no trailing zeros dropped, as "S" would).
                out = np.ascontiguousarray(grid[:, :size]).view(f"V{size}").ravel().tolist()
            else:
                out = [b""] * n
        else:
            view = self._data.view
            out = [
                bytes(view[at : at + size])
                for at, size in zip(self._offsets, self._out_lens, strict=True)
            ]
        for i in columns.failures(responses):
            if i not in lost:
                out[i] = self._error(responses[i].tobytes())
        for i, exc in lost.items():
            out[i] = exc
        return out

    def _error(self, raw: bytes) -> BaseException:
        if not self._encrypt and st.auth_failed(raw):
            return InvalidTag()
        return st.la_error(raw, self._what, verify=not self._encrypt) or RequestError(self._what)

    def replayable(self, index: int) -> bool:
        """Always: the input was staged from the caller's bytes and is copied in again."""
        return True

    def restage(self, indices: Sequence[int]) -> None:
        """Copy those ops' data in again before their replay (the AAD is only read)."""
        self._copy_in(indices)

    def release(self) -> None:
        """Free the data and AAD blocks. Idempotent."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.free(self._data)
            if self._aad is not None:
                pool.free(self._aad)


def many(
    setups: Setups[tuple[Direction, int, bool, int], PlacedSetup],
    algorithm: AeadAlgorithm,
    hash_subkey: int,
    tag: int,
    direction: Direction,
    nonces: Sequence[object],
    data: Sequence[object],
    associated_data: object,
) -> AeadBatch | None:
    """The batch of a session's many-call, checked as ``AeadOp`` checks each op.

    Args:
        setups / algorithm / hash_subkey / tag: the session's.
        direction: which way.
        nonces: one nonce per op.
        data: one bytes-like per op (decryption: ciphertext ‖ tag).
        associated_data: ``None``, one bytes-like for every op, or a list or tuple of them
            (``None`` entries allowed), one per op.

    Returns:
        The work, or ``None`` when the ops differ in nonce or AAD size (each such size is
        a setup of its own: the ops must go one by one).

    Raises:
        ValueError: no ops; ``nonces``, ``data`` (or a list of AADs) of different lengths;
            a nonce or AAD size GCM refuses.
        TypeError: a nonce, data or AAD that is not bytes-like.
        InvalidTag: (decryption) data shorter than a tag, as ``cryptography``.
        UnsupportedAlgorithmError: the endpoint does not run GCM with such nonces.
        QatError: the session was closed.
        DmaPoolExhaustedError: no DMA memory for the batch.
    """
    n = len(nonces)
    if not n:
        raise ValueError("a batch needs at least one op")
    if len(data) != n:
        raise ValueError(f"{n} nonces but {len(data)} data items: one of each per op")
    # Type and size checks at C speed in the common case (every item already bytes).
    ivs: Sequence[bytes]
    if set(map(type, nonces)) == {bytes}:
        ivs = cast(Sequence[bytes], nonces)
    else:
        ivs = [algorithm.check_iv(x) for x in nonces]
    iv_sizes = set(map(len, ivs))
    aad: bytes | list[bytes]
    if associated_data is None:
        aad = b""
        aad_sizes = {0}
    elif isinstance(associated_data, list | tuple):
        if len(associated_data) != n:
            raise ValueError(f"{n} ops but {len(associated_data)} associated data items")
        aad = [b"" if a is None else as_bytes(a, "associated_data") for a in associated_data]
        aad_sizes = set(map(len, aad))
    else:
        aad = as_bytes(associated_data, "associated_data")
        aad_sizes = {len(aad)}
    if len(iv_sizes) > 1 or len(aad_sizes) > 1:
        return None
    nonce_size = len(algorithm.check_iv(ivs[0]))  # the one size, checked
    aad_size = algorithm.check_aad_size(aad_sizes.pop())
    setups.channel.offer.check_gcm_nonce(algorithm, nonce_size)  # once: the ops share it
    if nonce_size != GCM_SPC_NONCE_SIZE:
        ivs = [gcmj0.j0(hash_subkey, x) for x in ivs]
    sources: Sequence[Any]  # bytes-likes: bytes as given, anything else as a byte view
    sources = data if set(map(type, data)) == {bytes} else [as_view(d) for d in data]
    encrypt = direction is Direction.ENCRYPT
    if not encrypt and min(map(len, sources)) < tag:
        raise InvalidTag()  # as cryptography: too short to hold a tag
    placed = setups.get((direction, aad_size, True, nonce_size))
    what = f"{algorithm.name} {direction.value}"
    pool = setups.channel.pool
    return AeadBatch(pool, placed, sources, ivs, aad, tag=tag, encrypt=encrypt, what=what)
