# mypy: disable-error-code="overload-overlap"
# (A DeviceBuffer is an object too: each call's buffer overloads come first and win, and
# the last one, which returns bytes, takes any other data, checked when the op is made.)
"""Sessions: an algorithm and its key on a channel, and the ops they make.

This module holds the base and the symmetric-crypto sessions (cipher, hash/HMAC, AES-GCM,
cipher + hash chains); :mod:`~qathw.service.compression` holds the deflate session.

A session keeps its content descriptors (CDs) in its channel's DMA memory with the
request template of each — built once per direction (and, for GCM, per AAD length) —
so an operation only copies a template and fills in buffers, lengths and the IV
(:mod:`~qathw.service.placed`, :mod:`~qathw.service.wire`).

Every operation has two forms: ``encrypt(...)`` runs it now, on the session's channel,
and ``encrypt_op(...)`` returns an :class:`~qathw.service.operations.Op` for the other
call forms (``instance.submit``, ``instance.perform_async``, ``instance.perform_batch``).
Arguments are checked when the op is made, before anything is sent: a wrong key, IV or
length raises ``ValueError``, a ``str`` ``TypeError``, as ``cryptography`` does; an
unknown algorithm or key size raises :class:`~qathw.errors.UnsupportedAlgorithmError`
when the session is made.

Data: bytes-like objects (copied to DMA memory, results returned as ``bytes``), a list
or tuple of them (a scatter-gather request, one entry per piece), or the instance's own
:class:`~qathw.service.buffers.DeviceBuffer` / :class:`~qathw.service.buffers.ScatterBuffer`
(zero copy: processed in place, or into the buffer given as ``out=``, which is returned).
The overloads say which: ``bytes`` in, ``bytes`` out; your buffer in (or as ``out``), your
buffer out.

Authentication failures raise what ``cryptography`` raises: ``InvalidTag`` for GCM,
``InvalidSignature`` for a hash/HMAC verify (alone or in a chain).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, Self, TypeVar, cast, overload

from qathw.dma import DmaPool
from qathw.service import calls, cd, gcm_batch, gcmj0
from qathw.service.algorithms import (
    AeadAlgorithm,
    CipherAlgorithm,
    HashAlgorithm,
    HmacAlgorithm,
    aead,
    as_bytes,
    auth,
    cipher,
)
from qathw.service.batches import batch_work
from qathw.service.buffers import Data, UserBuffer
from qathw.service.cd import ChainOrder, Direction, SliceForm
from qathw.service.completion import Channel, Handle, Work
from qathw.service.offers import GCM_SPC_NONCE_SIZE
from qathw.service.operations import AeadOp, ChainOp, CipherOp, HashOp
from qathw.service.placed import PlacedSetup, Setups, placed_setups
from qathw.service.results import ChainResult

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")
B = TypeVar("B", bound=UserBuffer)  # the caller's own buffer, returned to it


class Session(Generic[K, S]):
    """Base of every session: its channel and its setups (content descriptors).

    Close a session (or use it as a context manager) when its ops are done; the instance
    closes what is left when it closes.

    Attributes:
        name: the algorithm(s), as errors name the session.
    """

    def __init__(self, setups: Setups[K, S]) -> None:
        self._cds = setups
        self.name = setups.name

    @property
    def channel(self) -> Channel:
        """The instance's ring pair the session's ops run on."""
        return self._cds.channel

    @property
    def pool(self) -> DmaPool:
        """The DMA memory of the session's CDs and staged data."""
        return self._cds.channel.pool

    @property
    def owner(self) -> object:
        """The endpoint whose memory the session's buffers must be."""
        return self._cds.channel.owner

    def _check_open(self) -> None:
        self._cds.check_open()

    def close(self) -> None:
        """Free the session's content descriptors. Idempotent."""
        self._cds.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{' closed' if self._cds.closed else ''}>"


class CipherSession(Session[Direction, PlacedSetup]):
    """A block cipher with its key: AES-CBC/CTR/XTS, DES-CBC, 3DES-CBC.

    Args:
        channel: where it runs.
        algorithm: catalogue name (``aes-128-cbc``, ``des-cbc``, ``aes-256-xts``...).
        key: the key (XTS: key1 ‖ key2).
        form: the slice, if not the endpoint's default for this cipher.

    Raises:
        UnsupportedAlgorithmError: not a supported cipher, or one the endpoint does not run
            (on ``form``): the error names the generation and what it offers.
        ValueError / TypeError: a bad key.
    """

    def __init__(
        self, channel: Channel, algorithm: str, key: object, *, form: SliceForm | None = None
    ) -> None:
        alg = cipher(algorithm)
        offer = channel.offer
        form = offer.cipher_form(alg, form)  # what the endpoint does not run, before the key
        checked = alg.check_key(key)
        super().__init__(
            placed_setups(
                channel,
                alg.name,
                lambda direction: cd.cipher_session(
                    alg.name, checked, direction, form=form, offer=offer
                ),
            )
        )
        self.algorithm: CipherAlgorithm = alg
        self._cds.get(Direction.ENCRYPT)  # builds the CD now: bad forms fail here

    def _op(self, direction: Direction, data: Data, iv: object, out: object) -> CipherOp[object]:
        self._check_open()
        return CipherOp(self._cds, self.algorithm, direction, data, iv, out)

    @overload
    def encrypt_op(self, data: B, iv: object, *, out: None = None) -> CipherOp[B]: ...
    @overload
    def encrypt_op(self, data: Data, iv: object, *, out: B) -> CipherOp[B]: ...
    @overload
    def encrypt_op(self, data: Data, iv: object, *, out: None = None) -> CipherOp[bytes]: ...

    def encrypt_op(self, data: Data, iv: object, *, out: object = None) -> CipherOp[object]:
        """An encryption of ``data`` with ``iv`` (XTS: the tweak), for the call forms.

        Raises:
            ValueError: wrong IV size; a length the mode refuses (CBC: whole blocks).
            TypeError: not bytes-like.
        """
        return self._op(Direction.ENCRYPT, data, iv, out)

    @overload
    def decrypt_op(self, data: B, iv: object, *, out: None = None) -> CipherOp[B]: ...
    @overload
    def decrypt_op(self, data: Data, iv: object, *, out: B) -> CipherOp[B]: ...
    @overload
    def decrypt_op(self, data: Data, iv: object, *, out: None = None) -> CipherOp[bytes]: ...

    def decrypt_op(self, data: Data, iv: object, *, out: object = None) -> CipherOp[object]:
        """A decryption; see :meth:`encrypt_op`."""
        return self._op(Direction.DECRYPT, data, iv, out)

    @overload
    def encrypt(
        self, data: B, iv: object, *, out: None = None, timeout: float | None = None
    ) -> B: ...
    @overload
    def encrypt(self, data: Data, iv: object, *, out: B, timeout: float | None = None) -> B: ...
    @overload
    def encrypt(
        self, data: Data, iv: object, *, out: None = None, timeout: float | None = None
    ) -> bytes: ...

    def encrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> object:
        """Encrypt now.

        Returns:
            ``bytes`` for bytes-like data; your buffer (``out``, else ``data``) otherwise.

        Raises:
            ValueError / TypeError: see :meth:`encrypt_op`.
            RequestError: the device reported an error (status kept).
        """
        op = self._op(Direction.ENCRYPT, data, iv, out)
        return calls.perform(self.channel, op, timeout=timeout)

    @overload
    def decrypt(
        self, data: B, iv: object, *, out: None = None, timeout: float | None = None
    ) -> B: ...
    @overload
    def decrypt(self, data: Data, iv: object, *, out: B, timeout: float | None = None) -> B: ...
    @overload
    def decrypt(
        self, data: Data, iv: object, *, out: None = None, timeout: float | None = None
    ) -> bytes: ...

    def decrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> object:
        """Decrypt now; see :meth:`encrypt`."""
        op = self._op(Direction.DECRYPT, data, iv, out)
        return calls.perform(self.channel, op, timeout=timeout)


class HashSession(Session[bool, PlacedSetup]):
    """A hash (SHA-1/224/256/384/512) or an HMAC over one.

    Args:
        channel: where it runs.
        algorithm: ``sha256``... or ``hmac-sha256``...
        key: the HMAC key (``None`` for a plain hash).
        digest_size: truncate digests to this many bytes.

    Raises:
        UnsupportedAlgorithmError: not a supported hash.
        ValueError / TypeError: a key for a plain hash, none for HMAC, a bad digest size.
    """

    def __init__(
        self,
        channel: Channel,
        algorithm: str,
        key: object = None,
        *,
        digest_size: int | None = None,
    ) -> None:
        alg = auth(algorithm)
        size = alg.check_digest_size(digest_size)
        super().__init__(
            placed_setups(
                channel,
                alg.name,
                lambda verify: cd.auth_session(alg.name, key, verify=verify, digest_size=size),
            )
        )
        self.algorithm: HashAlgorithm | HmacAlgorithm = alg
        self.digest_size = size
        self._cds.get(False)  # builds the CD now: a bad key fails here

    def digest_op(self, data: Data) -> HashOp[bytes]:
        """A digest of ``data``, for the call forms."""
        self._check_open()
        return HashOp(self._cds, self.digest_size, data, None)

    def verify_op(self, data: Data, signature: object) -> HashOp[None]:
        """A check of ``signature`` against ``data``'s digest, done by the device.

        Raises:
            InvalidSignature: ``signature`` is not :attr:`digest_size` bytes long.
        """
        self._check_open()
        return HashOp(self._cds, self.digest_size, data, as_bytes(signature, "signature"))

    def digest(self, data: Data, *, timeout: float | None = None) -> bytes:
        """The digest (or HMAC) of ``data``, now."""
        return calls.perform(self.channel, self.digest_op(data), timeout=timeout)

    def verify(self, data: Data, signature: object, *, timeout: float | None = None) -> None:
        """Check ``signature`` now.

        Raises:
            InvalidSignature: it does not match (as ``cryptography``'s ``HMAC.verify``).
        """
        calls.perform(self.channel, self.verify_op(data, signature), timeout=timeout)


class AeadSession(Session[tuple[Direction, int, bool, int], PlacedSetup]):
    """AES-GCM with its key, used like ``cryptography``'s ``AESGCM``.

    ``encrypt(nonce, data, associated_data)`` returns ciphertext ‖ tag;
    ``decrypt(nonce, data, associated_data)`` takes ciphertext ‖ tag, returns the plaintext
    or raises ``InvalidTag``. Nonces are 1..128 bytes: a 12-byte one goes to the device,
    which builds J0 from it; for any other length the host computes J0 and the request
    goes two-pass, as qatlib sends it. At most 240 bytes of associated data, staged
    zero-padded to a whole 16-byte block (the device reads whole blocks).
    On a device buffer in place, encryption expects the plaintext
    followed by ``tag_size`` bytes of room for the tag (and leaves ciphertext ‖ tag);
    out of place, ``data`` is just the plaintext and ``out`` gets ciphertext ‖ tag.
    Many messages of bytes at once: :meth:`encrypt_many`, :meth:`decrypt_many` and
    :meth:`submit_many` check them once and send them as one array of requests, without
    an op object each (:mod:`~qathw.service.gcm_batch`).

    Args:
        channel: where it runs.
        algorithm: ``aes-128-gcm``, ``aes-192-gcm`` or ``aes-256-gcm``.
        key: the AES key.
        tag_size: bytes of tag (4, 8, 12..16).
        single_pass: the one-command form for 12-byte nonces (``None``: where the endpoint
            offers it; ``False``: always the two-pass chain).

    Raises:
        UnsupportedAlgorithmError: the endpoint does not run GCM (in the form asked for);
            the error names the generation and what it offers.
        ValueError / TypeError: bad name, key or tag size.
    """

    def __init__(
        self,
        channel: Channel,
        algorithm: str,
        key: object,
        *,
        tag_size: int = 16,
        single_pass: bool | None = None,
    ) -> None:
        alg = aead(algorithm)
        checked = alg.check_key(key)
        tag = alg.check_tag_size(tag_size)
        offer = channel.offer
        spc, _ = offer.gcm_form(alg, single_pass)  # refuses a form the endpoint lacks now

        def build(key: tuple[Direction, int, bool, int]) -> cd.LaSetup:
            direction, aad_size, in_buffer, nonce_size = key
            return cd.gcm_session(
                alg.name,
                checked,
                direction,
                tag_size=tag,
                aad_size=aad_size,
                single_pass=spc,
                nonce_size=nonce_size,
                digest_in_buffer=in_buffer,
                offer=offer,
            )

        super().__init__(placed_setups(channel, alg.name, build))
        self.algorithm: AeadAlgorithm = alg
        self.tag_size = tag
        self._hash_subkey = gcmj0.hash_subkey(checked)  # for J0 of nonces not 12 bytes long
        self._cds.get((Direction.ENCRYPT, 0, True, GCM_SPC_NONCE_SIZE))  # a bad form fails now

    def _op(
        self,
        direction: Direction,
        nonce: object,
        data: Data,
        associated_data: object,
        out: object,
    ) -> AeadOp[object]:
        self._check_open()
        return AeadOp(
            self._cds,
            self.algorithm,
            self._hash_subkey,
            self.tag_size,
            direction,
            nonce,
            data,
            associated_data,
            out,
        )

    @overload
    def encrypt_op(
        self, nonce: object, data: B, associated_data: object = None, *, out: None = None
    ) -> AeadOp[B]: ...
    @overload
    def encrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: B
    ) -> AeadOp[B]: ...
    @overload
    def encrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: None = None
    ) -> AeadOp[bytes]: ...

    def encrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: object = None
    ) -> AeadOp[object]:
        """An encryption, for the call forms (see the class)."""
        return self._op(Direction.ENCRYPT, nonce, data, associated_data, out)

    @overload
    def decrypt_op(
        self, nonce: object, data: B, associated_data: object = None, *, out: None = None
    ) -> AeadOp[B]: ...
    @overload
    def decrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: B
    ) -> AeadOp[B]: ...
    @overload
    def decrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: None = None
    ) -> AeadOp[bytes]: ...

    def decrypt_op(
        self, nonce: object, data: Data, associated_data: object = None, *, out: object = None
    ) -> AeadOp[object]:
        """A decryption, for the call forms.

        Raises:
            InvalidTag: ``data`` is shorter than a tag (as ``cryptography``).
        """
        return self._op(Direction.DECRYPT, nonce, data, associated_data, out)

    @overload
    def encrypt(
        self,
        nonce: object,
        data: B,
        associated_data: object = None,
        *,
        out: None = None,
        timeout: float | None = None,
    ) -> B: ...
    @overload
    def encrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: B,
        timeout: float | None = None,
    ) -> B: ...
    @overload
    def encrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: None = None,
        timeout: float | None = None,
    ) -> bytes: ...

    def encrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: object = None,
        timeout: float | None = None,
    ) -> object:
        """Encrypt now: ciphertext ‖ tag."""
        op = self._op(Direction.ENCRYPT, nonce, data, associated_data, out)
        return calls.perform(self.channel, op, timeout=timeout)

    @overload
    def decrypt(
        self,
        nonce: object,
        data: B,
        associated_data: object = None,
        *,
        out: None = None,
        timeout: float | None = None,
    ) -> B: ...
    @overload
    def decrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: B,
        timeout: float | None = None,
    ) -> B: ...
    @overload
    def decrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: None = None,
        timeout: float | None = None,
    ) -> bytes: ...

    def decrypt(
        self,
        nonce: object,
        data: Data,
        associated_data: object = None,
        *,
        out: object = None,
        timeout: float | None = None,
    ) -> object:
        """Decrypt and verify now.

        Raises:
            InvalidTag: the tag does not match.
        """
        op = self._op(Direction.DECRYPT, nonce, data, associated_data, out)
        return calls.perform(self.channel, op, timeout=timeout)

    def submit_many(
        self,
        nonces: Sequence[object],
        data: Sequence[object],
        associated_data: object = None,
        *,
        decrypt: bool = False,
        callback: Callable[[Handle[list[bytes]]], object] | None = None,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[list[bytes]]:
        """Send many encryptions (or decryptions) of bytes as one batch, without op objects.

        The batch form of :meth:`encrypt_op` on bytes, in place: the arguments are checked
        once for the batch, and ops of one nonce size and one AAD length go to the device
        as one array of requests (others go one by one, with the same results).

        Args:
            nonces: one nonce per op.
            data: one bytes-like per op: plaintexts, or (``decrypt``) ciphertext ‖ tag.
            associated_data: ``None``, one bytes-like for every op, or a list or tuple of
                them (``None`` entries allowed), one per op.
            decrypt: decrypt and verify instead of encrypting.
            callback: called with the handle when the batch is done (from ``poll``).
            block: wait for room on the ring instead of raising ``RingFullError``.
            timeout: seconds ``block`` may wait (``None``: the channel's default).

        Returns:
            One handle; ``result()`` is the outputs in order (ciphertext ‖ tag, or
            plaintexts). A failed tag fails its own op only:
            ``result(return_exceptions=True)`` gives ``InvalidTag`` in its place.

        Raises:
            ValueError: no ops; ``nonces`` and ``data`` (or a list of AADs) of different
                lengths; a nonce or AAD size GCM refuses.
            TypeError: a nonce, data item or AAD that is not bytes-like (device buffers
                go through :meth:`encrypt_op` and ``instance.perform_batch``).
            InvalidTag: (``decrypt``) data shorter than a tag, as ``cryptography``.
            UnsupportedAlgorithmError: the endpoint does not run GCM with such nonces.
            RingFullError / DeviceRestartError / DeviceFatalError: as ``instance.submit``.
        """
        self._check_open()
        direction = Direction.DECRYPT if decrypt else Direction.ENCRYPT
        work: Work[bytes] | None = gcm_batch.many(
            self._cds,
            self.algorithm,
            self._hash_subkey,
            self.tag_size,
            direction,
            nonces,
            data,
            associated_data,
        )
        if work is None:  # nonce or AAD sizes differ: each size is a setup of its own
            aads = (
                associated_data
                if isinstance(associated_data, list | tuple)
                else [associated_data] * len(nonces)
            )
            ops = [
                self._op(direction, n, d, a, None)
                for n, d, a in zip(nonces, data, aads, strict=True)
            ]
            work = cast(Work[bytes], batch_work(ops))  # ops on bytes give bytes
        return calls.submit_work(self.channel, work, callback, block=block, timeout=timeout)

    def encrypt_many(
        self,
        nonces: Sequence[object],
        plaintexts: Sequence[object],
        associated_data: object = None,
        *,
        timeout: float | None = None,
    ) -> list[bytes]:
        """Encrypt many plaintexts now, as one batch: ciphertext ‖ tag of each, in order.

        ``[s.encrypt(n, p, associated_data) for ...]`` in one submission, without op
        objects (see :meth:`submit_many`).

        Args:
            nonces: one nonce per plaintext.
            plaintexts: bytes-like objects.
            associated_data: ``None``, one bytes-like for all, or one per plaintext.
            timeout: seconds to wait (``None``: the channel's default).

        Returns:
            The ciphertexts with their tags (an empty list for no plaintexts).

        Raises:
            ValueError / TypeError / UnsupportedAlgorithmError: see :meth:`submit_many`.
            RequestTimeoutError: no answer in time.
            RequestError: the device reported an error for an op (the first such).
        """
        if not nonces and not plaintexts:
            return []
        handle = self.submit_many(nonces, plaintexts, associated_data, timeout=timeout)
        return handle.result(timeout)

    def decrypt_many(
        self,
        nonces: Sequence[object],
        ciphertexts: Sequence[object],
        associated_data: object = None,
        *,
        timeout: float | None = None,
    ) -> list[bytes]:
        """Decrypt and verify many ciphertexts (each ciphertext ‖ tag) now, as one batch.

        Args:
            nonces: one nonce per ciphertext.
            ciphertexts: bytes-like objects, each ciphertext ‖ tag.
            associated_data: ``None``, one bytes-like for all, or one per ciphertext.
            timeout: seconds to wait (``None``: the channel's default).

        Returns:
            The plaintexts, in order (an empty list for no ciphertexts).

        Raises:
            InvalidTag: a tag does not match (the first such; the other ops still ran:
                ``submit_many(..., decrypt=True).result(return_exceptions=True)`` tells
                which).
            ValueError / TypeError / UnsupportedAlgorithmError: see :meth:`submit_many`.
            RequestTimeoutError: no answer in time.
        """
        if not nonces and not ciphertexts:
            return []
        handle = self.submit_many(
            nonces, ciphertexts, associated_data, decrypt=True, timeout=timeout
        )
        return handle.result(timeout)


class ChainSession(Session[tuple[Direction, bool], PlacedSetup]):
    """A cipher and a hash in one request, in either order.

    ``order`` is the slice order on the device (CPA's chain order): CIPHER_THEN_HASH
    hashes the cipher's output, HASH_THEN_CIPHER hashes its input. So encrypt-then-MAC
    sends with CIPHER_THEN_HASH and verifies with HASH_THEN_CIPHER on decryption.

    Args:
        channel: where it runs.
        cipher_algorithm / cipher_key: the cipher.
        auth_algorithm / auth_key: the hash or HMAC (no key for a plain hash).
        order: which slice runs first.
        digest_size: truncate the digest.
        form: the cipher's slice, if not the endpoint's default.

    Raises:
        UnsupportedAlgorithmError / ValueError / TypeError: as the single sessions.
    """

    def __init__(
        self,
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
        if not isinstance(order, ChainOrder):
            raise TypeError(f"order must be a ChainOrder, not {type(order).__name__}")
        ckey = calg.check_key(cipher_key)
        size = aalg.check_digest_size(digest_size)
        offer = channel.offer
        form = offer.cipher_form(calg, form)

        def build(key: tuple[Direction, bool]) -> cd.LaSetup:
            direction, verify = key
            return cd.chain_session(
                calg.name,
                ckey,
                direction,
                aalg.name,
                auth_key,
                order=order,
                verify=verify,
                digest_size=size,
                form=form,
                offer=offer,
            )

        super().__init__(placed_setups(channel, f"{calg.name}+{aalg.name}", build))
        self.cipher_algorithm: CipherAlgorithm = calg
        self.auth_algorithm: HashAlgorithm | HmacAlgorithm = aalg
        self.order = order
        self.digest_size = size
        self._cds.get((Direction.ENCRYPT, False))  # builds a CD now: bad keys fail here

    def _op(
        self, direction: Direction, data: Data, iv: object, digest: object, out: object
    ) -> ChainOp[object]:
        self._check_open()
        return ChainOp(
            self._cds, self.cipher_algorithm, self.digest_size, direction, data, iv, digest, out
        )

    @overload
    def encrypt_op(self, data: B, iv: object, *, out: None = None) -> ChainOp[B]: ...
    @overload
    def encrypt_op(self, data: Data, iv: object, *, out: B) -> ChainOp[B]: ...
    @overload
    def encrypt_op(self, data: Data, iv: object, *, out: None = None) -> ChainOp[bytes]: ...

    def encrypt_op(self, data: Data, iv: object, *, out: object = None) -> ChainOp[object]:
        """An encryption with its digest, for the call forms."""
        return self._op(Direction.ENCRYPT, data, iv, None, out)

    @overload
    def decrypt_op(
        self, data: B, iv: object, *, digest: object = None, out: None = None
    ) -> ChainOp[B]: ...
    @overload
    def decrypt_op(
        self, data: Data, iv: object, *, digest: object = None, out: B
    ) -> ChainOp[B]: ...
    @overload
    def decrypt_op(
        self, data: Data, iv: object, *, digest: object = None, out: None = None
    ) -> ChainOp[bytes]: ...

    def decrypt_op(
        self, data: Data, iv: object, *, digest: object = None, out: object = None
    ) -> ChainOp[object]:
        """A decryption; with ``digest``, the device verifies it.

        Raises:
            InvalidSignature: ``digest`` has the wrong length.
        """
        return self._op(Direction.DECRYPT, data, iv, digest, out)

    @overload
    def encrypt(
        self, data: B, iv: object, *, out: None = None, timeout: float | None = None
    ) -> ChainResult[B]: ...
    @overload
    def encrypt(
        self, data: Data, iv: object, *, out: B, timeout: float | None = None
    ) -> ChainResult[B]: ...
    @overload
    def encrypt(
        self, data: Data, iv: object, *, out: None = None, timeout: float | None = None
    ) -> ChainResult[bytes]: ...

    def encrypt(
        self, data: Data, iv: object, *, out: object = None, timeout: float | None = None
    ) -> ChainResult[object]:
        """Encrypt and digest now."""
        op = self._op(Direction.ENCRYPT, data, iv, None, out)
        return calls.perform(self.channel, op, timeout=timeout)

    @overload
    def decrypt(
        self,
        data: B,
        iv: object,
        *,
        digest: object = None,
        out: None = None,
        timeout: float | None = None,
    ) -> ChainResult[B]: ...
    @overload
    def decrypt(
        self,
        data: Data,
        iv: object,
        *,
        digest: object = None,
        out: B,
        timeout: float | None = None,
    ) -> ChainResult[B]: ...
    @overload
    def decrypt(
        self,
        data: Data,
        iv: object,
        *,
        digest: object = None,
        out: None = None,
        timeout: float | None = None,
    ) -> ChainResult[bytes]: ...

    def decrypt(
        self,
        data: Data,
        iv: object,
        *,
        digest: object = None,
        out: object = None,
        timeout: float | None = None,
    ) -> ChainResult[object]:
        """Decrypt (and verify ``digest``) now.

        Raises:
            InvalidSignature: the digest does not match.
        """
        op = self._op(Direction.DECRYPT, data, iv, digest, out)
        return calls.perform(self.channel, op, timeout=timeout)
