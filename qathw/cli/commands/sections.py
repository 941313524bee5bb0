"""``qathw sections``: every internal section, its instances, and who holds it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from qathw.broker import client as broker_client
from qathw.cli import Command, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, host_from
from qathw.config.diagnostics import Severity
from qathw.errors import QatError
from qathw.paths import HostRoot
from qathw.sections import list_sections


class Sections(Command):
    name = "sections"
    help = "list the internal sections of the started devices and the processes holding them"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--config-dir",
            metavar="DIR",
            help="where <type>_dev<N>.conf are (default $QATHW_CONFIG_DIR or /etc)",
        )
        parser.add_argument(
            "--runtime-dir",
            metavar="DIR",
            help="where section locks are (default $QATHW_RUNTIME_DIR, ...)",
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="list every instance")
        add_json_flag(parser)
        add_host_args(parser)

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        report, statuses = list_sections(args.config_dir, args.runtime_dir, host=host)
        broker, broker_error = _broker(host, args.runtime_dir)
        errors = [d for d in report.all_diagnostics if d.severity is Severity.ERROR]
        if args.json:
            emit_json(
                {
                    "ok": not errors,
                    "devices": [f.device.to_dict() for f in report.files],
                    "sections": [s.to_dict() for s in statuses],
                    "errors": [d.to_dict() for d in errors],
                    "unused_files": [u.to_dict() for u in report.unused],
                    "broker": _broker_doc(broker, broker_error),
                }
            )
            return 1 if errors else 0
        out = sys.stdout
        for d in errors:
            sys.stderr.write(d.format() + "\n")
        for u in report.unused:  # files a reader expects to count, and why they do not
            sys.stderr.write(f"note: {u.describe()}: {u.hint}\n")
        if errors:
            sys.stderr.write(
                "qathw: sections of files with errors are not listed: run 'qathw config check'\n"
            )
        if not statuses:
            out.write("no internal sections\n")
            out.write("".join(line + "\n" for line in _broker_lines(broker, broker_error)))
            return 1 if errors else 0
        out.write(f"{'SECTION':<22} {'DEV':<5} {'INSTANCES':<16} HOLDER\n")
        for st in statuses:
            sec = st.section
            devs = ",".join(str(d.accel_id) for d in sec.devices)
            services = sorted({i.service for i in sec.instances})
            inst = f"{len(sec.instances)} {'+'.join(services) or '-'}"
            if st.holder is None:
                holder = "free"
            else:
                cmd = st.holder.command or "?"
                holder = f"{st.holder.describe()}  {cmd}"
            out.write(f"{sec.name:<22} {devs:<5} {inst:<16} {holder}"[:200] + "\n")
            if args.verbose:
                for i in sec.instances:
                    rings = "  ".join(f"{r.service} b{r.bank} r{r.tx}/{r.rx}" for r in i.rings)
                    out.write(
                        f"    dev{i.device.accel_id} {i.kind.capitalize()}{i.index} {i.name}: "
                        f"{rings or 'rings not modelled'}  {i.polling_mode} core {i.core}\n"
                    )
        held = sum(1 for s in statuses if s.holder is not None)
        out.write("".join(line + "\n" for line in _broker_lines(broker, broker_error)))
        out.write(f"{len(statuses)} internal sections, {held} held, {len(statuses) - held} free\n")
        return 1 if errors else 0


def _broker(
    host: HostRoot, runtime_dir: str | None
) -> tuple[broker_client.BrokerStatus | None, QatError | None]:
    """The section broker's status (``None`` when none runs), or why it cannot be asked."""
    try:
        return broker_client.status(host, runtime_dir=runtime_dir), None
    except QatError as exc:
        return None, exc


def _broker_doc(
    status: broker_client.BrokerStatus | None, error: QatError | None
) -> dict[str, Any]:
    """``broker`` of the JSON document: ``running``, and the status record when it runs."""
    if status is not None:
        return {"running": True, **status.to_dict(), "error": None}
    return {"running": False, "error": str(error) if error else None}


def _broker_lines(status: broker_client.BrokerStatus | None, error: QatError | None) -> list[str]:
    """The broker as text, when one runs: a line, then its endpoints and leases indented."""
    if error is not None:
        return [f"section broker: cannot ask it: {error}"]
    if status is None:
        return []  # the usual case without VFIO endpoints; --json says running: false
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.started))
    linger = "stays" if status.linger < 0 else f"exits {status.linger:g} s after its last lease"
    lines = [
        f"section broker: pid {status.pid} uid {status.uid} since {since}, {linger}; "
        f"{len(status.leases)} leases, {status.ended_leases} ended "
        f"({status.unmapped_bytes:#x} bytes unmapped)"
    ]
    for e in status.endpoints:
        state = "open" if e.open else f"not open: {e.error or '-'}"
        lines.append(
            f"    endpoint {e.bdf} group {e.group if e.group is not None else '-'}: "
            f"{state}, {e.leases} leases"
        )
    for lease in status.leases:
        ranges = "  ".join(
            f"{r.bdf} IOVA {r.iova_base:#x}-{r.iova_base + r.iova_size - 1:#x}"
            for r in lease.ranges
        )
        lines.append(f"    lease {lease.lease} pid {lease.pid}: {ranges or 'no endpoint yet'}")
    return lines


COMMANDS = (Sections,)
