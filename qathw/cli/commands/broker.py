"""``qathw broker``: run the section broker (it lends VFIO fds to section holders).

Nobody needs to run it: the first ``user_start`` that needs it starts one (as
``python -m qathw.broker``, the lean entry point of the same code), and it exits after
its last lease. Administrators who want it under a unit file run
``qathw broker --foreground --linger -1``.
"""

from __future__ import annotations

import argparse

from qathw.broker import daemon
from qathw.cli import Command
from qathw.cli.commands._host import add_host_args, host_from


class BrokerCommand(Command):
    name = "broker"
    help = "run the section broker that lends VFIO endpoints to section holders"
    epilog = (
        "The broker starts on demand and exits after its last lease; run it yourself only\n"
        "to keep it up (a unit file: 'qathw broker --foreground --linger -1').\n"
        "'qathw sections' shows it, its endpoints and its leases."
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_host_args(parser)
        daemon.add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return daemon.run(args, host_from(args))


COMMANDS = (BrokerCommand,)
