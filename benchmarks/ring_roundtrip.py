"""NULL requests through one ring pair, the device in another process.

For batch sizes 1..256 it measures requests per second through one ring pair of an
emulated 4xxx VF whose backend (``python -m fakedev serve``) runs in its own process, and
in the same run:

* the same traffic — the same request bytes out, the same response bytes back, built
  the same way — over a ``multiprocessing`` pipe to an echo process;
* the ring again, but with per-request Python work on both sides ("before"): the host
  builds each request as a ctypes structure and parses each response with one, and the
  backend runs the scalar NULL handler once per request.

Then the round-trip latency of single requests (median and p99), each carrying its send
time in the opaque field.

Both sides pin to one core each when the machine has two or more (host: the first
allowed CPU, device/echo: the second). The load average at start and end is printed: the
numbers are only as quiet as the machine was.

Usage: ``python benchmarks/ring_roundtrip.py [--seconds 1.0] [--batches 1,16,256]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakedev import endpoint_file
from fakedev.dispatch import responses_for
from fakedev.runner import serve
from fakedev.services import null_service
from qathw.endpoint import open_emulated
from qathw.fw.common import (
    HDR_FLAG_VALID,
    NULL_REQ_SERV_ID,
    ServiceType,
    icp_qat_fw_comn_resp,
    null_request,
)
from qathw.transport.ring import RESPONSE_DTYPE, RingPair

REQ = 128
SLOTS = 1024
BANK = 1  # a SYM bank in the default ring-to-service map: 128-byte requests
LATENCY_SAMPLES = 5000


def _cpus() -> tuple[int | None, int | None]:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) >= 2:
        return allowed[0], allowed[1]
    return None, None


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def null_batch(n: int) -> npt.NDArray[np.uint8]:
    """``n`` NULL requests (service 0, command 1, valid), opaque 0."""
    rows = np.zeros((n, REQ), np.uint8)
    rows[:, 1] = NULL_REQ_SERV_ID
    rows[:, 2] = ServiceType.NULL
    rows[:, 3] = HDR_FLAG_VALID
    return rows


def _opaque(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    return rows[:, 24:32].view("<u8")[:, 0]


# --- the ring ------------------------------------------------------------------------------


def ring_throughput(pair: RingPair, batch: int, seconds: float) -> float:
    """Requests per second with up to ``capacity`` in flight, ``batch`` per submit."""
    rows = null_batch(batch)
    ids = _opaque(rows)
    window = max(batch, min(pair.capacity, 4 * batch))
    sent = done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        if pair.in_flight + batch <= window:
            ids[:] = np.arange(sent, sent + batch, dtype=np.uint64)
            sent += pair.submit(rows)
        got = pair.poll()
        if got.shape[0]:
            expect = np.arange(done, done + got.shape[0], dtype=np.uint64)
            if not np.array_equal(got["opaque_data"], expect):
                raise AssertionError("responses out of order or lost")
            done += got.shape[0]
            if time.perf_counter() >= deadline:
                break
    elapsed = time.perf_counter() - start
    while pair.in_flight:
        pair.poll()
    return float(done / elapsed)


def ring_latency(pair: RingPair, samples: int) -> npt.NDArray[np.float64]:
    """Round-trip times (µs) of single requests, timestamp carried in the opaque field."""
    rows = null_batch(1)
    ids = _opaque(rows)
    out = np.empty(samples)
    clock = time.perf_counter_ns
    for i in range(samples):
        ids[0] = clock()
        pair.submit(rows)
        got = pair.poll()
        while not got.shape[0]:
            got = pair.poll()
        out[i] = (clock() - int(got["opaque_data"][0])) / 1000
    return out


def ring_throughput_per_request(pair: RingPair, batch: int, seconds: float) -> float:
    """As :func:`ring_throughput`, with a ctypes structure per request and per response."""
    window = max(batch, min(pair.capacity, 4 * batch))
    sent = done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        if pair.in_flight + batch <= window:
            sent += pair.submit(b"".join(null_request(sent + i) for i in range(batch)))
        raw = pair.poll().tobytes()
        for off in range(0, len(raw), 32):
            resp = icp_qat_fw_comn_resp.from_buffer_copy(raw, off)
            if resp.opaque_data != done:
                raise AssertionError("responses out of order or lost")
            done += 1
        if raw and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    while pair.in_flight:
        pair.poll()
    return float(done / elapsed)


def _serve_per_request(path: Path, cpu: int | None, ready: Any) -> None:
    _pin(cpu)
    serve(path, handlers={int(ServiceType.NULL): null_service}, ready=lambda _: ready.set())


# --- the pipe ------------------------------------------------------------------------------


def _echo(conn: Connection, cpu: int | None) -> None:
    _pin(cpu)
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        reqs = np.frombuffer(data, np.uint8).reshape(-1, REQ)
        conn.send_bytes(responses_for(reqs).tobytes())


def pipe_throughput(conn: Connection, batch: int, seconds: float) -> float:
    rows = null_batch(batch)
    ids = _opaque(rows)
    window = max(batch, min(SLOTS - 1, 4 * batch))
    sent = done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        if sent - done + batch <= window:
            ids[:] = np.arange(sent, sent + batch, dtype=np.uint64)
            conn.send_bytes(rows.tobytes())
            sent += batch
            if sent - done + batch <= window:
                continue
        got = np.frombuffer(conn.recv_bytes(), RESPONSE_DTYPE)
        expect = np.arange(done, done + got.shape[0], dtype=np.uint64)
        if not np.array_equal(got["opaque_data"], expect):
            raise AssertionError("pipe responses out of order")
        done += got.shape[0]
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    while done < sent:
        done += len(conn.recv_bytes()) // 32
    return float(done / elapsed)


def pipe_latency(conn: Connection, samples: int) -> npt.NDArray[np.float64]:
    rows = null_batch(1)
    ids = _opaque(rows)
    out = np.empty(samples)
    clock = time.perf_counter_ns
    for i in range(samples):
        ids[0] = clock()
        conn.send_bytes(rows.tobytes())
        got = np.frombuffer(conn.recv_bytes(), RESPONSE_DTYPE)
        out[i] = (clock() - int(got["opaque_data"][0])) / 1000
    return out


# --- driver --------------------------------------------------------------------------------


def _serve(path: Path, cpu: int | None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "fakedev", "serve", str(path)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        raise RuntimeError(f"the backend did not start: {line!r}")
    return proc


def _fmt_rate(value: float) -> str:
    return f"{value / 1e6:7.3f} M/s" if value >= 1e6 else f"{value / 1e3:7.1f} k/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per batch size and side")
    parser.add_argument("--batches", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--samples", type=int, default=LATENCY_SAMPLES)
    parser.add_argument(
        "--no-pin", action="store_true", help="let the scheduler place both sides (busy machines)"
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    host_cpu, dev_cpu = (None, None) if args.no_pin else _cpus()
    load_start = os.getloadavg()[0]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"cpus: host {host_cpu}, device {dev_cpu} (of {os.cpu_count()})")
    _pin(host_cpu)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        path = Path(d) / "qat-bench"
        endpoint_file.create(path, "4xxxvf", size=16 << 20)
        backend = _serve(path, dev_cpu)
        try:
            ep = open_emulated(path)
            ep.connect()
            pair = ep.ring_pair(BANK, slots=SLOTS)
            ring_latency(pair, 500)  # warm up
            results["ring"] = {b: ring_throughput(pair, b, args.seconds) for b in batches}
            results["ring_lat"] = ring_latency(pair, args.samples)
            ep.close()
        finally:
            backend.terminate()
            backend.wait(10)

        ready = mp.Event()
        scalar = mp.Process(target=_serve_per_request, args=(path, dev_cpu, ready), daemon=True)
        scalar.start()
        try:
            # A frontend that opens before the new backend has its epoch would link the
            # banks under the old one: they are serviced only after its watch reopens.
            ready.wait(30)
            ep = open_emulated(path, mailbox_timeout=10.0)
            ep.connect()
            pair = ep.ring_pair(BANK, slots=SLOTS)
            results["scalar"] = {
                b: ring_throughput_per_request(pair, b, args.seconds) for b in batches
            }
            ep.close()
        finally:
            scalar.terminate()
            scalar.join(10)

    parent, child = mp.Pipe()
    echo = mp.Process(target=_echo, args=(child, dev_cpu), daemon=True)
    echo.start()
    try:
        pipe_latency(parent, 500)
        results["pipe"] = {b: pipe_throughput(parent, b, args.seconds) for b in batches}
        results["pipe_lat"] = pipe_latency(parent, args.samples)
    finally:
        parent.send_bytes(b"")
        echo.join(10)

    print()
    print("NULL requests through one ring pair (device in another process)")
    print("ring: arrays on both sides; per-request: ctypes per request and per response,")
    print("scalar NULL handler; pipe: the same bytes over a multiprocessing pipe")
    print(f"{'batch':>6} | {'ring':>12} | {'per-request':>12} | {'pipe':>12} | ring/pipe")
    print("-" * 63)
    for b in batches:
        r, q, p = results["ring"][b], results["scalar"][b], results["pipe"][b]
        print(
            f"{b:>6} | {_fmt_rate(r):>12} | {_fmt_rate(q):>12} | {_fmt_rate(p):>12} | {r / p:6.1f}x"
        )
    print()
    for name in ("ring", "pipe"):
        lat = results[f"{name}_lat"]
        print(
            f"batch-1 latency, {name}: median {np.median(lat):6.1f} us, "
            f"p99 {np.percentile(lat, 99):6.1f} us ({len(lat)} requests)"
        )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if max(os.getloadavg()[0], load_start) > 0.5:
        print(
            "warning: the machine was busy; both sides busy-poll (one core each), so a "
            "competing process costs the ring whole time slices. Re-run on a quiet machine."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
