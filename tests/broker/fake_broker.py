"""A real section broker process over a fake fd source: host tests without VFIO.

    python -m tests.broker.fake_broker --runtime-dir DIR --state DIR [--linger S]
        [--idle-exit S] [--slot-mib N] [--bdf BDF ...] [--start-delay S] [--crash TEXT]
        [--ivshmem BDF=FILE ...] [--mailbox BDF ...]

Every start appends the process's pid to ``<state>/started`` first (so a test counts the
brokers that were started, winners and losers); ``--start-delay`` then sleeps before
serving, as a broker's Python start-up does on a slow guest; ``--crash`` writes TEXT to
stderr (the broker log) and exits 3 instead of serving.

The source lends ordinary fds that behave like the VFIO ones where the broker cares:

* group: ``<state>/<bdf>.group``, opened once and ``flock``-ed exclusively, so a process
  outside the broker that holds the lock makes the open fail as a busy VFIO group does
  (:class:`~qathw.errors.VfioGroupBusyError` naming the pid written in the file); lent
  copies keep the lock, as lent group fds keep a group;
* container: a memfd opened ``O_APPEND`` in which holders write one ``map IOVA SIZE`` line
  per DMA mapping (:func:`tests.broker.holder` does); ``unmap_range`` removes the lines
  inside the range and returns their bytes, as ``VFIO_IOMMU_UNMAP_DMA`` does;
* device: a memfd reading ``device <bdf>``;
* ``control_head`` (the ``identify`` op): the start of FILE for a BDF given as
  ``--ivshmem BDF=FILE`` (an emulated endpoint, whose BAR2 is its file); any other BDF
  is no ivshmem function and is refused as the VFIO source refuses it;
* ``pf_mailbox``: for a BDF also given as ``--mailbox BDF``, FILE's PMISC window when
  FILE is an emulated VF endpoint (the broker then speaks on its mailbox to the PF agent
  of ``python -m fakedev serve FILE``, which must run); else none.

Every ``unmap_range`` is recorded as one JSON line in ``<state>/unmaps.jsonl``.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from qathw.broker import server
from qathw.broker.pf_owner import MailboxWindow, emulated_window
from qathw.errors import DeviceNotFoundError, VfioGroupBusyError
from qathw.mmio import Mmio
from qathw.sysfsio import OsSysfsIO

IOVA_TOP = 1 << 40  # the fake container's valid IOVA range is [0, 1 TiB)


def read_mappings(fd: int) -> list[tuple[int, int]]:
    """The ``(iova, size)`` lines of a fake container."""
    size = os.fstat(fd).st_size
    text = os.pread(fd, size, 0).decode()
    return [(int(a), int(b)) for _, a, b in (line.split() for line in text.splitlines())]


@dataclass
class FakeEndpoint:
    bdf: str
    state: Path
    container_fd: int
    group_fd: int
    device_fd: int
    group: int | None
    iova_ranges: tuple[tuple[int, int], ...] = ((0, IOVA_TOP),)
    bar2: Path | None = None  # the endpoint file of an ivshmem function
    mailbox: bool = False  # speak on the endpoint file's PF/VF mailbox (a backend serves it)
    closed: bool = field(default=False)

    def control_head(self, length: int) -> bytes:
        if self.bar2 is None:
            raise DeviceNotFoundError(
                f"{self.bdf} is not an ivshmem function, so not an emulated endpoint",
                path=self.bdf,
            )
        return OsSysfsIO().read_mapped(self.bar2, length)

    def pf_mailbox(self) -> MailboxWindow | None:
        if self.bar2 is None or not self.mailbox:
            return None
        bar = Mmio.map_file(self.bar2, name=f"{self.bdf} BAR2")
        return emulated_window(bar, bar)

    def unmap_range(self, iova: int, size: int) -> int:
        kept, removed = [], 0
        for base, length in read_mappings(self.container_fd):
            if iova <= base and base + length <= iova + size:
                removed += length
            else:
                kept.append((base, length))
        os.ftruncate(self.container_fd, 0)
        os.write(self.container_fd, "".join(f"map {a} {b}\n" for a, b in kept).encode())
        record = {"bdf": self.bdf, "iova": iova, "size": size, "unmapped": removed}
        with open(self.state / "unmaps.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        return removed

    def close(self) -> None:
        if not self.closed:
            for fd in (self.container_fd, self.group_fd, self.device_fd):
                os.close(fd)
            self.closed = True


class FakeSource:
    """Opens the BDFs it was given; see the module docstring."""

    def __init__(
        self, state: Path, bdfs: list[str], ivshmem: dict[str, Path], mailbox: list[str]
    ) -> None:
        self.state = state
        self.bdfs = bdfs
        self.ivshmem = ivshmem
        self.mailbox = mailbox

    def open(self, bdf: str) -> FakeEndpoint:
        if bdf not in self.bdfs:
            raise DeviceNotFoundError(f"no PCI function {bdf} in the fake host", path=bdf)
        number = self.bdfs.index(bdf) + 10
        path = self.state / f"{bdf}.group"
        group = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(group, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(group, 32, 0).decode().strip() or "?"
            os.close(group)
            raise VfioGroupBusyError(
                f"IOMMU group {number} is in use by pid {pid}",
                hint="stop that process, or let it pass you the device (one owner per group)",
                errno=errno.EBUSY,
                path=path,
            ) from None
        container = os.memfd_create(f"container-{bdf}", os.MFD_CLOEXEC)
        fcntl.fcntl(container, fcntl.F_SETFL, os.O_RDWR | os.O_APPEND)
        device = os.memfd_create(f"device-{bdf}", os.MFD_CLOEXEC)
        os.write(device, f"device {bdf}".encode())
        return FakeEndpoint(
            bdf,
            self.state,
            container,
            group,
            device,
            number,
            bar2=self.ivshmem.get(bdf),
            mailbox=bdf in self.mailbox,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fake_broker")
    parser.add_argument("--runtime-dir", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--linger", type=float, default=server.DEFAULT_LINGER)
    parser.add_argument("--slot-mib", type=int, default=server.DEFAULT_SLOT_SIZE >> 20)
    parser.add_argument("--idle-exit", type=float, default=server.DEFAULT_IDLE_EXIT)
    parser.add_argument("--bdf", action="append", default=[])
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--crash", metavar="TEXT")
    parser.add_argument("--ivshmem", action="append", default=[], metavar="BDF=FILE")
    parser.add_argument("--mailbox", action="append", default=[], metavar="BDF")
    args = parser.parse_args(argv)
    with open(args.state / "started", "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(args.start_delay)
    if args.crash:
        sys.stderr.write(args.crash + "\n")
        return 3
    ivshmem = {bdf: Path(file) for bdf, _, file in (a.partition("=") for a in args.ivshmem)}
    source = FakeSource(args.state, args.bdf, ivshmem, args.mailbox)
    return server.serve(
        source,
        args.runtime_dir,
        linger=args.linger,
        slot_size=args.slot_mib << 20,
        log=sys.stderr,
        idle_exit=args.idle_exit,
    )


if __name__ == "__main__":
    sys.exit(main())
