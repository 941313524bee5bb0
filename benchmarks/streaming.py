"""The streaming API against the libraries it stands in for, in the same run.

* streaming SHA-256 of 64 MiB, fed 1 MiB at a time: ``qathw.accelerator().hash`` (partial
  packets on the device) against ``hashlib.sha256`` in this process;
* compression of 64 MiB (generated text, level 6, zlib framing), fed 1 MiB at a time:
  ``compressobj`` (chunked requests, several in flight, compress-and-verify on the
  device) against ``zlib.compressobj`` at the same level in this process.

The device is fakedev serving in its own process (``python -m fakedev serve``), as in
``request_throughput.py``. Figures are MB/s (10**6 bytes per second) of input.

    python benchmarks/streaming.py
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.request_throughput import _cpus, _serve, build_host  # noqa: E402
from qathw import accelerator  # noqa: E402
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT  # noqa: E402

TOTAL = 64 << 20
BLOCK = 1 << 20


def _text(n: int) -> bytes:
    rng = random.Random(5)
    words = [b"device", b"ring", b"request", b"deflate", b"the", b"of", b"QAT", b"bank", b"42"]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def _rate(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return TOTAL / (time.perf_counter() - start) / 1e6


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="qathw-stream-bench-", dir="/dev/shm"))
    procs = []
    try:
        files, sysfs_root, etc = build_host(root)
        runtime = root / "run"
        os.environ.update(
            {
                ENV_SYSFS_ROOT: str(sysfs_root),
                ENV_CONFIG_DIR: str(etc),
                ENV_RUNTIME_DIR: str(runtime),
            }
        )
        _, device_cpu = _cpus()
        procs = [_serve(files[0], device_cpu, "asym;sym"), _serve(files[1], device_cpu, "dc")]
        random_block = os.urandom(BLOCK)
        text = _text(BLOCK)
        with accelerator("BENCH") as qat:

            def qat_hash() -> None:
                h = qat.hash("sha256")
                for _ in range(TOTAL // BLOCK):
                    h.update(random_block)
                h.digest()

            def lib_hash() -> None:
                h = hashlib.sha256()
                for _ in range(TOTAL // BLOCK):
                    h.update(random_block)
                h.digest()

            def qat_deflate() -> None:
                c = qat.compressobj(6, 15)
                for _ in range(TOTAL // BLOCK):
                    c.compress(text)
                c.flush()

            def lib_deflate() -> None:
                c = zlib.compressobj(6, zlib.DEFLATED, 15)
                for _ in range(TOTAL // BLOCK):
                    c.compress(text)
                c.flush()

            rows = [
                ("streaming SHA-256, 64 MiB", _rate(qat_hash), _rate(lib_hash), "hashlib"),
                ("compression, 64 MiB, level 6", _rate(qat_deflate), _rate(lib_deflate), "zlib"),
            ]
        print(f"{'row':32} {'qathw MB/s':>11} {'library MB/s':>13} {'ratio':>6}  library")
        for name, q, lib, what in rows:
            print(f"{name:32} {q:11.1f} {lib:13.1f} {q / lib:6.2f}  {what}")
        print(f"load average: {os.getloadavg()[0]:.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
