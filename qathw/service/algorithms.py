"""The algorithms qathw can run on a QAT endpoint, and the rules for their parameters.

Names are lower-case and explicit about key size and mode (``aes-128-cbc``,
``aes-256-gcm``, ``hmac-sha256``, ``deflate``). Everything a session needs is checked here,
before anything is built or sent: an unknown or unsupported algorithm raises
:class:`~qathw.errors.UnsupportedAlgorithmError` (with a hint naming what is supported);
a key, IV, tag or AAD of the wrong size for a supported algorithm raises
:class:`ValueError`, as ``cryptography`` does; a ``str`` where bytes belong raises
:class:`TypeError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qathw import sha
from qathw.errors import UnsupportedAlgorithmError
from qathw.fw.hw import AuthAlgo, CipherAlgo, CipherMode
from qathw.fw.la import CCM_GCM_AAD_SZ_MAX

BytesLike = bytes | bytearray | memoryview


def as_bytes(value: object, what: str) -> bytes:
    """``value`` as ``bytes`` if it is bytes-like.

    Raises:
        TypeError: ``value`` is not bytes, bytearray or memoryview.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be bytes-like, not {type(value).__name__}")


class Family(enum.Enum):
    """Block cipher families."""

    AES = "aes"
    DES = "des"
    TDES = "3des"


@dataclass(frozen=True)
class CipherAlgorithm:
    """A block cipher in a mode (``aes-128-cbc``, ``des-cbc``, ``aes-256-xts``, ...).

    Attributes:
        name: catalogue name.
        family: AES, DES or 3DES.
        mode: the QAT cipher mode.
        key_sizes: key lengths accepted from the caller, in bytes. For XTS the key is
            key1 ‖ key2; for 3DES 24 bytes, or 16 (K1 ‖ K2, used as K1 K2 K1) or 8 (single
            DES strength, K1 K1 K1).
        block_size: bytes per cipher block.
        iv_size: bytes of IV (XTS: the 16-byte tweak).
    """

    name: str
    family: Family
    mode: CipherMode
    key_sizes: tuple[int, ...]
    block_size: int
    iv_size: int

    @property
    def kind(self) -> str:
        """Family and mode, as generations offer them (``aes-cbc``, ``3des-cbc``, ``aes-xts``)."""
        return f"{self.family.value}-{self.mode.name.lower()}"

    @property
    def is_stream(self) -> bool:
        """CTR: any length; the others need whole blocks (XTS: at least one block)."""
        return self.mode == CipherMode.CTR

    def hw_algo(self, key_size: int) -> CipherAlgo:
        """The QAT ``cipher algo`` for a key of ``key_size`` bytes (as given to check_key)."""
        if self.family == Family.DES:
            return CipherAlgo.DES
        if self.family == Family.TDES:
            return CipherAlgo.TDES
        aes_key = key_size // 2 if self.mode == CipherMode.XTS else key_size
        return {16: CipherAlgo.AES128, 24: CipherAlgo.AES192, 32: CipherAlgo.AES256}[aes_key]

    def check_key(self, key: object) -> bytes:
        """The key as bytes, after checking its size.

        Raises:
            TypeError: not bytes-like.
            ValueError: a size this algorithm does not take, or XTS halves that are equal.
        """
        k = as_bytes(key, "key")
        if len(k) not in self.key_sizes:
            sizes = " or ".join(str(s) for s in self.key_sizes)
            raise ValueError(f"{self.name} takes a {sizes}-byte key, got {len(k)} bytes")
        if self.mode == CipherMode.XTS and k[: len(k) // 2] == k[len(k) // 2 :]:
            raise ValueError(f"{self.name}: the two key halves must differ (IEEE 1619)")
        return k

    def check_iv(self, iv: object) -> bytes:
        """The IV as bytes, after checking its size.

        Raises:
            TypeError: not bytes-like.
            ValueError: not ``iv_size`` bytes.
        """
        v = as_bytes(iv, "iv")
        if len(v) != self.iv_size:
            raise ValueError(f"{self.name} takes a {self.iv_size}-byte IV, got {len(v)} bytes")
        return v

    def check_length(self, length: int) -> None:
        """Check a data length for this mode.

        Raises:
            ValueError: CBC/ECB data that is not whole blocks; XTS data under one block.
        """
        if self.mode == CipherMode.XTS:
            if length < self.block_size:
                raise ValueError(f"{self.name} needs at least {self.block_size} bytes of data")
        elif not self.is_stream and length % self.block_size:
            raise ValueError(
                f"{self.name} encrypts whole {self.block_size}-byte blocks; "
                f"{length} bytes is not a multiple (pad the data first)"
            )


@dataclass(frozen=True)
class HashAlgorithm:
    """A plain hash (QAT auth mode 0)."""

    name: str
    auth_algo: AuthAlgo
    sha: sha.ShaAlgorithm

    @property
    def digest_size(self) -> int:
        return self.sha.digest_size

    @property
    def block_size(self) -> int:
        return self.sha.block_size

    def check_digest_size(self, size: int | None) -> int:
        """The digest length to return: the full digest, or a truncation of it.

        Raises:
            ValueError: outside 4..digest_size.
        """
        if size is None:
            return self.digest_size
        if not 4 <= size <= self.digest_size:
            raise ValueError(
                f"{self.name} digests can be truncated to 4..{self.digest_size} bytes, not {size}"
            )
        return size


@dataclass(frozen=True)
class HmacAlgorithm:
    """HMAC over a SHA hash (QAT auth mode 1, from precomputed states)."""

    name: str
    hash: HashAlgorithm

    @property
    def digest_size(self) -> int:
        return self.hash.digest_size

    def check_key(self, key: object) -> bytes:
        """The HMAC key as bytes (any length; longer than a block is hashed first)."""
        return as_bytes(key, "key")

    def check_digest_size(self, size: int | None) -> int:
        """See :meth:`HashAlgorithm.check_digest_size`."""
        return self.hash.check_digest_size(size)


GCM_TAG_SIZES = (4, 8, 12, 13, 14, 15, 16)  # NIST SP 800-38D §5.2.1.2
# Nonces of 1..128 bytes: SP 800-38D allows any length; the device takes a 12-byte IV and
# builds J0 itself, or a 16-byte J0 the host computed from a nonce of another length
# (qatlib's rule). cryptography's AESGCM takes 8..128; qathw also takes NIST's shorter ones.
GCM_NONCE_SIZES = range(1, 129)


@dataclass(frozen=True)
class AeadAlgorithm:
    """AES-GCM."""

    name: str
    key_size: int
    iv_sizes: range = GCM_NONCE_SIZES
    tag_sizes: tuple[int, ...] = GCM_TAG_SIZES
    max_aad: int = CCM_GCM_AAD_SZ_MAX

    @property
    def hw_algo(self) -> CipherAlgo:
        return {16: CipherAlgo.AES128, 24: CipherAlgo.AES192, 32: CipherAlgo.AES256}[self.key_size]

    def check_key(self, key: object) -> bytes:
        """The key as bytes after checking its size (TypeError / ValueError)."""
        k = as_bytes(key, "key")
        if len(k) != self.key_size:
            raise ValueError(f"{self.name} takes a {self.key_size}-byte key, got {len(k)} bytes")
        return k

    def check_iv(self, iv: object) -> bytes:
        """The IV (nonce) as bytes, after checking its size (1..128 bytes).

        Raises:
            TypeError: not bytes-like.
            ValueError: empty or longer than 128 bytes.
        """
        v = as_bytes(iv, "nonce")
        if len(v) not in self.iv_sizes:
            raise ValueError(
                f"{self.name}: the nonce must be between {self.iv_sizes[0]} and "
                f"{self.iv_sizes[-1]} bytes, got {len(v)}"
            )
        return v

    def check_tag_size(self, size: int) -> int:
        """Raises ValueError unless ``size`` is a GCM tag length."""
        if size not in self.tag_sizes:
            raise ValueError(f"GCM tags are {self.tag_sizes} bytes long, not {size}")
        return size

    def check_aad_size(self, size: int) -> int:
        """Raises ValueError unless 0 <= ``size`` <= the device limit."""
        if not 0 <= size <= self.max_aad:
            raise ValueError(
                f"{self.name}: associated data is at most {self.max_aad} bytes on QAT, got {size}"
            )
        return size


class Huffman(enum.Enum):
    """Huffman coding of a deflate stream."""

    STATIC = "static"
    DYNAMIC = "dynamic"


@dataclass(frozen=True)
class CompressionAlgorithm:
    """Raw deflate (RFC 1951), no zlib or gzip framing."""

    name: str = "deflate"
    levels: tuple[int, ...] = tuple(range(1, 10))

    def check_level(self, level: int) -> int:
        """Raises ValueError unless ``level`` is 1..9."""
        if level not in self.levels:
            raise ValueError(f"deflate levels are 1..9, not {level}")
        return level


Algorithm = CipherAlgorithm | HashAlgorithm | HmacAlgorithm | AeadAlgorithm | CompressionAlgorithm


def _build() -> dict[str, Algorithm]:
    cat: dict[str, Algorithm] = {}
    for bits in (128, 192, 256):
        n = bits // 8
        cat[f"aes-{bits}-cbc"] = CipherAlgorithm(
            f"aes-{bits}-cbc", Family.AES, CipherMode.CBC, (n,), 16, 16
        )
        cat[f"aes-{bits}-ctr"] = CipherAlgorithm(
            f"aes-{bits}-ctr", Family.AES, CipherMode.CTR, (n,), 16, 16
        )
        cat[f"aes-{bits}-gcm"] = AeadAlgorithm(f"aes-{bits}-gcm", n)
    for bits in (128, 256):
        cat[f"aes-{bits}-xts"] = CipherAlgorithm(
            f"aes-{bits}-xts", Family.AES, CipherMode.XTS, (bits // 4,), 16, 16
        )
    cat["des-cbc"] = CipherAlgorithm("des-cbc", Family.DES, CipherMode.CBC, (8,), 8, 8)
    cat["3des-cbc"] = CipherAlgorithm("3des-cbc", Family.TDES, CipherMode.CBC, (24, 16, 8), 8, 8)
    for alg, auth in (
        (sha.SHA1, AuthAlgo.SHA1),
        (sha.SHA224, AuthAlgo.SHA224),
        (sha.SHA256, AuthAlgo.SHA256),
        (sha.SHA384, AuthAlgo.SHA384),
        (sha.SHA512, AuthAlgo.SHA512),
    ):
        h = HashAlgorithm(alg.name, auth, alg)
        cat[alg.name] = h
        cat[f"hmac-{alg.name}"] = HmacAlgorithm(f"hmac-{alg.name}", h)
    cat["deflate"] = CompressionAlgorithm()
    return cat


CATALOGUE: dict[str, Algorithm] = _build()

ALIASES = {
    "des-ede3-cbc": "3des-cbc",
    "tdes-cbc": "3des-cbc",
    "sha-1": "sha1",
    "sha-256": "sha256",
    "aes128-cbc": "aes-128-cbc",
    "aes256-gcm": "aes-256-gcm",
}

# Names people will try that QAT hardware has but qathw does not drive (yet), and why.
_KNOWN_UNSUPPORTED = {
    "aes-192-xts": "XTS is defined for 128- and 256-bit AES keys only (aes-128-xts, aes-256-xts)",
    "chacha20-poly1305": "ChaCha20-Poly1305 is not implemented; use aes-256-gcm",
    "aes-128-ccm": "AES-CCM is not implemented; use aes-128-gcm",
    "aes-256-ccm": "AES-CCM is not implemented; use aes-256-gcm",
    "md5": "MD5 is not offered; use sha256",
    "hmac-md5": "HMAC-MD5 is not offered; use hmac-sha256",
    "sha3-256": "SHA-3 is not implemented; use sha256",
    "aes-128-ecb": "ECB leaks patterns and is not offered; use aes-128-cbc or aes-128-ctr",
    "lz4": "only deflate compression is implemented",
    "zstd": "only deflate compression is implemented",
}


def lookup(name: str) -> Algorithm:
    """The catalogue entry called ``name`` (case-insensitive; a few common aliases).

    Raises:
        TypeError: ``name`` is not a string.
        UnsupportedAlgorithmError: no such algorithm here; the hint lists what is.
    """
    if not isinstance(name, str):
        raise TypeError(f"algorithm name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return CATALOGUE[key]
    except KeyError:
        pass
    hint = _KNOWN_UNSUPPORTED.get(key) or "supported: " + ", ".join(sorted(CATALOGUE))
    raise UnsupportedAlgorithmError(f"algorithm {name!r} is not supported", hint=hint)


def cipher(name: str) -> CipherAlgorithm:
    """A cipher by name (see :func:`lookup`); raises UnsupportedAlgorithmError otherwise."""
    alg = lookup(name)
    if not isinstance(alg, CipherAlgorithm):
        raise UnsupportedAlgorithmError(
            f"{name!r} is not a cipher",
            hint="ciphers: "
            + ", ".join(n for n, a in CATALOGUE.items() if isinstance(a, CipherAlgorithm)),
        )
    return alg


def aead(name: str) -> AeadAlgorithm:
    """An AEAD by name; raises UnsupportedAlgorithmError otherwise."""
    alg = lookup(name)
    if not isinstance(alg, AeadAlgorithm):
        raise UnsupportedAlgorithmError(
            f"{name!r} is not an AEAD", hint="AEADs: aes-128-gcm, aes-192-gcm, aes-256-gcm"
        )
    return alg


def auth(name: str) -> HashAlgorithm | HmacAlgorithm:
    """A hash or HMAC by name; raises UnsupportedAlgorithmError otherwise."""
    alg = lookup(name)
    if not isinstance(alg, HashAlgorithm | HmacAlgorithm):
        raise UnsupportedAlgorithmError(
            f"{name!r} is not a hash or HMAC",
            hint="hashes: sha1, sha224, sha256, sha384, sha512 and hmac-<hash>",
        )
    return alg
