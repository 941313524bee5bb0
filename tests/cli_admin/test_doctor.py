"""``qathw doctor``: each check, in order, with what to do — on fakes and on this machine."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import pytest

from fakedev import sysfs
from fakedev.topologies import PfSpec, Topology
from qathw import discovery, doctor
from qathw.doctor import Environment, Status
from qathw.paths import HostRoot
from tests.fakedev_sysfs.helpers import (
    NOBODY,
    FakeFactory,
    as_user,
    run_cli,
    world_readable_dir,
)

# The ids and their order are an interface: scripts read them from --json.
ORDER = [
    "qat-device",
    "device-state",
    "firmware",
    "services",
    "vfs-enabled",
    "vf-driver",
    "vfio-access",
    "memlock",
    "hugepages",
    "iommu",
    "section-broker",
]


def checks(fake: sysfs.FakeHost | None, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    r = run_cli(fake, "doctor", "--json", *args)
    doc = json.loads(r.out)
    assert [c["id"] for c in doc["checks"]] == [spec.id for spec in doctor.CHECKS]
    assert doc["ok"] is (r.rc == 0)
    return r.rc, {c["id"]: c for c in doc["checks"]}


def test_this_machine_has_no_qat_device_and_doctor_says_so_clearly() -> None:
    rc, by_id = checks(None)
    assert rc == 1
    first = by_id["qat-device"]
    assert first["status"] == "fail"
    n = len(os.listdir("/sys/bus/pci/devices"))
    assert first["detail"].startswith(f"no QAT device on this host: none of the {n} PCI functions")
    assert "BIOS" in first["hint"] and "emulated endpoint" in first["hint"]
    needing_qat = [spec.id for spec in doctor.CHECKS if spec.needs_qat]
    assert len(needing_qat) == 7
    for check in needing_qat:
        assert (by_id[check]["status"], by_id[check]["detail"]) == ("skip", "no QAT device")
    # Host facts still get checked for real.
    assert by_id["iommu"]["status"] in ("pass", "warn")
    assert by_id["hugepages"]["status"] in ("pass", "warn", "fail")


def test_this_machine_text_output_leads_with_the_answer() -> None:
    r = run_cli(None, "doctor")
    assert r.rc == 1
    lines = r.out.splitlines()
    assert lines[0] == "[FAIL] QAT device present"
    assert lines[1].startswith("       no QAT device on this host")
    assert any(line.startswith("       fix: ") for line in lines)
    assert max(len(line) for line in lines) <= 80
    assert lines[-1].startswith("11 checks: ")


def test_a_healthy_seed_host_passes_every_check(make_fake: FakeFactory) -> None:
    rc, by_id = checks(make_fake("seed"))
    assert rc == 0
    assert {c["status"] for c in by_id.values()} == {"pass"}
    assert by_id["qat-device"]["detail"] == "2 PFs (4xxx), 32 VFs"


def test_down_and_unbound_pfs_fail_with_the_command_to_run(make_fake: FakeFactory) -> None:
    rc, by_id = checks(make_fake("awkward"))
    assert rc == 1
    state = by_id["device-state"]
    assert state["status"] == "fail"
    assert "PF 0000:70:00.0 is down" in state["detail"]
    assert "PF 0000:75:00.0 is on no driver, not 4xxx" in state["detail"]
    assert "qathw up 0000:70:00.0" in state["hint"] and "modprobe qat_4xxx" in state["hint"]


def test_gen2_vfs_are_explained_as_denylisted(make_fake: FakeFactory) -> None:
    _, by_id = checks(make_fake("awkward"))
    vf = by_id["vf-driver"]
    assert vf["status"] == "warn"  # some VFs are usable
    assert "16 gen2 VFs (C62x): vfio-pci refuses them (denylist" in vf["detail"]
    assert "qathw bind 0000:6b:00.2 0000:6b:00.4 vfio-pci (as root)" in vf["hint"]  # one call


def test_missing_firmware_fails_for_a_pf_that_must_start(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    fake.remove_firmware()
    _, by_id = checks(fake)
    assert by_id["firmware"]["status"] == "fail"
    assert "qat_4xxx.bin" in by_id["firmware"]["detail"]
    assert "linux-firmware" in by_id["firmware"]["hint"]


def test_missing_firmware_only_warns_while_every_pf_is_up(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fake.remove_firmware()
    _, by_id = checks(fake)
    assert by_id["firmware"]["status"] == "warn"
    assert "next driver reload will fail" in by_id["firmware"]["detail"]


def test_a_needed_service_nobody_offers_fails_with_the_fix(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("s", (PfSpec("0000:6b:00.0", services="sym;asym", num_vfs=16),)))
    rc, by_id = checks(fake, "--need", "dc")
    assert rc == 1
    svc = by_id["services"]
    assert svc["detail"] == "no device offers 'dc' (0000:6b:00.0 sym;asym)"
    assert svc["hint"] == "qathw services 0000:6b:00.0 'dc' --restart (as root)"
    _, ok = checks(fake, "--need", "cy")
    assert ok["services"]["status"] == "pass"


def test_pfs_without_vfs_fail_with_the_enable_command(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("n", (PfSpec("0000:6b:00.0"),)))
    _, by_id = checks(fake)
    assert by_id["vfs-enabled"]["status"] == "fail"
    assert by_id["vfs-enabled"]["hint"].startswith("qathw vfs 0000:6b:00.0 --enable")
    assert by_id["vf-driver"]["status"] == "skip"


def test_iommu_off_fails_when_there_are_devices(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("i", (PfSpec("0000:6b:00.0"),), iommu="off"))
    _, by_id = checks(fake)
    assert by_id["iommu"]["status"] == "fail"
    assert "intel_iommu=on" in by_id["iommu"]["hint"]


def test_iommu_asked_for_but_absent_points_at_the_bios(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("i", (PfSpec("0000:6b:00.0"),), iommu="off"))
    env = Environment(fake.host, 0, True, None, "quiet intel_iommu=on", (Path("/nonexistent"),))
    result = {c.id: c for c in doctor.run(discovery.discover(fake.host), env)}
    assert "command line has intel_iommu=on" in result["iommu"].detail
    assert "BIOS" in (result["iommu"].hint or "")


def test_hugepage_budget_without_hugepages_fails(
    make_fake: FakeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAT_MAX_2M_HPG_PER_PROCESS", "64")
    _, by_id = checks(make_fake("seed"))
    assert by_id["hugepages"]["status"] == "fail"
    assert "nr_hugepages" in by_id["hugepages"]["hint"]


def test_reserved_hugepages_without_the_budget_pass_and_say_how_qatlib_uses_them(
    make_fake: FakeFactory,
) -> None:
    _, by_id = checks(make_fake("spr-2s"))
    assert by_id["hugepages"]["status"] == "pass"
    assert "only with QAT_MAX_2M_HPG_PER_PROCESS" in by_id["hugepages"]["detail"]


def _nobody_doctor(fake: sysfs.FakeHost, memlock: int | None = None) -> dict[str, Any]:
    def limit() -> None:
        if memlock is not None:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (memlock, memlock))

    def run() -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(run_cli(fake, "doctor", "--json").out)
        return doc

    return {c["id"]: c for c in as_user(NOBODY, run, setup=limit)["checks"]}


def test_vfio_nodes_this_user_cannot_open_fail_with_the_qat_group_hint() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        by_id = _nobody_doctor(fake)
    access = by_id["vfio-access"]
    assert access["status"] == "fail"
    assert access["detail"].startswith(f"uid {NOBODY} cannot open 32 of 32 nodes (e.g. ")
    assert "root:root -rw-------" in access["detail"]
    assert "group 'qat'" in access["hint"]
    assert by_id["memlock"]["status"] == "skip"  # nothing usable, nothing to pin


def test_memlock_too_low_for_the_vfs_in_use_fails() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        os.chmod(d / "host", 0o755)
        for node in fake.host.vfio.iterdir():
            os.chmod(node, 0o666)
        low = _nobody_doctor(fake, memlock=8 << 20)
    assert low["vfio-access"]["status"] == "pass"
    assert low["memlock"]["status"] == "fail"
    assert low["memlock"]["detail"].startswith("RLIMIT_MEMLOCK 8 MiB; a process using one VF")
    assert "32 MiB" in low["memlock"]["detail"]  # one VF from each of 2 PFs
    assert "ulimit -l" in low["memlock"]["hint"]


def test_memlock_high_enough_or_cap_ipc_lock_passes(make_fake: FakeFactory) -> None:
    # This machine's hard limit is 8 MiB and root lacks CAP_SYS_RESOURCE, so a higher
    # limit is stated as a fact of the environment rather than set.
    fake = make_fake("seed")
    inv = discovery.discover(fake.host)
    base = Environment.from_system(fake.host)
    for env in (
        Environment(fake.host, 1000, False, 1 << 30, None, base.firmware_dirs),
        Environment(fake.host, 1000, True, 8 << 20, None, base.firmware_dirs),
    ):
        memlock = {c.id: c for c in doctor.run(inv, env)}["memlock"]
        assert memlock.status is Status.PASS, memlock


def test_unknown_needed_service_is_a_usage_error() -> None:
    r = run_cli(None, "doctor", "--need", "zip")
    assert r.rc == 2


def test_checks_are_data_in_a_fixed_order(make_fake: FakeFactory) -> None:
    assert [spec.id for spec in doctor.CHECKS] == ORDER
    assert len({spec.title for spec in doctor.CHECKS}) == len(ORDER)
    fake = make_fake("seed")
    env = Environment.from_system(fake.host)
    result = doctor.run(discovery.discover(fake.host), env, need="sym")
    assert [(c.id, c.title) for c in result] == [(s.id, s.title) for s in doctor.CHECKS]
    assert all(isinstance(c.status, Status) and c.title and c.detail for c in result)
    with pytest.raises(ValueError, match="unknown service"):
        doctor.run(discovery.discover(fake.host), env, need="zip")
    assert HostRoot().is_real
