"""``python -m vm``: boot a guest and run a command or a pytest selection in it.

Examples::

    python -m vm check
    python -m vm run -- uname -r
    python -m vm run --shared /dev/shm/ep.bin --device edu -- python -m qathw list
    python -m vm pytest tests/vm/guest
    python -m vm run --profile migratable -- qathw list
    python -m vm initramfs          # build (or find) the migratable guest's initramfs, show it
    python -m vm kvm-probe

The exit code is the guest command's (2 for usage errors, 1 when no guest can boot).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vm.errors import VmError
from vm.guest import Guest, GuestSpec
from vm.host import find_tools
from vm.migratable import MigratableGuest, MigratableSpec

PROFILES = ("virtme", "migratable")


def _spec(args: argparse.Namespace) -> GuestSpec:
    return GuestSpec(
        memory=args.memory or "1G",
        cpus=args.cpus or 2,
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
    p.add_argument("--memory", help="guest RAM (default 1G; migratable: 512M)")
    p.add_argument("--cpus", type=int, help="virtual CPUs (default 2; migratable: 1)")
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
    run.add_argument("--profile", choices=PROFILES, default="virtme",
                     help="virtme: the host root over 9p (default); migratable: Debian's "
                     "kernel and a built initramfs (docs/testing.md)")  # fmt: skip
    run.add_argument("command", nargs="+", help="the command (after --)")
    pyt = sub.add_parser("pytest", help="boot, run a pytest selection, shut down")
    _add_guest_options(pyt)
    pyt.add_argument("selection", nargs="*", default=["tests"])
    demo = sub.add_parser("demo", help="the split driver's scenario, every request verified")
    demo.add_argument("--host-only", action="store_true",
                      help="no QEMU: a backend crash and a planned switch here")  # fmt: skip
    ird = sub.add_parser("initramfs", help="build (or find) the migratable guest's initramfs")
    ird.add_argument("--list", action="store_true", help="list every entry too")
    kvm = sub.add_parser("kvm-probe", help="try a short boot with KVM and report")
    kvm.add_argument("--timeout", type=float, default=20.0)  # fmt: skip
    args = parser.parse_args(argv)

    try:
        if args.cmd == "check":
            tools = find_tools()
            print(f"qemu    {tools.qemu}\nkernel  {tools.kernel}\nbusybox {tools.busybox}\n"
                  f"vng     {tools.vng}")  # fmt: skip
            return 0
        if args.cmd == "demo":
            from vm.scenario import demo as run_demo

            return run_demo(host_only=args.host_only)
        if args.cmd == "initramfs":
            return _initramfs(args.list)
        if args.cmd == "run" and args.profile == "migratable":
            return _run_migratable(args)
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


def _initramfs(listing: bool) -> int:
    from vm import initramfs

    started = time.monotonic()
    manifest = initramfs.collect(find_tools(vng=False))
    built = initramfs.build(manifest)
    seconds = time.monotonic() - started
    if listing:
        for path in sorted(manifest.items):
            item = manifest.items[path]
            arrow = f" -> {item.target}" if item.target else ""
            print(f"{item.kind:7} {item.part:13} {path}{arrow}")
    how = "found in the cache" if built.cached else f"built in {built.build_seconds:.1f}s"
    print(f"{built.path}\n  {built.size / 1e6:.1f} MB uncompressed, {len(manifest.items)} entries, "
          f"{how} ({seconds:.1f}s with collecting its inputs)")  # fmt: skip
    for part, size in sorted(built.parts.items(), key=lambda kv: -kv[1]):
        print(f"  {part:14} {size / 1e6:7.1f} MB of host files")
    return 0


def _run_migratable(args: argparse.Namespace) -> int:
    if args.no_iommu:
        print("vm: the migratable profile always has intel-iommu", file=sys.stderr)
        return 2
    spec = MigratableSpec(
        shared_memory=tuple(Path(p) for p in args.shared),
        memory=args.memory or MigratableSpec.memory,
        cpus=args.cpus or MigratableSpec.cpus,
        append=tuple(args.append),
        devices=tuple(args.device),
        boot_timeout=args.boot_timeout,
    )
    with MigratableGuest(spec) as guest:
        command = args.command[0] if len(args.command) == 1 else args.command
        result = guest.run(command, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.timed_out:
        print(f"vm: the command timed out after {args.timeout:.0f}s", file=sys.stderr)
    return result.rc if result.rc >= 0 else 1
