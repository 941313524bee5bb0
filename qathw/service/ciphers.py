"""Streaming ciphers in ``cryptography``'s encryptor/decryptor shape.

The device has no partial packets for ciphers here (fakedev refuses UPDATE_STATE on a
cipher, and qatlib has none for GCM), so a stream is chained on the host, each request
being an ordinary one-shot request of at most one chunk (:mod:`~qathw.service.chunking`):

* CBC: the next request's IV is the last ciphertext block (encryption: of the output,
  decryption: of the input); bytes short of a block wait for the next ``update``.
* CTR: the next request's counter block is the IV plus the blocks done; a request that
  starts inside a block is sent with that block's counter and as many leading zero bytes
  as the block already used, whose output is dropped. Output is immediate.
* GCM (12-byte nonces): the keystream is the device's AES-CTR from ``nonce ‖ 2``; GHASH
  runs on the host, through OpenSSL's GCM with the AAD and ciphertext fed as associated
  data, whose last (length) block is then corrected by one multiplication by
  ``H = AES_K(0)``, which the device computes (:mod:`~qathw.service.ghash`).
"""

from __future__ import annotations

import hmac
from typing import Self

from cryptography.exceptions import AlreadyFinalized, AlreadyUpdated, InvalidTag, NotYetFinalized
from cryptography.hazmat.primitives.ciphers import Cipher as _OsslCipher
from cryptography.hazmat.primitives.ciphers import algorithms, modes

from qathw.errors import UnsupportedAlgorithmError
from qathw.service.algorithms import BytesLike, as_bytes, cipher
from qathw.service.buffers import as_view
from qathw.service.chunking import plan
from qathw.service.ghash import length_fix
from qathw.service.sessions import CipherSession

GCM_MAX_BYTES = (2**39 - 256) // 8  # NIST SP 800-38D: plaintext of at most 2**39 - 256 bits


class _Stream:
    """What every stream context shares: its session, chunk and finalized state."""

    def __init__(self, session: CipherSession) -> None:
        self._session = session
        self._chunk = plan(session.pool, per_byte=2.0, block=64).chunk
        self._done = False

    def update(self, data: BytesLike) -> bytes:
        """Process more data; the output that is ready.

        Raises:
            AlreadyFinalized: after finalize().
            TypeError: not bytes-like.
        """
        view = as_view(data)
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        return self._update(view)

    def update_into(self, data: BytesLike, buf: bytearray | memoryview) -> int:
        """:meth:`update` into ``buf``; the bytes written.

        Raises:
            ValueError: ``buf`` is too small for the output (as cryptography).
        """
        view = as_view(data)
        out = as_view(buf, "buf")
        if out.readonly:
            raise TypeError("buf must be writable")
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        if len(out) < len(view) + self._block_room():
            raise ValueError(
                f"buffer must be at least {len(view) + self._block_room()} bytes for this payload"
            )
        result = self._update(view)
        out[: len(result)] = result
        return len(result)

    def _block_room(self) -> int:
        return 0

    def _update(self, view: memoryview) -> bytes:
        raise NotImplementedError

    def _pieces(self, view: memoryview) -> list[memoryview]:
        c = self._chunk
        return [view[i : i + c] for i in range(0, len(view), c)]

    def close(self) -> None:
        """Free the session (also done by finalize). Idempotent."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CbcContext(_Stream):
    """CBC encryption or decryption (no padding, as ``cryptography``'s ``modes.CBC``)."""

    def __init__(self, session: CipherSession, iv: bytes, *, encrypt: bool) -> None:
        super().__init__(session)
        self._iv = iv
        self._encrypt = encrypt
        self._block = session.algorithm.block_size
        self._chunk -= self._chunk % self._block
        self._pending = bytearray()

    def _block_room(self) -> int:
        return self._block - 1

    def _update(self, view: memoryview) -> bytes:
        data = bytes(self._pending) + bytes(view) if self._pending else view
        whole = len(data) - len(data) % self._block
        self._pending = bytearray(data[whole:])
        out: list[bytes] = []
        for piece in self._pieces(memoryview(data)[:whole]):
            if self._encrypt:
                result = self._session.encrypt(piece, self._iv)
                self._iv = result[-self._block :]
            else:
                result = self._session.decrypt(piece, self._iv)
                self._iv = bytes(piece[-self._block :])
            out.append(result)
        return b"".join(out)

    def finalize(self) -> bytes:
        """End the stream.

        Raises:
            ValueError: the data was not whole blocks (as cryptography).
            AlreadyFinalized: called twice.
        """
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        self._done = True
        self.close()
        if self._pending:
            raise ValueError(
                "The length of the provided data is not a multiple of the block length."
            )
        return b""


class CtrContext(_Stream):
    """CTR encryption or decryption (the same operation)."""

    def __init__(self, session: CipherSession, iv: bytes) -> None:
        super().__init__(session)
        self._counter0 = int.from_bytes(iv, "big")
        self._position = 0

    def _update(self, view: memoryview) -> bytes:
        out: list[bytes] = []
        for piece in self._pieces(view):
            block, skip = divmod(self._position, 16)
            counter = ((self._counter0 + block) % (1 << 128)).to_bytes(16, "big")
            data = bytes(skip) + bytes(piece) if skip else piece
            result = self._session.encrypt(data, counter)
            out.append(result[skip:])
            self._position += len(piece)
        return b"".join(out)

    def finalize(self) -> bytes:
        """End the stream.

        Raises:
            AlreadyFinalized: called twice.
        """
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        self._done = True
        self.close()
        return b""


class GcmContext(_Stream):
    """AES-GCM encryption or decryption with a 12-byte nonce, streamed.

    As ``cryptography``: associated data first (:meth:`authenticate_additional_data`),
    then :meth:`update`; encryption's :attr:`tag` after :meth:`finalize`; decryption checks
    the tag given to the constructor at :meth:`finalize`, or the one given to
    :meth:`finalize_with_tag`, and raises ``InvalidTag`` on a mismatch.

    Raises:
        ValueError: a nonce that is not 12 bytes, a tag shorter than ``min_tag_length``.
    """

    def __init__(
        self,
        session: CipherSession,
        key: bytes,
        nonce: bytes,
        *,
        encrypt: bool,
        tag: bytes | None,
        min_tag_length: int,
    ) -> None:
        if len(nonce) != 12:
            raise ValueError(
                f"streaming GCM takes 12-byte nonces, not {len(nonce)}; "
                "use instance.aead() for other lengths"
            )
        if tag is not None and encrypt:
            raise ValueError("a tag is given for decryption only")
        if tag is not None and len(tag) < min_tag_length:
            raise ValueError(f"Authentication tag must be {min_tag_length} bytes or longer.")
        super().__init__(session)
        self._chunk -= self._chunk % 16
        self._encrypt = encrypt
        self._expected = tag
        self._min_tag = min_tag_length
        self._ctr = CtrContext(session, nonce + b"\0\0\0\2")
        # GHASH through OpenSSL: the AAD (zero-padded) and the ciphertext as associated
        # data, one multiplication fixing the length block at the end.
        self._mac = _OsslCipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        self._aad_len = 0
        self._len = 0
        self._updated = False
        self._tag: bytes | None = None

    def authenticate_additional_data(self, data: BytesLike) -> None:
        """Add associated data (before any :meth:`update`).

        Raises:
            AlreadyUpdated: after update().
            AlreadyFinalized: after finalize().
        """
        view = as_view(data)
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        if self._updated:
            raise AlreadyUpdated("Update has been called on this context.")
        self._mac.authenticate_additional_data(view)
        self._aad_len += len(view)

    def _update(self, view: memoryview) -> bytes:
        if not self._updated:
            self._updated = True
            self._mac.authenticate_additional_data(bytes(-self._aad_len % 16))
        if self._len + len(view) > GCM_MAX_BYTES:
            raise ValueError("Exceeded maximum encrypted byte limit")
        out = self._ctr._update(view)
        self._mac.authenticate_additional_data(out if self._encrypt else view)
        self._len += len(view)
        return out

    @property
    def tag(self) -> bytes:
        """Encryption: the 16-byte tag (after :meth:`finalize`).

        Raises:
            NotYetFinalized: before finalize().
        """
        if self._tag is None or not self._encrypt:
            raise NotYetFinalized("You must finalize encryption before getting the tag.")
        return self._tag

    def finalize(self) -> bytes:
        """End the stream: compute the tag (encryption) or check it (decryption).

        Raises:
            InvalidTag: decryption, and the tag does not match.
            ValueError: decryption without a tag (use finalize_with_tag).
            AlreadyFinalized: called twice.
        """
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        if not self._encrypt and self._expected is None:
            raise ValueError(
                "Authentication tag must be provided when decrypting (use finalize_with_tag)."
            )
        return self._finish(self._expected)

    def finalize_with_tag(self, tag: BytesLike) -> bytes:
        """Decryption: end the stream and check ``tag``.

        Raises:
            InvalidTag: it does not match.
            ValueError: a tag shorter than ``min_tag_length``, or encryption.
        """
        if self._encrypt:
            raise ValueError("finalize_with_tag() is for decryption")
        expected = as_bytes(tag, "tag")
        if len(expected) < self._min_tag:
            raise ValueError(f"Authentication tag must be {self._min_tag} bytes or longer.")
        if self._done:
            raise AlreadyFinalized("Context was already finalized.")
        return self._finish(expected)

    def _finish(self, expected: bytes | None) -> bytes:
        if not self._updated:
            self._updated = True
            self._mac.authenticate_additional_data(bytes(-self._aad_len % 16))
        self._mac.authenticate_additional_data(bytes(-self._len % 16))
        self._mac.finalize()
        h = self._session.encrypt(bytes(16), bytes(16))  # AES_K(0): CTR from counter 0
        fed = self._aad_len + (-self._aad_len % 16) + self._len + (-self._len % 16)
        tag = length_fix(self._mac.tag, h, fed, self._aad_len, self._len)
        self._done = True
        self.close()
        if expected is None:
            self._tag = tag
            return b""
        if not hmac.compare_digest(tag[: len(expected)], expected):
            raise InvalidTag()
        return b""


def cbc_or_ctr(name: str) -> str:
    """The mode of a catalogue cipher this module streams (``cbc``, ``ctr``, ``gcm``).

    Raises:
        UnsupportedAlgorithmError: another mode (XTS has no streaming form).
    """
    lowered = name.lower()
    if lowered.endswith("-gcm"):
        return "gcm"
    mode = cipher(lowered).mode.name.lower()
    if mode not in ("cbc", "ctr"):
        raise UnsupportedAlgorithmError(
            f"{name} cannot be streamed", hint="stream CBC, CTR or GCM; XTS is one-shot"
        )
    return mode
