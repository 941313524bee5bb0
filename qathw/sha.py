"""SHA-1 and SHA-2 with an importable, exportable chaining state.

QAT's auth slice does HMAC from *precomputed* states (mode 1): the driver hashes one block
of ``K xor ipad`` and one of ``K xor opad`` and hands the device the two intermediate
chaining values (``state1``, ``state2``), big-endian, plus a byte count of one block; the
device resumes from them. ``hashlib`` can neither export nor import a state, so this
module carries its own compression functions (FIPS 180-4). The host uses them for the
precompute, the fake device to resume; the test vectors run through both, so a shared
mistake cannot pass unnoticed.

Pure Python: about 20-40 µs per block. Fine for precomputes and test-sized messages; a
resumed hash over megabytes is slow (the fake device knows and may use a faster path).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class ShaAlgorithm:
    """One member of the SHA-1/SHA-2 family.

    Attributes:
        name: ``"sha1"``, ``"sha224"``, ``"sha256"``, ``"sha384"`` or ``"sha512"``
            (the ``hashlib`` names).
        digest_size: bytes of the final digest.
        block_size: bytes per compression-function block.
        state_size: bytes of the full chaining state (SHA-224 and SHA-384 carry the
            whole SHA-256/SHA-512 state: 32 and 64 bytes).
        iv: the initial chaining value as words.
    """

    name: str
    digest_size: int
    block_size: int
    state_size: int
    iv: tuple[int, ...]

    @property
    def word_size(self) -> int:
        """Bytes per state word (4 for SHA-1/224/256, 8 for SHA-384/512)."""
        return 8 if self.block_size == 128 else 4

    @property
    def initial_state(self) -> bytes:
        """The FIPS 180-4 initial hash value, big-endian (mode-0 ``state1``)."""
        return pack_state(self, self.iv)


SHA1 = ShaAlgorithm(
    "sha1", 20, 64, 20, (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
)
SHA224 = ShaAlgorithm(
    "sha224",
    28,
    64,
    32,
    (
        0xC1059ED8,
        0x367CD507,
        0x3070DD17,
        0xF70E5939,
        0xFFC00B31,
        0x68581511,
        0x64F98FA7,
        0xBEFA4FA4,
    ),
)
SHA256 = ShaAlgorithm(
    "sha256",
    32,
    64,
    32,
    (
        0x6A09E667,
        0xBB67AE85,
        0x3C6EF372,
        0xA54FF53A,
        0x510E527F,
        0x9B05688C,
        0x1F83D9AB,
        0x5BE0CD19,
    ),
)
SHA384 = ShaAlgorithm(
    "sha384",
    48,
    128,
    64,
    (
        0xCBBB9D5DC1059ED8,
        0x629A292A367CD507,
        0x9159015A3070DD17,
        0x152FECD8F70E5939,
        0x67332667FFC00B31,
        0x8EB44A8768581511,
        0xDB0C2E0D64F98FA7,
        0x47B5481DBEFA4FA4,
    ),
)
SHA512 = ShaAlgorithm(
    "sha512",
    64,
    128,
    64,
    (
        0x6A09E667F3BCC908,
        0xBB67AE8584CAA73B,
        0x3C6EF372FE94F82B,
        0xA54FF53A5F1D36F1,
        0x510E527FADE682D1,
        0x9B05688C2B3E6C1F,
        0x1F83D9ABFB41BD6B,
        0x5BE0CD19137E2179,
    ),
)

ALGORITHMS: dict[str, ShaAlgorithm] = {a.name: a for a in (SHA1, SHA224, SHA256, SHA384, SHA512)}


def by_name(name: str) -> ShaAlgorithm:
    """The algorithm called ``name`` (``hashlib`` spelling, e.g. ``"sha256"``).

    Raises:
        ValueError: not one of sha1, sha224, sha256, sha384, sha512.
    """
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown SHA algorithm {name!r}; use one of {sorted(ALGORITHMS)}"
        ) from None


# --- compression functions ---------------------------------------------------------------

_K256 = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip

_K512 = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
)  # fmt: skip


def _compress_sha1(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
        w.append(((x << 1) | (x >> 31)) & _M32)
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        tmp = (((a << 5) | (a >> 27)) + f + e + k + w[t]) & _M32
        a, b, c, d, e = tmp, a, ((b << 30) | (b >> 2)) & _M32, c, d
    return tuple((x + y) & _M32 for x, y in zip(h, (a, b, c, d, e), strict=True))


def _compress_sha256(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = ((x >> 7) | (x << 25)) ^ ((x >> 18) | (x << 14)) ^ (x >> 3)
        s1 = ((y >> 17) | (y << 15)) ^ ((y >> 19) | (y << 13)) ^ (y >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _M32)
    a, b, c, d, e, f, g, hh = h
    for t in range(64):
        s1 = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))
        t1 = (hh + (s1 & _M32) + ((e & f) ^ (~e & g)) + _K256[t] + w[t]) & _M32
        s0 = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))
        t2 = ((s0 & _M32) + ((a & b) ^ (a & c) ^ (b & c))) & _M32
        a, b, c, d, e, f, g, hh = (t1 + t2) & _M32, a, b, c, (d + t1) & _M32, e, f, g
    return tuple((x + y) & _M32 for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True))


def _compress_sha512(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = list(struct.unpack(">16Q", block))
    for t in range(16, 80):
        x, y = w[t - 15], w[t - 2]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        s1 = ((y >> 19) | (y << 45)) ^ ((y >> 61) | (y << 3)) ^ (y >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _M64)
    a, b, c, d, e, f, g, hh = h
    for t in range(80):
        s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        t1 = (hh + (s1 & _M64) + ((e & f) ^ (~e & g)) + _K512[t] + w[t]) & _M64
        s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        t2 = ((s0 & _M64) + ((a & b) ^ (a & c) ^ (b & c))) & _M64
        a, b, c, d, e, f, g, hh = (t1 + t2) & _M64, a, b, c, (d + t1) & _M64, e, f, g
    return tuple((x + y) & _M64 for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True))


def compress(alg: ShaAlgorithm, state: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    """One application of ``alg``'s compression function.

    Args:
        alg: the algorithm.
        state: the chaining value as words (5 for SHA-1, 8 otherwise).
        block: exactly ``alg.block_size`` bytes.

    Returns:
        The new chaining value.

    Raises:
        ValueError: wrong block or state size.
    """
    if len(block) != alg.block_size:
        raise ValueError(f"{alg.name} compresses {alg.block_size}-byte blocks, got {len(block)}")
    if len(state) != len(alg.iv):
        raise ValueError(f"{alg.name} has {len(alg.iv)} state words, got {len(state)}")
    if alg.name == "sha1":
        return _compress_sha1(state, block)
    if alg.block_size == 64:
        return _compress_sha256(state, block)
    return _compress_sha512(state, block)


def pack_state(alg: ShaAlgorithm, words: tuple[int, ...]) -> bytes:
    """The chaining value as QAT stores it: words big-endian, in order."""
    word = "Q" if alg.word_size == 8 else "I"
    return struct.pack(f">{len(words)}{word}", *words)


def unpack_state(alg: ShaAlgorithm, state: bytes) -> tuple[int, ...]:
    """Words of a big-endian chaining value (the inverse of :func:`pack_state`).

    Raises:
        ValueError: ``state`` is not ``alg.state_size`` bytes.
    """
    if len(state) != alg.state_size:
        raise ValueError(f"{alg.name} state is {alg.state_size} bytes, got {len(state)}")
    n = alg.state_size // alg.word_size
    word = "Q" if alg.word_size == 8 else "I"
    return tuple(struct.unpack(f">{n}{word}", state))


class ShaState:
    """A running SHA computation whose chaining state can be exported and imported.

    Args:
        alg: the algorithm.
        state: chaining value to start from (big-endian bytes); default the FIPS IV.
        length: bytes already compressed into ``state`` (a multiple of the block
            size); it only matters for the final length padding.

    Raises:
        ValueError: bad state size, or ``length`` not a multiple of the block size.
    """

    def __init__(self, alg: ShaAlgorithm, state: bytes | None = None, length: int = 0) -> None:
        if length < 0 or length % alg.block_size:
            raise ValueError(
                f"resume length must be a multiple of {alg.block_size} bytes, got {length}"
            )
        self.algorithm = alg
        self._words = alg.iv if state is None else unpack_state(alg, state)
        self._length = length
        self._pending = b""

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash more data."""
        data = self._pending + bytes(data)
        bs = self.algorithm.block_size
        whole = len(data) - len(data) % bs
        words = self._words
        alg = self.algorithm
        for i in range(0, whole, bs):
            words = compress(alg, words, data[i : i + bs])
        self._words = words
        self._length += whole
        self._pending = data[whole:]

    def export(self) -> tuple[bytes, int]:
        """The chaining state and the byte count it covers.

        Raises:
            ValueError: data short of a whole block is pending (no state covers it).
        """
        if self._pending:
            raise ValueError("a partial block is pending; export only at a block boundary")
        return pack_state(self.algorithm, self._words), self._length

    def digest(self) -> bytes:
        """The final digest (the state itself is not changed)."""
        alg = self.algorithm
        total_bits = (self._length + len(self._pending)) * 8
        len_field = 16 if alg.block_size == 128 else 8
        pad_len = (-(len(self._pending) + 1 + len_field)) % alg.block_size
        tail = self._pending + b"\x80" + b"\0" * pad_len + total_bits.to_bytes(len_field, "big")
        words = self._words
        for i in range(0, len(tail), alg.block_size):
            words = compress(alg, words, tail[i : i + alg.block_size])
        return pack_state(alg, words)[: alg.digest_size]


def resume_digest(alg: ShaAlgorithm, state: bytes, prefix_length: int, data: bytes) -> bytes:
    """Finish a hash whose first ``prefix_length`` bytes are already in ``state``.

    Args:
        alg: the algorithm.
        state: the chaining value after the prefix (big-endian bytes).
        prefix_length: bytes the prefix had (a multiple of the block size).
        data: the rest of the message.

    Returns:
        The digest of prefix + data.
    """
    s = ShaState(alg, state, prefix_length)
    s.update(data)
    return s.digest()


def hmac_precompute(alg: ShaAlgorithm, key: bytes) -> tuple[bytes, bytes]:
    """HMAC mode-1 states: the chaining values after one block of K⊕ipad and K⊕opad.

    Keys longer than the block are hashed first (RFC 2104), as the kernel driver does.

    Args:
        alg: the underlying hash.
        key: the HMAC key (any length).

    Returns:
        ``(state1, state2)``, each ``alg.state_size`` bytes, big-endian.
    """
    if len(key) > alg.block_size:
        s = ShaState(alg)
        s.update(key)
        key = s.digest()
    key = key.ljust(alg.block_size, b"\0")
    inner = compress(alg, alg.iv, bytes(b ^ 0x36 for b in key))
    outer = compress(alg, alg.iv, bytes(b ^ 0x5C for b in key))
    return pack_state(alg, inner), pack_state(alg, outer)


def hmac_from_states(alg: ShaAlgorithm, state1: bytes, state2: bytes, data: bytes) -> bytes:
    """HMAC of ``data`` from precomputed states (what the device does in mode 1)."""
    inner = resume_digest(alg, state1, alg.block_size, data)
    return resume_digest(alg, state2, alg.block_size, inner)
