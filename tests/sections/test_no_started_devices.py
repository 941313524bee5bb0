"""When no device is started, ``user_start`` says which files it found and why each is unused.

The hosts are fake sysfs trees (``fakedev.sysfs``); a device is taken down through the
fake kernel, as ``qathw down`` would.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakedev.sysfs import FakeHost, build
from qathw import sections
from qathw.cli import main
from qathw.discovery import Role, discover
from qathw.errors import SectionNotFoundError


def config(section: str) -> str:
    """A valid 4xxx or c6xx file with one user section of one Cy instance."""
    return (
        "[GENERAL]\nServicesEnabled = asym;sym\nConfigVersion = 2\nstatsGeneral = 0\n\n"
        f"[{section}]\nNumProcesses = 1\nLimitDevAccess = 1\nNumberCyInstances = 1\n"
        f'NumberDcInstances = 0\nCy0Name = "{section}0"\nCy0IsPolled = 1\nCy0CoreAffinity = 0\n'
    )


@pytest.fixture
def hosts() -> Iterator[Callable[[str], FakeHost]]:
    """Build a named fake topology (under /dev/shm, removed afterwards)."""
    prefix = Path(f"/dev/shm/qathw-unused-{uuid.uuid4().hex[:8]}")

    def make(topology: str) -> FakeHost:
        return build(prefix / topology, topology)

    yield make
    shutil.rmtree(prefix, ignore_errors=True)


def take_down(fake: FakeHost, bdf: str) -> None:
    """``qat/state`` = down through the fake kernel (which also removes the PF's VFs)."""
    fake.kernel.write(fake.host.pci_device(bdf) / "qat" / "state", b"down")


def start(name: str, etc: Path, fake: FakeHost, tmp_path: Path) -> SectionNotFoundError:
    with pytest.raises(SectionNotFoundError) as caught:
        sections.user_start(name, config_dir=etc, runtime_dir=tmp_path / "run", host=fake.host)
    return caught.value


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    return d


def test_a_file_whose_device_is_down_names_the_device_and_how_to_bring_it_up(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    (etc / "4xxx_dev0.conf").write_text(config("SSL"))
    seed = hosts("seed")
    take_down(seed, "0000:6b:00.0")
    err = start("SSL", etc, seed, tmp_path)
    assert err.what == (
        f"no started devices: found {etc}/4xxx_dev0.conf, but qat_dev0 (0000:6b:00.0) is down"
    )
    assert err.hint == "run 'qathw up 0000:6b:00.0' (as root)"
    assert err.path == f"{etc}/4xxx_dev0.conf"


def test_a_vf_file_whose_pf_is_down_points_at_the_pf(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    awkward = hosts("awkward")  # 0000:70:00.0 is down while its VFs still exist
    vf = next(f for f in discover(awkward.host).accel_devices if str(f.pf) == "0000:70:00.0")
    assert vf.role is Role.VF and vf.state == "down"
    (etc / f"4xxxvf_dev{vf.inst_id}.conf").write_text(config("SSL"))
    err = start("SSL", etc, awkward, tmp_path)
    assert err.what == (
        f"no started devices: found {etc}/4xxxvf_dev{vf.inst_id}.conf, but "
        f"qat_dev{vf.accel_id} ({vf.bdf}) is down"
    )
    assert err.hint == "a VF is up when its PF is: run 'qathw up 0000:70:00.0' (as root)"


def test_a_file_named_for_another_device_type_says_what_the_device_reads(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    (etc / "4xxx_dev0.conf").write_text(config("SSL"))
    err = start("SSL", etc, hosts("c62x-3dev"), tmp_path)
    assert err.what == (
        f"no started devices: found {etc}/4xxx_dev0.conf, but qat_dev0 is a c6xx "
        "(expects c6xx_dev0.conf) and this host has no 4xxx"
    )
    assert err.hint is not None and err.hint.startswith(
        "if it is meant for qat_dev0, name it c6xx_dev0.conf"
    )


def test_a_file_numbered_past_the_devices_of_its_type_lists_the_files_they_read(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    (etc / "4xxx_dev2.conf").write_text(config("SSL"))
    err = start("SSL", etc, hosts("seed"), tmp_path)
    assert err.what == (
        f"no started devices: found {etc}/4xxx_dev2.conf, but no 4xxx device has inst_id 2: "
        "the 4xxx devices read 4xxx_dev0.conf (qat_dev0), 4xxx_dev1.conf (qat_dev1)"
    )


def test_a_package_template_is_called_one(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    (etc / "4xxx_dev0.conf.sym").write_text(config("SSL"))
    (etc / "4xxx_dev0.conf.bak").write_text(config("SSL"))  # a backup: not worth a mention
    err = start("SSL", etc, hosts("empty"), tmp_path)
    assert err.what == (
        f"no started devices: found {etc}/4xxx_dev0.conf.sym, but it is a package template: "
        "adf_ctl reads only files named <type>_dev<N>.conf"
    )
    assert err.hint is not None and err.hint.startswith(f"copy it to {etc}/4xxx_dev0.conf ")


def test_an_empty_directory_still_says_no_file(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    err = start("SSL", etc, hosts("seed"), tmp_path)
    assert err.what == f"no started devices: no <type>_dev<N>.conf file in {etc}"


def test_a_section_only_in_the_file_of_a_stopped_device_says_so(
    hosts: Callable[[str], FakeHost], etc: Path, tmp_path: Path
) -> None:
    (etc / "4xxx_dev0.conf").write_text(config("SSL"))
    (etc / "4xxx_dev1.conf").write_text(config("IPSec"))
    seed = hosts("seed")
    take_down(seed, "0000:70:00.0")
    err = start("IPSec", etc, seed, tmp_path)
    assert err.what == (
        "could not find section 'IPSec' in the files of started devices: found "
        f"{etc}/4xxx_dev1.conf, but qat_dev1 (0000:70:00.0) is down"
    )
    assert err.hint == "run 'qathw up 0000:70:00.0' (as root)"


def test_qathw_sections_notes_the_unused_files(
    hosts: Callable[[str], FakeHost],
    etc: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (etc / "4xxx_dev0.conf").write_text(config("SSL"))
    seed = hosts("seed")
    take_down(seed, "0000:6b:00.0")
    argv = ["sections", "--config-dir", str(etc), "--runtime-dir", str(tmp_path / "run")]
    argv += ["--sysfs-root", str(seed.prefix)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == "no internal sections\n"
    assert captured.err == (
        f"note: found {etc}/4xxx_dev0.conf, but qat_dev0 (0000:6b:00.0) is down: "
        "run 'qathw up 0000:6b:00.0' (as root)\n"
    )
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["unused_files"] == [
        {
            "file": f"{etc}/4xxx_dev0.conf",
            "reason": "qat_dev0 (0000:6b:00.0) is down",
            "hint": "run 'qathw up 0000:6b:00.0' (as root)",
        }
    ]
