"""A set of devices: numbering, the checks across dev0..devN (R10), process totals."""

from __future__ import annotations

from pathlib import Path

from qathw.config import check_files, started_devices
from qathw.config.devices import guess_device_type, number_devices, parse_file_name
from tests.config.builders import general, user


def write(tmp: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp / name).write_text(text)
    return [str(tmp / n) for n in files]


def r10(report: object) -> list[str]:
    return [d.message for d in report.diagnostics if d.rule == "R10"]  # type: ignore[attr-defined]


def test_seed_sections_serve_eight_and_one_processes(seed_files: list[str]) -> None:
    totals = {t.name: t for t in check_files(seed_files).totals}
    assert (totals["SSL"].processes, totals["SSL"].instances_per_process) == (8, 1)
    assert (totals["IPSec"].processes, totals["IPSec"].instances_per_process) == (1, 8)
    assert totals["SSL"].describe() == (
        "[SSL] serves 8 processes (4 on qat_dev0 + 4 on qat_dev1), 1 instance each"
    )


def test_limit_dev_access_must_agree_across_devices(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {"4xxx_dev0.conf": general() + user(lda=1), "4xxx_dev1.conf": general() + user(lda=0)},
    )
    report = check_files(files)
    assert "LimitDevAccess 1 on qat_dev0, 0 on qat_dev1" in r10(report)[0]
    assert [s.name for s in report.expansion.sections] == ["SSL_DEV0_INT_0", "SSL_INT_0"]


def test_shared_sections_need_the_same_num_processes(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {
            "4xxx_dev0.conf": general() + user(processes=2),
            "4xxx_dev1.conf": general() + user(processes=4),
        },
    )
    report = check_files(files)
    assert "NumProcesses 2 on qat_dev0, 4 on qat_dev1" in r10(report)[0]
    by_name = {s.name: s for s in report.expansion.sections}
    assert [d.accel_id for d in by_name["SSL_INT_1"].devices] == [0, 1]
    assert [d.accel_id for d in by_name["SSL_INT_3"].devices] == [1]


def test_device_limited_section_must_exist_on_every_device(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {"4xxx_dev0.conf": general(), "4xxx_dev1.conf": general() + user(lda=1)},
    )
    (msg,) = r10(check_files(files))
    assert "missing on qat_dev0 (4xxx_dev0.conf)" in msg
    assert "first process to start any section gets SSL_DEV0_INT_0" in msg


def test_devices_are_numbered_by_family_then_pf_before_vf_then_n() -> None:
    refs = number_devices(
        [("a", "4xxx", 0), ("b", "c6xx", 1), ("c", "c6xxvf", 0), ("d", "c6xx", 0)]
    )
    assert [(r.path, r.accel_id) for r in refs] == [("d", 0), ("b", 1), ("c", 2), ("a", 3)]


def test_derived_names_carry_the_global_device_number_not_the_file_number(
    tmp_path: Path,
) -> None:
    files = write(
        tmp_path,
        {
            "c6xx_dev0.conf": general("cy"),
            "c6xxvf_dev0.conf": general("cy") + user(lda=1),
        },
    )
    report = check_files(files)
    assert [s.name for s in report.expansion.sections] == ["SSL_DEV1_INT_0"]


def test_started_devices_are_the_config_files_named_for_a_device(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "4xxx_dev1.conf": "",
            "4xxx_dev0.conf": "",
            "dh89xxcc_qa_dev0.conf": "",
            "4xxx_template.conf": "",
            "c6xx_dev0.conf.dc": "",
            "foo_dev0.conf": "",
        },
    )
    assert [(d.file_name, d.accel_id) for d in started_devices(tmp_path)] == [
        ("dh89xxcc_qa_dev0.conf", 0),
        ("4xxx_dev0.conf", 1),
        ("4xxx_dev1.conf", 2),
    ]


def test_file_names_and_device_types() -> None:
    assert parse_file_name("4xxxvf_dev12.conf") == ("4xxxvf", 12)
    assert parse_file_name("c2xxx_qa_dev0.conf") == ("c2xxx", 0)
    assert parse_file_name("4xxx_dev0.conf.bak") is None
    assert guess_device_type("c6xxpf_dev0.conf") == ("c6xx", 0)
    assert guess_device_type("x__y__4xxxvf_dev0.conf.dc.vm") == ("4xxxvf", 0)
    assert guess_device_type("4xxx_template.conf.sym") == ("4xxx", None)
    assert guess_device_type("qat.conf") is None
