"""Acting on many devices: qat_devN names, --all / --gen, restart, bind of many, and why
the kernel (not a uid check) decides about root."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fakedev import sysfs
from tests.cli_admin.test_actions import driver, read, snapshot
from tests.fakedev_sysfs.helpers import NOBODY, FakeFactory, as_user, run_cli, world_readable_dir

PF = "0000:6b:00.0"


# --- qat_devN wherever a BDF is taken ----------------------------------------------------------


def test_show_takes_a_qat_dev_name(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    assert run_cli(fake, "show", "qat_dev1").out == run_cli(fake, "show", "0000:70:00.0").out


@pytest.mark.parametrize(
    "argv",
    [("down", "qat_dev0"), ("services", "qat_dev0", "dc", "--restart"), ("vfs", "qat_dev0",
     "--disable"), ("bind", "qat_dev2", "none")],
)  # fmt: skip
def test_actions_take_qat_dev_names(make_fake: FakeFactory, argv: tuple[str, ...]) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, *argv)
    assert r.rc == 0, r.err
    assert r.out.startswith(("0000:6b:00.0: ", "0000:6b:00.1: "))  # qat_dev2 is the first VF


def test_an_unknown_qat_dev_names_the_ones_there_are(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "down", "qat_dev99")
    assert r.rc == 1
    assert "no QAT acceleration device qat_dev99 (this host has qat_dev0 .. qat_dev33)" in r.err


# --- up / down / restart of many ---------------------------------------------------------------


def test_down_all_then_up_all(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, "down", "--all")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1] == "2 functions: 2 changed, 0 unchanged"
    assert [read(fake, "qat/state", pf) for pf in (PF, "0000:70:00.0")] == ["down", "down"]
    assert run_cli(fake, "up", "--all").rc == 0
    assert [read(fake, "qat/state", pf) for pf in (PF, "0000:70:00.0")] == ["up", "up"]


def test_all_leaves_out_pfs_that_have_no_qat_state(make_fake: FakeFactory) -> None:
    # awkward: 6b and 70 are gen4 on 4xxx; 75 is unbound; 3d is gen2 (no qat/state).
    r = run_cli(make_fake("awkward"), "down", "--gen", "4", "--json")
    assert r.rc == 0, r.err
    assert [c["bdf"] for c in json.loads(r.out)["changes"]] == [PF, "0000:70:00.0"]


def test_an_unknown_generation_is_a_usage_error(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "down", "--gen", "5")
    assert r.rc == 2 and "unknown generation 5" in r.err


def test_names_with_all_or_nothing_at_all_are_usage_errors(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    assert run_cli(fake, "up", PF, "--all").rc == 2
    assert "--all or --gen N" in run_cli(fake, "up").err


def test_restart_brings_vfs_back_on_the_drivers_they_had(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    vfs = [f"0000:6b:00.{n}" for n in range(1, 5)]
    before = [driver(fake, v) for v in vfs]
    r = run_cli(fake, "restart", PF)
    assert r.rc == 0, r.err
    assert r.out.splitlines()[0] == f"{PF}: restart up -> up"
    assert [driver(fake, v) for v in vfs] == before
    assert read(fake, "sriov_numvfs") == "16" and read(fake, "qat/state") == "up"


def test_restart_of_a_down_pf_brings_it_up(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    r = run_cli(fake, "restart", "0000:70:00.0")
    assert r.rc == 0 and "0000:70:00.0 was down" in r.out
    assert read(fake, "qat/state", "0000:70:00.0") == "up"


# --- bind of many ------------------------------------------------------------------------------


def test_bind_takes_several_functions(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    vfs = ["0000:6b:00.1", "0000:6b:00.2", "0000:70:00.1"]
    r = run_cli(fake, "bind", *vfs, "none")
    assert r.rc == 0, r.err
    assert [driver(fake, v) for v in vfs] == [None, None, None]
    assert r.out.splitlines()[-1] == "3 functions: 3 changed, 0 unchanged"


def test_bind_all_vfs_of_the_host_in_one_call(make_fake: FakeFactory) -> None:
    fake = make_fake("spr-2s")
    r = run_cli(fake, "bind", "--all-vfs", "none", "--json")
    assert r.rc == 0, r.err
    assert len(json.loads(r.out)["changes"]) == 128
    again = run_cli(fake, "bind", "--all-vfs", "vfio-pci")
    assert again.out.splitlines()[-1] == "128 functions: 128 changed, 0 unchanged"


def test_bind_all_vfs_of_the_pfs_named(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    r = run_cli(fake, "bind", "--all-vfs", "qat_dev1", "none")
    assert r.rc == 0, r.err
    assert driver(fake, "0000:70:00.1") is None and driver(fake, "0000:6b:00.1") == "vfio-pci"


def test_all_vfs_with_a_vf_named_is_a_usage_error(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "bind", "0000:6b:00.1", "none", "--all-vfs")
    assert r.rc == 2 and "is not a PF" in r.err


def test_bind_of_many_stops_at_the_first_failure_and_says_how_to_resume(
    make_fake: FakeFactory,
) -> None:
    fake = make_fake("awkward")
    # 6b:00.2 is unbound; 3d:01.0 is a gen2 VF (vfio-pci's denylist); 6b:00.4 not tried.
    r = run_cli(fake, "bind", "0000:6b:00.2", "0000:3d:01.0", "0000:6b:00.4", "vfio-pci")
    assert r.rc == 1
    assert r.out == "0000:6b:00.2: bind none -> vfio-pci\n"
    assert "stopped at 0000:3d:01.0 (1 of 3 done, 1 not tried)" in r.err
    assert "run the same command again" in r.err
    assert driver(fake, "0000:6b:00.2") == "vfio-pci"


# --- services the generation refuses, before anything is written --------------------------------


def test_services_a_generation_never_takes_are_refused_before_any_write(
    make_fake: FakeFactory,
) -> None:
    fake = make_fake("seed")
    before = snapshot(fake)
    r = run_cli(fake, "services", PF, "dc;sym;asym", "--restart")
    assert r.rc == 1
    assert "4xxx (gen4): services 'dc;sym;asym' are refused (gen4 takes at most 2" in r.err
    assert snapshot(fake) == before


# --- root: the kernel's answer, not a uid check ------------------------------------------------


def test_a_fake_tree_the_user_owns_needs_no_root() -> None:
    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(d / "host")], check=True)
        r = as_user(NOBODY, lambda: run_cli(fake, "down", PF))
        state = (fake.host.pci_device(PF) / "qat" / "state").read_text()
    assert r.rc == 0, r.err
    assert state == "down\n"


def test_as_root_a_read_only_attribute_still_says_what_to_do(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    os.chmod(fake.host.pci_device(PF) / "qat" / "state", 0o444)
    r = run_cli(fake, "down", PF)
    assert r.rc == 1
    assert "permission denied; 'qathw down' needs root" in r.err
    assert "read-only on this kernel" in r.err
    assert Path(fake.host.pci_device(PF) / "qat" / "state").read_text() == "up\n"
