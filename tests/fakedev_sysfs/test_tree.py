"""The layout of fake sysfs trees: what Linux shows, for each generation and topology."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakedev import sysfs
from fakedev.topologies import NAMED, EmulatedSpec, PfSpec, Topology
from tests.fakedev_sysfs.helpers import FakeFactory, write_endpoint_file

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> str:
    return path.read_text().strip()


def test_seed_is_two_4xxx_pfs_with_16_vfs_each_on_vfio_pci(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    devices = fake.host.pci_devices
    pfs = [d for d in sorted(os.listdir(devices)) if read(devices / d / "device") == "0x4940"]
    vfs = [d for d in sorted(os.listdir(devices)) if read(devices / d / "device") == "0x4941"]
    assert pfs == ["0000:6b:00.0", "0000:70:00.0"]
    assert len(vfs) == 32
    assert {Path(os.readlink(devices / v / "driver")).name for v in vfs} == {"vfio-pci"}


def test_gen4_vfs_start_at_function_1_of_the_pf(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    pf = fake.host.pci_device("0000:6b:00.0")
    vfs = [Path(os.readlink(pf / f"virtfn{n}")).name for n in range(16)]
    assert vfs[0] == "0000:6b:00.1"
    assert vfs[6] == "0000:6b:00.7"
    assert vfs[7] == "0000:6b:01.0"
    assert vfs[15] == "0000:6b:02.0"  # VF n at device (n+1)//8, function (n+1)%8


def test_gen2_vfs_start_at_device_1(make_fake: FakeFactory) -> None:
    fake = make_fake("dh895xcc")
    pf = fake.host.pci_device("0000:03:00.0")
    assert Path(os.readlink(pf / "virtfn0")).name == "0000:03:01.0"
    assert Path(os.readlink(pf / "virtfn31")).name == "0000:03:04.7"
    assert read(pf / "sriov_offset") == "8"


def test_vf_physfn_and_pf_virtfn_point_at_each_other(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    vf = fake.host.pci_device("0000:70:00.3")
    pf = Path(os.path.realpath(vf / "physfn"))
    assert pf.name == "0000:70:00.0"
    assert Path(os.path.realpath(pf / "virtfn2")).name == "0000:70:00.3"


def test_every_function_has_its_own_iommu_group_listing_it(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    groups = set()
    for bdf in os.listdir(fake.host.pci_devices):
        group = Path(os.readlink(fake.host.pci_device(bdf) / "iommu_group")).name
        groups.add(group)
        assert os.listdir(fake.host.iommu_groups / group / "devices") == [bdf]
    assert len(groups) == 34


def test_vfio_node_exists_only_for_functions_on_vfio(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    dev = fake.host.pci_device
    bound = Path(os.readlink(dev("0000:6b:00.1") / "iommu_group")).name
    unbound = Path(os.readlink(dev("0000:6b:00.2") / "iommu_group")).name
    assert (fake.host.vfio / bound).exists()
    assert not (fake.host.vfio / unbound).exists()
    assert (fake.host.vfio / "vfio").exists()


def test_debugfs_directory_uses_the_class_name(make_fake: FakeFactory) -> None:
    fake = make_fake("gen4-mix")
    names = sorted(os.listdir(fake.host.debugfs))
    # 401xx and 402xx report class 4xxx; 420xx is its own class.
    assert names == [
        "qat_420xx_0000:f3:00.0",
        "qat_4xxx_0000:6b:00.0",
        "qat_4xxx_0000:76:00.0",
        "qat_4xxx_0000:e8:00.0",
    ]


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ((6, 1), {"state", "cfg_services"}),
        ((6, 5), {"state", "cfg_services", "pm_idle_enabled"}),
        ((6, 7), {"state", "cfg_services", "pm_idle_enabled", "rp2srv", "num_rps"}),
        (
            (6, 9),
            {"state", "cfg_services", "pm_idle_enabled", "rp2srv", "num_rps", "auto_reset"},
        ),
    ],
)
def test_qat_attributes_exist_from_their_kernel_version(
    make_fake: FakeFactory, kernel: tuple[int, int], expected: set[str]
) -> None:
    fake = make_fake(Topology("one", (PfSpec("0000:6b:00.0"),), kernel=kernel))
    assert set(os.listdir(fake.host.pci_device("0000:6b:00.0") / "qat")) == expected


def test_gen2_pf_has_no_qat_group(make_fake: FakeFactory) -> None:
    fake = make_fake("c62x-3dev")
    assert not (fake.host.pci_device("0000:3d:00.0") / "qat").exists()
    assert read(fake.host.pci_device("0000:3d:00.0") / "class") == "0x0b4000"


def test_unbound_pf_has_no_qat_group_and_no_debugfs(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    pf = fake.host.pci_device("0000:75:00.0")
    assert not (pf / "driver").exists()
    assert not (pf / "qat").exists()
    assert not (fake.host.debugfs / "qat_4xxx_0000:75:00.0").exists()


def test_iommu_off_means_no_groups(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("noiommu", (PfSpec("0000:6b:00.0"),), iommu="off"))
    assert os.listdir(fake.host.iommu_groups) == []
    assert not (fake.host.pci_device("0000:6b:00.0") / "iommu_group").exists()


def test_spr_two_socket_host_has_four_pfs_per_node(make_fake: FakeFactory) -> None:
    fake = make_fake("spr-2s")
    nodes: dict[str, list[str]] = {}
    for bdf in sorted(os.listdir(fake.host.pci_devices)):
        if read(fake.host.pci_device(bdf) / "device") == "0x4940":
            nodes.setdefault(read(fake.host.pci_device(bdf) / "numa_node"), []).append(bdf[5:7])
    assert nodes == {"0": ["6b", "70", "75", "7a"], "1": ["e8", "ed", "f2", "f7"]}


def test_default_services_alternate_with_the_accel_id(make_fake: FakeFactory) -> None:
    fake = make_fake("spr-2s")
    services = [
        read(fake.host.pci_device(f"0000:{b}:00.0") / "qat" / "cfg_services")
        for b in ("6b", "70", "75", "7a")
    ]
    assert services == ["sym;asym", "dc", "sym;asym", "dc"]


def test_emulated_endpoint_is_an_ivshmem_function_whose_bar2_is_the_file(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    endpoint = write_endpoint_file(tmp_path / "ep0")
    fake = make_fake(Topology("emu", emulated=(EmulatedSpec("0000:00:04.0", endpoint),)))
    dev = fake.host.pci_device("0000:00:04.0")
    assert (read(dev / "vendor"), read(dev / "device"), read(dev / "class")) == (
        "0x1af4",
        "0x1110",
        "0x050000",
    )
    assert os.path.realpath(dev / "resource2") == str(endpoint)
    bar2 = read(dev / "resource").splitlines()[2].split()
    assert int(bar2[1], 16) - int(bar2[0], 16) + 1 == endpoint.stat().st_size


def test_every_named_topology_builds(make_fake: FakeFactory) -> None:
    for name in NAMED:
        assert make_fake(name).host.sys.is_dir()


def test_build_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        sysfs.build(tmp_path, "seed")
    assert (tmp_path / "x").read_text() == "keep me"


def test_unknown_topology_and_product_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown topology 'nope'; known: awkward"):
        sysfs.build(tmp_path / "a", "nope")
    with pytest.raises(ValueError, match="unknown QAT product 'c99'"):
        sysfs.build(tmp_path / "b", Topology("bad", (PfSpec("0000:01:00.0", "c99"),)))


def test_the_module_builds_a_tree_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sysfs.main([str(tmp_path / "t"), "--topology", "c62x-3dev"]) == 0
    assert f"--sysfs-root {tmp_path / 't' / 'sys'}" in capsys.readouterr().out
    assert (tmp_path / "t" / "sys" / "bus" / "pci" / "devices" / "0000:da:00.0").is_symlink()
    assert sysfs.main([str(tmp_path / "t")]) == 1  # not empty any more
    assert "is not empty" in capsys.readouterr().err


def test_python_m_fakedev_sysfs_builds_the_seed_tree(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "fakedev.sysfs", str(tmp_path / "t"), "--topology", "seed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == f"built topology 'seed': qathw list --sysfs-root {tmp_path / 't' / 'sys'}\n"
    assert (tmp_path / "t" / "sys" / "bus" / "pci" / "devices" / "0000:70:00.0").is_symlink()


def test_importing_the_module_entry_point_builds_nothing() -> None:
    r = subprocess.run(
        [sys.executable, "-c", "import fakedev.sysfs.__main__; print('imported')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (r.returncode, r.stdout) == (0, "imported\n")
