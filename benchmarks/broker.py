"""The section broker's cost, in a QEMU guest: what a holder pays for borrowing the device.

Boots one guest (TCG, about a minute) with the demo's two emulated 4xxx endpoints bound to
vfio-pci (:mod:`demo.vfio_host`), and runs itself there with ``--in-guest``. Two rows,
each against the same work by a process that opens the device itself (``QATHW_BROKER=off``:
direct VFIO), same guest, same run:

* ``user_start`` + ``open_instances`` + close, repeated in one process (median and p99);
* 64 B AES-128-CBC in batches of 256 (the demo's SSL traffic, two batches in flight) on
  one SSL instance: best rate over alternating bursts, and the ratio (goal: within 5 %).

The direct rows run first, while no broker holds the groups (VFIO lets one process open a
group); then a broker is started ahead and kept across the children (``--linger -1``:
each child's lease ends, and a broker started on demand would exit and start again, so
its start-up would be timed too) and ended by pid after. Figures are TCG figures: compare
rows, not absolutes.

    python benchmarks/broker.py [--seconds 2.0] [--repeat 20]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.request_throughput import pipelined
from demo.seed import write_seed_configs
from demo.vfio_seed import bind_endpoints, start_broker
from qathw import open_instances, user_start
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR
from qathw.service.completion import Handle
from qathw.vfio_lent import ENV as BROKER_ENV

T = TypeVar("T")
BATCH = 256
GOAL = 0.05  # a holder through the broker within 5 % of the direct rate


def _in_child(fn: Callable[[], T], broker: bool) -> T:
    """Run ``fn`` in a forked process with the broker on or off; its result."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()

    def main(conn: Connection) -> None:
        os.environ[BROKER_ENV] = "on" if broker else "off"
        conn.send(fn())

    proc = ctx.Process(target=main, args=(child,))
    proc.start()
    try:
        if not parent.poll(600):
            raise TimeoutError(f"benchmark child {proc.pid} did not answer")
        return cast(T, parent.recv())
    finally:
        proc.join(10)
        if proc.is_alive():
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()


def start_open_close(repeat: int) -> list[float]:
    """Seconds of each ``user_start`` + ``open_instances`` + close, in this process."""
    took = []
    for _ in range(repeat):
        start = time.perf_counter()
        with user_start("SSL") as held, open_instances(held):
            pass
        took.append(time.perf_counter() - start)
    return took


def cbc_rates(seconds: float, bursts: int) -> list[float]:
    """Ops/s of 64 B AES-128-CBC batches of 256 on the section's instance, per burst."""
    with user_start("SSL") as held, open_instances(held) as insts:
        cy = insts.cy[0]
        cbc = cy.cipher("aes-128-cbc", os.urandom(16))
        msgs = [os.urandom(64) for _ in range(BATCH)]
        ivs = [os.urandom(16) for _ in range(BATCH)]

        def batch(i: int) -> Handle[object]:
            return cy.submit_batch([cbc.encrypt_op(m, v) for m, v in zip(msgs, ivs, strict=True)])

        run = pipelined(cy, batch, BATCH, 2)
        run(seconds / 10)  # warm-up
        return [run(seconds) for _ in range(bursts)]


def _ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    return f"median {statistics.median(values) * 1000:7.1f} ms   p99 {q[98] * 1000:7.1f} ms"


def in_guest(seconds: float, repeat: int) -> int:
    bind_endpoints()
    with tempfile.TemporaryDirectory(prefix="qathw-bench-broker-") as tmp:
        os.environ[ENV_CONFIG_DIR] = str(Path(tmp) / "etc")
        os.environ[ENV_RUNTIME_DIR] = str(Path(tmp) / "run")
        write_seed_configs(Path(os.environ[ENV_CONFIG_DIR]))
        lat: dict[bool, list[float]] = {}
        rates: dict[bool, list[float]] = {}
        lat[False] = _in_child(lambda: start_open_close(repeat), broker=False)
        rates[False] = _in_child(lambda: cbc_rates(seconds, 3), broker=False)
        pid = start_broker(linger=-1)  # kept up across the children, ended below
        try:
            lat[True] = _in_child(lambda: start_open_close(repeat), broker=True)
            rates[True] = _in_child(lambda: cbc_rates(seconds, 3), broker=True)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    print(f"user_start + open_instances + close, {repeat} times in one process:")
    print(f"  through the broker        {_ms(lat[True])}")
    print(f"  direct VFIO (broker off)  {_ms(lat[False])}")
    broker, direct = max(rates[True]), max(rates[False])
    ratio = broker / direct
    verdict = "within" if ratio >= 1 - GOAL else "NOT within"
    print(f"64 B AES-128-CBC, batches of {BATCH}, best of 3 x {seconds:g} s bursts:")
    print(f"  holder through the broker {broker:10,.0f} ops/s")
    print(f"  process owning the device {direct:10,.0f} ops/s")
    print(f"  ratio {ratio:.3f}: {verdict} {GOAL:.0%} of the device owner")
    return 0


def on_host(seconds: float, repeat: int) -> int:
    from demo.vfio_host import served_endpoints, spec_for
    from vm.guest import Guest
    from vm.host import missing_reason

    reason = missing_reason()
    if reason:
        print(f"broker benchmark skipped: it runs in a QEMU guest, and {reason}")
        return 0
    print("broker benchmark: booting one QEMU guest (TCG, about a minute) with two endpoints")
    argv = [__file__, "--in-guest", "--seconds", f"{seconds:g}", "--repeat", str(repeat)]
    with tempfile.TemporaryDirectory(prefix="qathw-bench-", dir="/dev/shm") as tmp:
        with served_endpoints(Path(tmp)) as backends, Guest(spec_for(backends)) as guest:
            result = guest.python(*argv, timeout=900)
    print(f"in the guest ({os.cpu_count()} host CPUs, load {os.getloadavg()[0]:.1f}):")
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.rc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput burst")
    parser.add_argument("--repeat", type=int, default=20, help="start/open/close rounds")
    parser.add_argument("--in-guest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    run = in_guest if args.in_guest else on_host
    return run(args.seconds, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
