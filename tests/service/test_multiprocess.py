"""Several processes on one emulated PF endpoint, each with its own section and banks.

Every process maps the same endpoint file through the fake sysfs tree and programs only
the banks of its own instances; each bank's DMA memory is a fixed slice of device
memory, so the processes never allocate the same bytes. If they did, their results
would be corrupted: every result here is checked against ``cryptography``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import qathw
from tests.service import rig

PF = rig.Endpoint("0000:00:10.0", "4xxx", "asym;sym", size=32 << 20)
PROCESSES = 4


def _worker(conn: multiprocessing.connection.Connection) -> None:
    try:
        with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
            cy = insts.cy[0]
            key = os.urandom(16)
            cbc = cy.cipher("aes-128-cbc", key)
            gcm = cy.aead("aes-128-gcm", key)
            bad = 0
            msgs = [os.urandom(16 * (1 + i % 40)) for i in range(300)]
            ivs = [os.urandom(16) for _ in msgs]
            got = cy.perform_batch([cbc.encrypt_op(m, v) for m, v in zip(msgs, ivs, strict=True)])
            for m, v, g in zip(msgs, ivs, got, strict=True):
                enc = Cipher(algorithms.AES(key), modes.CBC(v)).encryptor()
                bad += g != enc.update(m) + enc.finalize()
            for m in msgs[:100]:
                nonce = os.urandom(12)
                bad += gcm.encrypt(nonce, m, b"hdr") != AESGCM(key).encrypt(nonce, m, b"hdr")
            conn.send((held.name, insts.cy[0].record.banks, bad))
    except Exception as exc:  # reported to the parent, which fails the test with it
        conn.send(("error", repr(exc), -1))


def test_four_processes_share_one_endpoint_without_touching_each_others_memory() -> None:
    h = rig.build(
        (PF,),
        {
            "4xxx_dev0.conf": rig.GENERAL.format(services="asym;sym", depth=512)
            + rig.section("SSL", cy=1, processes=PROCESSES)
        },
    )
    ctx = multiprocessing.get_context("fork")
    try:
        with rig.environment(h), rig.running(h):
            pipes, procs = [], []
            for _ in range(PROCESSES):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(child,), daemon=True)
                p.start()
                child.close()
                pipes.append(parent)
                procs.append(p)
            results: list[tuple[str, tuple[int, ...], int]] = [
                p.recv() if p.poll(60) else ("timeout", (), -1) for p in pipes
            ]
            for p in procs:
                p.join(10)
    finally:
        rig.remove(h)
    assert all(bad == 0 for _, _, bad in results), results
    names = sorted(name for name, _, _ in results)
    assert names == [f"SSL_INT_{i}" for i in range(PROCESSES)]
    banks = [b for _, bs, _ in results for b in bs]
    assert len(banks) == len(set(banks))  # every process on banks of its own
