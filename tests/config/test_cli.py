"""``qathw config check`` and ``qathw config expand``: text for people, JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qathw.cli import main
from tests.config.builders import CORPUS, general, needs_corpus, user


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_of_the_seed_set_passes_with_alias_warnings(
    seed_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["config", "check", *seed_files], capsys)
    assert code == 0
    assert "(qat_dev0, 4xxx): valid, 4 warnings" in out
    assert "capacity: banks 16/64; asym 8/32, sym 8/32" in out
    assert "[SSL] serves 8 processes (4 on qat_dev0 + 4 on qat_dev1), 1 instance each" in out
    assert out.rstrip().endswith("2 files: 0 errors, 8 warnings, 0 notes")


def test_strict_turns_the_alias_into_errors_and_exit_1(
    seed_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["config", "check", "--strict", *seed_files], capsys)
    assert code == 1 and "INVALID (4 errors)" in out


def test_check_json_has_schema_verdicts_capacity_and_totals(
    seed_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["config", "check", "--json", *seed_files], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["schema_version"] == 2 and doc["ok"] is True
    assert [f["verdict"] for f in doc["files"]] == ["warnings", "warnings"]
    assert doc["files"][0]["capacity"]["banks_used"] == 16
    first = doc["files"][0]["diagnostics"][0]
    assert {k: first[k] for k in ("rule", "severity", "line", "column")} == {
        "rule": "R3",
        "severity": "warning",
        "line": 25,
        "column": 1,
    }
    assert {s["section"]: s["processes"] for s in doc["sections"]} == {"IPSec": 1, "SSL": 8}


def test_invalid_file_exits_1_with_located_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c6xx_dev0.conf"
    path.write_text(general("asym;sym") + user())
    code, out, _ = run(["config", "check", str(path)], capsys)
    assert code == 1
    assert f"{path}:2:1: error R2: Invalid services enabled: 'asym;sym' on c6xx" in out
    assert "hint: gen2 has no 'asym;sym': write 'cy' for both" in out


def test_type_option_reads_a_file_of_any_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my.conf"
    path.write_text(general("cy") + user())
    assert run(["config", "check", "--type", "c6xx", str(path)], capsys)[0] == 0
    assert run(["config", "check", "--type", "c7xx", str(path)], capsys)[0] == 2


def test_missing_file_is_a_failure_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["config", "check", "/nonexistent/4xxx_dev0.conf"], capsys)
    assert code == 1
    assert "cannot read /nonexistent/4xxx_dev0.conf: No such file or directory" in err


def test_expand_lists_internal_sections_with_banks_and_rings(
    seed_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["config", "expand", *seed_files], capsys)
    assert code == 0
    assert "[SSL]: 8 internal sections" in out
    assert "  SSL_DEV1_INT_3: 1 instance\n" in out
    assert "dev1 Cy0  SSL0       cy   asym b14 r0/1  sym b15 r0/1  poll core 0" in out


def test_expand_json_gives_instances_for_the_request_layer(
    seed_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["config", "expand", "--json", *seed_files], capsys)
    doc = json.loads(out)
    assert code == 0 and len(doc["sections"]) == 9
    ipsec = doc["sections"][0]
    assert ipsec["name"] == "IPSec_INT_0" and ipsec["devices"] == [0, 1]
    assert ipsec["instances"][4] == {
        "device": 1,
        "device_type": "4xxx",
        "file": seed_files[1],
        "section": "IPSec_INT_0",
        "kind": "cy",
        "index": 0,
        "name": "IPSec0",
        "service": "cy",
        "banks": [0, 1],
        "rings": [
            {"service": "asym", "bank": 0, "tx": 0, "rx": 1, "depth": 64},
            {"service": "sym", "bank": 1, "tx": 0, "rx": 1, "depth": 512},
        ],
        "polling": "poll",
        "core": 0,
    }


@needs_corpus
def test_expand_of_an_invalid_file_reports_errors_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "intel__intel-device-plugins-for-kubernetes__deployments__qat_plugin__overlays__"
    code, out, err = run(
        ["config", "expand", str(CORPUS / (name + "qat_initcontainer__qat.conf"))], capsys
    )
    assert code == 1 and "R1" in err and "not expanded (errors)" in out


def test_config_without_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config"], capsys)[0] == 2
