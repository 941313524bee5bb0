"""``python -m fakedev``: create, status and inject, with their errors (run in-process)."""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import pytest

from fakedev.__main__ import main
from qathw import emulated
from qathw.emulated import qathw_emu_control


def test_create_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ep"
    assert main(["create", str(path), "--device", "4xxx", "--size", "8M"]) == 0
    assert "4xxx (8086:4940), 64 banks, 8 MiB" in capsys.readouterr().out
    assert main(["status", str(path), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["schema_version"] == 1
    assert (st["device"], st["banks"], st["backend_state"]) == ("4xxx", 64, "INITIALISING")
    assert st["backend_alive"] is False and st["device_error_count"] == 0
    assert (st["defect_count"], st["defect"]) == (0, "")
    assert main(["status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "gen4, 64 banks" in out and "bus master     off" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "{p}", "--size", "3M"], "not a power of two"),
        (["create", "{p}", "--device", "nope"], "unknown device 'nope'"),
        (["status", "{p}"], "cannot read"),
        (["inject", "{p}", "restart"], "cannot read"),
    ],
)
def test_failures_exit_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    args = [a.format(p=tmp_path / "ep") for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("fakedev: ") and message in err


def test_inject_without_a_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ep"
    main(["create", str(path), "--size", "1M"])
    capsys.readouterr()
    assert main(["inject", str(path), "fatal"]) == 1
    assert "no backend is serving" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["create"], ["create", "x", "--size", "lots"], ["inject", "x", "melt"],
     ["serve", "x", "--services", "crypto"]],
)  # fmt: skip
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_a_file_that_is_not_an_endpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"x" * 8192)
    assert main(["status", str(path)]) == 1
    assert "no QATHWEMU magic" in capsys.readouterr().err


def test_status_prints_the_texts_of_the_page_cleaned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The frontend (maybe a hostile guest) can write the page: escapes must not reach a
    # terminal, and a line must stay one line.
    path = tmp_path / "ep"
    main(["create", str(path), "--size", "1M"])
    with path.open("r+b") as f, mmap.mmap(f.fileno(), emulated.CONTROL_PAGE_SIZE) as mm:
        page = qathw_emu_control.from_buffer(mm)
        page.defect_count = 2
        page.defect = b"\x1b]0;owned\x07 mod:fn:1: E: one\ntwo"
        page.device_error_count = 1
        page.device_error = b"ring 3\r\x1b[2K"
        del page
    capsys.readouterr()
    assert main(["status", str(path), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["defect_count"], st["defect"]) == (2, "?]0;owned? mod:fn:1: E: one?two")
    assert st["device_error"] == "ring 3??[2K"
    assert main(["status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "defects        2 (bugs of fakedev itself)\n" in out
    assert "last defect    ?]0;owned? mod:fn:1: E: one?two\n" in out
    assert "last error     ring 3??[2K\n" in out
    assert "\x1b" not in out and "\r" not in out
