"""The streaming API's entry points: hashes, ciphers and compression on an instance, or
on the instances of a section this module opens, or in software when asked
(:mod:`~qathw.service.fallback`).

::

    with qathw.accelerator("SSL", fallback="software") as qat:
        h = qat.hash("sha256"); h.update(part1); h.update(part2); h.hexdigest()
        blob = qat.compress(data, wbits=31)          # gzip, interoperable with zlib/gzip
        d = qat.decompressobj(wbits=31); d.decompress(blob) + d.flush()

The module-level functions take ``instance=`` (a Cy or Dc instance from
``open_instances``, or an :class:`Accelerator`); ``compress`` and ``decompress`` without
one open the section for the call.
"""

from __future__ import annotations

import logging
from typing import Self

from qathw.paths import HostRoot
from qathw.sections import HeldSection, user_start
from qathw.service import fallback as fb
from qathw.service.algorithms import BytesLike, as_bytes, auth
from qathw.service.buffers import as_view
from qathw.service.ciphers import CbcContext, CtrContext, GcmContext, cbc_or_ctr
from qathw.service.deflate_stream import Compressor, Decompressor, finished
from qathw.service.framing import (
    CorruptStreamError,
    Framing,
    TruncatedStreamError,
    for_compression,
    for_decompression,
)
from qathw.service.hashing import StreamingHash
from qathw.service.instance import CyInstance, DcInstance, Instances, open_instances
from qathw.service.shapes import (
    AeadDecryptionContext,
    AeadEncryptionContext,
    CipherContext,
    CompressObject,
    DecompressObject,
    HashObject,
)

DEFAULT_SECTION = "SSL"
log = logging.getLogger(__name__)


class Accelerator:
    """The Cy and Dc instance the streaming API uses, or software (see :func:`accelerator`).

    Attributes:
        cy / dc: the instances, or ``None`` where software stands in.
        fallback: ``"software"`` or ``None``.
    """

    def __init__(
        self,
        cy: CyInstance | None,
        dc: DcInstance | None,
        *,
        fallback: str | None = None,
        owned: tuple[HeldSection, Instances] | None = None,
        reason: str = "",
    ) -> None:
        self.cy = cy
        self.dc = dc
        self.fallback = fallback
        self._owned = owned
        self._reason = reason

    @property
    def software(self) -> bool:
        """No instance at all: everything runs in software."""
        return self.cy is None and self.dc is None

    def _cy(self) -> CyInstance | None:
        if self.cy is None:
            _unavailable(self.fallback, self._reason or "the section has no Cy instance", "cy")
        return self.cy

    def _dc(self) -> DcInstance | None:
        if self.dc is None:
            _unavailable(self.fallback, self._reason or "the section has no Dc instance", "dc")
        return self.dc

    # --- hashes -------------------------------------------------------------------------

    def hash(self, name: str, data: BytesLike = b"") -> HashObject:
        """A streaming hash (``hashlib.new(name, data)``'s shape): sha1, sha224 ... sha512.

        Raises:
            UnsupportedAlgorithmError: not a supported hash.
        """
        alg = auth(name)
        cy = self._cy()
        if cy is None:
            return fb.hash_object(alg.name, bytes(as_view(data)))
        return StreamingHash(lambda: cy.hash(alg.name), data, name=alg.name)

    def hmac(
        self, key: BytesLike, msg: BytesLike | None = None, digestmod: str = "sha256"
    ) -> HashObject:
        """A streaming HMAC (``hmac.new(key, msg, digestmod)``'s shape)."""
        k = as_bytes(key, "key")
        digest = digestmod.lower().removeprefix("hmac-")
        cy = self._cy()
        if cy is None:
            return fb.hmac_object(k, None if msg is None else bytes(as_view(msg)), digest)
        data = b"" if msg is None else msg
        return StreamingHash(lambda: cy.hmac(digest, k), data, name=f"hmac-{digest}")

    # --- ciphers ------------------------------------------------------------------------

    def encryptor(self, algorithm: str, key: BytesLike, iv: BytesLike) -> CipherContext:
        """A CBC or CTR encryption stream (``aes-128-cbc``, ``aes-256-ctr``, ``3des-cbc``...)."""
        return self._cipher(algorithm, key, iv, encrypt=True)

    def decryptor(self, algorithm: str, key: BytesLike, iv: BytesLike) -> CipherContext:
        """A CBC or CTR decryption stream."""
        return self._cipher(algorithm, key, iv, encrypt=False)

    def _cipher(
        self, algorithm: str, key: BytesLike, iv: BytesLike, *, encrypt: bool
    ) -> CipherContext:
        mode = cbc_or_ctr(algorithm)
        if mode == "gcm":
            raise ValueError("use gcm_encryptor() / gcm_decryptor() for GCM")
        k, v = as_bytes(key, "key"), as_bytes(iv, "iv")
        cy = self._cy()
        if cy is None:
            return fb.cipher_context(mode, k, v, encrypt=encrypt)
        session = cy.cipher(algorithm, k)
        session.algorithm.check_iv(v)
        if mode == "cbc":
            return CbcContext(session, v, encrypt=encrypt)
        return CtrContext(session, v)

    def gcm_encryptor(self, key: BytesLike, nonce: BytesLike) -> AeadEncryptionContext:
        """An AES-GCM encryption stream (``cryptography``'s GCM encryptor shape)."""
        k, n = as_bytes(key, "key"), as_bytes(nonce, "nonce")
        cy = self._cy()
        if cy is None:
            return fb.gcm_encryptor(k, n)
        session = cy.cipher(f"aes-{len(k) * 8}-ctr", k)
        return GcmContext(session, k, n, encrypt=True, tag=None, min_tag_length=16)

    def gcm_decryptor(
        self,
        key: BytesLike,
        nonce: BytesLike,
        tag: BytesLike | None = None,
        *,
        min_tag_length: int = 16,
    ) -> AeadDecryptionContext:
        """An AES-GCM decryption stream; the tag now or at ``finalize_with_tag``."""
        k, n = as_bytes(key, "key"), as_bytes(nonce, "nonce")
        t = None if tag is None else as_bytes(tag, "tag")
        cy = self._cy()
        if cy is None:
            return fb.gcm_decryptor(k, n, t, min_tag_length)
        session = cy.cipher(f"aes-{len(k) * 8}-ctr", k)
        return GcmContext(session, k, n, encrypt=False, tag=t, min_tag_length=min_tag_length)

    # --- compression --------------------------------------------------------------------

    def compressobj(self, level: int = 6, wbits: int = 15) -> CompressObject:
        """A compression stream (``zlib.compressobj(level, DEFLATED, wbits)``'s shape).

        Raises:
            ValueError: a level outside 1..9, or ``wbits`` not -15, 15 or 31.
        """
        framing = for_compression(wbits)
        dc = self._dc()
        if dc is None:
            return fb.compress_object(level, wbits)
        return Compressor(dc.compression(level=level), framing=framing)

    def decompressobj(self, wbits: int = 15) -> DecompressObject:
        """A decompression stream (``zlib.decompressobj(wbits)``'s shape)."""
        framing = for_decompression(wbits)
        dc = self._dc()
        if dc is None:
            return fb.decompress_object(wbits)
        return Decompressor(dc.compression(), framing=framing)

    def compress(self, data: BytesLike, level: int = 6, wbits: int = 15) -> bytes:
        """``data`` compressed whole (``zlib.compress``'s shape), chunked as the instance
        needs."""
        c = self.compressobj(level, wbits)
        return c.compress(as_view(data)) + c.flush()  # type: ignore[arg-type]

    def decompress(self, data: BytesLike, wbits: int = 15) -> bytes:
        """``data`` decompressed whole (``zlib.decompress``'s shape); gzip data may hold
        several members, as ``gzip.decompress`` takes.

        Raises:
            CorruptStreamError: not valid data of that framing.
            TruncatedStreamError: the data ends early.
        """
        framing = for_decompression(wbits)
        rest = bytes(as_view(data))
        out: list[bytes] = []
        while True:
            d = self.decompressobj(wbits)
            try:
                out.append(d.decompress(rest))
                out.append(d.flush())
            except _zlib_error() as exc:
                raise CorruptStreamError(f"invalid compressed data: {exc}") from None
            if isinstance(d, Decompressor):
                finished(d, "decompress")
                framing = d.framing
            elif not d.eof:
                raise TruncatedStreamError(
                    "decompress: the compressed data ended before the end of the stream",
                    hint="the data is truncated; give all of it",
                )
            elif framing is Framing.AUTO:
                framing = Framing.GZIP if rest[:2] == b"\x1f\x8b" else Framing.ZLIB
            rest = d.unused_data
            if framing is not Framing.GZIP or not rest.strip(b"\0"):
                return b"".join(out)

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close what :func:`accelerator` opened (instances, then the section). Idempotent."""
        owned, self._owned = self._owned, None
        if owned is not None:
            held, insts = owned
            insts.close()
            held.stop()
            log.info("closed the instances of %s and gave the section back", held.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.software:
            return "<Accelerator: software>"
        return f"<Accelerator cy={self.cy} dc={self.dc}>"


def _zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


def _unavailable(fallback: str | None, reason: str, service: str) -> None:
    if not fb.check(fallback):
        from qathw.errors import UnsupportedAlgorithmError

        raise UnsupportedAlgorithmError(
            f"no {service} instance: {reason}",
            hint="use a section with such an instance, or pass fallback='software'",
        )
    fb.used(reason)


def accelerator(
    section: str = DEFAULT_SECTION, *, fallback: str | None = None, host: HostRoot | None = None
) -> Accelerator:
    """Start ``section`` and open its instances for the streaming API (close it when done).

    Args:
        section: the user section (``qathw.user_start``'s name).
        fallback: ``"software"``: use zlib/hashlib/cryptography when no device is
            available (:mod:`~qathw.service.fallback` says exactly when); default: raise.
        host: the host root (default ``$QATHW_SYSFS_ROOT`` or ``/``).

    Returns:
        An :class:`Accelerator` holding the section (or software, without one).

    Raises:
        SectionNotFoundError / SectionsExhaustedError / DeviceNotFoundError: no device
            available and no fallback.
        QatError: any other failure to start or open (never hidden by the fallback).
    """
    use_software = fb.check(fallback)
    try:
        held = user_start(section, host=host)
    except fb.UNAVAILABLE as exc:
        if not use_software:
            raise
        return Accelerator(None, None, fallback=fallback, reason=exc.what)
    try:
        insts = open_instances(held, host=host)
    except fb.UNAVAILABLE as exc:
        held.stop()
        if not use_software:
            raise
        return Accelerator(None, None, fallback=fallback, reason=exc.what)
    except BaseException:
        held.stop()
        raise
    cy = insts.cy[0] if insts.cy else None
    dc = insts.dc[0] if insts.dc else None
    log.info("opened %s: %d cy and %d dc instances", held.name, len(insts.cy), len(insts.dc))
    return Accelerator(cy, dc, fallback=fallback, owned=(held, insts))


def _on(instance: CyInstance | DcInstance | Accelerator | None) -> Accelerator:
    if isinstance(instance, Accelerator):
        return instance
    if isinstance(instance, CyInstance):
        return Accelerator(instance, None)
    if isinstance(instance, DcInstance):
        return Accelerator(None, instance)
    raise TypeError(
        "instance must be a CyInstance or DcInstance from qathw.open_instances(), or a "
        f"qathw.accelerator(), not {type(instance).__name__}"
    )


def compress(
    data: BytesLike,
    level: int = 6,
    wbits: int = 15,
    *,
    instance: DcInstance | Accelerator | None = None,
    section: str = DEFAULT_SECTION,
    fallback: str | None = None,
) -> bytes:
    """Compress ``data`` (``zlib.compress``'s shape: ``wbits`` -15 raw, 15 zlib, 31 gzip).

    Args:
        data: bytes-like.
        level: 1..9.
        wbits: the framing.
        instance: a Dc instance or an accelerator; default: open ``section`` for the call.
        section / fallback: as :func:`accelerator` (without ``instance``).

    Returns:
        The compressed bytes (zlib and gzip read them).

    Raises:
        ValueError: a bad level or ``wbits``.
        SectionNotFoundError / DeviceNotFoundError: no device and no fallback.
    """
    if instance is not None:
        return _on(instance).compress(data, level, wbits)
    with accelerator(section, fallback=fallback) as acc:
        return acc.compress(data, level, wbits)


def decompress(
    data: BytesLike,
    wbits: int = 15,
    *,
    instance: DcInstance | Accelerator | None = None,
    section: str = DEFAULT_SECTION,
    fallback: str | None = None,
) -> bytes:
    """Decompress ``data`` (``zlib.decompress``'s shape; ``wbits`` 47 detects zlib or gzip).

    Raises:
        CorruptStreamError: bad header, data, checksum or length.
        TruncatedStreamError: the data ends early.
    """
    if instance is not None:
        return _on(instance).decompress(data, wbits)
    with accelerator(section, fallback=fallback) as acc:
        return acc.decompress(data, wbits)


def compressobj(
    level: int = 6, wbits: int = 15, *, instance: DcInstance | Accelerator
) -> CompressObject:
    """A compression stream on ``instance`` (``zlib.compressobj``'s shape)."""
    return _on(instance).compressobj(level, wbits)


def decompressobj(wbits: int = 15, *, instance: DcInstance | Accelerator) -> DecompressObject:
    """A decompression stream on ``instance`` (``zlib.decompressobj``'s shape)."""
    return _on(instance).decompressobj(wbits)


def new(name: str, data: BytesLike = b"", *, instance: CyInstance | Accelerator) -> HashObject:
    """A streaming hash on ``instance`` (``hashlib.new``'s shape)."""
    return _on(instance).hash(name, data)


def hmac(
    key: BytesLike,
    msg: BytesLike | None = None,
    digestmod: str = "sha256",
    *,
    instance: CyInstance | Accelerator,
) -> HashObject:
    """A streaming HMAC on ``instance`` (``hmac.new``'s shape)."""
    return _on(instance).hmac(key, msg, digestmod)
