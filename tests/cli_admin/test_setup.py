"""``qathw setup FILE``: declarative, idempotent, checked before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_admin.test_actions import driver, read, snapshot
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

#: Crypto on socket 0, compression on socket 1, every VF on vfio-pci (docs/admin.md#setup).
TWO_SOCKETS = """\
[[pf]]
match = "all"
vfs = "all"
vf_driver = "vfio-pci"

[[pf]]
match = "node0"
services = "sym;asym"

[[pf]]
match = "node1"
services = "dc"
"""


def setup_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "setup.toml"
    path.write_text(text)
    return str(path)


def test_dry_run_on_the_two_socket_host_prints_the_plan_and_changes_nothing(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("spr-2s")
    before = snapshot(fake)
    r = run_cli(fake, "setup", setup_file(tmp_path, TWO_SOCKETS), "--dry-run")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "0000:6b:00.0 (qat_dev0, 4xxx, node 0): as the file says"
    assert lines[1:7] == [
        "0000:70:00.0 (qat_dev1, 4xxx, node 0):",
        "  down (the kernel removes its 16 VFs)",
        "  services dc -> sym;asym",
        "  up",
        "  vfs 0 -> 16",
        "  bind its 16 VFs to vfio-pci",
    ]
    assert lines[-1] == "dry run: would change 4 of 8 PFs in 20 steps; nothing was changed"
    assert snapshot(fake) == before


def test_apply_then_a_second_run_has_nothing_to_change(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("spr-2s")
    path = setup_file(tmp_path, TWO_SOCKETS)
    first = run_cli(fake, "setup", path)
    assert first.rc == 0, first.err
    assert first.out.splitlines()[-1] == "done: changed 4 of 8 PFs in 20 steps"
    assert read(fake, "qat/cfg_services", "0000:70:00.0") == "sym;asym"
    assert read(fake, "qat/cfg_services", "0000:e8:00.0") == "dc"
    assert read(fake, "sriov_numvfs", "0000:e8:00.0") == "16"
    assert driver(fake, "0000:e8:02.0") == "vfio-pci"
    again = run_cli(fake, "setup", path)
    assert again.out.splitlines()[-1] == "nothing to change (8 PFs as the file says)"


def test_vf_driver_and_count_alone_bind_only_what_differs(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("awkward")  # 6b: VFs 1 and 3 unbound, 2 on qat_vfio_pci
    text = '[[pf]]\nmatch = "0000:6b:00.0"\nvf_driver = "vfio-pci"\n'
    r = run_cli(fake, "setup", setup_file(tmp_path, text))
    assert r.rc == 0, r.err
    assert "bind 3 VFs to vfio-pci (now 2 on no driver, 1 on qat_vfio_pci)" in r.out
    assert [driver(fake, f"0000:6b:00.{n}") for n in (1, 2, 3)] == ["vfio-pci"] * 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[pf]]\nmatch = "all"\nservics = "dc"\n', "unknown key 'servics'"),
        ('[[pf]]\nmatch = "all"\nservics = "dc"\n', "did you mean 'services'?"),
        ('[pf]\nmatch = "all"\n', "no [[pf]] entry"),
        ('[[pf]]\nmatch = "all"\nvfs = 7\n', "enables all 16 VFs or none"),
        ('[[pf]]\nmatch = "all"\nvfs = "some"\n', 'is neither "all" nor a count'),
        ('[[pf]]\nmatch = "all"\nservices = "dc;sym;asym"\n', "refuses services 'dc;sym;asym'"),
        ('[[pf]]\nmatch = "all"\nservices = "zip"\n', "unknown service 'zip'"),
        ('[[pf]]\nmatch = "qat_dev99"\nvfs = 0\n', "no device qat_dev99 on this host"),
        ('[[pf]]\nmatch = "qat_dev2"\nvfs = 0\n', "set-up acts on PFs"),
        ('[[pf]]\nmatch = "gen5"\nvfs = 0\n', "unknown generation 'gen5'"),
        ('[[pf]]\nmatch = "socket0"\nvfs = 0\n', "unknown selector 'socket0'"),
        ('[[pf]]\nmatch = "all"\nvf_driver = "igb_uio"\n', "igb_uio does not drive it"),
        ('[[pf]]\nmatch = "all"\nvfs = \'all\n', "not TOML"),
    ],
)
def test_a_bad_file_is_refused_with_the_reason_and_nothing_changes(
    make_fake: FakeFactory, tmp_path: Path, text: str, message: str
) -> None:
    fake = make_fake("seed")
    before = snapshot(fake)
    r = run_cli(fake, "setup", setup_file(tmp_path, text))
    assert r.rc == 1
    assert message in r.err
    assert snapshot(fake) == before


def test_every_problem_of_the_file_is_listed_at_once(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    text = '[[pf]]\nmatch = ["qat_dev99", "0000:6b:00.0"]\nvfs = 3\nservices = "decomp"\n'
    r = run_cli(make_fake("seed"), "setup", setup_file(tmp_path, text))
    assert r.rc == 1
    assert "no device qat_dev99" in r.err and "vfs = 3" in r.err and "no 'decomp'" in r.err
    assert "nothing was changed" in r.err


def test_gen2_vfs_on_vfio_pci_are_refused_before_anything_is_done(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    text = '[[pf]]\nmatch = "all"\nvf_driver = "vfio-pci"\n'
    r = run_cli(make_fake("awkward"), "setup", setup_file(tmp_path, text))
    assert r.rc == 1 and "vfio-pci refuses gen2 QAT functions" in r.err


def test_an_unbound_pf_is_skipped_when_matched_and_refused_when_named(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("awkward")
    matched = run_cli(fake, "setup", setup_file(tmp_path, '[[pf]]\nmatch = "gen4"\n'), "--dry-run")
    assert "0000:75:00.0 (4xxx, node 0): skipped, not bound to its QAT driver 4xxx" in matched.out
    named = run_cli(fake, "setup", setup_file(tmp_path, '[[pf]]\nmatch = "0000:75:00.0"\n'))
    assert named.rc == 1 and "'qathw bind 0000:75:00.0 4xxx'" in named.err


def test_a_failure_midway_stops_says_where_and_a_second_run_resumes(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("seed")  # 6b: sym;asym, 70: dc
    path = setup_file(tmp_path, '[[pf]]\nmatch = "all"\nservices = "asym;dc"\n')
    fake.set_in_use("0000:70:00.0")  # its down will be EBUSY
    r = run_cli(fake, "setup", path)
    assert r.rc == 1
    assert "setup stopped at 0000:70:00.0: down (the kernel removes its 16 VFs)" in r.err
    assert "(5 of 10 steps done; not done: 0000:70:00.0: services dc -> asym;dc;" in r.err
    assert "run 'qathw setup' with the same file again" in r.err
    assert read(fake, "qat/cfg_services") == "asym;dc"  # the first PF is done
    fake.set_in_use("0000:70:00.0", False)
    again = run_cli(fake, "setup", path)
    assert again.rc == 0, again.err
    assert "0000:6b:00.0" not in again.out  # already done: no step
    assert read(fake, "qat/cfg_services", "0000:70:00.0") == "asym;dc"
    assert driver(fake, "0000:70:00.5") == "vfio-pci"  # VFs back as they were


def test_json_dry_run_lists_the_steps_per_pf(make_fake: FakeFactory, tmp_path: Path) -> None:
    text = '[[pf]]\nmatch = "qat_dev1"\nvfs = 0\n'
    r = run_cli(make_fake("seed"), "setup", setup_file(tmp_path, text), "--dry-run", "--json")
    doc = json.loads(r.out)
    assert doc["dry_run"] is True and doc["changed"] is False
    ((pf),) = doc["pfs"]
    assert pf["bdf"] == "0000:70:00.0" and pf["entries"] == [1]
    assert pf["steps"] == [{"action": "vfs", "value": "0", "text": "vfs 16 -> 0"}]
