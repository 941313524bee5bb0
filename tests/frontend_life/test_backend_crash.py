"""A backend killed in the middle of requests, and a new one started on the same file.

Nothing announces the crash; the frontend finds the new backend's epoch on an empty poll.
What the old backend wrote is taken; every other request is lost and goes to the replay
rule: out-of-place requests come back correct (replayed once), in-place requests on the
caller's own device buffer are correct or fail with ``DeviceRestartError`` — never a wrong
result, never run twice, and no callback runs twice. Real processes: ``fakedev serve``
(forked, to start fast) killed with SIGKILL, many trials.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from fakedev.engine.compat import TripleDES
from qathw.errors import DeviceRestartError
from qathw.service.buffers import DeviceBuffer
from qathw.service.completion import Handle
from qathw.service.instance import CyInstance
from tests.frontend_life.backends import BDF, Forked, build_host, instances
from tests.service import rig

TRIALS = 20


@dataclass(frozen=True)
class Case:
    kind: str
    algorithm: str
    key_size: int
    reference: Callable[[bytes], CipherAlgorithm]
    block: int  # the cipher's block (and IV) size
    size: int  # bytes per request
    each: int  # requests of each placement per trial
    endpoint_size: int


CASES = [
    Case("4xxxvf", "aes-256-cbc", 32, algorithms.AES, 16, 512 << 10, 4, 64 << 20),
    Case("c6xxvf", "3des-cbc", 24, TripleDES, 8, 64 << 10, 4, 16 << 20),
]


@dataclass
class Trial:
    """One trial's requests: what was sent, where the answer goes, how often each called."""

    expected: list[bytes] = field(default_factory=list)
    outputs: list[DeviceBuffer] = field(default_factory=list)
    in_place: list[bool] = field(default_factory=list)
    handles: list[Handle[object]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    buffers: list[DeviceBuffer] = field(default_factory=list)
    plain: list[bytes] = field(default_factory=list)


def _send(cy: CyInstance, case: Case, key: bytes, iv: bytes, rng: random.Random) -> Trial:
    """Prepare ``each`` in-place and ``each`` out-of-place requests, then send them all at
    once in a random order (the device is busy with them when the trial kills it)."""
    session = cy.cipher(case.algorithm, key)
    cipher = Cipher(case.reference(key), modes.CBC(iv))
    t = Trial()
    ops = []
    for in_place in [True] * case.each + [False] * case.each:
        data = rng.randbytes(case.size)
        src = cy.alloc(case.size)
        src.write(data)
        dst = src if in_place else cy.alloc(case.size)
        t.buffers += [src] if in_place else [src, dst]
        ops.append(
            session.encrypt_op(src, iv) if in_place else session.encrypt_op(src, iv, out=dst)
        )
        enc = cipher.encryptor()
        t.expected.append(enc.update(data) + enc.finalize())
        t.plain.append(data)
        t.outputs.append(dst)
        t.in_place.append(in_place)
    t.calls = [0] * len(ops)
    handles: dict[int, Handle[object]] = {}
    order = list(range(len(ops)))
    rng.shuffle(order)
    for i in order:

        def called(_: Handle[object], i: int = i) -> None:
            t.calls[i] += 1

        handles[i] = cy.submit(ops[i], called)
    t.handles = [handles[i] for i in range(len(ops))]
    return t


def _crash_point(t: Trial, rng: random.Random, mode: int) -> None:
    """Wait for the moment to kill: an in-place buffer being written back (the device is
    inside that request), a random short while, or at once."""
    if mode == 0:
        victims = [i for i, ip in enumerate(t.in_place) if ip]
        i = rng.choice(victims)
        head = t.plain[i][:16]
        view = t.outputs[i].view
        deadline = time.monotonic() + 2.0
        while bytes(view[:16]) == head and time.monotonic() < deadline:
            pass
    elif mode == 1:
        time.sleep(rng.uniform(0, 0.005))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.algorithm}")
def test_a_killed_backend_leaves_no_wrong_result_and_runs_nothing_twice(case: Case) -> None:
    rng = random.Random(f"crash-{case.kind}")
    host = build_host(case.kind, case.endpoint_size)
    path, services = host.files[BDF], host.ring_service_map(BDF)
    backend = Forked(path, services)
    restart_errors = replayed = 0
    try:
        with instances(host) as insts:
            cy = insts.cy[0]
            for trial in range(TRIALS):
                key, iv = rng.randbytes(case.key_size), rng.randbytes(case.block)
                t = _send(cy, case, key, iv, rng)
                _crash_point(t, rng, trial % 3)
                backend.kill()
                backend = Forked(path, services)
                for i, handle in enumerate(t.handles):
                    error = handle.exception()
                    if error is None:
                        assert t.outputs[i].tobytes() == t.expected[i], (trial, i, t.in_place[i])
                        continue
                    assert isinstance(error, DeviceRestartError), error
                    assert t.in_place[i], f"trial {trial}: out-of-place request {i} failed"
                    assert not error.retryable
                    restart_errors += 1
                cy.channel.wait_until(lambda: not cy.in_flight)  # callbacks run on poll
                assert t.calls == [1] * len(t.handles), (trial, t.calls)
                for b in t.buffers:
                    b.free()
            replayed = cy.channel.replayed
    finally:
        backend.kill()
        rig.remove(host)
    # The trials did kill backends in the middle of work.
    assert restart_errors + replayed > 0
