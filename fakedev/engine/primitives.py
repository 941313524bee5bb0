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


def _gf_mult(x: int, y: int) -> int:
    """Multiplication in GCM's GF(2^128) (bit-reflected, NIST SP 800-38D §6.3)."""
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _GF_R if v & 1 else v >> 1
    return z


def _blocks(data: bytes) -> list[int]:
    padded = data + b"\0" * (-len(data) % 16)
    return [int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16)]


def ghash(h: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """GHASH_H(A ‖ pad ‖ C ‖ pad ‖ [len(A)]64 ‖ [len(C)]64)."""
    hk = int.from_bytes(h, "big")
    y = 0
    lengths = ((len(aad) * 8) << 64) | (len(ciphertext) * 8)
    for block in (*_blocks(aad), *_blocks(ciphertext), lengths):
        y = _gf_mult(y ^ block, hk)
    return y.to_bytes(16, "big")


def j0_from_iv(h: bytes, iv: bytes) -> bytes:
    """The pre-counter block J0 for an IV of any length (SP 800-38D §7.1 step 2)."""
    if len(iv) == 12:
        return iv + b"\0\0\0\1"
    hk = int.from_bytes(h, "big")
    y = 0
    for block in (*_blocks(iv), len(iv) * 8):
        y = _gf_mult(y ^ block, hk)
    return y.to_bytes(16, "big")


def _inc32_blocks(j0: bytes, count: int) -> bytes:
    """inc32(J0), inc32²(J0), ...: the low 32 bits count and wrap, the rest stay."""
    prefix = j0[:12]
    ctr = int.from_bytes(j0[12:], "big")
    return b"".join(
        prefix + ((ctr + i) & 0xFFFFFFFF).to_bytes(4, "big") for i in range(1, count + 1)
    )


def gcm(
    block_enc: CipherContext, h: bytes, j0: bytes, aad: bytes, data: bytes, encrypt: bool
) -> tuple[bytes, bytes]:
    """GCM from first principles, with the given H and J0.

    Args:
        block_enc: AES-ECB encryptor with the key.
        h: the hash subkey to use (normally E(K, 0^128); the device takes it from the CD).
        j0: the pre-counter block.
        aad: associated data.
        data: plaintext (encrypt) or ciphertext (decrypt).
        encrypt: direction.

    Returns:
        ``(output, full 16-byte tag)``; the tag is over the ciphertext either way.
    """
    count = -(-len(data) // 16)
    stream = block_enc.update(_inc32_blocks(j0, count))[: len(data)] if count else b""
    out = xor(data, stream)
    ciphertext = out if encrypt else data
    s = ghash(h, aad, ciphertext)
    tag = xor(block_enc.update(j0), s)
    return out, tag
