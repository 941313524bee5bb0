"""The demo's traffic: each worker opens its section's instances and runs real requests.

SSL workers encrypt with AES-128-CBC (the seed's sample used DES-CBC, which no gen4
endpoint offers: DPDK's gen4 capability table and qatlib have no DES); the IPSec
worker seals with AES-256-GCM on each of its eight instances in turn. Every result is
checked against ``cryptography`` computed in the worker itself. Requests go in batches
(one ring submit per batch) for a fixed time; the worker reports what it did.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qathw import QatError, open_instances
from qathw.sections import HeldSection
from qathw.service.instance import Instances

BATCH = 64
MESSAGE = 64


@dataclass(frozen=True)
class Report:
    """What a worker's traffic did."""

    pid: int
    section: str
    algorithm: str
    instances: int
    ops: int
    mismatches: int
    seconds: float
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def _cbc(insts: Instances, seconds: float) -> tuple[str, int, int, int]:
    key = os.urandom(16)
    sessions = [(cy, cy.cipher("aes-128-cbc", key)) for cy in insts.cy]
    ops = bad = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for cy, s in sessions:
            msgs = [os.urandom(MESSAGE) for _ in range(BATCH)]
            ivs = [os.urandom(16) for _ in range(BATCH)]
            got = cy.perform_batch([s.encrypt_op(m, iv) for m, iv in zip(msgs, ivs, strict=True)])
            for m, iv, ct in zip(msgs, ivs, got, strict=True):
                enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
                bad += ct != enc.update(m) + enc.finalize()
            ops += BATCH
    return "aes-128-cbc", len(sessions), ops, bad


def _gcm(insts: Instances, seconds: float) -> tuple[str, int, int, int]:
    key = os.urandom(32)
    ref = AESGCM(key)
    sessions = [(cy, cy.aead("aes-256-gcm", key)) for cy in insts.cy]
    ops = bad = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for cy, s in sessions:
            msgs = [os.urandom(MESSAGE) for _ in range(BATCH // 4)]
            nonces = [os.urandom(12) for _ in msgs]
            got = cy.perform_batch(
                [s.encrypt_op(n, m, b"esp") for n, m in zip(nonces, msgs, strict=True)]
            )
            for n, m, sealed in zip(nonces, msgs, got, strict=True):
                bad += sealed != ref.encrypt(n, m, b"esp")
            ops += len(msgs)
    return "aes-256-gcm", len(sessions), ops, bad


def make_workload(seconds: float) -> Callable[[HeldSection, Connection], None]:
    """The workload for :func:`demo.workers.spawn`.

    The worker opens its instances and says ``"ready"`` (or sends a :class:`Report` with
    the error), runs traffic for ``seconds`` when told ``"go"``, sends its
    :class:`Report`, and holds its section until ``"stop"``.
    """

    def traffic(held: HeldSection, conn: Connection) -> None:
        run = _gcm if held.user_section == "IPSec" else _cbc
        try:
            insts = open_instances(held)
        except QatError as exc:
            conn.send(Report(os.getpid(), held.name, "-", 0, 0, 0, 0.0, str(exc)))
        else:
            with insts:
                conn.send("ready")
                if conn.recv() != "go":
                    return  # told to stop before any traffic
                start = time.perf_counter()
                try:
                    alg, n, ops, bad = run(insts, seconds)
                    took = time.perf_counter() - start
                    conn.send(Report(os.getpid(), held.name, alg, n, ops, bad, took))
                except QatError as exc:
                    conn.send(Report(os.getpid(), held.name, "-", 0, 0, 0, 0.0, str(exc)))
        while conn.recv() != "stop":
            pass

    return traffic
