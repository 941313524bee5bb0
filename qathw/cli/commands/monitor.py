"""``qathw monitor``: PCI add/remove/bind/unbind events as they happen (pyudev).

The first line says that it is listening (once the netlink socket is open, so anything
that happens after it is seen); then one line per event. With ``--json`` every line is a
JSON document, the first with ``"action": "listening"``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from qathw import udev
from qathw.cli import JSON_SCHEMA_VERSION, Command, UsageError, add_json_flag
from qathw.cli.commands._host import add_host_args, host_from, pci_id
from qathw.udev import PciEvent


def event_line(ev: PciEvent) -> str:
    """``HH:MM:SS.mmm  bind     0000:00:05.0  1af4:1110  vfio-pci  (ivshmem)``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.timestamp))
    ms = int(ev.timestamp % 1 * 1000)
    pid = (
        f"{ev.vendor:04x}:{ev.device:04x}"
        if ev.vendor is not None and ev.device is not None
        else "?"
    )
    line = f"{stamp}.{ms:03d}  {ev.action:<7}  {ev.bdf}  {pid}  {ev.driver or '-'}"
    return line + (f"  ({ev.qat})" if ev.qat else "")


def listening_line(source: str, actions: tuple[str, ...], qat_only: bool) -> str:
    """``listening for PCI add, remove, bind, unbind events (udev); Ctrl-C stops``."""
    which = "QAT and ivshmem " if qat_only else "PCI "
    return f"listening for {which}{', '.join(actions)} events ({source}); Ctrl-C stops"


def listening_doc(source: str, actions: tuple[str, ...], qat_only: bool) -> dict[str, object]:
    """The first JSON line: what is listened to."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "action": "listening",
        "source": source,
        "actions": list(actions),
        "qat_only": qat_only,
    }


def event_doc(ev: PciEvent) -> dict[str, object]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "time": ev.timestamp,
        "action": ev.action,
        "bdf": ev.bdf,
        "vendor": pci_id(ev.vendor),
        "device": pci_id(ev.device),
        "driver": ev.driver,
        "seqnum": ev.seqnum,
        "qat": ev.qat,
    }


class MonitorCommand(Command):
    name = "monitor"
    help = "print PCI add/remove/bind/unbind events (the real /sys only)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument(
            "--qat", action="store_true", help="only QAT functions and ivshmem (emulated) ones"
        )
        parser.add_argument(
            "--all-actions", action="store_true", help="also change/move/online/offline"
        )
        parser.add_argument("--count", type=int, metavar="N", help="exit after N events")
        parser.add_argument("--timeout", type=float, metavar="S", help="exit after S seconds")
        parser.add_argument(
            "--source",
            choices=("auto", "udev", "kernel"),
            default="auto",
            help="udev (after udevd's rules) or kernel; auto: udev when udevd runs",
        )

    def run(self, args: argparse.Namespace) -> int:
        if args.count is not None and args.count < 1:
            raise UsageError("--count must be at least 1", hint="e.g. --count 1")
        # Written so that nan fails it too; inf crashes the poll (not an integer of ms).
        if args.timeout is not None and not 0 < args.timeout < math.inf:
            raise UsageError(
                f"--timeout must be a positive number of seconds, not {args.timeout}",
                hint="e.g. --timeout 10, or leave it out to wait forever",
            )
        if not host_from(args).is_real:
            raise UsageError(
                "monitor listens to the kernel's uevents; a --sysfs-root tree sends none",
                hint="run it without --sysfs-root (and without QATHW_SYSFS_ROOT)",
            )
        actions = udev.PCI_ACTIONS if args.all_actions else ("add", "remove", "bind", "unbind")
        source = udev.default_source() if args.source == "auto" else args.source
        events = udev.monitor(
            source=source,
            qat_only=args.qat,
            actions=actions,
            timeout=args.timeout,
            count=args.count,
        )
        # The socket is open: say so, so that a person (or a script) knows when to act.
        if args.json:
            print(json.dumps(listening_doc(source, tuple(actions), args.qat)))
        else:
            print(listening_line(source, tuple(actions), args.qat))
        sys.stdout.flush()
        try:
            for ev in events:
                print(json.dumps(event_doc(ev)) if args.json else event_line(ev))
                sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        return 0


COMMANDS = (MonitorCommand,)
