"""Resume a SHA-1/SHA-2 hash from an imported chaining state, fast.

The auth slice resumes from the state in the content descriptor (mode 0 with a
non-standard state, and HMAC mode 1). :mod:`qathw.sha` does that in pure Python at tens
of microseconds per block; here the same is done through the system's OpenSSL
``libcrypto`` (its ``SHA*_Init``/``_Update``/``_Final`` with the context's chaining words
and bit count overwritten), falling back to :mod:`qathw.sha` when ``libcrypto`` cannot be
loaded. Both are checked against each other and ``hashlib`` by the tests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Callable
from typing import Any

from qathw import sha

Resume = Callable[[sha.ShaAlgorithm, bytes, int, bytes | bytearray | memoryview], bytes]


class _SHA_CTX(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_uint32 * 5),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint),
    ]


class _SHA256_CTX(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


class _SHA512_CTX(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_uint64 * 8),
        ("Nl", ctypes.c_uint64),
        ("Nh", ctypes.c_uint64),
        ("u", ctypes.c_uint8 * 128),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


_CTX = {"sha1": _SHA_CTX, "sha224": _SHA256_CTX, "sha256": _SHA256_CTX}
_PREFIX = {"sha1": "SHA1", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384"}


def _load() -> Any | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        for p in ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512"):
            for suffix in ("_Init", "_Update", "_Final"):
                getattr(lib, p + suffix)
    except (OSError, AttributeError):
        return None
    return lib


_LIB = _load()


def python_resume(
    alg: sha.ShaAlgorithm, state: bytes, prefix: int, data: bytes | bytearray | memoryview
) -> bytes:
    """Resume with :mod:`qathw.sha` (pure Python)."""
    return sha.resume_digest(alg, state, prefix, bytes(data))


class _Fns:
    """One algorithm's context type and bound libcrypto entry points."""

    def __init__(self, lib: Any, alg: sha.ShaAlgorithm) -> None:
        p = _PREFIX.get(alg.name, "SHA512")
        self.ctx_type = _CTX.get(alg.name, _SHA512_CTX)
        self.init = getattr(lib, p + "_Init")
        self.update = getattr(lib, "SHA512_Update" if alg.block_size == 128 else p + "_Update")
        self.final = getattr(lib, p + "_Final")
        for fn in (self.init, self.update, self.final):
            fn.restype = ctypes.c_int
        self.update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.width = self.ctx_type.Nl.size * 8  # 32-bit counters for SHA-1/256, 64 for SHA-512
        word = "Q" if alg.word_size == 8 else "I"
        self.unpack = struct.Struct(f">{len(alg.iv)}{word}").unpack
        self.digest_size = alg.digest_size


_FNS: dict[str, _Fns] = {}


def libcrypto_resume(
    alg: sha.ShaAlgorithm, state: bytes, prefix: int, data: bytes | bytearray | memoryview
) -> bytes:
    """Resume through OpenSSL's libcrypto (requires it to be loadable)."""
    fns = _FNS.get(alg.name)
    if fns is None:
        assert _LIB is not None
        fns = _FNS[alg.name] = _Fns(_LIB, alg)
    ctx = fns.ctx_type()
    fns.init(ctypes.byref(ctx))
    ctx.h[:] = fns.unpack(state)
    bits = prefix * 8
    ctx.Nl = bits & ((1 << fns.width) - 1)
    ctx.Nh = bits >> fns.width
    buf = data if isinstance(data, bytes) else bytes(data)
    fns.update(ctypes.byref(ctx), buf, len(buf))
    md = ctypes.create_string_buffer(64)
    fns.final(md, ctypes.byref(ctx))
    return md.raw[: fns.digest_size]


resume: Resume = libcrypto_resume if _LIB is not None else python_resume
"""The fastest available resume function."""

HAVE_LIBCRYPTO = _LIB is not None


Advance = Callable[[sha.ShaAlgorithm, bytes, int, bytes | bytearray | memoryview], bytes]


def python_advance(
    alg: sha.ShaAlgorithm, state: bytes, prefix: int, data: bytes | bytearray | memoryview
) -> bytes:
    """The chaining state after whole blocks ``data``, with :mod:`qathw.sha` (pure Python)."""
    s = sha.ShaState(alg, state, prefix)
    s.update(data)
    return s.export()[0]


def libcrypto_advance(
    alg: sha.ShaAlgorithm, state: bytes, prefix: int, data: bytes | bytearray | memoryview
) -> bytes:
    """The chaining state after whole blocks ``data``, through libcrypto (no padding: the
    context's words are read back after ``_Update``)."""
    fns = _FNS.get(alg.name)
    if fns is None:
        assert _LIB is not None
        fns = _FNS[alg.name] = _Fns(_LIB, alg)
    ctx = fns.ctx_type()
    fns.init(ctypes.byref(ctx))
    ctx.h[:] = fns.unpack(state)
    bits = prefix * 8
    ctx.Nl = bits & ((1 << fns.width) - 1)
    ctx.Nh = bits >> fns.width
    buf = data if isinstance(data, bytes) else bytes(data)
    fns.update(ctypes.byref(ctx), buf, len(buf))
    word = "Q" if alg.word_size == 8 else "I"
    return struct.pack(f">{len(alg.iv)}{word}", *ctx.h[: len(alg.iv)])


advance: Advance = libcrypto_advance if _LIB is not None else python_advance
"""The fastest available state advance (a first or middle partial packet)."""
