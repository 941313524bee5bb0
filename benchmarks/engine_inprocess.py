"""The fakedev engine called directly, against ``cryptography``/``zlib`` in the same run.

No rings and no second process: this measures what the device's service engine costs
per request, the ceiling for the end-to-end request benchmark
(``benchmarks/request_throughput.py``). Each row: the engine's rate, the library's rate
for the same work done in-process (a fresh cipher context per message, as an
application would), and their ratio. The deflate comparison is zlib compression alone;
the engine also inflates its output to verify it (CNV) and computes CRC32 and Adler-32.

    python benchmarks/engine_inprocess.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import hmac
import os
import time
import zlib
from collections.abc import Callable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fakedev.engine import CompHandler, LaHandler, sharesume
from fakedev.memory import DeviceMemory
from qathw.service import cd
from qathw.service import wire as ops
from qathw.service.algorithms import Huffman

BASE = 0x10_0000_0000
Op = Callable[[], int]


class _Arena:
    def __init__(self, size: int = 64 << 20) -> None:
        self.buf = bytearray(size)
        self.memory = DeviceMemory(memoryview(self.buf), BASE)
        self.next = BASE

    def put(self, data: bytes, align: int = 64) -> int:
        iova = (self.next + align - 1) & ~(align - 1)
        self.next = iova + max(len(data), 1)
        self.memory.write(iova, data)
        return iova


def _burst(fn: Callable[[], int], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


def compare(
    engine: Callable[[], int], library: Callable[[], int] | None, seconds: float
) -> tuple[float, float]:
    """Best rate of each over ten alternating bursts (a shared machine is noisy; the best
    burst is the least disturbed one, and alternating exposes both to the same load)."""
    engine()
    if library is not None:
        library()
    best_e = best_l = 0.0
    for _ in range(10):
        best_e = max(best_e, _burst(engine, seconds / 10))
        if library is not None:
            best_l = max(best_l, _burst(library, seconds / 10))
    return best_e, best_l


def cbc_rows(arena: _Arena, setup: cd.LaSetup, size: int, count: int) -> list[bytes]:
    cd_iova = arena.put(setup.cd)
    rows = []
    for i in range(count):
        src = ops.Flat(arena.put(os.urandom(size)), size)
        rows.append(bytes(ops.la_request(setup, cd_iova, opaque=i, src=src, iv=os.urandom(16))))
    return rows


def gcm_rows(arena: _Arena, setup: cd.LaSetup, size: int, count: int) -> list[bytes]:
    cd_iova = arena.put(setup.cd)
    rows = []
    for i in range(count):
        req = ops.la_request(
            setup,
            cd_iova,
            opaque=i,
            src=ops.Flat(arena.put(os.urandom(size)), size),
            iv=os.urandom(12),
            aad_iova=arena.put(os.urandom(16)),
            digest_iova=arena.put(bytes(16)),
        )
        rows.append(bytes(req))
    return rows


def cycle(handler: LaHandler | CompHandler, rows: list[bytes], memory: DeviceMemory) -> Op:
    """An operation that runs the next of ``rows`` (round robin) through ``handler``."""
    state = [0]

    def run() -> int:
        handler(rows[state[0] % len(rows)], memory)
        state[0] += 1
        return 1

    return run


def lib_cbc(key: bytes, size: int) -> Op:
    data, out = os.urandom(size), bytearray(size + 15)

    def run() -> int:
        ctx = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor()
        ctx.update_into(data, out)
        ctx.finalize()
        return 1

    return run


def lib_gcm(key: bytes, size: int) -> Op:
    data, out, aad = os.urandom(size), bytearray(size), os.urandom(16)

    def run() -> int:
        ctx = Cipher(algorithms.AES(key), modes.GCM(os.urandom(12))).encryptor()
        ctx.authenticate_additional_data(aad)
        ctx.update_into(data, out)
        ctx.finalize()
        return 1

    return run


def batch_op(la: LaHandler, batch: np.ndarray, memory: DeviceMemory) -> Op:
    def run() -> int:
        return int(la.process_batch(batch, memory).shape[0])

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=1.0, help="time per comparison")
    t = p.parse_args().seconds
    key16, key32 = os.urandom(16), os.urandom(32)
    rows: list[tuple[str, str, float, float]] = []
    enc = cd.Direction.ENCRYPT

    for size in (64, 4096, 65536):
        arena, la = _Arena(), LaHandler()
        s = cd.cipher_session("aes-128-cbc", key16, enc)
        reqs = cbc_rows(arena, s, size, 32)
        e, lib = compare(cycle(la, reqs, arena.memory), lib_cbc(key16, size), t)
        rows.append(("AES-128-CBC", f"{size} B", e, lib))
        if size == 64:
            e, lib = compare(
                cycle(LaHandler(cache_size=0), reqs, arena.memory), lib_cbc(key16, 64), t
            )
            rows.append(("AES-128-CBC, no plan cache", "64 B", e, lib))
            batch = np.frombuffer(b"".join(cbc_rows(arena, s, 64, 256)), np.uint8).reshape(-1, 128)
            e, lib = compare(batch_op(la, batch, arena.memory), lib_cbc(key16, 64), t)
            rows.append(("AES-128-CBC, batch of 256", "64 B", e, lib))
        g = cd.gcm_session("aes-256-gcm", key32, enc, aad_size=16)
        e, lib = compare(
            cycle(la, gcm_rows(arena, g, size, 32), arena.memory), lib_gcm(key32, size), t
        )
        rows.append(("AES-256-GCM", f"{size} B", e, lib))

    arena, comp = _Arena(), CompHandler()
    text = (b"QuickAssist request ring, deflate benchmark; " * 2000)[:65536]
    data = text[:32768] + os.urandom(1024) + text[: 65536 - 32768 - 1024]
    c = cd.compression_session(cd.CompDirection.COMPRESS, huffman=Huffman.DYNAMIC, level=1)
    src = ops.Flat(arena.put(data), len(data))
    dst = ops.Flat(arena.put(bytes(80000)), 80000)
    creq = bytes(ops.comp_request(c, opaque=1, src=src, dst=dst))

    def lib_deflate() -> int:
        co = zlib.compressobj(1, zlib.DEFLATED, -15)
        co.compress(data)
        co.flush()
        return 1

    e, lib = compare(cycle(comp, [creq], arena.memory), lib_deflate, t)
    rows.append(("deflate (dynamic, CNV)", "64 KiB", e, lib))

    h = cd.auth_session("hmac-sha256", key32)
    hreq = ops.la_request(
        h,
        arena.put(h.cd),
        opaque=1,
        src=ops.Flat(arena.put(bytes(4096)), 4096),
        digest_iova=arena.put(bytes(32)),
    )
    hmac_data = bytes(4096)

    def lib_hmac() -> int:
        hmac.new(key32, hmac_data, "sha256").digest()
        return 1

    e, lib = compare(cycle(LaHandler(), [bytes(hreq)], arena.memory), lib_hmac, t)
    rows.append(("HMAC-SHA256 (libcrypto resume)", "4 KiB", e, lib))
    py = LaHandler(resume=sharesume.python_resume)
    e, _ = compare(cycle(py, [bytes(hreq)], arena.memory), None, t)
    rows.append(("HMAC-SHA256 (pure-Python resume)", "4 KiB", e, lib))

    print(f"{'operation':34} {'size':>7} {'engine/s':>11} {'library/s':>11} {'ratio':>6}")
    for name, size_s, eng, libr in rows:
        ratio = f"{eng / libr:5.2f}" if libr else "    -"
        print(f"{name:34} {size_s:>7} {eng:11,.0f} {libr:11,.0f} {ratio:>6}")


if __name__ == "__main__":
    main()
