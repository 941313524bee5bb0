"""The public entry points in one process: errors, stop, the context manager, records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import qathw
from qathw import sections
from qathw.errors import (
    ConfigError,
    SectionNotFoundError,
    SectionsExhaustedError,
    SectionStateError,
)
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR


def test_user_start_returns_the_held_section_with_its_instances(seed_env: Path) -> None:
    with qathw.user_start("SSL") as held:
        assert held.name == "SSL_DEV0_INT_0" and held.user_section == "SSL"
        assert held.held and held.limit_dev_access and held.pid == os.getpid()
        (inst,) = held.instances
        assert (inst.device.accel_id, inst.device.class_name, inst.service, inst.name) == (
            0,
            "4xxx",
            "cy",
            "SSL0",
        )
        assert inst.device.path == str(seed_env / "4xxx_dev0.conf")
        assert [(r.service, r.bank, r.tx, r.rx) for r in inst.rings] == [
            ("asym", 8, 0, 1),
            ("sym", 9, 0, 1),
        ]
    assert not held.held and sections.current() is None


def test_section_names_are_case_sensitive_and_the_closest_is_suggested(seed_env: Path) -> None:
    with pytest.raises(SectionNotFoundError) as info:
        qathw.user_start("IPsec")
    assert info.value.hint == "did you mean 'IPSec'? Section names are case-sensitive"
    assert "could not find section 'IPsec' in any config file" in info.value.what


def test_an_unknown_name_lists_the_sections_there_are(seed_env: Path) -> None:
    with pytest.raises(SectionNotFoundError) as info:
        qathw.user_start("SHIM")
    assert info.value.hint == "the files define [SSL], [IPSec]"


def test_a_second_user_start_in_the_same_process_is_an_error(seed_env: Path) -> None:
    with qathw.user_start("SSL"):
        with pytest.raises(SectionStateError, match="already holds SSL_DEV0_INT_0"):
            qathw.user_start("IPSec")


def test_stop_gives_the_section_back_and_a_second_stop_is_an_error(seed_env: Path) -> None:
    held = qathw.user_start("SSL")
    qathw.user_stop()
    assert qathw.user_start("SSL").name == held.name  # free again: the first one
    qathw.user_stop()
    with pytest.raises(SectionStateError, match="holds no section"):
        qathw.user_stop()
    with pytest.raises(SectionStateError, match="not held by this process"):
        held.stop()


def test_sections_are_handed_out_in_driver_order(seed_env: Path) -> None:
    a = qathw.user_start("IPSec")
    assert a.name == "IPSec_INT_0" and len(a.devices) == 2
    a.stop()


def test_invalid_configuration_is_refused_with_its_first_error(seed_env: Path) -> None:
    path = seed_env / "4xxx_dev1.conf"
    path.write_text(path.read_text().replace("asym;sym", "cy"))
    with pytest.raises(ConfigError) as info:
        qathw.user_start("SSL")
    assert f"{path}:2:1: R2: Invalid services enabled: 'cy'" in info.value.what
    assert info.value.hint is not None and "qathw config check" in info.value.hint


def test_no_configuration_files_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CONFIG_DIR, str(tmp_path))
    with pytest.raises(SectionNotFoundError, match=r"no <type>_dev<N>\.conf file in"):
        qathw.user_start("SSL")


def test_a_section_without_processes_cannot_be_started(seed_env: Path) -> None:
    for n in (0, 1):
        path = seed_env / f"4xxx_dev{n}.conf"
        path.write_text(path.read_text().replace("NumProcesses=1 ", "NumProcesses=0 "))
    with pytest.raises(SectionsExhaustedError, match=r"\[IPSec\] has no internal sections"):
        qathw.user_start("IPSec")


def test_the_holder_record_names_this_process_and_is_cleared_on_stop(seed_env: Path) -> None:
    lock = Path(os.environ[ENV_RUNTIME_DIR]) / "SSL_DEV0_INT_0.lock"
    with qathw.user_start("SSL"):
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["section"] == "SSL_DEV0_INT_0"
    assert lock.read_text() == ""


def test_a_stale_pid_in_a_free_lock_file_means_nothing(seed_env: Path) -> None:
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    runtime.mkdir(mode=0o700)
    stale = {"pid": os.getpid(), "section": "SSL_DEV0_INT_0", "command": "ghost"}
    (runtime / "SSL_DEV0_INT_0.lock").write_text(json.dumps(stale))
    _, statuses = sections.list_sections()
    assert statuses[1].section.name == "SSL_DEV0_INT_0" and statuses[1].holder is None
    with qathw.user_start("SSL") as held:
        assert held.name == "SSL_DEV0_INT_0"


def test_list_sections_without_a_runtime_dir_shows_everything_free(seed_env: Path) -> None:
    _, statuses = sections.list_sections()
    assert len(statuses) == 9 and all(s.holder is None for s in statuses)
    assert not Path(os.environ[ENV_RUNTIME_DIR]).exists()  # listing creates nothing


def test_names_the_driver_refuses_are_refused(seed_env: Path) -> None:
    with pytest.raises(SectionNotFoundError, match="invalid section name"):
        qathw.user_start("")
    with pytest.raises(SectionNotFoundError, match="invalid section name"):
        qathw.user_start("S" * 128)
    with pytest.raises(TypeError):
        qathw.user_start(b"SSL")  # type: ignore[arg-type]


def test_open_instances_without_a_held_section_says_what_to_pass() -> None:
    with pytest.raises(TypeError) as info:
        qathw.open_instances(None)  # type: ignore[arg-type]
    assert str(info.value) == (
        "open_instances() needs the HeldSection that qathw.user_start(name) returned, not NoneType"
    )
