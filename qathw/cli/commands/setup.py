"""``qathw setup FILE``: make the host as a set-up file says (docs/admin.md#setup).

Per PF: services, VF count and VF driver, as qatlib's ``qat_service`` does for the whole
host. The file and the host are checked before anything is written; ``--dry-run``
prints the steps and writes nothing; a second run prints "nothing to change".
"""

from __future__ import annotations

import argparse
from typing import Any

from qathw.admin import Change
from qathw.cli import Command, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, host_from
from qathw.setup import spec
from qathw.setup.apply import apply
from qathw.setup.plan import PfPlan, Plan, Step, make_plan


def plan_lines(plan: Plan, *, dry_run: bool) -> list[str]:
    """The plan for people: each PF, then its steps indented (or why it has none)."""
    lines = []
    for pf in plan.pfs:
        head = f"{pf.address} ({pf.label})"
        if pf.skipped:
            lines.append(f"{head}: skipped, {pf.skipped}")
        elif not pf.steps:
            lines.append(f"{head}: as the file says")
        else:
            lines.append(f"{head}:")
            lines += [f"  {s.text}" for s in pf.steps]
    lines += [f"note: {n}" for n in plan.notes]
    changing = sum(1 for p in plan.pfs if p.steps)
    if not plan.steps:
        lines.append(f"nothing to change ({len(plan.pfs)} PFs as the file says)")
    elif dry_run:
        lines.append(
            f"dry run: would change {changing} of {len(plan.pfs)} PFs in {plan.steps} steps; "
            "nothing was changed"
        )
    return lines


def _plan_doc(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "bdf": str(p.address),
            "label": p.label,
            "entries": list(p.entries),
            "skipped": p.skipped,
            "steps": [{"action": s.action, "value": s.value, "text": s.text} for s in p.steps],
        }
        for p in plan.pfs
    ]


class SetupCommand(Command):
    name = "setup"
    help = "set services, VF counts and VF drivers per PF from a file (idempotent; root)"
    epilog = """a set-up file (TOML; docs/admin.md#setup):

  [[pf]]
  match = "all"              # all, gen4, node1, 0000:6b:00.0, qat_dev0, or a list
  services = "sym;asym"
  vfs = "all"                # or 0: QAT drivers enable every VF or none
  vf_driver = "vfio-pci"     # or the QAT VF driver (4xxxvf), or "none"

  [[pf]]                     # later entries override earlier ones
  match = ["qat_dev1", "qat_dev3"]
  services = "dc"

run it again: it resumes where a failure stopped it, and says 'nothing to change' once
the host is as the file says"""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument("file", metavar="FILE", help="the set-up file (TOML)")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the steps; change nothing"
        )

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        plan = make_plan(host, spec.read(args.file))
        if args.dry_run or not plan.steps:
            if args.json:
                emit_json(
                    {
                        "file": args.file,
                        "dry_run": args.dry_run,
                        "changed": False,
                        "pfs": _plan_doc(plan),
                        "notes": list(plan.notes),
                    }
                )
            else:
                print("\n".join(plan_lines(plan, dry_run=args.dry_run)))
            return 0
        shown: set[str] = set()

        def progress(pf: PfPlan, step: Step, changes: list[Change]) -> None:
            if args.json:
                return
            if str(pf.address) not in shown:
                shown.add(str(pf.address))
                print(f"{pf.address} ({pf.label}):")
            print(f"  {step.text}" + ("" if changes else " (nothing to do)"), flush=True)

        changes = apply(host, plan, progress=progress)
        if args.json:
            emit_json(
                {
                    "file": args.file,
                    "dry_run": False,
                    "changed": True,
                    "pfs": _plan_doc(plan),
                    "notes": list(plan.notes),
                    "changes": len(changes),
                }
            )
        else:
            for n in plan.notes:
                print(f"note: {n}")
            changing = sum(1 for p in plan.pfs if p.steps)
            print(f"done: changed {changing} of {len(plan.pfs)} PFs in {plan.steps} steps")
        return 0


COMMANDS = (SetupCommand,)
