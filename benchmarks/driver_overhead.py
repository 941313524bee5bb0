"""Driver overhead: host CPU per request, with the device's work taken out.

The device model is stepped by hand between the host's calls and answers every request
with a precomputed response (only the cookie copied in); the clock runs only around the
host's calls, so each row is qathw's cost per request on one core: building it (the
request layer, for AES-GCM), the ring submit, the poll, matching the response and
finishing the op. No register is read on this path (docs/hardware.md#submit-and-poll).

Rows: NULL requests on a ring pair (the transport alone: prebuilt rows, submit, poll),
at batch 1 and 256; AES-128-GCM on 64 bytes built by the request layer, one op object per
request (``encrypt_op``, then ``submit`` / ``submit_batch``, then the result) at batch 1
and 256, and through the session's batch call (``submit_many``: no op objects) at batch
256; in the same run, ``cryptography``'s AESGCM encrypting 64 bytes in this process, for
scale. The goal is 1 M requests/s per core at batch 256; each row says whether it meets it.

    python benchmarks/driver_overhead.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from fakedev import endpoint_file, wire  # noqa: E402
from fakedev.device import Device  # noqa: E402
from fakedev.memory import DeviceMemory  # noqa: E402
from qathw.endpoint import Endpoint, open_emulated  # noqa: E402
from qathw.fw.common import (  # noqa: E402
    HDR_FLAG_VALID,
    NULL_REQ_SERV_ID,
    REQ_OPAQUE_OFFSET,
    RESP_OPAQUE_OFFSET,
    ServiceType,
)
from qathw.service import calls  # noqa: E402
from qathw.service.completion import Channel  # noqa: E402
from qathw.service.sessions import AeadSession  # noqa: E402
from qathw.transport.ring import RingPair  # noqa: E402

GOAL = 1_000_000  # requests/s per core at batch 256
SLOTS = 1024
BANK = 1  # a sym bank of the default map


def precomputed(request: bytes, memory: DeviceMemory) -> bytes:
    """The device's answer, computed once per service type; only the cookie changes."""
    template = _TEMPLATES.get(request[2])
    if template is None:
        template = _TEMPLATES[request[2]] = bytearray(wire.make_response(request))
    out = bytearray(template)
    out[RESP_OPAQUE_OFFSET : RESP_OPAQUE_OFFSET + 8] = request[
        REQ_OPAQUE_OFFSET : REQ_OPAQUE_OFFSET + 8
    ]
    return bytes(out)


_TEMPLATES: dict[int, bytearray] = {}


def null_requests(n: int) -> npt.NDArray[np.uint8]:
    """``n`` NULL requests (service 0, command 1, valid), cookies 0..n-1."""
    rows = np.zeros((n, 128), np.uint8)
    rows[:, 1] = NULL_REQ_SERV_ID
    rows[:, 2] = ServiceType.NULL
    rows[:, 3] = HDR_FLAG_VALID
    cookies = np.arange(n, dtype="<u8").view(np.uint8).reshape(n, 8)
    rows[:, REQ_OPAQUE_OFFSET : REQ_OPAQUE_OFFSET + 8] = cookies
    return rows


Step = Callable[[], tuple[int, float]]  # one round: (requests, host seconds)


def host_rate(step: Step, seconds: float) -> float:
    """Requests per second of host time of ``step`` repeated for ``seconds`` of wall time."""
    step()  # warm up
    done, host = 0, 0.0
    wall0 = time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        n, t = step()
        done += n
        host += t
    return done / host


def null_step(dev: Device, pair: RingPair, batch: int) -> Step:
    rows = null_requests(batch)
    clock = time.perf_counter

    def step() -> tuple[int, float]:
        t0 = clock()
        pair.submit(rows)
        t1 = clock()
        dev.step()  # the device's work: not counted
        t2 = clock()
        got = len(pair.poll())
        t3 = clock()
        assert got == batch
        return batch, (t1 - t0) + (t3 - t2)

    return step


def gcm_step(dev: Device, channel: Channel, session: AeadSession, batch: int) -> Step:
    nonce, data = bytes(12), bytes(64)
    clock = time.perf_counter

    def step() -> tuple[int, float]:
        t0 = clock()
        ops = [session.encrypt_op(nonce, data) for _ in range(batch)]
        handle = calls.submit(channel, ops[0]) if batch == 1 else calls.submit_batch(channel, ops)
        t1 = clock()
        dev.step()  # the device's work: not counted
        t2 = clock()
        handle.result(1.0)
        t3 = clock()
        return batch, (t1 - t0) + (t3 - t2)

    return step


def gcm_many_step(dev: Device, session: AeadSession, batch: int) -> Step:
    nonces, data = [bytes(12)] * batch, [bytes(64)] * batch
    clock = time.perf_counter

    def step() -> tuple[int, float]:
        t0 = clock()
        handle = session.submit_many(nonces, data)
        t1 = clock()
        dev.step()  # the device's work: not counted
        t2 = clock()
        handle.result(1.0)
        t3 = clock()
        return batch, (t1 - t0) + (t3 - t2)

    return step


def aesgcm_rate(seconds: float) -> float:
    gcm, nonce, data = AESGCM(bytes(16)), bytes(12), bytes(64)
    done = 0
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(256):
            gcm.encrypt(nonce, data, None)
        done += 256
    return done / (time.thread_time() - cpu0)


def run_rows(dev: Device, ep: Endpoint, seconds: float) -> list[tuple[str, int, float]]:
    ep.connect()
    rows: list[tuple[str, int, float]] = []
    pair = ep.ring_pair(BANK, slots=SLOTS)
    for batch in (1, 256):
        rows.append(("NULL (ring pair)", batch, host_rate(null_step(dev, pair, batch), seconds)))
    pair.close()
    pool = ep.bank_memory(BANK + 2)
    channel = Channel(ep.ring_pair(BANK + 2, slots=SLOTS, pool=pool), pool, ep, name="bench")
    session = AeadSession(channel, "aes-128-gcm", bytes(16))
    for batch in (1, 256):
        step = gcm_step(dev, channel, session, batch)
        rows.append(("AES-128-GCM 64 B, per op", batch, host_rate(step, seconds)))
    step = gcm_many_step(dev, session, 256)
    rows.append(("AES-128-GCM 64 B, batch call", 256, host_rate(step, seconds)))
    session.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per row")
    args = parser.parse_args(argv)
    handlers = {int(ServiceType.NULL): precomputed, int(ServiceType.LA): precomputed}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        path = Path(d) / "qat.ep"
        endpoint_file.create(path, "4xxxvf", size=64 << 20)
        with Device(path, handlers=handlers) as dev:
            with open_emulated(path, mailbox_idle=dev.step) as ep:
                rows = run_rows(dev, ep, args.seconds)
    reference = aesgcm_rate(args.seconds)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"driver overhead, host time only (load average {load})")
    print(f"goal: {GOAL:,} req/s per core at batch 256")
    print(f"{'requests':<30}{'batch':>6}{'req/s per core':>16}  goal")
    for name, batch, rate in rows:
        verdict = "met" if rate >= GOAL else "not met"
        if batch != 256:
            verdict += " (the goal is for batch 256)"
        print(f"{name:<30}{batch:>6}{rate:>16,.0f}  {verdict}")
    print(f"{'cryptography AESGCM 64 B':<30}{'-':>6}{reference:>16,.0f}  (in-process, for scale)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
