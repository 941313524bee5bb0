"""``qathw show BDF``: lspci -vv style detail, JSON, and what cannot be read."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fakedev import sysfs
from fakedev.topologies import EmulatedSpec, Topology
from tests.fakedev_sysfs.helpers import (
    NOBODY,
    FakeFactory,
    as_user,
    run_cli,
    world_readable_dir,
    write_endpoint_file,
)


def test_pf_detail(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "show", "0000:6b:00.0")
    assert r.rc == 0
    out = r.out
    assert out.splitlines()[0] == "0000:6b:00.0 [0b40]: Intel QAT 4xxx PF [8086:4940] (rev 40)"
    for expected in (
        "QAT: gen4, class 4xxx, PF, qat_dev0 (4xxx_dev0.conf), 64 banks",
        "Kernel driver in use: 4xxx",
        "SR-IOV: 16 of 16 VFs enabled (VF device 4941, offset 1, stride 1)",
        "VF drivers: 16 on vfio-pci",
        "qat/: state up, cfg_services sym;asym, pm_idle_enabled 1",
        "heartbeat: alive",
        "telemetry: off",
        "dev_cfg [GENERAL] ServicesEnabled = sym;asym",
        "BAR0: Memory at ",
    ):
        assert expected in out, expected
    assert max(len(line) for line in out.splitlines()) <= 80


def test_vf_detail_names_its_pf(make_fake: FakeFactory) -> None:
    out = run_cli(make_fake("awkward"), "show", "0000:70:00.2").out
    assert "Physical function: 0000:70:00.0 (state down, services dc)" in out
    assert "Kernel driver in use: vfio-pci" in out
    assert "debugfs" not in out  # debugfs is per PF


def test_emulated_endpoint_detail(make_fake: FakeFactory, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep")
    fake = make_fake(Topology("e", emulated=(EmulatedSpec("0000:00:04.0", ep),)))
    out = run_cli(fake, "show", "0000:00:04.0").out
    assert out.startswith("0000:00:04.0 [0500]: QEMU ivshmem [1af4:1110]")
    text = " ".join(out.split())  # long lines wrap at 80 columns wherever the epoch ends
    assert "Emulated endpoint: backend connected (epoch " in text
    assert f"pid {os.getpid()})" in text
    assert "BAR2: Memory at " in text and "[size=1M]" in text


def test_json_is_one_document_with_everything(make_fake: FakeFactory) -> None:
    doc = json.loads(run_cli(make_fake("seed"), "show", "--json", "0000:70:00.0").out)
    assert doc["schema_version"] == 2 and doc["services"] == "dc"
    assert (doc["vendor"], doc["device"]) == ("0x8086", "0x4940")
    assert doc["pci"]["class"] == "0x0b4000"
    assert doc["pci"]["sriov"] == {
        "total_vfs": 16,
        "num_vfs": 16,
        "vf_device": "0x4941",
        "offset": 1,
        "stride": 1,
    }
    assert doc["pci"]["qat"]["num_rps"] == 64
    assert doc["debugfs"]["dev_cfg"]["GENERAL"]["ServicesEnabled"] == "dc"
    assert doc["pci"]["capabilities"][0]["name"] == "Express"


def test_without_privilege_fields_read_access_denied() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        r = as_user(NOBODY, lambda: run_cli(fake, "show", "0000:6b:00.0"))
    assert r.rc == 0
    assert "Capabilities: <access denied> (config space beyond 64 bytes needs root)" in r.out
    assert "<access denied> (debugfs is root-only)" in r.out
    assert "qat/: state up" in r.out  # world-readable attributes still show


def test_not_a_qat_function_and_bad_addresses(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    missing = run_cli(fake, "show", "0000:00:02.0")
    assert missing.rc == 1 and "0000:00:02.0 is not a QAT function" in missing.err
    bad = run_cli(fake, "show", "6b-00")
    assert bad.rc == 2 and "is not a PCI address" in bad.err
