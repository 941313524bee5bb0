"""``config check --strict``: every warning is an error, as ``-Werror`` makes it, and the
checks Intel's Kubernetes device plugin made fatal say so by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qathw.cli import main
from qathw.config import check_files
from qathw.config.diagnostics import Severity
from tests.config.builders import general, user


def write(tmp: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp / name).write_text(text)
    return [str(tmp / n) for n in files]


def r10(files: list[str], *, strict: bool = False) -> list[tuple[Severity, str]]:
    report = check_files(files, strict=strict)
    return [(d.severity, d.message) for d in report.diagnostics if d.rule == "R10"]


@pytest.fixture
def mixed_lda(tmp_path: Path) -> list[str]:
    return write(
        tmp_path,
        {"4xxx_dev0.conf": general() + user(lda=1), "4xxx_dev1.conf": general() + user(lda=0)},
    )


def test_without_strict_the_plugins_rules_are_warnings_and_the_check_passes(
    mixed_lda: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", *mixed_lda]) == 0
    assert all(sev is Severity.WARNING for sev, _ in r10(mixed_lda))


def test_strict_makes_every_warning_an_error_and_exits_1(
    mixed_lda: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", "--strict", "--json", *mixed_lda]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["warning"] == 0 and doc["counts"]["error"] >= 1
    assert doc["ok"] is False


def test_strict_makes_a_single_file_warning_an_error_too(tmp_path: Path) -> None:
    # NumberDcInstances = 1 with ServicesEnabled = asym;sym: R13, a warning by itself.
    (path,) = write(tmp_path, {"4xxx_dev0.conf": general() + user(cy=1, dc=1)})
    relaxed = check_files([path])
    strict = check_files([path], strict=True)
    warned = [d.rule for d in relaxed.all_diagnostics if d.severity is Severity.WARNING]
    assert warned
    assert [d.rule for d in strict.all_diagnostics if d.severity is Severity.WARNING] == []
    assert set(warned) <= {d.rule for d in strict.all_diagnostics if d.severity is Severity.ERROR}


def test_inconsistent_limit_dev_access_quotes_the_device_plugin(mixed_lda: list[str]) -> None:
    ((_, msg),) = r10(mixed_lda)
    assert "Intel's Kubernetes QAT device plugin (kernel mode) refuses this" in msg
    assert '"Value of LimitDevAccess must be consistent across all devices in SSL"' in msg


def test_a_missing_pinned_section_quotes_the_device_plugin(tmp_path: Path) -> None:
    files = write(
        tmp_path, {"4xxx_dev0.conf": general() + user(lda=1), "4xxx_dev1.conf": general()}
    )
    ((sev, msg),) = r10(files, strict=True)
    assert sev is Severity.ERROR
    assert (
        '"Section [SSL] must be defined for all QAT devices since it contains LimitDevAccess=1"'
        in msg
    )


def test_unequal_num_processes_of_a_shared_section_quotes_the_device_plugin(
    tmp_path: Path,
) -> None:
    files = write(
        tmp_path,
        {
            "4xxx_dev0.conf": general() + user(processes=2),
            "4xxx_dev1.conf": general() + user(processes=4),
        },
    )
    ((_, msg),) = r10(files)
    assert "'For not pinned section \"SSL\" NumProcesses must be equal for all devices'" in msg


def test_unequal_instance_counts_are_a_new_r10_finding(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {
            "4xxx_dev0.conf": general() + user(cy=1),
            "4xxx_dev1.conf": general() + user(cy=2),
        },
    )
    ((sev, msg),) = r10(files)
    assert sev is Severity.WARNING
    assert "NumberCyInstances/NumberDcInstances 1/0 on qat_dev0, 2/0 on qat_dev1" in msg
    assert "must be consistent across all devices in SSL" in msg
