"""The fake kernel refuses writes the way Linux does (docs/hardware.md#sysfs-abi)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fakedev import sysfs
from fakedev.topologies import PfSpec, Topology
from tests.fakedev_sysfs.helpers import NOBODY, FakeFactory, as_user

PF = "0000:6b:00.0"


def attr(fake: sysfs.FakeHost, rel: str, bdf: str = PF) -> Path:
    return fake.host.pci_device(bdf) / rel


def write(fake: sysfs.FakeHost, path: Path, value: str) -> None:
    fake.kernel.write(path, value.encode())


def value(fake: sysfs.FakeHost, path: Path) -> str:
    return fake.kernel.read(path).decode().strip()


def errno_of(fake: sysfs.FakeHost, path: Path, text: str) -> int | None:
    with pytest.raises(OSError) as info:
        write(fake, path, text)
    return info.value.errno


def one_pf(kernel: tuple[int, int] = (6, 8), **kw: object) -> Topology:
    return Topology("one", (PfSpec(PF, **kw),), kernel=kernel)  # type: ignore[arg-type]


# --- qat/state ------------------------------------------------------------------------


def test_state_down_then_up(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    write(fake, attr(fake, "qat/state"), "down\n")
    assert value(fake, attr(fake, "qat/state")) == "down"
    write(fake, attr(fake, "qat/state"), "up")
    assert value(fake, attr(fake, "qat/state")) == "up"


def test_state_rejects_unknown_words(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, attr(fake, "qat/state"), "sideways") == errno.EINVAL


@pytest.mark.parametrize(("kernel", "outcome"), [((6, 8), None), ((6, 1), errno.EINVAL)])
def test_redundant_state_write_is_a_no_op_from_6_7_and_einval_before(
    make_fake: FakeFactory, kernel: tuple[int, int], outcome: int | None
) -> None:
    fake = make_fake(one_pf(kernel))
    path = attr(fake, "qat/state")
    if outcome is None:
        write(fake, path, "up")
    else:
        assert errno_of(fake, path, "up") == outcome
    assert value(fake, path) == "up"


def test_state_is_busy_while_in_use_or_in_reset(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    fake.set_in_use(PF)
    assert errno_of(fake, attr(fake, "qat/state"), "down") == errno.EBUSY
    fake.set_in_use(PF, False)
    fake.set_in_reset(PF)
    assert errno_of(fake, attr(fake, "qat/state"), "down") == errno.EBUSY
    assert value(fake, attr(fake, "qat/state")) == "up"


def test_down_disables_sriov_and_removes_runtime_debugfs(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    dbg = fake.host.debugfs / f"qat_4xxx_{PF}"
    assert (dbg / "heartbeat").exists()
    write(fake, attr(fake, "qat/state"), "down")
    assert value(fake, attr(fake, "sriov_numvfs")) == "0"
    assert not fake.host.pci_device("0000:6b:00.1").exists()
    assert not (dbg / "heartbeat").exists()
    assert not (dbg / "telemetry").exists()
    cfg = (dbg / "dev_cfg").read_text()
    assert "[GENERAL]" in cfg and "[KERNEL]" not in cfg
    assert "ServicesEnabled = sym;asym" in cfg  # services survive a down


def test_up_without_firmware_fails_with_efault_and_stays_down(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    write(fake, attr(fake, "qat/state"), "down")
    fake.remove_firmware()
    assert errno_of(fake, attr(fake, "qat/state"), "up") == errno.EFAULT
    assert value(fake, attr(fake, "qat/state")) == "down"
    assert any("Failed to load MMP" in line for line in fake.kernel.dmesg())


# --- qat/cfg_services -----------------------------------------------------------------


def test_services_only_change_while_down(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, attr(fake, "qat/cfg_services"), "dc") == errno.EINVAL
    assert value(fake, attr(fake, "qat/cfg_services")) == "sym;asym"
    write(fake, attr(fake, "qat/state"), "down")
    write(fake, attr(fake, "qat/cfg_services"), "dc\n")
    assert value(fake, attr(fake, "qat/cfg_services")) == "dc"


@pytest.mark.parametrize(
    ("kernel", "written", "stored"),
    [
        ((6, 1), "sym;asym", "sym;asym"),
        ((6, 1), "dc", "dc"),
        ((6, 1), "asym;sym", None),
        ((6, 1), "sym", None),
        ((6, 5), "asym;sym", "asym;sym"),
        ((6, 5), "sym;dc", "sym;dc"),
        ((6, 5), "dcc", None),
        ((6, 8), "dcc", "dcc"),
        ((6, 8), "sym;asym;dc", None),
        ((6, 15), "sym;asym", "asym;sym"),  # the token parser canonicalises
        ((6, 15), "dc;sym", "sym;dc"),
        ((6, 15), "dcc;sym", None),  # dcc only alone
        ((6, 15), "sym;sym", None),
        ((6, 15), "decomp", None),  # not on gen4
        ((6, 15), "sym;asym;dc", None),  # gen4: at most two
        ((6, 15), "", None),
    ],
)
def test_services_grammar_follows_the_kernel_version(
    make_fake: FakeFactory, kernel: tuple[int, int], written: str, stored: str | None
) -> None:
    fake = make_fake(one_pf(kernel))
    write(fake, attr(fake, "qat/state"), "down")
    before = value(fake, attr(fake, "qat/cfg_services"))
    if stored is None:
        assert errno_of(fake, attr(fake, "qat/cfg_services"), written) == errno.EINVAL
        assert value(fake, attr(fake, "qat/cfg_services")) == before
    else:
        write(fake, attr(fake, "qat/cfg_services"), written)
        assert value(fake, attr(fake, "qat/cfg_services")) == stored


def test_gen6_token_parser_takes_decomp_and_three_services() -> None:
    assert sysfs.services_accepted("dc;decomp;sym", (6, 15), 6) == "sym;dc;decomp"
    assert sysfs.services_accepted("dc;decomp;sym", (6, 15), 4) is None


# --- pm_idle_enabled, auto_reset, rp2srv --------------------------------------------------


def test_pm_idle_needs_down_and_a_boolean(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    path = attr(fake, "qat/pm_idle_enabled")
    assert errno_of(fake, path, "0") == errno.EINVAL
    write(fake, attr(fake, "qat/state"), "down")
    assert errno_of(fake, path, "maybe") == errno.EINVAL
    write(fake, path, "off")
    assert value(fake, path) == "0"


def test_auto_reset_changes_while_up(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf((6, 9)))
    write(fake, attr(fake, "qat/auto_reset"), "y")
    assert value(fake, attr(fake, "qat/auto_reset")) == "on"


def test_rp2srv_reads_einval_until_a_ring_pair_is_chosen(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf(services="sym;dc"))
    path = attr(fake, "qat/rp2srv")
    with pytest.raises(OSError) as info:
        fake.kernel.read(path)
    assert info.value.errno == errno.EINVAL
    assert errno_of(fake, path, "64") == errno.EINVAL  # num_rps is 64
    write(fake, path, "5")
    assert value(fake, path) == "sym"  # RP 5: RP 1 of its group; gen4 gives dc RP 0 and 2


def test_read_only_attributes_refuse_even_root(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, attr(fake, "vendor"), "0x1234") == errno.EACCES
    assert errno_of(fake, attr(fake, "qat/num_rps"), "8") == errno.EACCES
    assert value(fake, attr(fake, "vendor")) == "0x8086"


# --- SR-IOV -----------------------------------------------------------------------------


def test_any_vf_count_enables_all_vfs(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    write(fake, attr(fake, "sriov_numvfs"), "4")
    assert value(fake, attr(fake, "sriov_numvfs")) == "16"
    assert any("4 VFs requested; only 16 enabled" in m for m in fake.kernel.dmesg())


def test_same_count_again_is_a_no_op_but_another_count_is_busy(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf(num_vfs=16))
    write(fake, attr(fake, "sriov_numvfs"), "16")
    assert errno_of(fake, attr(fake, "sriov_numvfs"), "8") == errno.EBUSY
    assert value(fake, attr(fake, "sriov_numvfs")) == "16"


def test_more_vfs_than_total_is_erange(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, attr(fake, "sriov_numvfs"), "17") == errno.ERANGE


def test_disabling_while_a_vf_is_in_use_is_busy(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf(num_vfs=16))
    fake.set_in_use("0000:6b:00.3")
    assert errno_of(fake, attr(fake, "sriov_numvfs"), "0") == errno.EBUSY
    fake.set_in_use("0000:6b:00.3", False)
    write(fake, attr(fake, "sriov_numvfs"), "0")
    assert not fake.host.pci_device("0000:6b:00.3").exists()


def test_sriov_needs_a_bound_driver_and_an_iommu(make_fake: FakeFactory) -> None:
    unbound = make_fake(one_pf(driver=None))
    assert errno_of(unbound, attr(unbound, "sriov_numvfs"), "16") == errno.ENOENT
    no_iommu = make_fake(Topology("x", (PfSpec(PF),), iommu="off"))
    assert errno_of(no_iommu, attr(no_iommu, "sriov_numvfs"), "16") == errno.EINVAL


def test_enabling_vfs_brings_a_down_pf_up(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    write(fake, attr(fake, "qat/state"), "down")
    write(fake, attr(fake, "sriov_numvfs"), "16")
    assert value(fake, attr(fake, "qat/state")) == "up"


def test_numvfs_rejects_garbage(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, attr(fake, "sriov_numvfs"), "lots") == errno.EINVAL


# --- binding --------------------------------------------------------------------------------


def test_override_and_probe_bind_the_named_driver(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf(num_vfs=16, vf_driver=None))
    vf = "0000:6b:00.1"
    write(fake, attr(fake, "driver_override", vf), "vfio-pci\n")
    write(fake, fake.host.sys / "bus/pci/drivers_probe", vf)
    assert Path(os.readlink(attr(fake, "driver", vf))).name == "vfio-pci"
    group = Path(os.readlink(attr(fake, "iommu_group", vf))).name
    assert (fake.host.vfio / group).exists()
    write(fake, attr(fake, "driver_override", vf), "\n")
    assert value(fake, attr(fake, "driver_override", vf)) == "(null)"


def test_gen2_vf_probe_on_vfio_fails_but_the_write_succeeds(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("g2", (PfSpec("0000:3d:00.0", "C62x", num_vfs=16, vf_driver=None),)))
    vf = "0000:3d:01.0"
    write(fake, attr(fake, "driver_override", vf), "vfio-pci")
    write(fake, fake.host.sys / "bus/pci/drivers_probe", vf)  # no error, as in Linux
    assert not attr(fake, "driver", vf).exists()
    assert any("denylist" in m for m in fake.kernel.dmesg())


def test_unbind_from_a_driver_the_device_is_not_on_is_enodev(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    path = fake.host.pci_drivers / "4xxx" / "unbind"
    assert errno_of(fake, path, "0000:6b:00.1") == errno.ENODEV


def test_unbinding_a_vf_in_use_from_vfio_is_busy(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fake.set_in_use("0000:6b:00.1")
    path = fake.host.pci_drivers / "vfio-pci" / "unbind"
    assert errno_of(fake, path, "0000:6b:00.1") == errno.EBUSY


def test_bind_file_checks_the_match_and_that_the_device_is_free(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    bind = fake.host.pci_drivers / "vfio-pci" / "bind"
    assert errno_of(fake, bind, "0000:6b:00.1") == errno.EBUSY  # already bound
    write(fake, fake.host.pci_drivers / "vfio-pci" / "unbind", "0000:6b:00.1")
    write(fake, attr(fake, "driver_override", "0000:6b:00.1"), "\n")
    assert errno_of(fake, bind, "0000:6b:00.1") == errno.ENODEV  # no id match, no override
    write(fake, fake.host.pci_drivers / "vfio-pci" / "new_id", "8086 4941")
    write(fake, bind, "0000:6b:00.1")
    assert Path(os.readlink(attr(fake, "driver", "0000:6b:00.1"))).name == "vfio-pci"


def test_unbinding_the_pf_driver_removes_vfs_qat_group_and_debugfs(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    write(fake, fake.host.pci_drivers / "4xxx" / "unbind", PF)
    assert not attr(fake, "qat").exists()
    assert not fake.host.pci_device("0000:6b:00.1").exists()
    assert not (fake.host.debugfs / f"qat_4xxx_{PF}").exists()


# --- telemetry --------------------------------------------------------------------------------


def tl(fake: sysfs.FakeHost, name: str) -> Path:
    return fake.host.debugfs / f"qat_4xxx_{PF}" / "telemetry" / name


def test_telemetry_reads_are_eperm_while_off(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    with pytest.raises(OSError) as info:
        fake.kernel.read(tl(fake, "device_data"))
    assert info.value.errno == errno.EPERM


def test_telemetry_control_takes_0_to_4(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert errno_of(fake, tl(fake, "control"), "5") == errno.EINVAL
    write(fake, tl(fake, "control"), "4")
    assert value(fake, tl(fake, "control")) == "4"
    assert value(fake, tl(fake, "device_data")).startswith("sample_cnt")


def test_ring_pair_slots_need_a_selection_and_a_valid_ring_pair(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    write(fake, tl(fake, "control"), "1")
    with pytest.raises(OSError) as info:
        fake.kernel.read(tl(fake, "rp_B_data"))
    assert info.value.errno == errno.EPERM
    assert errno_of(fake, tl(fake, "rp_B_data"), "64") == errno.EINVAL
    write(fake, tl(fake, "rp_B_data"), "2")
    write(fake, tl(fake, "rp_C_data"), "2")  # already watched by B: success, no change
    with pytest.raises(OSError):
        fake.kernel.read(tl(fake, "rp_C_data"))
    assert "rp_num" in value(fake, tl(fake, "rp_B_data"))


# --- privilege and persistence -------------------------------------------------------------


def test_config_space_without_privilege_is_64_bytes(make_fake: FakeFactory) -> None:
    from tests.fakedev_sysfs.helpers import world_readable_dir

    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        path = attr(fake, "config")
        assert len(fake.kernel.read(path)) == 4096
        assert as_user(NOBODY, lambda: len(fake.kernel.read(path))) == 64


def test_kernel_state_is_shared_by_every_fake_kernel_of_the_tree(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    fake.set_in_use(PF)
    other = sysfs.FakeKernel(fake.prefix)
    with pytest.raises(OSError) as info:
        other.write(attr(fake, "qat/state"), b"down")
    assert info.value.errno == errno.EBUSY


# --- what Linux refuses, the fake refuses (issue 16) ------------------------------------------


@pytest.mark.parametrize("kernel", [(6, 1), (6, 5), (6, 8), (6, 15)])
def test_gen4_refuses_three_services_on_every_kernel(
    make_fake: FakeFactory, kernel: tuple[int, int]
) -> None:
    fake = make_fake(one_pf(kernel))
    write(fake, attr(fake, "qat/state"), "down")
    assert errno_of(fake, attr(fake, "qat/cfg_services"), "dc;sym;asym") == errno.EINVAL


def test_the_fake_and_qathw_read_one_services_table() -> None:
    # fakedev's rule is qathw.cfg_services': one table, two users.
    from qathw import cfg_services

    for value in ("dc;sym;asym", "sym;asym", "dcc", "decomp", "asym;dcc"):
        for gen in (4, 6):
            expected = cfg_services.accepted(value, gen, (6, 15))
            assert sysfs.services_accepted(value, (6, 15), gen) == expected


def test_binding_to_a_driver_that_is_not_loaded_is_enoent(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf(num_vfs=16, vf_driver=None))
    path = fake.host.pci_drivers / "none" / "bind"
    assert errno_of(fake, path, "0000:6b:00.1") == errno.ENOENT
    assert not path.exists()


def test_an_override_naming_no_driver_keeps_the_function_unbound(make_fake: FakeFactory) -> None:
    # sysfs-bus-pci: an override such as "none" opts a device out of binding.
    fake = make_fake(one_pf(num_vfs=16, vf_driver=None))
    vf = "0000:6b:00.1"
    write(fake, attr(fake, "driver_override", vf), "none\n")
    write(fake, fake.host.sys / "bus/pci/drivers_probe", vf)  # succeeds, binds nothing
    assert not attr(fake, "driver", vf).exists()
    bind = fake.host.pci_drivers / "vfio-pci" / "bind"
    assert errno_of(fake, bind, vf) == errno.ENODEV  # bind_store: no match
