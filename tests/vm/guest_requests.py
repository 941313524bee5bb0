"""The request layer in a guest, through VFIO: run there by ``tests/vm/test_in_guest.py``.

``python -m tests.vm.guest_requests`` runs as root in a guest with two emulated endpoints
served on the host: a gen4 VF (``4xxxvf``, qat_dev0, serving :data:`GEN4_SERVICES`) and a
gen2 VF (``c6xxvf``, qat_dev1). It binds both to vfio-pci, writes :data:`CONFIG_FILES`
into ``$QATHW_CONFIG_DIR`` (left there for ``qathw sample cipher``), holds section
``[REQ]`` and runs the work read from stdin (JSON, hex) on its instances: DES-CBC on the
gen2 endpoint (no gen4 endpoint offers DES), AES-GCM, SHA-256 and deflate on the gen4 one.

The host made every input and checks every output against ``cryptography``, ``hashlib``
and ``zlib``; this process only computes with qathw. Its one JSON line holds the outputs
(hex), where each instance ran and how long binding, opening and the requests took. The
caller sets ``QATHW_BROKER=off``: this one process opens the VFIO groups itself, with no
section broker to start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import qathw
from qathw import admin
from qathw.discovery import discover
from qathw.paths import ENV_CONFIG_DIR, HostRoot
from qathw.pci_access import access_path
from qathw.service.instance import CyInstance, DcInstance, Instances

GEN4_SERVICES = "sym;dc"  # what the gen4 endpoint's backend serves, and its file says
SECTION = "REQ"  # this script's section: one instance of each kind the work needs
GEN2_CY, GEN4_CY, GEN4_DC = "Gen2Cy", "Gen4Cy", "Gen4Dc"  # [REQ]'s instances
SAMPLE_SECTION, SAMPLE_CY = "SSL", "SSL0"  # what 'qathw sample cipher' starts by default

_GENERAL = """\
[GENERAL]
ServicesEnabled = {services}
ConfigVersion = 2
CyNumConcurrentSymRequests = 64
CyNumConcurrentAsymRequests = 64
DcNumConcurrentRequests = 64
statsGeneral = 0

[KERNEL]
NumberCyInstances = 0
NumberDcInstances = 0
"""


def _section(name: str, *, limit_dev_access: int, cy: str = "", dc: str = "") -> str:
    text = (
        f"\n[{name}]\nNumProcesses = 1\nLimitDevAccess = {limit_dev_access}\n"
        f"NumberCyInstances = {int(bool(cy))}\nNumberDcInstances = {int(bool(dc))}\n"
    )
    if cy:
        text += f'Cy0Name = "{cy}"\nCy0IsPolled = 1\nCy0CoreAffinity = 0\n'
    if dc:
        text += f'Dc0Name = "{dc}"\nDc0IsPolled = 1\nDc0CoreAffinity = 0\n'
    return text


#: The devices' files (numbered by inst_id within a type: the c6xxvf is qat_dev1 but reads
#: c6xxvf_dev0.conf). [REQ] spans both endpoints; [SSL], the seed's sample section, is on
#: the gen2 endpoint alone (LimitDevAccess = 1, as in the seed).
CONFIG_FILES = {
    "4xxxvf_dev0.conf": _GENERAL.format(services=GEN4_SERVICES)
    + _section(SECTION, limit_dev_access=0, cy=GEN4_CY, dc=GEN4_DC),
    "c6xxvf_dev0.conf": _GENERAL.format(services="cy")
    + _section(SAMPLE_SECTION, limit_dev_access=1, cy=SAMPLE_CY)
    + _section(SECTION, limit_dev_access=0, cy=GEN2_CY),
}


def write_config(directory: Path) -> None:
    """Write :data:`CONFIG_FILES` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in CONFIG_FILES.items():
        (directory / name).write_text(text)


def bind_endpoints() -> None:
    """Bind every emulated endpoint of the guest to vfio-pci, with qathw's own bind.

    (``demo.vfio_seed`` does the same; not imported from there: the demo's imports take
    seconds under TCG.)
    """
    subprocess.run(["modprobe", "vfio-pci"], check=True)
    for fn in discover(HostRoot()).emulated:
        admin.bind(HostRoot(), fn.bdf, "vfio-pci")


def _hex(data: bytes) -> str:
    return data.hex()


def _where(insts: Instances, name: str) -> dict[str, Any]:
    inst = insts.by_name(name)
    dev = inst.record.device
    assert dev.bdf is not None
    return {"bdf": dev.bdf, "class_name": dev.class_name, "access": access_path(dev.bdf)}


def vfio_groups_open() -> list[str]:
    """The VFIO group nodes this process holds open (``/dev/vfio/N``)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/vfio/") and target != "/dev/vfio/vfio":
            found.add(target)
    return sorted(found)


def run_des(inst: CyInstance, work: dict[str, Any]) -> list[str]:
    """The seed's sample: DES-CBC encryptions, one request at a time."""
    with inst.cipher("des-cbc", bytes.fromhex(work["key"])) as s:
        return [
            _hex(s.encrypt(bytes.fromhex(i["data"]), bytes.fromhex(i["iv"]))) for i in work["items"]
        ]


def run_gcm(inst: CyInstance, work: dict[str, Any]) -> list[str]:
    """AES-GCM seals (ciphertext ‖ tag)."""
    with inst.aead(work["algorithm"], bytes.fromhex(work["key"])) as s:
        return [
            _hex(
                s.encrypt(
                    bytes.fromhex(i["nonce"]), bytes.fromhex(i["data"]), bytes.fromhex(i["aad"])
                )
            )
            for i in work["items"]
        ]


def run_sha256(inst: CyInstance, work: list[str]) -> list[str]:
    with inst.hash("sha256") as s:
        return [_hex(s.digest(bytes.fromhex(data))) for data in work]


def run_deflate(inst: DcInstance, work: dict[str, Any]) -> dict[str, Any]:
    """Compress the host's data; decompress the host's raw deflate streams."""
    with inst.compression() as s:
        compressed = []
        for data in work["compress"]:
            r = s.compress(bytes.fromhex(data))
            compressed.append(
                {"stream": _hex(r.output), "crc32": r.crc32, "end_of_stream": r.end_of_stream}
            )
        decompressed = [
            _hex(s.decompress(bytes.fromhex(d["stream"]), output_size=d["size"]).output)
            for d in work["decompress"]
        ]
    return {"compressed": compressed, "decompressed": decompressed}


def run(work: dict[str, Any]) -> dict[str, Any]:
    """Hold [REQ], run ``work`` on its instances; the outputs and where they ran."""
    start = time.monotonic()
    with qathw.user_start(SECTION) as held, qathw.open_instances(held) as insts:
        opened = time.monotonic()
        gen2, gen4, dc = (insts.by_name(n) for n in (GEN2_CY, GEN4_CY, GEN4_DC))
        assert isinstance(gen2, CyInstance) and isinstance(gen4, CyInstance)
        assert isinstance(dc, DcInstance)
        out = {
            "section": held.name,
            "instances": {n: _where(insts, n) for n in (GEN2_CY, GEN4_CY, GEN4_DC)},
            "vfio_groups": vfio_groups_open(),
            "des": run_des(gen2, work["des"]),
            "gcm": run_gcm(gen4, work["gcm"]),
            "sha256": run_sha256(gen4, work["sha256"]),
            "deflate": run_deflate(dc, work["deflate"]),
        }
        done = time.monotonic()
    out["seconds"] = {"open": opened - start, "requests": done - opened}
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m tests.vm.guest_requests", description=__doc__
    ).parse_args(argv)
    work = json.load(sys.stdin)
    start = time.monotonic()
    bind_endpoints()
    write_config(Path(os.environ[ENV_CONFIG_DIR]))
    bound = time.monotonic() - start
    out = run(work)
    out["seconds"]["bind"] = bound
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
