"""``qathw sections``: every internal section, its holder or "free"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qathw.cli import main
from tests.sections.procs import start


def test_sections_lists_holders_and_free_sections(
    seed_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = start("IPSec")
    pid = proc.report().pid
    try:
        assert main(["sections"]) == 0
    finally:
        proc.stop()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SECTION", "DEV", "INSTANCES", "HOLDER"]
    assert lines[1].startswith("IPSec_INT_0            0,1   8 cy             pid ")
    assert f"pid {pid}  " in lines[1] and "python" in lines[1]
    assert lines[2].split() == ["SSL_DEV0_INT_0", "0", "1", "cy", "free"]
    assert lines[-1] == "9 internal sections, 1 held, 8 free"


def test_sections_json_with_instances_and_holders(
    seed_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = start("SSL")
    pid = proc.report().pid
    try:
        assert main(["sections", "--json"]) == 0
    finally:
        proc.stop()
    doc = json.loads(capsys.readouterr().out)
    held = {s["name"]: s["holder"] for s in doc["sections"]}
    assert held["SSL_DEV0_INT_0"]["pid"] == pid and held["SSL_DEV0_INT_1"] is None
    assert doc["sections"][1]["instances"][0]["banks"] == [8, 9]


def test_sections_verbose_lists_instances(
    seed_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sections", "-v"]) == 0
    out = capsys.readouterr().out
    assert "    dev1 Cy3 IPSec3: asym b6 r0/1  sym b7 r0/1  poll core 0" in out


def test_sections_with_an_invalid_file_reports_and_exits_1(
    seed_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (seed_env / "4xxx_dev1.conf").write_text("[GENERAL]\n")
    assert main(["sections"]) == 1
    err = capsys.readouterr().err
    assert "4xxx_dev1.conf:1:1: error R1: Key ConfigVersion missing" in err
