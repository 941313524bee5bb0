"""Root actions through the CLI: the kernel's semantics, refusals that change nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fakedev import sysfs
from fakedev.topologies import PfSpec, Topology
from qathw import admin
from tests.fakedev_sysfs.helpers import (
    NOBODY,
    FakeFactory,
    as_user,
    run_cli,
    world_readable_dir,
)

PF = "0000:6b:00.0"


def read(fake: sysfs.FakeHost, rel: str, bdf: str = PF) -> str:
    return (fake.host.pci_device(bdf) / rel).read_text().strip()


def driver(fake: sysfs.FakeHost, bdf: str) -> str | None:
    link = fake.host.pci_device(bdf) / "driver"
    return Path(os.readlink(link)).name if os.path.lexists(link) else None


def snapshot(fake: sysfs.FakeHost) -> dict[str, str]:
    """Every file and link of the tree (kernel state too): to prove nothing changed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(fake.prefix):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.name == "kernel.json":  # the kernel's log may grow; its state may not
                state = json.loads(p.read_text())
                state.pop("dmesg")
                out[str(p)] = json.dumps(state)
            elif p.is_file():
                out[str(p)] = p.read_bytes().decode("latin-1")
    return out


# --- up / down ----------------------------------------------------------------------------


def test_down_and_up(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, "down", PF)
    assert r.rc == 0
    assert r.out.splitlines() == [
        f"{PF}: down up -> down",
        "  SR-IOV disabled: the kernel removed 16 VFs",
    ]
    assert read(fake, "qat/state") == "down"
    assert run_cli(fake, "up", PF).rc == 0
    assert read(fake, "qat/state") == "up"


def test_down_when_down_is_not_asked_of_the_kernel(make_fake: FakeFactory) -> None:
    # On 6.1 a redundant down is EINVAL; qathw does not repeat what is already true.
    fake = make_fake(Topology("old", (PfSpec(PF),), kernel=(6, 1)))
    assert run_cli(fake, "down", PF).rc == 0
    r = run_cli(fake, "down", PF, "--json")
    assert r.rc == 0
    (change,) = json.loads(r.out)["changes"]
    assert change["changed"] is False and change["notes"] == [f"{PF} is already down"]


def test_busy_device_refuses_down_and_says_why(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fake.set_in_use(PF)
    before = snapshot(fake)
    r = run_cli(fake, "down", PF)
    assert r.rc == 1
    assert r.err.startswith(f"qathw: {PF} is busy; the kernel refused to bring it down: ")
    assert snapshot(fake) == before


def test_up_without_firmware_says_where_to_look(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    run_cli(fake, "down", PF)
    fake.remove_firmware()
    r = run_cli(fake, "up", PF)
    assert r.rc == 1
    assert "failed to start (Bad address)" in r.err
    assert "qat_4xxx.bin" in r.err and "dmesg" in r.err


def test_up_on_a_vf_gen2_pf_or_unbound_pf_is_refused_with_the_reason(
    make_fake: FakeFactory,
) -> None:
    fake = make_fake("awkward")
    vf = run_cli(fake, "up", "0000:6b:00.1")
    assert vf.rc == 1 and "is a VF (its PF is 0000:6b:00.0)" in vf.err
    gen2 = run_cli(fake, "up", "0000:3d:00.0")
    assert gen2.rc == 1 and "(gen2): its driver has no qat/state" in gen2.err
    unbound = run_cli(fake, "up", "0000:75:00.0")
    assert unbound.rc == 1 and "not bound to its QAT driver" in unbound.err
    assert "modprobe qat_4xxx" in unbound.err


# --- services ---------------------------------------------------------------------------------


def test_services_while_up_is_refused_without_restart(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    before = snapshot(fake)
    r = run_cli(fake, "services", PF, "dc")
    assert r.rc == 1
    assert "is up; the kernel changes services only while a device is down" in r.err
    assert f"qathw down {PF}" in r.err
    assert snapshot(fake) == before


def test_services_restart_goes_down_changes_and_comes_back_up(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, "services", PF, "dc", "--restart")
    assert r.rc == 0, r.err
    assert read(fake, "qat/cfg_services") == "dc" and read(fake, "qat/state") == "up"
    assert f"{PF} restarted" in r.out
    assert "16 VFs enabled again and bound as before (vfio-pci)" in r.out


def test_services_restart_puts_every_vf_back_on_its_own_driver(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    vfs = [f"0000:6b:00.{n}" for n in range(1, 8)]
    before = [driver(fake, v) for v in vfs]
    assert before[:3] == ["vfio-pci", None, "qat_vfio_pci"]
    r = run_cli(fake, "services", PF, "asym", "--restart")
    assert r.rc == 0, r.err
    assert [driver(fake, v) for v in vfs] == before
    assert read(fake, "sriov_numvfs") == "16"


def test_services_rejected_by_the_kernel_restores_the_device(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("old", (PfSpec(PF),), kernel=(6, 1)))
    r = run_cli(fake, "services", PF, "sym", "--restart")  # 6.1 takes 'sym;asym' or 'dc'
    assert r.rc == 1
    assert "the kernel refused services 'sym'" in r.err
    assert "brought back up with its old services sym;asym" in r.err
    assert read(fake, "qat/state") == "up" and read(fake, "qat/cfg_services") == "sym;asym"


def test_services_canonicalised_by_the_kernel_is_told(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("new", (PfSpec(PF, services="dc"),), kernel=(6, 15)))
    run_cli(fake, "down", PF)
    r = run_cli(fake, "services", PF, "sym;asym")
    assert r.rc == 0
    assert "the kernel stores it as 'asym;sym'" in r.out


def test_same_services_in_another_order_is_no_change(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "services", PF, "asym;sym")
    assert r.rc == 0 and "unchanged (services already sym;asym)" in r.out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("zip", "unknown service 'zip'"),
        ("sym;;asym", "empty item"),
        ("sym;sym", "names a service twice"),
        ("", "is empty"),
    ],
)
def test_bad_service_lists_are_usage_errors(
    make_fake: FakeFactory, value: str, message: str
) -> None:
    r = run_cli(make_fake("seed"), "services", PF, value)
    assert r.rc == 2 and message in r.err


# --- vfs --------------------------------------------------------------------------------------


def test_enable_writes_totalvfs_and_disable_writes_zero(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("v", (PfSpec(PF),)))
    r = run_cli(fake, "vfs", PF, "--enable")
    assert r.rc == 0 and r.out.splitlines()[0] == f"{PF}: vfs 0 -> 16"
    assert read(fake, "sriov_numvfs") == "16"
    assert run_cli(fake, "vfs", PF, "--enable").out == f"{PF}: unchanged (VFs already 16/16)\n"
    assert run_cli(fake, "vfs", PF, "--disable").rc == 0
    assert read(fake, "sriov_numvfs") == "0"


def test_disable_while_a_vf_is_in_use_is_refused(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fake.set_in_use("0000:6b:00.4")
    r = run_cli(fake, "vfs", PF, "--disable")
    assert r.rc == 1 and "a VF is in use" in r.err
    assert read(fake, "sriov_numvfs") == "16"


def test_enable_without_iommu_is_refused_before_writing(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("n", (PfSpec(PF),), iommu="off"))
    before = snapshot(fake)
    r = run_cli(fake, "vfs", PF, "--enable")
    assert r.rc == 1 and "no IOMMU group" in r.err and "intel_iommu=on" in r.err
    assert snapshot(fake) == before


def test_vfs_needs_exactly_one_of_enable_and_disable(make_fake: FakeFactory) -> None:
    assert run_cli(make_fake("seed"), "vfs", PF).rc == 2


# --- bind -------------------------------------------------------------------------------------


def test_bind_a_vf_to_vfio_pci_and_back_to_none(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("b", (PfSpec(PF, num_vfs=16, vf_driver=None),)))
    vf = "0000:6b:00.1"
    r = run_cli(fake, "bind", vf, "vfio-pci")
    assert r.rc == 0 and r.out == f"{vf}: bind none -> vfio-pci\n"
    assert driver(fake, vf) == "vfio-pci" and read(fake, "driver_override", vf) == "vfio-pci"
    assert run_cli(fake, "bind", vf, "none").rc == 0
    assert driver(fake, vf) is None


def test_gen2_vf_to_vfio_is_refused_with_the_denylist_reason(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    before = snapshot(fake)
    r = run_cli(fake, "bind", "0000:3d:01.0", "vfio-pci")
    assert r.rc == 1
    assert "vfio-pci refuses gen2 QAT functions (its denylist" in r.err
    assert "c6xxvf" in r.err
    assert snapshot(fake) == before


def test_a_failed_probe_puts_the_old_driver_back(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    run_cli(fake, "bind", PF, "none")
    fake.remove_firmware()  # the PF driver's probe will fail
    r = run_cli(fake, "bind", PF, "4xxx")
    assert r.rc == 1
    assert "did not bind 0000:6b:00.0 to 4xxx (probe failed)" in r.err
    assert "it is back on no driver" in r.err
    assert read(fake, "driver_override") == "(null)"


def test_bind_refuses_drivers_that_do_not_drive_the_function(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, "bind", "0000:6b:00.1", "4xxx")
    assert r.rc == 1 and "is a 4xxxvf; 4xxx does not drive it" in r.err
    missing = run_cli(fake, "bind", "0000:6b:00.1", "pci-stub")
    assert missing.rc == 1 and "driver pci-stub is not loaded" in missing.err
    assert "modprobe pci-stub" in missing.err


def test_bind_of_a_non_qat_function_is_refused(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    kernel = fake.kernel
    kernel.create_function(
        "0000:00:1f.0", 0x8086, 0x1234, class_code=0x060100, revision=1,
        subsys=(0x8086, 0), numa_node=0, bars=[],
    )  # fmt: skip
    r = run_cli(fake, "bind", "0000:00:1f.0", "vfio-pci")
    assert r.rc == 1 and "neither a QAT nor an ivshmem function" in r.err


# --- not root ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("down", PF),
        ("down", "--all"),
        ("restart", "qat_dev0"),
        ("services", PF, "dc", "--restart"),
        ("vfs", PF, "--disable"),
        ("bind", "0000:6b:00.1", "none"),
        ("bind", "--all-vfs", "none"),
        ("telemetry", PF, "--enable"),
    ],
)
def test_every_root_action_is_refused_for_other_users_and_changes_nothing(
    argv: tuple[str, ...],
) -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        before = snapshot(fake)
        r = as_user(NOBODY, lambda: run_cli(fake, *argv))
        after = snapshot(fake)
    assert r.rc == 1
    assert "needs root: run it as root (sudo qathw ...)" in r.err
    assert after == before


def test_the_kernel_itself_refuses_a_non_root_write() -> None:
    # Below the root check: the seam's write fails with the kernel's EACCES.
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        path = fake.host.pci_device(PF) / "qat" / "state"

        def write() -> int | None:
            try:
                fake.kernel.write(path, b"down")
            except OSError as exc:
                return exc.errno
            return None

        assert as_user(NOBODY, write) == 13  # EACCES
        assert path.read_text() == "up\n"
    assert admin.parse_services("sym;asym") == ["sym", "asym"]
