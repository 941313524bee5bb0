"""``qathw config check`` and ``qathw config expand``: config files for people and scripts."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.config import ConfigReport, Expectation, check_files
from qathw.config.contract import internal_sections
from qathw.config.diagnostics import Diagnostic, Severity, count
from qathw.config.profiles import profile_for
from qathw.config.rings import DeviceExpansion, Instance

EXIT_OK, EXIT_ERRORS = 0, 1


def _add_files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="configuration files, one per device (e.g. /etc/4xxx_dev0.conf /etc/4xxx_dev1.conf)",
    )
    parser.add_argument(
        "--type",
        metavar="TYPE",
        help="device type of every file (c6xx, 4xxx, c6xxvf, ...); default: from the file name",
    )


def _expectations(texts: list[str]) -> list[Expectation]:
    found = []
    for text in texts:
        try:
            found.append(Expectation.parse(text))
        except ValueError as exc:
            raise UsageError(
                f"--expect {text!r}: {exc}",
                hint="write SECTION or SECTION:PROCESSES, e.g. --expect SHIM:16",
            ) from None
    return found


def _read(
    args: argparse.Namespace, *, strict: bool = False, expect: list[Expectation] | None = None
) -> ConfigReport:
    if args.type is not None and profile_for(args.type) is None:
        raise UsageError(
            f"unknown device type {args.type!r}", hint="use a class name such as c6xx or 4xxx"
        )
    cpus = getattr(args, "cpus", None)
    return check_files(
        args.files,
        device_type=args.type,
        strict=strict,
        cpu_count=cpus if cpus is not None else os.cpu_count(),
        expect=expect or (),
    )


def _capacity(exp: DeviceExpansion | None) -> dict[str, object] | None:
    if exp is None:
        return None
    return {
        "modelled": exp.modelled,
        "inferred": exp.inferred,
        "banks": len(exp.banks),
        "banks_used": exp.banks_used,
        "services": [{"service": u.service, "used": u.used, "total": u.total} for u in exp.usage],
        "summary": exp.summary(),
    }


def _verdict_text(verdict: str, diags: tuple[Diagnostic, ...]) -> str:
    n = count(diags)
    if verdict == "invalid":
        return f"INVALID ({n[Severity.ERROR]} error{'s' if n[Severity.ERROR] != 1 else ''})"
    if verdict == "warnings":
        return f"valid, {n[Severity.WARNING]} warning{'s' if n[Severity.WARNING] != 1 else ''}"
    return "valid"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _print_diag(d: Diagnostic, out: TextIO) -> None:
    out.write("  " + d.format().replace("\n", "\n  ") + "\n")


class ConfigCheck(Command):
    name = "check"
    help = "validate configuration files: one device, or a set of devices together"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _add_files(parser)
        parser.add_argument(
            "--strict",
            action="store_true",
            help="make every warning an error (as -Werror does): what Intel's Kubernetes "
            "device plugin refuses (R10) and the NumCyInstances spelling among them",
        )
        parser.add_argument(
            "--cpus",
            type=int,
            metavar="N",
            help="check CoreAffinity against N CPUs (default: this machine's)",
        )
        parser.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="SECTION[:PROCESSES]",
            help="the section the application starts, and how many of its processes hold it at "
            "once (default 1); R21 fails the check when no file has the section or the devices "
            "give fewer internal sections (repeatable)",
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="show info findings too")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        expect = _expectations(args.expect)
        report = _read(args, strict=args.strict, expect=expect)
        status = EXIT_OK if report.ok else EXIT_ERRORS
        given = [(e, internal_sections(e, report.expansion)) for e in expect]
        if args.json:
            emit_json(
                {
                    "ok": report.ok,
                    "strict": args.strict,
                    "files": [
                        {
                            "file": f.device.path,
                            "device": f.device.to_dict(),
                            "verdict": f.verdict,
                            "capacity": _capacity(f.expansion),
                            "diagnostics": [d.to_dict() for d in f.diagnostics],
                        }
                        for f in report.files
                    ],
                    "diagnostics": [d.to_dict() for d in report.diagnostics],
                    "sections": [t.to_dict() for t in report.totals],
                    "expect": [
                        {
                            "section": e.section,
                            "processes": e.processes,
                            "internal_sections": n,
                            "ok": n >= e.processes,
                        }
                        for e, n in given
                    ],
                    "counts": {s.value: n for s, n in count(report.all_diagnostics).items()},
                }
            )
            return status
        out = sys.stdout
        shown = (
            (Severity.ERROR, Severity.WARNING, Severity.INFO)
            if args.verbose
            else (
                Severity.ERROR,
                Severity.WARNING,
            )
        )
        for f in report.files:
            dev = f.device
            where = (
                f"{dev.name}, {dev.class_name}" if dev.class_name != "unknown" else "type unknown"
            )
            out.write(f"{f.device.path} ({where}): {_verdict_text(f.verdict, f.diagnostics)}\n")
            if f.expansion is not None and f.expansion.modelled:
                note = " (layout inferred)" if f.expansion.inferred else ""
                out.write(f"  capacity: {f.expansion.summary()}{note}\n")
            for d in f.diagnostics:
                if d.severity in shown:
                    _print_diag(d, out)
        if len(report.files) > 1 or report.diagnostics:
            out.write("across devices:\n")
            for d in report.diagnostics:
                if d.severity in shown:
                    _print_diag(d, out)
        if len(report.files) > 1:
            for t in report.totals:
                out.write(f"  {t.describe()}\n")
        if given:
            out.write("application (--expect):\n")
        for e, got in given:
            verdict = "enough" if got >= e.processes else "too few (R21)"
            processes = f"{e.processes} process{'' if e.processes == 1 else 'es'}"
            out.write(
                f"  [{e.section}] for {processes}: {_plural(got, 'internal section')}, {verdict}\n"
            )
        n = count(report.all_diagnostics)
        files = len(report.files)
        out.write(
            f"{files} file{'s' if files != 1 else ''}: {_plural(n[Severity.ERROR], 'error')}, "
            f"{_plural(n[Severity.WARNING], 'warning')}, {_plural(n[Severity.INFO], 'note')}"
            + ("" if args.verbose or not n[Severity.INFO] else " (-v shows notes)")
            + "\n"
        )
        return status


def _rings(inst: Instance) -> str:
    if not inst.rings:
        return "rings not modelled"
    return "  ".join(f"{r.service} b{r.bank} r{r.tx}/{r.rx}" for r in inst.rings)


class ConfigExpand(Command):
    name = "expand"
    help = "show the internal sections the driver creates, their instances and rings"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        _add_files(parser)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        report = _read(args)
        errors = [d for d in report.all_diagnostics if d.severity is Severity.ERROR]
        for d in errors:
            sys.stderr.write(d.format() + "\n")
        status = EXIT_ERRORS if errors else EXIT_OK
        if args.json:
            emit_json(
                {
                    "ok": not errors,
                    "devices": [
                        {
                            **f.device.to_dict(),
                            "capacity": _capacity(f.expansion),
                            "kernel_instances": [
                                i.to_dict() for i in (f.expansion.kernel if f.expansion else ())
                            ],
                        }
                        for f in report.files
                    ],
                    "sections": [s.to_dict() for s in report.expansion.sections],
                }
            )
            return status
        out = sys.stdout
        for f in report.files:
            exp = f.expansion
            state = exp.summary() if exp is not None else "not expanded (errors)"
            out.write(f"{f.device.name}  {f.device.file_name}: {state}\n")
        for user in report.expansion.user_sections():
            cands = report.expansion.candidates(user)
            out.write(
                f"\n[{user}]: {len(cands)} internal section{'s' if len(cands) != 1 else ''}\n"
            )
            for sec in cands:
                insts = sec.instances
                out.write(f"  {sec.name}: {len(insts)} instance{'s' if len(insts) != 1 else ''}\n")
                for inst in insts:
                    label = f"{inst.kind.capitalize()}{inst.index}"
                    out.write(
                        f"    dev{inst.device.accel_id} {label:<4} {inst.name:<10.10} "
                        f"{inst.service:<4} {_rings(inst)}  {inst.polling_mode} core {inst.core}\n"
                    )
        if not report.expansion.sections and not errors:
            out.write("no internal sections (no user section with NumProcesses > 0)\n")
        return status


class Config(Command):
    name = "config"
    help = "check and expand QAT configuration files (<type>_dev<N>.conf)"
    subcommands = (ConfigCheck, ConfigExpand)


COMMANDS = (Config,)
