"""``qathw completion bash|zsh``: a shell completion script, generated from the parser.

The script comes from the argparse tree itself (shtab), so every command and option the
CLI has is completed, and nothing is kept in step by hand. Install it with e.g.
``qathw completion bash > /etc/bash_completion.d/qathw`` or, for zsh,
``qathw completion zsh > "${fpath[1]}/_qathw"``.
"""

from __future__ import annotations

import argparse
import sys

from qathw.cli import Command

SHELLS = ("bash", "zsh")


class CompletionCommand(Command):
    name = "completion"
    help = "print a bash or zsh completion script for qathw"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")

    def run(self, args: argparse.Namespace) -> int:
        import shtab  # only this command needs it

        from qathw.cli import build_parser

        sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
        return 0


COMMANDS = (CompletionCommand,)
