"""Test inputs: random bytes, real files of this machine, generated text, and a bounded
generator of large compressible input."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path


def real_files() -> list[bytes]:
    """A few real files: the Python standard library and the system's licence texts."""
    stdlib = Path(os.__file__).parent
    paths = [stdlib / "os.py", stdlib / "zipfile" / "__init__.py", stdlib / "decimal.py"]
    licences = Path("/usr/share/common-licenses")
    if licences.is_dir():
        paths += sorted(p for p in licences.iterdir() if p.is_file())[:3]
    found = [p.read_bytes() for p in paths if p.is_file()]
    assert found, f"no real files found for {sys.version}"
    return found


def text(n: int, seed: int = 1) -> bytes:
    """``n`` bytes of generated English-like text."""
    rng = random.Random(seed)
    words = [b"device", b"ring", b"request", b"deflate", b"the", b"a", b"of", b"QAT", b"bank"]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def blocks(total: int, block: int = 1 << 20, seed: int = 7) -> Iterator[bytes]:
    """``total`` bytes, a block at a time: each block a 4 KiB random pattern repeated (so
    it compresses fast), never all of it in memory."""
    rng = random.Random(seed)
    for _ in range(total // block):
        yield rng.randbytes(4096) * (block // 4096)
