"""On a host with QAT functions, discovery decides which devices are started and their numbers.

A device is started when it is up and ``<class>_dev<inst_id>.conf`` exists, and its
internal sections carry its kernel accel id — as adf_ctl and the kernel do it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import write_seed_configs
from fakedev.sysfs import FakeHost, build
from qathw import sections
from qathw.config.devices import started_devices
from qathw.discovery import discover
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from qathw.started import host_devices
from qathw.sysfsio import using

VF_CONFIG = """\
[GENERAL]
ServicesEnabled = asym;sym
ConfigVersion = 2
statsGeneral = 0

[SSL]
NumProcesses = 2
LimitDevAccess = 1
NumberCyInstances = 1
NumberDcInstances = 0
Cy0Name = "SSL0"
Cy0IsPolled = 1
Cy0CoreAffinity = 0
"""


@pytest.fixture
def seed_host(tmp_path: Path) -> Iterator[FakeHost]:
    prefix = Path(f"/dev/shm/qathw-started-{tmp_path.name}")
    host = build(prefix, "seed")  # two 4xxx PFs, 16 VFs each, all up
    yield host
    shutil.rmtree(prefix, ignore_errors=True)


def test_pf_files_get_the_kernel_accel_ids_and_bdfs(seed_host: FakeHost, tmp_path: Path) -> None:
    write_seed_configs(tmp_path)
    inv = discover(seed_host.host)
    devices = started_devices(tmp_path, host_devices(inv))
    pfs = [f for f in inv.accel_devices if not f.is_vf]
    assert [(d.accel_id, d.class_name, d.bdf) for d in devices] == [
        (pfs[0].accel_id, "4xxx", pfs[0].bdf),
        (pfs[1].accel_id, "4xxx", pfs[1].bdf),
    ]


def test_a_vf_file_maps_to_that_vfs_accel_id(seed_host: FakeHost, tmp_path: Path) -> None:
    src = write_seed_configs(tmp_path / "seed")[0]
    shutil.copy(src, tmp_path / "4xxxvf_dev3.conf")
    inv = discover(seed_host.host)
    vf3 = next(f for f in inv.accel_devices if f.class_name == "4xxxvf" and f.inst_id == 3)
    (dev,) = started_devices(tmp_path, host_devices(inv))
    assert (dev.accel_id, dev.inst_id, dev.bdf) == (vf3.accel_id, 3, vf3.bdf)


def test_a_device_that_is_down_is_not_started(seed_host: FakeHost, tmp_path: Path) -> None:
    write_seed_configs(tmp_path)
    inv = discover(seed_host.host)
    second_pf = [f for f in inv.accel_devices if not f.is_vf][1]
    with using(seed_host.kernel):
        (seed_host.host.pci_device(second_pf.bdf) / "qat" / "state").write_text("down")
        devices = started_devices(tmp_path, host_devices(discover(seed_host.host)))
    assert [d.bdf for d in devices] == [inv.accel_devices[0].bdf]


def test_a_host_without_qat_falls_back_to_the_files(tmp_path: Path) -> None:
    write_seed_configs(tmp_path)
    empty = build(tmp_path / "host", "empty")
    devices = started_devices(tmp_path, host_devices(discover(empty.host)))
    assert [(d.accel_id, d.file_name, d.bdf) for d in devices] == [
        (0, "4xxx_dev0.conf", None),
        (1, "4xxx_dev1.conf", None),
    ]


def test_user_start_names_sections_by_the_kernel_accel_id(
    seed_host: FakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "4xxxvf_dev3.conf").write_text(VF_CONFIG)  # VF inst 3 is not qat_dev3
    monkeypatch.setenv(ENV_CONFIG_DIR, str(config))
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(tmp_path / "run"))
    monkeypatch.setenv(ENV_SYSFS_ROOT, str(seed_host.sysfs_root))
    vf3 = next(
        f
        for f in discover(seed_host.host).accel_devices
        if f.class_name == "4xxxvf" and f.inst_id == 3
    )
    with sections.user_start("SSL") as held:
        assert held.name == f"SSL_DEV{vf3.accel_id}_INT_0"
        assert {d.bdf for d in held.devices} == {vf3.bdf}


def test_user_start_looks_at_the_host_it_is_given(
    seed_host: FakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "4xxxvf_dev3.conf").write_text(VF_CONFIG)
    monkeypatch.delenv(ENV_SYSFS_ROOT, raising=False)  # this machine has no such VF
    vf3 = next(
        f
        for f in discover(seed_host.host).accel_devices
        if f.class_name == "4xxxvf" and f.inst_id == 3
    )
    with sections.user_start(
        "SSL", config_dir=config, runtime_dir=tmp_path / "run", host=seed_host.host
    ) as held:
        assert held.name == f"SSL_DEV{vf3.accel_id}_INT_0"


@pytest.mark.parametrize("where", ["top", "sys"])
def test_the_environment_may_name_the_tree_or_its_sys_directory(
    where: str, seed_host: FakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "4xxxvf_dev3.conf").write_text(VF_CONFIG)
    monkeypatch.setenv(ENV_CONFIG_DIR, str(config))
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(tmp_path / "run"))
    root = seed_host.prefix if where == "top" else seed_host.sysfs_root
    monkeypatch.setenv(ENV_SYSFS_ROOT, str(root))
    vf3 = next(
        f
        for f in discover(seed_host.host).accel_devices
        if f.class_name == "4xxxvf" and f.inst_id == 3
    )
    with sections.user_start("SSL") as held:
        assert [d.bdf for d in held.devices] == [vf3.bdf]
