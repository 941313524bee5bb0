"""The CLI frame: exit codes and the error format."""

import argparse
import json

import pytest

from qathw.cli import Command, add_json_flag, emit_json, main
from qathw.errors import QatError


class Echo(Command):
    name = "echo"
    help = "print a document"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        parser.add_argument("--fail", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        if args.fail:
            raise QatError("it broke", hint="do the other thing")
        emit_json({"ok": True})
        return 0


def test_success_prints_json_with_schema_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["echo", "--json"], commands=[Echo]) == 0
    assert json.loads(capsys.readouterr().out) == {"schema_version": 2, "ok": True}


def test_qaterror_exits_1_with_what_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["echo", "--fail"], commands=[Echo]) == 1
    assert capsys.readouterr().err == "qathw: it broke: do the other thing\n"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["echo", "--bogus"], commands=[Echo])
    assert info.value.code == 2
    assert "qathw:" in capsys.readouterr().err


def test_no_command_exits_2() -> None:
    assert main([], commands=[Echo]) == 2
