"""``qathw doctor``: check, in order, what QAT user space needs, and say what to do."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from qathw import discovery, doctor
from qathw.cli import Command, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, host_from
from qathw.doctor import Check, Status

WIDTH = 80
LABEL = {Status.PASS: "pass", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def check_lines(check: Check) -> list[str]:
    """One check as ``[FAIL] title``, then the detail and the hint, wrapped to 80 columns."""
    lines = [f"[{LABEL[check.status]}] {check.title}"]
    body = textwrap.TextWrapper(width=WIDTH, initial_indent="       ", subsequent_indent="       ")
    lines += body.wrap(check.detail)
    if check.hint and check.status in (Status.WARN, Status.FAIL):
        hint = textwrap.TextWrapper(
            width=WIDTH, initial_indent="       fix: ", subsequent_indent="            "
        )
        lines += hint.wrap(check.hint)
    return lines


class DoctorCommand(Command):
    name = "doctor"
    help = "check this host for what QAT needs, and say what to do about each problem"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument(
            "--need",
            choices=sorted(doctor.SERVICE_NEEDS),
            help="a service you need (cy = sym and asym)",
        )
        parser.add_argument(
            "--firmware-dir",
            type=Path,
            metavar="DIR",
            help="where firmware files are (default: /lib/firmware under the host root)",
        )

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        inv = discovery.discover(host)
        env = doctor.Environment.from_system(host, firmware_dir=args.firmware_dir)
        checks = doctor.run(inv, env, need=args.need)
        failed = [c for c in checks if c.status is Status.FAIL]
        if args.json:
            emit_json(
                {
                    "sysfs_root": str(host.sys),
                    "ok": not failed,
                    "checks": [
                        {
                            "id": c.id,
                            "title": c.title,
                            "status": c.status.value,
                            "detail": c.detail,
                            "hint": c.hint,
                        }
                        for c in checks
                    ],
                }
            )
        else:
            for c in checks:
                print("\n".join(check_lines(c)))
            counts = {s: sum(c.status is s for c in checks) for s in Status}
            print(
                f"{len(checks)} checks: {counts[Status.PASS]} pass, {counts[Status.WARN]} warn, "
                f"{counts[Status.FAIL]} fail, {counts[Status.SKIP]} skipped"
            )
        # A failed check is what doctor exists to find: exit 1 so scripts can gate on it.
        return 1 if failed else 0


COMMANDS = (DoctorCommand,)
