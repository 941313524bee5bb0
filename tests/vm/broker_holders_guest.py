"""Run inside the guest by tests/vm/test_broker_holders.py: two section holders on one
vfio-bound endpoint, through the section broker.

    python -m tests.vm.broker_holders_guest [--device 4xxxvf --restart]   (as root, in the guest)

Binds the ivshmem function to vfio-pci, writes a configuration whose ``[SSL]`` gives two
processes a Cy instance each on that one function, starts two holder processes that each
``user_start`` + ``open_instances`` and encrypt with AES-128-CBC (checked against the
``cryptography`` package), and holds both until both have answered, so that they share
the function at the same time. Prints one JSON object: what each holder reported.

``--device`` names the endpoint's class (its configuration file's prefix). With
``--restart`` (a VF endpoint, whose PF/VF mailbox the broker owns), each holder then
keeps encrypting until the restart the host injects (``python -m fakedev inject FILE
restart``) has reached it — the error its requests fail with, or the function reopened
and a request verified again — and reports what it saw, including the PF notifications
the broker relayed to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from qathw import admin
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, HostRoot
from tests.service import rig
from tests.vm.guest import pcitools

HOLDER = """
import json, os, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import qathw
from qathw.vfio_lent import LentDevice
held = qathw.user_start("SSL")
insts = qathw.open_instances(held)
cy = next(i for i in insts.cy if i._channel is not None)
key, iv, msg = os.urandom(16), os.urandom(16), os.urandom(256)
with cy.cipher("AES-128-CBC", key) as session:
    got = session.encrypt(msg, iv)
enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
access = cy.endpoint._owned[-1]
print(json.dumps({
    "section": held.name,
    "verified": got == enc.update(msg) + enc.finalize(),
    "lent": isinstance(access, LentDevice),
    "broker_pid": access._lease.session.broker_pid if isinstance(access, LentDevice) else None,
    "own_mailbox": cy.endpoint.mailbox is not None,
    "relayed": cy.endpoint.relay is not None,
}), flush=True)
if RESTART:
    import time
    relayed, errors, recovered = [], [], False
    if cy.endpoint.relay is not None:
        cy.endpoint.relay.subscribe(lambda e: relayed.append(e.value))
    sys.stdin.readline()  # "go": both holders verified; the host injects on our traffic
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not recovered:
        try:
            key, iv, msg = os.urandom(16), os.urandom(16), os.urandom(256)
            with cy.cipher("AES-128-CBC", key) as session:
                got = session.encrypt(msg, iv)
            enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            ok = got == enc.update(msg) + enc.finalize()
            recovered = ok and (bool(errors) or cy.endpoint.watch.reopened > 0)
        except qathw.QatError as exc:
            errors.append(type(exc).__name__)
            time.sleep(0.2)
    print(json.dumps({
        "relayed_events": relayed,
        "errors": errors[:5],
        "reopened": cy.endpoint.watch.reopened,
        "recovered": recovered,
    }), flush=True)
sys.stdin.read()
insts.close()
held.stop()
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="4xxx")
    parser.add_argument("--restart", action="store_true")
    args = parser.parse_args(argv)
    (bdf,) = pcitools.find(pcitools.IVSHMEM)
    if pcitools.driver(bdf) != "vfio-pci":
        subprocess.run(["modprobe", "vfio-pci"], check=True)
        admin.bind(HostRoot(), bdf, "vfio-pci")
    work = Path(tempfile.mkdtemp(prefix="qathw-holders-"))
    (work / "etc").mkdir()
    conf = rig.GENERAL.format(services="asym;sym", depth=64) + rig.section("SSL", cy=1, processes=2)
    (work / "etc" / f"{args.device}_dev0.conf").write_text(conf)
    env = {**os.environ, ENV_CONFIG_DIR: str(work / "etc"), ENV_RUNTIME_DIR: str(work / "run")}
    env.pop("QATHW_BROKER", None)
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", f"RESTART = {args.restart}\n" + HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    reports: list[object] = []
    try:
        for proc in holders:  # both answer while both hold their section
            assert proc.stdout is not None
            line = proc.stdout.readline()
            reports.append(json.loads(line) if line else {"error": "no report"})
        if args.restart:
            for proc in holders:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            for proc, report in zip(holders, reports, strict=True):
                assert proc.stdout is not None and isinstance(report, dict)
                line = proc.stdout.readline()
                report["restart"] = json.loads(line) if line else {"error": "no report"}
    finally:
        for proc in holders:
            _, err = proc.communicate("", timeout=60)
            if proc.returncode:
                reports.append({"error": err[-2000:], "rc": proc.returncode})
    log = work / "run" / "broker.log"
    said = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    print(json.dumps({"bdf": bdf, "holders": reports, "broker_log": said}))


if __name__ == "__main__":
    main()
