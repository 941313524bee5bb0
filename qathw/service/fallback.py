"""The software stand-ins of ``fallback="software"``, and when they are used.

As QATzip's ``sw_backup``, the fallback is opt-in: by default a missing device is the
clear error it always was. With ``fallback="software"``, the streaming API uses
``zlib``, ``hashlib``/``hmac`` and ``cryptography`` when no device is *available*, which
means exactly:

* ``user_start`` found no started device, or no file defining the section
  (:class:`~qathw.errors.SectionNotFoundError`), or every internal section is held
  (:class:`~qathw.errors.SectionsExhaustedError`);
* ``open_instances`` found no endpoint for a device of the section
  (:class:`~qathw.errors.DeviceNotFoundError`);
* or the section has no instance of the service asked for (no Dc instance to compress,
  no Cy instance to hash).

A configuration error, a permission problem or a failing device is never hidden behind
the fallback. The first use in a process logs a WARNING through ``qathw``'s logger
(later ones DEBUG).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import zlib

from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from qathw.errors import DeviceNotFoundError, SectionNotFoundError, SectionsExhaustedError
from qathw.service import framing
from qathw.service.shapes import (
    AeadDecryptionContext,
    AeadEncryptionContext,
    CipherContext,
    CompressObject,
    DecompressObject,
    HashObject,
)

SOFTWARE = "software"
UNAVAILABLE = (SectionNotFoundError, SectionsExhaustedError, DeviceNotFoundError)
"""The errors that mean "no device available" (see the module)."""

log = logging.getLogger(__name__)
_warned = False


def check(fallback: str | None) -> bool:
    """Whether ``fallback`` asks for software.

    Raises:
        ValueError: neither ``None`` nor ``"software"``.
    """
    if fallback is None:
        return False
    if fallback != SOFTWARE:
        raise ValueError(f"fallback must be None or {SOFTWARE!r}, not {fallback!r}")
    return True


def used(reason: str) -> None:
    """Log that software stands in: a WARNING the first time in this process."""
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "no QAT device available (%s): using software, as fallback='software' asks", reason
        )
    else:
        log.debug("software fallback: %s", reason)


def hash_object(name: str, data: bytes = b"") -> HashObject:
    """``hashlib.new(name, data)``."""
    return hashlib.new(name, data)


def hmac_object(key: bytes, msg: bytes | None, digestmod: str) -> HashObject:
    """``hmac.new(key, msg, digestmod)``."""
    return hmac.new(key, msg, digestmod)


def compress_object(level: int, wbits: int) -> CompressObject:
    """``zlib.compressobj`` with the framings the device path writes."""
    framing.for_compression(wbits)
    return zlib.compressobj(level, zlib.DEFLATED, wbits)


def decompress_object(wbits: int) -> DecompressObject:
    """``zlib.decompressobj(wbits)``."""
    framing.for_decompression(wbits)
    return zlib.decompressobj(wbits)


def cipher_context(mode: str, key: bytes, iv: bytes, *, encrypt: bool) -> CipherContext:
    """A ``cryptography`` CBC or CTR context for AES (3DES for 8-byte IVs)."""
    alg = algorithms.AES(key) if len(iv) == 16 else _des(key)
    m = modes.CBC(iv) if mode == "cbc" else modes.CTR(iv)
    c = Cipher(alg, m)
    return c.encryptor() if encrypt else c.decryptor()


def gcm_encryptor(key: bytes, nonce: bytes) -> AeadEncryptionContext:
    """A ``cryptography`` AES-GCM encryptor."""
    return Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()


def gcm_decryptor(
    key: bytes, nonce: bytes, tag: bytes | None, min_tag_length: int
) -> AeadDecryptionContext:
    """A ``cryptography`` AES-GCM decryptor."""
    return Cipher(algorithms.AES(key), modes.GCM(nonce, tag, min_tag_length)).decryptor()


def _des(key: bytes) -> BlockCipherAlgorithm:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

    return TripleDES(key * 3 if len(key) == 8 else key)
