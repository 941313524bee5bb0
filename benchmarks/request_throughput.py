"""Requests through the whole stack, the device in another process, against the libraries.

Each row runs real requests through qathw's public API — ``user_start`` → instance →
session → ring → fakedev (``python -m fakedev serve``, its own process) → response — and,
in the same run, the same work done in this process by ``cryptography`` (a new cipher
context per message, output written into a preallocated buffer) or ``zlib``.

* 64 B AES-128-CBC, batched: 256 ops per ``submit_batch`` (one ring submit each, two
  batches in flight); the device runs consecutive small CBC requests of one session as
  one multi-buffer job (``fakedev.engine.mbcbc``: k ECB calls over a column of m blocks,
  as Intel's multi-buffer IPsec library does), which is what lets a Python device beat a
  fresh-context-per-message loop.
* 4 KiB and 64 KiB: zero copy — the data lives in buffers allocated from the instance
  (``instance.alloc``), encrypted in place; batches of sixteen (one ring submit, the
  requests built as one array), four batches in flight (the device is never idle: with
  fewer in flight its per-request overhead shows more, about 10% less at 8 x 2).
* 64 B GCM: batched like CBC (the device runs them one by one: no multi-buffer GCM).
* deflate 64 KiB (dynamic Huffman, level 1, compress-and-verify on the device) from and
  into device buffers, four in flight, against ``zlib`` level 1 alone.

Both sides pin to one core each (host: the first allowed CPU, device: the second). The
load average is printed: the figures are only as quiet as the machine was.

    python benchmarks/request_throughput.py [--seconds 1.0] [--no-pin]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fakedev import endpoint_file, sysfs  # noqa: E402
from fakedev.engine.compat import GCM_ENCRYPT_INTO  # noqa: E402
from fakedev.topologies import EmulatedSpec  # noqa: E402
from qathw import open_instances, user_start  # noqa: E402
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT  # noqa: E402
from qathw.service.algorithms import Huffman  # noqa: E402
from qathw.service.completion import Handle  # noqa: E402
from qathw.service.instance import CyInstance, DcInstance, Instance  # noqa: E402

CONFIG = """\
[GENERAL]
ServicesEnabled = {services}
ConfigVersion = 2
CyNumConcurrentSymRequests = 1024
CyNumConcurrentAsymRequests = 64
DcNumConcurrentRequests = 64
statsGeneral = 0

[KERNEL]
NumberCyInstances = 0
NumberDcInstances = 0

[BENCH]
NumProcesses = 1
LimitDevAccess = 0
NumberCyInstances = {cy}
NumberDcInstances = {dc}
"""
_ZERO_COPY = "zero copy, in place, batches of 16, 4 in flight"
CY = 'Cy0Name = "Bench0"\nCy0IsPolled = 1\nCy0CoreAffinity = 0\n'
DC = 'Dc0Name = "Deflate0"\nDc0IsPolled = 1\nDc0CoreAffinity = 0\n'

TARGETS = {  # (row, note) -> ratio or rate, from the issue
    ("AES-128-CBC", "64 KiB", _ZERO_COPY): ("ratio", 0.75),
    ("AES-256-GCM", "64 KiB", _ZERO_COPY): ("ratio", 0.60),
    ("AES-128-CBC", "64 B", "batches of 256"): ("rate", 100_000.0),
}


@dataclass
class Row:
    name: str
    size: str
    qat: float
    lib: float
    note: str = ""

    def target(self) -> tuple[str, bool] | None:
        t = TARGETS.get((self.name, self.size, self.note))
        if t is None:
            return None
        kind, value = t
        if kind == "ratio":
            return f">= {value:.0%}", self.qat / self.lib >= value
        return f">= {value / 1000:.0f}k/s", self.qat >= value


# --- the rig ---------------------------------------------------------------------------


def _cpus() -> tuple[int | None, int | None]:
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


def _serve(path: Path, cpu: int | None, services: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "fakedev", "serve", str(path), "--services", services]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        raise RuntimeError(f"the backend did not start: {line!r}")
    return proc


def build_host(root: Path) -> tuple[list[Path], Path, Path]:
    """Two emulated VFs (sym;asym and dc) in a fake sysfs tree, and their config files."""
    crypto, deflate = root / "qat-crypto", root / "qat-dc"
    for path in (crypto, deflate):
        endpoint_file.create(path, "4xxxvf", size=64 << 20)
    host = sysfs.build(root / "host", "empty")
    host.add_emulated(EmulatedSpec("0000:00:10.0", crypto))
    host.add_emulated(EmulatedSpec("0000:00:11.0", deflate))
    etc = root / "etc"
    etc.mkdir()
    (etc / "4xxxvf_dev0.conf").write_text(CONFIG.format(services="asym;sym", cy=1, dc=0) + CY)
    (etc / "4xxxvf_dev1.conf").write_text(CONFIG.format(services="dc", cy=0, dc=1) + DC)
    return [crypto, deflate], host.sysfs_root, etc


# --- measuring -------------------------------------------------------------------------


def _burst(fn: Callable[[float], float], seconds: float) -> float:
    return fn(seconds)


def compare(
    qat: Callable[[float], float], lib: Callable[[float], float], seconds: float
) -> tuple[float, float]:
    """Best rate of each over five alternating bursts (the least disturbed burst)."""
    qat(seconds / 10)
    lib(seconds / 10)
    best_q = best_l = 0.0
    for _ in range(5):
        best_q = max(best_q, qat(seconds / 5))
        best_l = max(best_l, lib(seconds / 5))
    return best_q, best_l


def pipelined(
    inst: Instance, submit: Callable[[int], Handle[object]], per: int, window: int
) -> Callable[[float], float]:
    """Ops per second with ``window`` submissions (of ``per`` ops each) in flight."""

    def run(seconds: float) -> float:
        handles: deque[Handle[object]] = deque()
        done = i = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            while len(handles) < window:
                handles.append(submit(i))
                i += 1
            inst.poll()
            while handles and handles[0].done():
                handles.popleft().result()
                done += per
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
        while handles:
            handles.popleft().result()
        return done / elapsed

    return run


def loop(fn: Callable[[], int]) -> Callable[[float], float]:
    def run(seconds: float) -> float:
        done = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            done += fn()
        return done / elapsed

    return run


def lib_cipher(make: Callable[[], Any], size: int, aad: bool = False) -> Callable[[float], float]:
    data, out = os.urandom(size), bytearray(size + 16)
    extra = os.urandom(16)

    def one() -> int:
        ctx = make().encryptor()
        if aad:
            ctx.authenticate_additional_data(extra)
        ctx.update_into(data, out)
        ctx.finalize()
        return 1

    return loop(one)


def _one_shot_gcm(aead: AESGCM, data: bytes, aad: bytes) -> Callable[[], int]:
    sealed = bytearray(len(data) + 16)

    def one() -> int:
        aead.encrypt_into(os.urandom(12), data, aad, sealed)
        return 1

    return one


# --- the rows ----------------------------------------------------------------------------


def crypto_rows(cy: CyInstance, seconds: float) -> list[Row]:
    rows: list[Row] = []
    key16, key32 = os.urandom(16), os.urandom(32)
    cbc = cy.cipher("aes-128-cbc", key16)
    gcm = cy.aead("aes-256-gcm", key32)
    iv, nonce, aad = os.urandom(16), os.urandom(12), os.urandom(16)

    def lib_cbc(size: int) -> Callable[[float], float]:
        return lib_cipher(lambda: Cipher(algorithms.AES(key16), modes.CBC(os.urandom(16))), size)

    def lib_gcm(size: int) -> Callable[[float], float]:
        return lib_cipher(
            lambda: Cipher(algorithms.AES(key32), modes.GCM(os.urandom(12))), size, aad=True
        )

    # 64 B, batched: one ring submit per 256 ops, two batches in flight.
    msgs = [os.urandom(64) for _ in range(256)]
    ivs = [os.urandom(16) for _ in range(256)]

    def cbc_batch(i: int) -> Handle[object]:
        return cy.submit_batch([cbc.encrypt_op(m, v) for m, v in zip(msgs, ivs, strict=True)])

    q, lib = compare(pipelined(cy, cbc_batch, 256, 2), lib_cbc(64), seconds)
    rows.append(Row("AES-128-CBC", "64 B", q, lib, "batches of 256"))

    def cbc_single(i: int) -> Handle[object]:
        return cy.submit(cbc.encrypt_op(msgs[i % 256], iv))

    q, lib = compare(pipelined(cy, cbc_single, 1, 64), lib_cbc(64), seconds)
    rows.append(Row("AES-128-CBC", "64 B", q, lib, "single ops, 64 in flight"))

    def gcm_batch(i: int) -> Handle[object]:
        return cy.submit_batch([gcm.encrypt_op(nonce, m, aad) for m in msgs])

    q, lib = compare(pipelined(cy, gcm_batch, 256, 2), lib_gcm(64), seconds)
    rows.append(Row("AES-256-GCM", "64 B", q, lib, "batches of 256"))

    per, window = 16, 4  # four batches of sixteen in flight: 64 buffers
    for size, label in ((4096, "4 KiB"), (65536, "64 KiB")):
        bufs = [cy.alloc(size) for _ in range(per * window)]
        gbufs = [cy.alloc(size + 16) for _ in range(per * window)]
        for b in (*bufs, *gbufs):
            b.write(os.urandom(len(b)))

        def cbc_zc(i: int, bufs: list[Any] = bufs) -> Handle[object]:
            mine = bufs[(i % window) * per : (i % window + 1) * per]
            return cy.submit_batch([cbc.encrypt_op(b, iv) for b in mine])

        def gcm_zc(i: int, bufs: list[Any] = gbufs) -> Handle[object]:
            mine = bufs[(i % window) * per : (i % window + 1) * per]
            return cy.submit_batch([gcm.encrypt_op(nonce, b, aad) for b in mine])

        note = _ZERO_COPY
        q, lib = compare(pipelined(cy, cbc_zc, per, window), lib_cbc(size), seconds)
        rows.append(Row("AES-128-CBC", label, q, lib, note))
        q, lib = compare(pipelined(cy, gcm_zc, per, window), lib_gcm(size), seconds)
        rows.append(Row("AES-256-GCM", label, q, lib, note))
        if size == 65536 and GCM_ENCRYPT_INTO:  # cryptography >= 47 has the one-call form
            # The device seals with AESGCM.encrypt_into (one call); the same call in-process
            # is the like-for-like library figure (the target row uses a fresh Cipher
            # context per message, as the issue states it).
            lib_one_shot = _one_shot_gcm(AESGCM(key32), os.urandom(size), aad)
            q2, lib2 = compare(pipelined(cy, gcm_zc, per, window), loop(lib_one_shot), seconds)
            rows.append(Row("AES-256-GCM", label, q2, lib2, "vs AESGCM.encrypt_into in-process"))
        for b in (*bufs, *gbufs):
            b.free()
    return rows


def deflate_rows(dc: DcInstance, seconds: float) -> list[Row]:
    text = (b"QuickAssist request ring, deflate benchmark; " * 2000)[:65536]
    data = text[:32768] + os.urandom(1024) + text[: 65536 - 32768 - 1024]
    session = dc.compression(huffman=Huffman.DYNAMIC, level=1)
    window = 4
    srcs = [dc.alloc(len(data)) for _ in range(window)]
    dsts = [dc.alloc(80_000) for _ in range(window)]
    for s in srcs:
        s.write(data)

    def deflate(i: int) -> Handle[object]:
        return dc.submit(session.compress_op(srcs[i % window], out=dsts[i % window]))

    def lib_one() -> int:
        co = zlib.compressobj(1, zlib.DEFLATED, -15)
        co.compress(data)
        co.flush()
        return 1

    q, lib = compare(pipelined(dc, deflate, 1, window), loop(lib_one), seconds)
    return [Row("deflate (dynamic, L1, CNV)", "64 KiB", q, lib, "zero copy, 4 in flight")]


def _rate(value: float) -> str:
    return f"{value / 1e6:6.2f} M/s" if value >= 1e6 else f"{value / 1e3:6.1f} k/s"


def report(rows: Sequence[Row]) -> bool:
    print()
    print("requests through qathw (device in another process) vs the library in-process")
    head = f"{'operation':27} {'size':>6} {'qathw':>11} {'library':>11} {'ratio':>6}  target"
    print(head)
    print("-" * len(head))
    ok = True
    for r in rows:
        t = r.target()
        verdict = ""
        if t is not None:
            verdict = f"{t[0]:>9} {'PASS' if t[1] else 'FAIL'}"
            ok &= t[1]
        print(
            f"{r.name:27} {r.size:>6} {_rate(r.qat):>11} {_rate(r.lib):>11} "
            f"{r.qat / r.lib:6.2f}  {verdict}"
        )
        if r.note:
            print(f"{'':27} {'':>6} ({r.note})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per row and side")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place both")
    args = parser.parse_args(argv)
    host_cpu, dev_cpu = (None, None) if args.no_pin else _cpus()
    load_start = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}")
    print(f"cpus: host {host_cpu}, device {dev_cpu} (of {os.cpu_count()})")
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = Path(tempfile.mkdtemp(prefix="qathw-bench-", dir=shm))
    backends: list[subprocess.Popen[str]] = []
    try:
        (crypto, deflate), sysfs_root, etc = build_host(root)
        backends.append(_serve(crypto, dev_cpu, "sym;asym"))
        backends.append(_serve(deflate, dev_cpu, "dc"))
        os.environ.update(
            {
                ENV_SYSFS_ROOT: str(sysfs_root),
                ENV_CONFIG_DIR: str(etc),
                ENV_RUNTIME_DIR: str(root / "run"),
            }
        )
        if host_cpu is not None:
            os.sched_setaffinity(0, {host_cpu})
        with user_start("BENCH") as held, open_instances(held) as insts:
            rows = crypto_rows(insts.cy[0], args.seconds)
            rows += deflate_rows(insts.dc[0], args.seconds)
    finally:
        for proc in backends:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    ok = report(rows)
    load_end = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)}")
    if load_start[0] > 0.5:  # (the end figure includes this benchmark's own two cores)
        print(
            "warning: the machine was busy; host and device busy-poll one core each, so a "
            "competing process costs whole time slices. Re-run on a quiet machine."
        )
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
