"""The AES key schedule, forwards and backwards (FIPS-197 §5.2).

A QAT cipher slice asked to *decrypt* needs the end of the key schedule. With
``KEY_CONVERT`` it derives that itself from the key; with ``NO_CONVERT`` the driver must
supply it: the kernel does so for the gen4 UCS slice in XTS mode
(``qat_alg_xts_reverse_key``: the last round key, then for AES-256 the one before). This
module computes that "reversed" key on the host and, for the fake device, recovers the
forward key from it by running the schedule backwards.

For AES-192 no driver sends a reversed key; the same rule (the last ``Nk`` words, newest
round key first) is used here so the three sizes behave alike (inferred).
"""

from __future__ import annotations

_SBOX = bytes.fromhex(
    "637c777bf26b6fc53001672bfed7ab76ca82c97dfa5947f0add4a2af9ca472c0"
    "b7fd9326363ff7cc34a5e5f171d8311504c723c31896059a071280e2eb27b275"
    "09832c1a1b6e5aa0523bd6b329e32f8453d100ed20fcb15b6acbbe394a4c58cf"
    "d0efaafb434d338545f9027f503c9fa851a3408f929d38f5bcb6da2110fff3d2"
    "cd0c13ec5f974417c4a77e3d645d197360814fdc222a908846eeb814de5e0bdb"
    "e0323a0a4906245cc2d3ac629195e479e7c8376d8dd54ea96c56f4ea657aae08"
    "ba78252e1ca6b4c6e8dd741f4bbd8b8a703eb5664803f60e613557b986c11d9e"
    "e1f8981169d98e949b1e87e9ce5528df8ca1890dbfe6426841992d0fb054bb16"
)
_RCON = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36)
_ROUNDS = {16: 10, 24: 12, 32: 14}


def _sub_word(w: bytes) -> bytes:
    return bytes(_SBOX[b] for b in w)


def _g(prev: bytes, i: int, nk: int) -> bytes:
    """The non-linear step applied to w[i-1] before XOR with w[i-nk]."""
    if i % nk == 0:
        rotated = prev[1:] + prev[:1]
        t = _sub_word(rotated)
        return bytes((t[0] ^ _RCON[i // nk - 1], t[1], t[2], t[3]))
    if nk > 6 and i % nk == 4:
        return _sub_word(prev)
    return prev


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _check_size(size: int) -> int:
    if size not in _ROUNDS:
        raise ValueError(f"AES keys are 16, 24 or 32 bytes, got {size}")
    return _ROUNDS[size]


def expand_key(key: bytes) -> list[bytes]:
    """The expanded key schedule as 4-byte words ``w[0] .. w[4*(Nr+1)-1]``.

    Raises:
        ValueError: ``key`` is not 16, 24 or 32 bytes.
    """
    rounds = _check_size(len(key))
    nk = len(key) // 4
    w = [key[4 * i : 4 * i + 4] for i in range(nk)]
    for i in range(nk, 4 * (rounds + 1)):
        w.append(_xor(w[i - nk], _g(w[i - 1], i, nk)))
    return w


def round_key(key: bytes, n: int) -> bytes:
    """Round key ``n`` (0 = the first ``AddRoundKey``) of ``key``'s schedule."""
    w = expand_key(key)
    return b"".join(w[4 * n : 4 * n + 4])


def reverse_key(key: bytes) -> bytes:
    """The decryption-end key a ``NO_CONVERT`` decrypt slice expects.

    The last ``Nk`` words of the schedule, newest round key first: for AES-128 the last
    round key; for AES-256 the last round key then the one before (as the kernel's
    ``qat_alg_xts_reverse_key``); for AES-192 the last round key then the two words
    before it.

    Raises:
        ValueError: ``key`` is not 16, 24 or 32 bytes.
    """
    w = expand_key(key)
    nk = len(key) // 4
    tail = w[len(w) - nk :]  # oldest first
    last = b"".join(tail[nk - 4 :])
    return last + b"".join(tail[: nk - 4])


def forward_key(reversed_key: bytes) -> bytes:
    """The original key whose :func:`reverse_key` is ``reversed_key``.

    Runs the schedule backwards: ``w[i-Nk] = w[i] xor g(w[i-1])``.

    Raises:
        ValueError: ``reversed_key`` is not 16, 24 or 32 bytes.
    """
    rounds = _check_size(len(reversed_key))
    nk = len(reversed_key) // 4
    last = [reversed_key[4 * i : 4 * i + 4] for i in range(4)]
    before = [reversed_key[16 + 4 * i : 20 + 4 * i] for i in range(nk - 4)]
    total = 4 * (rounds + 1)
    w: dict[int, bytes] = {}
    for j, word in enumerate(before + last):
        w[total - nk + j] = word
    for i in range(total - 1, nk - 1, -1):
        w[i - nk] = _xor(w[i], _g(w[i - 1], i, nk))
    return b"".join(w[i] for i in range(nk))
