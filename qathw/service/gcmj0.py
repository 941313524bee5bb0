"""The GCM pre-counter block J0, computed on the host for nonces that are not 12 bytes.

The device builds J0 itself only from a 12-byte IV (``GCM_IV_LEN_12`` set: J0 = IV ‖
0^31 ‖ 1). For any other nonce length the host computes J0 = GHASH_H(IV ‖ 0^(s+64) ‖
[len(IV)]_64) (NIST SP 800-38D §7.1, step 2) and sends the 16 bytes with the flag clear,
as qatlib does (docs/hardware.md#la-request). H = E(K, 0^128) is per key, so a session
computes it once (:func:`hash_subkey`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.service.ghash import gf_mult

BLOCK = 16


def hash_subkey(key: bytes) -> int:
    """H = E(K, 0^128) as an integer (the big-endian reading of the 16 bytes)."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return int.from_bytes(enc.update(bytes(BLOCK)) + enc.finalize(), "big")


def j0(h: int, nonce: bytes) -> bytes:
    """The 16-byte J0 for ``nonce`` under hash subkey ``h`` (see :func:`hash_subkey`).

    Args:
        h: the hash subkey.
        nonce: the IV, of any length (12 bytes gives IV ‖ 0^31 ‖ 1 without hashing).

    Returns:
        J0.
    """
    if len(nonce) == 12:
        return nonce + b"\0\0\0\1"
    padded = nonce + bytes(-len(nonce) % BLOCK)
    blocks = padded + (len(nonce) * 8).to_bytes(BLOCK, "big")
    y = 0
    for at in range(0, len(blocks), BLOCK):
        y = gf_mult(y ^ int.from_bytes(blocks[at : at + BLOCK], "big"), h)
    return y.to_bytes(BLOCK, "big")
