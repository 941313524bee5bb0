"""GF(2**128) arithmetic of GCM's GHASH, for the length-block correction of a streamed tag.

A streamed GCM tag is computed as ``T' = GHASH(A' ‖ C' ‖ L') ⊕ E_K(J0)`` with the padded AAD
and ciphertext fed as associated data only, so that ``L'`` is ``[8·n]_64 ‖ [0]_64`` (``n``
bytes fed) instead of ``L = [8·len(A)]_64 ‖ [8·len(C)]_64``. GHASH ends with
``(Y ⊕ L)·H``, so ``T = T' ⊕ (L ⊕ L')·H``: one multiplication (NIST SP 800-38D §6.3-6.4).
"""

from __future__ import annotations

_R = 0xE1 << 120  # the reduction constant, in GCM's bit-reflected order


def gf_mult(x: int, y: int) -> int:
    """``x · y`` in GCM's GF(2**128) (blocks as big-endian integers, bit 0 the MSB)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if x >> i & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def length_fix(tag: bytes, h: bytes, fed: int, aad_len: int, text_len: int) -> bytes:
    """The GCM tag of AAD and text from the tag of the same bytes fed as AAD alone.

    Args:
        tag: ``T'``, 16 bytes.
        h: ``H = E_K(0**128)``.
        fed: bytes fed as associated data (padded AAD plus padded text).
        aad_len / text_len: the real lengths.
    """
    wrong = (fed * 8) << 64
    right = (aad_len * 8) << 64 | text_len * 8
    fix = gf_mult(wrong ^ right, int.from_bytes(h, "big"))
    return (int.from_bytes(tag, "big") ^ fix).to_bytes(16, "big")
