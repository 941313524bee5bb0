"""Root actions: ``qathw up|down|restart``, ``services``, ``vfs``, ``bind``.

Devices are named by BDF or ``qat_devN``. ``up``, ``down`` and ``restart`` take several,
or ``--all`` / ``--gen N`` (every gen4+ PF on its QAT driver, or those of one
generation); ``bind`` takes several functions, or ``--all-vfs`` (every QAT VF, or the VFs
of the PFs named). Several targets are acted on in order; at the first failure the
command stops and says what was done, what was not, and that running it again resumes
(what is done is then "unchanged").

Each refuses with a clear message when the kernel would refuse (root included: the
kernel's ``EACCES`` is the answer, see :mod:`qathw.admin`), and changes nothing then.
``--json`` prints ``{"ok": ..., "changes": [...]}`` (docs/admin.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from qathw import admin, discovery, ids
from qathw.admin import Change
from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.cli.commands._host import (
    DEVICE_HELP,
    add_host_args,
    change_doc,
    change_text,
    host_from,
    resolve,
)
from qathw.discovery import Role
from qathw.errors import QatError
from qathw.paths import HostRoot
from qathw.pci_regs import PciAddress

Action = Callable[[PciAddress], Change]


def _report(args: argparse.Namespace, changes: Sequence[Change]) -> int:
    if args.json:
        emit_json({"ok": True, "changes": [change_doc(c) for c in changes]})
    else:
        for c in changes:
            print("\n".join(change_text(c)))
        if len(changes) > 1:
            done = sum(c.changed for c in changes)
            print(f"{len(changes)} functions: {done} changed, {len(changes) - done} unchanged")
    return 0


def run_each(args: argparse.Namespace, targets: Sequence[PciAddress], act: Action) -> int:
    """Act on each target in order; at the first failure stop and say where things stand.

    Raises:
        QatError: the failure, its message prefixed with what was done and not done.
    """
    changes: list[Change] = []
    for n, addr in enumerate(targets):
        try:
            changes.append(act(addr))
        except QatError as exc:
            if len(targets) == 1:
                raise
            if args.json:
                emit_json(
                    {
                        "ok": False,
                        "changes": [change_doc(c) for c in changes],
                        "failed": {"bdf": str(addr), "error": str(exc)},
                        "not_done": [str(a) for a in targets[n + 1 :]],
                    }
                )
            else:
                for c in changes:
                    print("\n".join(change_text(c)))
            rest = len(targets) - n - 1
            exc.what = (
                f"stopped at {addr} ({n} of {len(targets)} done, {rest} not tried): {exc.what}"
            )
            exc.hint = (exc.hint + "; " if exc.hint else "") + (
                "then run the same command again: what is done shows as unchanged"
            )
            raise
    return _report(args, changes)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    add_host_args(parser)
    parser.add_argument("devices", nargs="*", metavar="DEVICE", help=DEVICE_HELP)
    parser.add_argument("--all", action="store_true", help="every gen4+ PF bound to its QAT driver")
    parser.add_argument(
        "--gen", type=int, metavar="N", help="every gen4+ PF of generation N (e.g. 4)"
    )


def select_pfs(args: argparse.Namespace, host: HostRoot) -> list[PciAddress]:
    """The PFs named, or chosen by ``--all`` / ``--gen``.

    Raises:
        UsageError: nothing chosen, names and a selector together, or an unknown generation.
    """
    if args.devices and (args.all or args.gen is not None):
        raise UsageError("name devices or use --all/--gen, not both", hint="e.g. 'qathw up --all'")
    if args.devices:
        return resolve(host, args.devices)
    if not args.all and args.gen is None:
        raise UsageError(
            "which devices?", hint="name them (BDF or qat_devN), or use --all or --gen N"
        )
    if args.gen is not None and args.gen not in {int(g) for g in ids.Generation}:
        known = ", ".join(str(int(g)) for g in ids.Generation)
        raise UsageError(f"unknown generation {args.gen}", hint=f"generations are {known}")
    inv = discovery.discover(host)
    return [
        pf.address
        for pf in inv.pfs
        if pf.kind.family.traits.sysfs_control
        and pf.pci.driver == pf.kind.family.pf_driver
        and (args.gen is None or int(pf.generation) == args.gen)
    ]


class UpCommand(Command):
    name = "up"
    help = "bring gen4+ PFs up (qat/state; root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _add_selection(parser)

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        return run_each(args, select_pfs(args, host), lambda a: admin.set_state(host, a, "up"))


class DownCommand(Command):
    name = "down"
    help = "bring gen4+ PFs down; this also removes their VFs (root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _add_selection(parser)

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        return run_each(args, select_pfs(args, host), lambda a: admin.set_state(host, a, "down"))


class RestartCommand(Command):
    name = "restart"
    help = "restart gen4+ PFs: down, up, VFs enabled again on their drivers (root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _add_selection(parser)

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        return run_each(args, select_pfs(args, host), lambda a: admin.restart(host, a))


def _one(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    add_host_args(parser)
    parser.add_argument("device", metavar="DEVICE", help=DEVICE_HELP)


class ServicesCommand(Command):
    name = "services"
    help = "set a PF's services, e.g. 'sym;asym' or 'dc' (device must be down; root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _one(parser)
        parser.add_argument("value", help="services, ';'-separated: sym, asym, dc, decomp, dcc")
        parser.add_argument(
            "--restart", action="store_true", help="if the PF is up: down, change, up"
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            admin.parse_services(args.value)
        except ValueError as exc:
            raise UsageError(str(exc), hint="quote the value: 'sym;asym'") from exc
        host = host_from(args)
        (addr,) = resolve(host, [args.device])
        change = admin.set_services(host, addr, args.value, restart=args.restart)
        return _report(args, [change])


class VfsCommand(Command):
    name = "vfs"
    help = "enable (all) or disable the SR-IOV VFs of a PF (root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _one(parser)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--enable", action="store_true", help="enable all VFs")
        which.add_argument("--disable", action="store_true", help="disable the VFs")

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        (addr,) = resolve(host, [args.device])
        return _report(args, [admin.set_vfs(host, addr, args.enable)])


class BindCommand(Command):
    name = "bind"
    help = "bind QAT or ivshmem functions to a driver, e.g. vfio-pci ('none': unbind; root)"
    epilog = """examples:
  qathw bind 0000:6b:00.1 vfio-pci               one VF
  qathw bind 0000:6b:00.1 0000:6b:00.2 vfio-pci  several
  qathw bind --all-vfs vfio-pci                  every QAT VF of the host
  qathw bind --all-vfs qat_dev0 vfio-pci         the VFs of one PF
  qathw bind 0000:6b:00.1 none                   unbind"""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        # One list, the driver last (a "*" positional and one after it would need the
        # functions and the driver to be given apart).
        parser.add_argument(
            "words",
            nargs="+",
            metavar="FUNCTION... DRIVER",
            help=f"functions ({DEVICE_HELP}; with --all-vfs, PFs whose VFs to bind, or "
            "none for every VF), then the driver: vfio-pci, the QAT driver (4xxx, "
            "c6xxvf...) or none",
        )
        parser.add_argument(
            "--all-vfs",
            action="store_true",
            help="every QAT VF (of the PFs named, if any)",
        )

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        *args.functions, name = args.words
        driver = None if name == "none" else name
        targets = self.targets(args, host)
        return run_each(args, targets, lambda a: admin.bind(host, a, driver))

    @staticmethod
    def targets(args: argparse.Namespace, host: HostRoot) -> list[PciAddress]:
        """The functions named, or the VFs ``--all-vfs`` means.

        Raises:
            UsageError: no function and no ``--all-vfs``; a non-PF named with ``--all-vfs``.
        """
        if not args.all_vfs:
            if not args.functions:
                raise UsageError(
                    "which functions?", hint="name them (BDF or qat_devN), or use --all-vfs"
                )
            return resolve(host, args.functions)
        inv = discovery.discover(host)
        pfs = resolve(host, args.functions)
        for addr in pfs:
            if inv.get(addr).role is not Role.PF:
                raise UsageError(
                    f"{addr} is not a PF; --all-vfs binds the VFs of the PFs named",
                    hint="name PFs, or no function for every VF of the host",
                )
        vfs = [f.address for f in inv.vfs if not pfs or f.pf in pfs]
        if not vfs:
            raise UsageError(
                "there is no VF to bind", hint="enable VFs first: 'qathw vfs PF --enable'"
            )
        return vfs


COMMANDS = (
    UpCommand,
    DownCommand,
    RestartCommand,
    ServicesCommand,
    VfsCommand,
    BindCommand,
)
