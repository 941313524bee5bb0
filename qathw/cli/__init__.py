"""The ``qathw`` command line.

Each module in :mod:`qathw.cli.commands` defines one or more :class:`Command` classes and
lists them in a module-level ``COMMANDS`` tuple; they are found at start-up, so adding a
command never touches a shared registry.

Conventions (docs/design.md#conventions):

* data on stdout, diagnostics on stderr; errors as ``qathw: <what>: <hint>``;
* exit 0 on success (an empty list is a success), 1 on failure, 2 on usage errors;
* every inspection command takes ``--json`` and prints one document with
  ``schema_version`` (the field names are one vocabulary across commands:
  docs/admin.md#json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any, ClassVar, TextIO

from qathw import __version__
from qathw.errors import QatError

# 2: status uses list's names (class_name, bdf, numa_node), PCI ids are "0x4940" strings,
# root actions print {"ok", "changes": [...]} (docs/admin.md#json).
JSON_SCHEMA_VERSION = 2

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(QatError):
    """The command line itself is wrong (exit code 2)."""


class Command:
    """One subcommand. Subclasses set :attr:`name` and :attr:`help` and implement :meth:`run`.

    A command with subcommands of its own (``qathw config check``) sets
    :attr:`subcommands` instead of implementing :meth:`run`.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    epilog: ClassVar[str] = ""  # shown verbatim after the options in --help
    subcommands: ClassVar[tuple[type[Command], ...]] = ()

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to ``parser``."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the exit code. Raise :class:`QatError` on failure."""
        raise UsageError(f"'{self.name}' needs a subcommand", hint="see --help")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` flag every inspection command takes."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (with schema_version)"
    )


def emit_json(doc: dict[str, Any], out: TextIO | None = None) -> None:
    """Print ``doc`` as the command's JSON document, adding ``schema_version``."""
    stream = out if out is not None else sys.stdout
    json.dump({"schema_version": JSON_SCHEMA_VERSION, **doc}, stream, indent=2, sort_keys=False)
    stream.write("\n")


def print_error(exc: QatError, err: TextIO | None = None) -> None:
    """Print ``qathw: <what>: <hint>`` to stderr."""
    stream = err if err is not None else sys.stderr
    stream.write(f"qathw: {exc}\n")


def discover_commands() -> list[type[Command]]:
    """Every command class listed in a ``COMMANDS`` tuple of a module in ``commands/``."""
    from qathw.cli import commands as pkg

    found: list[type[Command]] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        found.extend(getattr(module, "COMMANDS", ()))
    return sorted(found, key=lambda c: c.name)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors go through our error format and exit 2."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn
        self.print_usage(sys.stderr)
        sys.stderr.write(f"qathw: {message}: see '{self.prog} --help'\n")
        raise SystemExit(EXIT_USAGE)


def _register(subparsers: argparse._SubParsersAction[_Parser], cls: type[Command]) -> None:
    command = cls()
    parser = subparsers.add_parser(
        cls.name,
        help=cls.help,
        description=cls.help,
        epilog=cls.epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter
        if cls.epilog
        else argparse.HelpFormatter,
    )
    command.configure(parser)
    parser.set_defaults(_command=command)
    if cls.subcommands:
        nested = parser.add_subparsers(title="commands", metavar="COMMAND")
        for sub in cls.subcommands:
            _register(nested, sub)


def build_parser(commands: Sequence[type[Command]] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every discovered (or given) command."""
    parser = _Parser(
        prog="qathw",
        description="Intel QuickAssist Technology toolkit",
    )
    parser.add_argument("--version", action="version", version=f"qathw {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cls in commands if commands is not None else discover_commands():
        _register(sub, cls)
    return parser


def main(
    argv: Sequence[str] | None = None, *, commands: Sequence[type[Command]] | None = None
) -> int:
    """Entry point of the ``qathw`` console script.

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
        commands: the command classes to offer; discovered when ``None``.

    Returns:
        The exit code: 0 ok, 1 failure, 2 usage error.
    """
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return command.run(args)
    except UsageError as exc:
        print_error(exc)
        return EXIT_USAGE
    except QatError as exc:
        print_error(exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `qathw list | head`: the reader went away; not an error of ours.
        return EXIT_OK
