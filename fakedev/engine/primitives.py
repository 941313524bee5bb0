"""Cipher building blocks the slices need beyond what ``cryptography`` offers directly.

* XTS from a block cipher: the gen4 UCS slice takes an *already encrypted* tweak, and the
  legacy slice may be handed key1 == key2 (which ``cryptography`` refuses), so XTS is
  built here from AES-ECB (IEEE 1619, with ciphertext stealing).
* GHASH and GCM from AES-ECB: the two-pass GCM content descriptor carries H itself, and
  a request may carry J0 instead of a 12-byte IV; when either departs from what
  ``cryptography``'s GCM would compute, the device's arithmetic is done here.

Byte strings are XORed as big integers: one C-level operation, no per-byte loop.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from fakedev.engine.compat import TripleDES

_MASK128 = (1 << 128) - 1
_GF_R = 0xE1 << 120


def xor(a: bytes | bytearray | memoryview, b: bytes | bytearray | memoryview) -> bytes:
    """``a`` XOR ``b`` (equal lengths)."""
    n = len(a)
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little")


def block_algorithm(family: str, key: bytes) -> algorithms.AES | TripleDES:
    """The ``cryptography`` algorithm object for a slice key (AES, or 24-byte 3DES)."""
    if family == "aes":
        return algorithms.AES(key)
    return TripleDES(key)


def ecb(alg: algorithms.AES | TripleDES, encrypt: bool) -> CipherContext:
    """A reusable ECB context (no IV, no padding: feed whole blocks, never finalize)."""
    c = Cipher(alg, modes.ECB())
    return c.encryptor() if encrypt else c.decryptor()


# --- XTS ---------------------------------------------------------------------------------


def xts_tweaks(t0: bytes, count: int) -> bytes:
    """``count`` consecutive XTS tweaks from ``t0``: T_{j+1} = T_j * alpha in GF(2^128)."""
    t = int.from_bytes(t0, "little")
    out = bytearray(16 * count)
    for j in range(count):
        out[16 * j : 16 * j + 16] = t.to_bytes(16, "little")
        t <<= 1
        if t >> 128:
            t = (t & _MASK128) ^ 0x87
    return bytes(out)


def xts(
    block_enc: CipherContext,
    block_dec: CipherContext,
    tweak: bytes,
    data: bytes,
    encrypt: bool,
) -> bytes:
    """XTS-AES over one data unit, from the *encrypted* tweak ``T0``.

    Args:
        block_enc: AES-ECB encryptor with key1 (used when encrypting).
        block_dec: AES-ECB decryptor with key1 (used when decrypting).
        tweak: T0 = E(key2, i), the first tweak.
        data: at least 16 bytes.
        encrypt: direction.

    Returns:
        The transformed data unit (same length).
    """
    n = len(data)
    full, rem = divmod(n, 16)
    ctx = block_enc if encrypt else block_dec
    tweaks = xts_tweaks(tweak, full + (1 if rem else 0))
    if not rem:
        return xor(ctx.update(xor(data, tweaks)), tweaks)
    # Ciphertext stealing: the last full block and the partial one trade places.
    head = (full - 1) * 16
    out = bytearray(xor(ctx.update(xor(data[:head], tweaks[:head])), tweaks[:head]))
    t_last_full = tweaks[head : head + 16]
    t_partial = tweaks[head + 16 : head + 32]
    block = data[head : head + 16]
    tail = data[head + 16 :]
    if encrypt:
        cc = xor(ctx.update(xor(block, t_last_full)), t_last_full)
        pp = tail + cc[rem:]
        out += xor(ctx.update(xor(pp, t_partial)), t_partial) + cc[:rem]
    else:
        pp = xor(ctx.update(xor(block, t_partial)), t_partial)
        cc = tail + pp[rem:]
        out += xor(ctx.update(xor(cc, t_last_full)), t_last_full) + pp[:rem]
    return bytes(out)


# --- GHASH / GCM -------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _tables(h: bytes) -> tuple[tuple[int, ...], ...]:
    """Multiplication by ``h`` in GCM's GF(2^128) (bit-reflected, NIST SP 800-38D §6.3), as
    16 byte tables: entry ``[j][b]`` is ``(b << 8j) * h``, ``j`` counting from the low byte.

    Eight times fewer steps per block than bit by bit (which made GHASH ~2 s per MiB, a
    stall for every other ring: docs/hardware.md#request-bounds). Cached per H: a session's
    H is reused, and building costs ~2 ms.
    """
    # bit i of x (i = 127 is the coefficient of x^0) contributes h * x^(127 - i)
    basis = [0] * 128
    v = int.from_bytes(h, "big")
    for i in range(127, -1, -1):
        basis[i] = v
        v = (v >> 1) ^ _GF_R if v & 1 else v >> 1
    tables = []
    for j in range(16):
        t = [0] * 256
        for b in range(1, 256):
            low = b & -b
            t[b] = t[b ^ low] ^ basis[8 * j + low.bit_length() - 1]
        tables.append(tuple(t))
    return tuple(tables)


def _ghash_blocks(tables: tuple[tuple[int, ...], ...], y: int, data: bytes | memoryview) -> int:
    """Fold ``data`` (zero-padded to whole blocks) into the GHASH state ``y``."""
    t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15 = tables
    mv = memoryview(data)
    whole = len(mv) - len(mv) % 16
    for i in range(0, len(mv), 16):
        block = mv[i : i + 16] if i < whole else bytes(mv[i:]).ljust(16, b"\0")
        b = (y ^ int.from_bytes(block, "big")).to_bytes(16, "little")
        y = (
            t0[b[0]] ^ t1[b[1]] ^ t2[b[2]] ^ t3[b[3]] ^ t4[b[4]] ^ t5[b[5]] ^ t6[b[6]]
            ^ t7[b[7]] ^ t8[b[8]] ^ t9[b[9]] ^ t10[b[10]] ^ t11[b[11]] ^ t12[b[12]]
            ^ t13[b[13]] ^ t14[b[14]] ^ t15[b[15]]
        )  # fmt: skip
    return y


def ghash(h: bytes, aad: bytes, ciphertext: bytes, aad_len: int | None = None) -> bytes:
    """GHASH_H(A ‖ pad ‖ C ‖ pad ‖ [len(A)]64 ‖ [len(C)]64).

    ``aad_len``: the length the length block states, when ``aad`` holds the whole
    blocks a device read (padding and all) rather than just the AAD.
    """
    tables = _tables(h)
    y = _ghash_blocks(tables, 0, aad)
    y = _ghash_blocks(tables, y, ciphertext)
    a_len = len(aad) if aad_len is None else aad_len
    lengths = ((a_len * 8) << 64) | (len(ciphertext) * 8)
    return _ghash_blocks(tables, y, lengths.to_bytes(16, "big")).to_bytes(16, "big")


def j0_from_iv(h: bytes, iv: bytes) -> bytes:
    """The pre-counter block J0 for an IV of any length (SP 800-38D §7.1 step 2)."""
    if len(iv) == 12:
        return iv + b"\0\0\0\1"
    return ghash(h, b"", iv)


def _inc32_blocks(j0: bytes, count: int) -> bytes:
    """inc32(J0), inc32²(J0), ...: the low 32 bits count and wrap, the rest stay."""
    prefix = j0[:12]
    ctr = int.from_bytes(j0[12:], "big")
    return b"".join(
        prefix + ((ctr + i) & 0xFFFFFFFF).to_bytes(4, "big") for i in range(1, count + 1)
    )


def gcm(
    block_enc: CipherContext,
    h: bytes,
    j0: bytes,
    aad: bytes,
    data: bytes,
    encrypt: bool,
    aad_len: int | None = None,
) -> tuple[bytes, bytes]:
    """GCM from first principles, with the given H and J0.

    Args:
        block_enc: AES-ECB encryptor with the key.
        h: the hash subkey to use (normally E(K, 0^128); the device takes it from the CD).
        j0: the pre-counter block.
        aad: associated data.
        data: plaintext (encrypt) or ciphertext (decrypt).
        encrypt: direction.
        aad_len: the AAD's length when ``aad`` holds the whole blocks read (see :func:`ghash`).

    Returns:
        ``(output, full 16-byte tag)``; the tag is over the ciphertext either way.
    """
    count = -(-len(data) // 16)
    stream = block_enc.update(_inc32_blocks(j0, count))[: len(data)] if count else b""
    out = xor(data, stream)
    ciphertext = out if encrypt else data
    s = ghash(h, aad, ciphertext, aad_len)
    tag = xor(block_enc.update(j0), s)
    return out, tag
