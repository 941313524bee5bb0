"""R21, the application's contract: ``qathw config check --expect SECTION[:PROCESSES]``.

An application starts one section and runs some processes, each of which must hold an
internal section of its own; the check counts internal sections as ``config expand``
lists them, so ``LimitDevAccess`` and refused files count as they do for the driver.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qathw.config import Expectation
from tests.config.builders import general, user
from tests.config.test_cli import run

#: The line of the first user section's header in ``general() + user()``.
USER_LINE = general().count("\n") + 1


def write(tmp_path: Path, *texts: str) -> list[str]:
    """Each text as the file of one 4xxx device: 4xxx_dev0.conf, 4xxx_dev1.conf ..."""
    paths = [tmp_path / f"4xxx_dev{n}.conf" for n in range(len(texts))]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text)
    return [str(p) for p in paths]


def test_a_section_no_file_has_is_an_error_that_names_the_sections_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write(tmp_path, general() + user("SSL"))
    code, out, _ = run(["config", "check", "--expect", "SHIM:2", *paths], capsys)
    assert code == 1
    assert "error R21: no file has a [SHIM] section, which the application starts" in out
    assert "or have the application start one the files have: [SSL]" in out


def test_fewer_internal_sections_than_processes_is_an_error_at_the_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # LimitDevAccess = 0: both devices define SSL_INT_0 and SSL_INT_1, two names, not four.
    text = general() + user("SSL", processes=2, lda=0)
    paths = write(tmp_path, text, text)
    code, out, _ = run(["config", "check", "--expect", "SSL:3", *paths], capsys)
    assert code == 1
    assert (
        f"{paths[0]}:{USER_LINE}:1: error R21: [SSL] gives 2 internal sections, fewer than "
        "the 3 processes the application runs" in out
    )
    assert "the largest value counts, not the sum" in out


def test_enough_internal_sections_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # LimitDevAccess = 1: SSL_DEV0_INT_0..1 and SSL_DEV1_INT_0..1, four names.
    text = general() + user("SSL", processes=2, lda=1)
    paths = write(tmp_path, text, text)
    code, out, _ = run(["config", "check", "--expect", "SSL:4", *paths], capsys)
    assert code == 0 and "R21" not in out
    assert "  [SSL] for 4 processes: 4 internal sections, enough\n" in out


def test_a_file_the_driver_refuses_gives_no_internal_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write(tmp_path, general("cy") + user("SSL", processes=4))  # no cy on gen4
    code, out, _ = run(["config", "check", "--expect", "SSL", *paths], capsys)
    assert code == 1
    assert "error R21: [SSL] gives 0 internal sections, fewer than the 1 process the" in out
    assert "not counted, as the driver refuses their files: qat_dev0 (4xxx_dev0.conf)" in out


def test_json_gives_each_expectation_with_its_internal_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write(tmp_path, general() + user("SSL", processes=4))
    argv = ["config", "check", "--json", "--expect", "SSL:4", "--expect", "SSL:5", *paths]
    code, out, _ = run(argv, capsys)
    doc = json.loads(out)
    assert code == 1 and [d["rule"] for d in doc["diagnostics"]] == ["R21"]
    assert doc["expect"] == [
        {"section": "SSL", "processes": 4, "internal_sections": 4, "ok": True},
        {"section": "SSL", "processes": 5, "internal_sections": 4, "ok": False},
    ]


def test_a_malformed_expectation_is_a_usage_error_with_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["config", "check", "--expect", "SSL:many", "4xxx_dev0.conf"], capsys)
    assert code == 2
    assert (
        "qathw: --expect 'SSL:many': the process count 'many' is not a number from 1: "
        "write SECTION or SECTION:PROCESSES, e.g. --expect SHIM:16\n" == err
    )


def test_an_expectation_without_a_count_is_for_one_process() -> None:
    assert Expectation.parse("SHIM") == Expectation("SHIM", 1)


@pytest.mark.parametrize(
    "text", ["", ":4", "SSL:", "SSL:0", "SSL:-1", "SSL:٣", "SSL:4:2", "S SL", "[SSL]", "S" * 128]
)
def test_malformed_expectations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Expectation.parse(text)
