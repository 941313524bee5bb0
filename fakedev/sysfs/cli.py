"""``python -m fakedev.sysfs DIR --topology NAME``: build a fake tree to try the CLI on."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from fakedev.sysfs.builder import build
from fakedev.topologies import NAMED, EmulatedSpec


def main(argv: list[str] | None = None) -> int:
    """``python -m fakedev.sysfs DIR --topology NAME``: build a tree to try the CLI on."""
    parser = argparse.ArgumentParser(prog="python -m fakedev.sysfs", description=main.__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--topology", default="seed", choices=sorted(NAMED))
    parser.add_argument(
        "--emulated",
        action="append",
        default=[],
        metavar="BDF=FILE",
        help="present an emulated endpoint file as an ivshmem function",
    )
    args = parser.parse_args(argv)
    topo = NAMED[args.topology]
    extra = []
    for item in args.emulated:
        bdf, _, file = item.partition("=")
        extra.append(EmulatedSpec(bdf, Path(file)))
    if extra:
        topo = replace(topo, emulated=topo.emulated + tuple(extra))
    try:
        fake = build(args.directory, topo)
    except (ValueError, OSError) as exc:
        print(f"fakedev: {exc}", file=sys.stderr)
        return 1
    print(f"built topology {topo.name!r}: qathw list --sysfs-root {fake.sysfs_root}")
    return 0
