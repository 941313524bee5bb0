"""``qathw list``: one row per QAT function, filters, JSON, unreadable fields."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def test_a_row_per_function_with_the_issue_columns(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "list")
    assert r.rc == 0 and r.err == ""
    header = r.out.splitlines()[0].split()
    assert header == ["BDF", "DEVICE", "GEN", "DRIVER", "STATE", "SERVICES", "VFS", "IOMMU", "NUMA"]
    table = rows(r.out)
    assert len(table) == 34
    pf = table[0]
    assert pf[0] == "0000:6b:00.0" and pf[1:3] == ["4xxx", "PF"]
    assert pf[3:8] == ["4", "4xxx", "up", "sym;asym", "16/16"]
    vf = table[1]
    assert vf[:9] == ["0000:6b:00.1", "4xxx", "VF", "4", "vfio-pci", "up", "sym;asym", "-", vf[8]]
    assert vf[8].isdigit()


def test_every_line_fits_80_columns(make_fake: FakeFactory) -> None:
    for topo in ("awkward", "gen4-mix", "dh895xcc"):
        out = run_cli(make_fake(topo), "list").out
        assert max(len(line) for line in out.splitlines()) <= 80, topo


def test_filters_by_role_and_driver(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    assert [r[0] for r in rows(run_cli(fake, "list", "--pf").out)] == [
        "0000:3d:00.0",
        "0000:6b:00.0",
        "0000:70:00.0",
        "0000:75:00.0",
    ]
    assert len(rows(run_cli(fake, "list", "--vf").out)) == 48
    unbound = [r[0] for r in rows(run_cli(fake, "list", "--driver", "none").out)]
    assert "0000:75:00.0" in unbound and "0000:6b:00.2" in unbound and "0000:3d:01.0" in unbound
    assert [r[0] for r in rows(run_cli(fake, "list", "--driver", "qat_vfio_pci").out)] == [
        "0000:6b:00.3"
    ]


def test_nothing_found_is_success_with_a_note_on_stderr(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("empty"), "list")
    assert (r.rc, r.out) == (0, "")
    assert "no QAT function found under" in r.err


def test_json_document(make_fake: FakeFactory) -> None:
    doc = json.loads(run_cli(make_fake("seed"), "list", "--json", "--vf").out)
    assert doc["schema_version"] == 2
    vf = doc["functions"][0]
    assert vf["bdf"] == "0000:6b:00.1" and vf["role"] == "vf" and vf["name"] == "qat_dev2"
    assert (vf["vendor"], vf["device"], vf["generation"]) == ("0x8086", "0x4941", 4)
    assert vf["qat_device"] == "0x4941" and vf["class_name"] == "4xxxvf"
    assert vf["pf"] == "0000:6b:00.0" and vf["driver"] == "vfio-pci"
    assert vf["vfio_node"].endswith(f"/dev/vfio/{vf['iommu_group']}")
    assert (vf["accel_id"], vf["inst_id"]) == (2, 0)
    assert vf["unreadable"] == {}


def test_emulated_endpoint_is_listed_as_such(make_fake: FakeFactory, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep")
    fake = make_fake(Topology("e", emulated=(EmulatedSpec("0000:00:04.0", ep),)))
    r = run_cli(fake, "list")
    assert rows(r.out)[0][:4] == ["0000:00:04.0", "4xxxvf", "(emulated)", "4"]
    doc = json.loads(run_cli(fake, "list", "--json").out)
    assert doc["functions"][0]["emulated"]["backend_state"] == "connected"


def test_unreadable_fields_are_marked_and_explained() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        pf_dir = os.path.realpath(fake.host.pci_device("0000:6b:00.0"))
        os.chmod(os.path.join(pf_dir, "qat", "cfg_services"), 0o600)
        r = as_user(NOBODY, lambda: run_cli(fake, "list", "--pf"))
    assert r.rc == 0
    assert rows(r.out)[0][6] == "?"
    assert "could not be read (access denied); run as root" in r.err


def test_a_sysfs_root_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli(None, "list", "--sysfs-root", str(tmp_path / "nope"))
    assert r.rc == 2
    assert r.err.startswith(f"qathw: sysfs root {tmp_path / 'nope'} is not a directory: ")


def test_the_environment_names_the_sysfs_root(
    make_fake: FakeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = make_fake("c62x-3dev")
    monkeypatch.setenv("QATHW_SYSFS_ROOT", str(fake.sysfs_root))
    assert len(rows(run_cli(None, "list").out)) == 3


def test_a_sysfs_root_not_named_sys_is_a_usage_error(tmp_path: Path) -> None:
    # Its parent plays /, so /dev and /run are found next to it: /etc would mean the real /.
    r = run_cli(None, "list", "--sysfs-root", str(tmp_path))
    assert r.rc == 2 and "is not named 'sys'" in r.err
