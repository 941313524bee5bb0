"""``python -m vm``: boot a guest and run a command or a pytest selection in it.

Examples::

    python -m vm check
    python -m vm run -- uname -r
    python -m vm run --shared /dev/shm/ep.bin --device edu -- python -m qathw list
    python -m vm pytest tests/vm/guest
    python -m vm kvm-probe

The exit code is the guest command's (2 for usage errors, 1 when no guest can boot).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vm.errors import VmError
from vm.guest import Guest, GuestSpec
from vm.host import find_tools


def _spec(args: argparse.Namespace) -> GuestSpec:
    return GuestSpec(
        memory=args.memory,
        cpus=args.cpus,
        shared_memory=tuple(Path(p) for p in args.shared),
        iommu=not args.no_iommu,
        devices=tuple(args.device),
        append=tuple(args.append),
        boot_timeout=args.boot_timeout,
    )


def _add_guest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="FILE",
        help="attach FILE as an ivshmem-plain device (power-of-two size)",
    )
    p.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="DEV",
        help="an extra QEMU -device value, e.g. edu",
    )
    p.add_argument(
        "--append", action="append", default=[], metavar="ARG", help="an extra kernel argument"
    )
    p.add_argument("--no-iommu", action="store_true", help="no intel-iommu (no vfio-pci)")
    p.add_argument("--memory", default="1G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--boot-timeout", type=float, default=300.0, metavar="S")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds the command may run in the guest")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="say whether this machine can boot guests")
    run = sub.add_parser("run", help="boot, run a command, shut down")
    _add_guest_options(run)
    run.add_argument("command", nargs="+", help="the command (after --)")
    pyt = sub.add_parser("pytest", help="boot, run a pytest selection, shut down")
    _add_guest_options(pyt)
    pyt.add_argument("selection", nargs="*", default=["tests"])
    kvm = sub.add_parser("kvm-probe", help="try a short boot with KVM and report")
    kvm.add_argument("--timeout", type=float, default=20.0)  # fmt: skip
    args = parser.parse_args(argv)

    try:
        if args.cmd == "check":
            tools = find_tools()
            print(f"qemu    {tools.qemu}\nkernel  {tools.kernel}\nbusybox {tools.busybox}\n"
                  f"vng     {tools.vng}")  # fmt: skip
            return 0
        if args.cmd == "kvm-probe":
            from vm.kvm import probe

            verdict = probe(args.timeout)
            state = "usable" if verdict.usable else "unusable"
            print(f"kvm: {state}: {verdict.reason} ({verdict.seconds:.1f}s); the harness uses TCG")
            return 0
        with Guest(_spec(args)) as guest:
            if args.cmd == "run":
                command = args.command[0] if len(args.command) == 1 else args.command
                result = guest.run(command, timeout=args.timeout)
            else:
                result = guest.pytest(*args.selection, timeout=args.timeout).result
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.timed_out:
            print(f"vm: the command timed out after {args.timeout:.0f}s", file=sys.stderr)
        return result.rc if result.rc >= 0 else 1
    except VmError as exc:
        print(f"vm: {exc}", file=sys.stderr)
        return 1
