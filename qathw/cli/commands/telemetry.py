"""``qathw telemetry BDF``: the gen4 telemetry counters of a PF, once or refreshing.

On an emulated endpoint the counters are its device's own (requests and bytes, per bank,
always on): ``--rp SLOT=N`` shows bank N, and there is nothing to enable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qathw import discovery, ids
from qathw.cli import JSON_SCHEMA_VERSION as SCHEMA
from qathw.cli import Command, UsageError, add_json_flag
from qathw.cli.commands._host import add_host_args, address, host_from
from qathw.discovery import Role
from qathw.emulated import ControlInfo
from qathw.errors import DeviceError
from qathw.telemetry import (
    MAX_HISTORY,
    RP_SLOTS,
    Counter,
    EndpointTelemetry,
    Sample,
    Telemetry,
)

VALUE_WIDTH = 14
#: ``--watch`` without a number: the device takes one telemetry sample a second, so a
#: faster refresh shows nothing new.
WATCH_SECONDS = 1.0


def _rp_arg(text: str) -> tuple[str, int]:
    slot, sep, rp = text.partition("=")
    if not sep or slot.upper() not in RP_SLOTS or not rp.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not SLOT=RP (e.g. A=0, slots A-D)")
    return slot.upper(), int(rp)


def sample_lines(title: str, sample: Sample) -> list[str]:
    """A table of counters that fits 80 columns (23 + 4 x 14)."""
    history = any(c.min is not None for c in sample.counters)
    head = f"{'counter':<23}{'value':>{VALUE_WIDTH}}"
    if history:
        head += f"{'min':>{VALUE_WIDTH}}{'max':>{VALUE_WIDTH}}{'avg':>{VALUE_WIDTH}}"
    lines = [title]
    if sample.rp_num is not None:
        service = f", service {sample.service_type}" if sample.service_type else ""
        lines.append(f"ring pair {sample.rp_num}{service}")
    lines.append(head)
    for c in sample.counters:
        line = f"{c.name:<23}{c.value:>{VALUE_WIDTH}}"
        if c.min is not None:
            line += f"{c.min:>{VALUE_WIDTH}}{c.max:>{VALUE_WIDTH}}{c.avg:>{VALUE_WIDTH}}"
        lines.append(line)
    return lines


def _counter_doc(c: Counter) -> dict[str, Any]:
    return {"name": c.name, "value": c.value, "min": c.min, "max": c.max, "avg": c.avg}


def sample_doc(sample: Sample) -> dict[str, Any]:
    return {
        "rp_num": sample.rp_num,
        "service_type": sample.service_type,
        "counters": [_counter_doc(c) for c in sample.counters],
    }


class TelemetryCommand(Command):
    name = "telemetry"
    help = "gen4 telemetry counters of a PF (debugfs; enabling needs root)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument("bdf", help="the PF, e.g. 0000:6b:00.0")
        on_off = parser.add_mutually_exclusive_group()
        on_off.add_argument(
            "--enable",
            nargs="?",
            type=int,
            const=1,
            metavar="N",
            help=f"start collecting (N = 1..{MAX_HISTORY} samples of history; default 1)",
        )
        on_off.add_argument("--disable", action="store_true", help="stop collecting")
        parser.add_argument(
            "--rp",
            action="append",
            default=[],
            type=_rp_arg,
            metavar="SLOT=RP",
            help="watch ring pair RP in slot A-D (root) and show it; on an emulated "
            "endpoint, show bank RP",
        )
        parser.add_argument(
            "--watch",
            nargs="?",
            type=float,
            const=WATCH_SECONDS,
            metavar="SECONDS",
            help=f"refresh every SECONDS (default {WATCH_SECONDS:g}: the device samples once a "
            "second); put it after the BDF",
        )
        parser.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N")

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        addr = address(args.bdf)
        fn = discovery.discover(host).get(addr)
        if args.watch is not None and args.watch <= 0:
            raise UsageError("--watch needs a positive number of seconds", hint="e.g. --watch 1")
        if fn.role is Role.EMULATED and fn.control is not None:
            return self._endpoint(args, fn.bdf, fn.pci.sysfs_path / "resource2", fn.control)
        if fn.role is not Role.PF:
            pf = f" its PF is {fn.pf}:" if fn.pf else ""
            raise DeviceError(
                f"{fn.bdf} is a {fn.role.value}; telemetry is per PF",
                hint=f"{pf} run 'qathw telemetry <PF BDF>'".strip(),
            )
        traits = fn.kind.family.traits
        if not traits.telemetry:
            having = ", ".join(t.label for t in ids.GENERATIONS.values() if t.telemetry)
            raise DeviceError(
                f"{fn.bdf} is a {fn.kind.family.product} ({traits.label}): it has no telemetry",
                hint=f"telemetry exists on {having} PFs, with Linux 6.8+",
            )
        if args.enable is not None and not 1 <= args.enable <= MAX_HISTORY:
            raise UsageError(
                f"--enable {args.enable}: history must be 1..{MAX_HISTORY}", hint="see --help"
            )
        tl = Telemetry(host, fn.class_name, fn.bdf)
        if args.disable:
            tl.set_control(0)
            sys.stderr.write(f"{fn.bdf}: telemetry disabled\n")
            return 0
        if args.enable is not None:
            tl.set_control(args.enable)
            sys.stderr.write(f"{fn.bdf}: telemetry enabled (history {args.enable})\n")
        for slot, rp in args.rp:
            tl.select_rp(slot, rp)
        slots = [slot for slot, _ in args.rp]
        return self._loop(
            args, fn.bdf, lambda: (tl.device(), {slot: tl.ring_pair(slot) for slot in slots})
        )

    def _endpoint(
        self, args: argparse.Namespace, bdf: str, resource: Path, control: ControlInfo
    ) -> int:
        if args.enable is not None or args.disable:
            raise DeviceError(
                f"{bdf} is an emulated endpoint: its device counts always, there is "
                "nothing to enable or disable",
                hint=f"run 'qathw telemetry {bdf}' without --enable/--disable",
            )
        tl = EndpointTelemetry(resource, bdf, control.num_banks)
        for _, bank in args.rp:
            tl.ring_pair(bank)  # refuses a bank the endpoint does not have, before any output
        return self._loop(
            args,
            bdf,
            lambda: (tl.device(), {slot: tl.ring_pair(bank) for slot, bank in args.rp}),
        )

    def _loop(
        self,
        args: argparse.Namespace,
        bdf: str,
        read: Callable[[], tuple[Sample, dict[str, Sample]]],
    ) -> int:
        shown = 0
        try:
            while True:
                device, rps = read()
                self._emit(args, bdf, device, rps, shown)
                shown += 1
                if args.watch is None or (args.count is not None and shown >= args.count):
                    return 0
                time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0

    def _emit(
        self,
        args: argparse.Namespace,
        bdf: str,
        device: Sample,
        rps: dict[str, Sample],
        index: int,
    ) -> None:
        if args.json:
            doc = {
                "schema_version": SCHEMA,
                "bdf": bdf,
                "time": time.time(),
                "device": sample_doc(device),
                "ring_pairs": {slot: sample_doc(s) for slot, s in rps.items()},
            }
            # One document; with --watch one per line (JSON lines), flushed at once.
            print(json.dumps(doc) if args.watch is not None else json.dumps(doc, indent=2))
            sys.stdout.flush()
            return
        if args.watch is not None:
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            elif index:
                print()
        stamp = time.strftime("%H:%M:%S")
        lines = sample_lines(f"{bdf} device telemetry at {stamp}", device)
        for slot, s in rps.items():
            lines += ["", *sample_lines(f"{bdf} slot {slot}", s)]
        print("\n".join(lines))
        sys.stdout.flush()


COMMANDS = (TelemetryCommand,)
