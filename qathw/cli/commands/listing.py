"""``qathw list``: one row per QAT function.

``--json`` adds, for each VF, what Intel's Kubernetes device plugin would do with it
(``device_plugin``: exposed or not, as which resource, and why; :mod:`qathw.deviceplugin`).
"""

from __future__ import annotations

import argparse
import sys

from qathw import deviceplugin, discovery
from qathw.cli import Command, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, cell, function_doc, host_from, table
from qathw.discovery import QatFunction, Role

HEADERS = ("BDF", "DEVICE", "GEN", "DRIVER", "STATE", "SERVICES", "VFS", "IOMMU", "NUMA")


def _row(fn: QatFunction) -> list[str]:
    pci = fn.pci
    sriov = pci.sriov
    if sriov is not None:
        num = cell(sriov.num_vfs, fn, "sriov_numvfs")
        vfs = f"{num}/{cell(sriov.total_vfs, fn, 'sriov_totalvfs')}"
    else:
        vfs = "-"
    numa = pci.numa_node if pci.numa_node is not None and pci.numa_node >= 0 else None
    return [
        fn.bdf,
        fn.label,
        str(int(fn.generation)),
        cell(pci.driver, fn, "driver"),
        cell(fn.state, fn, "qat/state"),
        cell(fn.services, fn, "qat/cfg_services"),
        vfs,
        cell(pci.iommu_group, fn, "iommu_group"),
        cell(numa, fn, "numa_node"),
    ]


class ListCommand(Command):
    name = "list"
    help = "list the QAT functions of this host (PFs, VFs, emulated endpoints)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument("--pf", action="store_true", help="physical functions")
        parser.add_argument("--vf", action="store_true", help="virtual functions")
        parser.add_argument("--emulated", action="store_true", help="emulated endpoints")
        parser.add_argument(
            "--driver", metavar="NAME", help="only functions bound to NAME ('none': unbound)"
        )

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        inv = discovery.discover(host)
        roles = {
            r
            for r, on in ((Role.PF, args.pf), (Role.VF, args.vf), (Role.EMULATED, args.emulated))
            if on
        }
        fns = [f for f in inv.functions if not roles or f.role in roles]
        if args.driver is not None:
            want = None if args.driver == "none" else args.driver
            fns = [f for f in fns if f.pci.driver == want]
        if args.json:
            plugin = deviceplugin.exposures(inv)
            docs = []
            for f in fns:
                doc = function_doc(f, host)
                seen = plugin.get(f.bdf)
                doc["device_plugin"] = seen.to_dict() if seen is not None else None
                docs.append(doc)
            emit_json(
                {
                    "sysfs_root": str(host.sys),
                    "functions": docs,
                    "unidentified": [
                        {"bdf": u.pci.bdf, "reason": u.reason} for u in inv.unidentified
                    ],
                    "vanished": [{"bdf": str(a), "reason": r} for a, r in inv.vanished],
                }
            )
            return 0
        if not fns and not inv.unidentified:
            what = "matches the filters" if roles or args.driver else "found"
            sys.stderr.write(f"no QAT function {what} under {host.pci_devices}\n")
            return 0
        rows = [_row(f) for f in fns]
        rows += [
            [
                u.pci.bdf,
                "ivshmem (unchecked)",
                "-",
                cell(u.pci.driver),
                "?",
                "?",
                "-",
                cell(u.pci.iommu_group),
                "-",
            ]
            for u in inv.unidentified
        ]
        for line in table(HEADERS, rows):
            print(line)
        notes = []
        if any(f.pci.unreadable for f in fns) or inv.unidentified:
            notes.append("?: could not be read (access denied); run as root to see everything")
        for addr, reason in inv.vanished:
            notes.append(f"{addr}: {reason}")
        for n in notes:
            sys.stderr.write(f"note: {n}\n")
        return 0


COMMANDS = (ListCommand,)
