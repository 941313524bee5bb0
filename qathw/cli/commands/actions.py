"""Root actions: ``qathw up|down BDF``, ``services``, ``vfs``, ``bind``.

Each refuses with a clear message when not root or when the kernel would refuse, and
changes nothing then (see :mod:`qathw.admin`).
"""

from __future__ import annotations

import argparse

from qathw import admin
from qathw.admin import Change
from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.cli.commands._host import (
    add_host_args,
    address,
    change_doc,
    change_text,
    host_from,
)


def _report(args: argparse.Namespace, change: Change) -> int:
    if args.json:
        emit_json(change_doc(change))
    else:
        print("\n".join(change_text(change)))
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    add_host_args(parser)
    parser.add_argument("bdf", help="PCI address, e.g. 0000:6b:00.0")


class UpCommand(Command):
    name = "up"
    help = "bring a gen4+ PF up (qat/state; root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _common(parser)

    def run(self, args: argparse.Namespace) -> int:
        return _report(args, admin.set_state(host_from(args), address(args.bdf), "up"))


class DownCommand(Command):
    name = "down"
    help = "bring a gen4+ PF down; this also removes its VFs (root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _common(parser)

    def run(self, args: argparse.Namespace) -> int:
        return _report(args, admin.set_state(host_from(args), address(args.bdf), "down"))


class ServicesCommand(Command):
    name = "services"
    help = "set a PF's services, e.g. 'sym;asym' or 'dc' (device must be down; root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _common(parser)
        parser.add_argument("value", help="services, ';'-separated: sym, asym, dc, decomp, dcc")
        parser.add_argument(
            "--restart", action="store_true", help="if the PF is up: down, change, up"
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            admin.parse_services(args.value)
        except ValueError as exc:
            raise UsageError(str(exc), hint="quote the value: 'sym;asym'") from exc
        change = admin.set_services(
            host_from(args), address(args.bdf), args.value, restart=args.restart
        )
        return _report(args, change)


class VfsCommand(Command):
    name = "vfs"
    help = "enable (all) or disable the SR-IOV VFs of a PF (root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _common(parser)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--enable", action="store_true", help="enable all VFs")
        which.add_argument("--disable", action="store_true", help="disable the VFs")

    def run(self, args: argparse.Namespace) -> int:
        return _report(args, admin.set_vfs(host_from(args), address(args.bdf), args.enable))


class BindCommand(Command):
    name = "bind"
    help = "bind a QAT or ivshmem function to a driver, e.g. vfio-pci ('none': unbind; root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _common(parser)
        parser.add_argument("driver", help="vfio-pci, the QAT driver (4xxx, c6xxvf...) or none")

    def run(self, args: argparse.Namespace) -> int:
        driver = None if args.driver == "none" else args.driver
        return _report(args, admin.bind(host_from(args), address(args.bdf), driver))


COMMANDS = (UpCommand, DownCommand, ServicesCommand, VfsCommand, BindCommand)
