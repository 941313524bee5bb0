"""One QEMU process of the migratable guest profile: its command line, start, QMP, end.

The machine is what live migration here needs (docs/testing.md#two-guest-profiles):

* ``-machine q35,sata=off``: plain q35's built-in SATA controller fails to load on the
  destination ("Failed to load ich9_ahci") once the vIOMMU is there;
* ``-device intel-iommu`` with the guest's ``intel_iommu=on``, before the devices it
  translates for: Debian's kernel has no VFIO no-IOMMU mode, and vfio-pci needs one;
* one ``ivshmem-plain`` per shared-memory file with ``master=on`` (QEMU refuses to
  migrate a device in "peer mode"), ``share=on`` so the host backend sees guest writes;
* Debian's kernel with the initramfs of :mod:`vm.initramfs` (no 9p root, which blocks
  migration), the agent's virtio-serial port on a UNIX socket, a QMP socket, the serial
  console into a file; TCG always (KVM hangs on the project's machines); no network;
* guest RAM 8 KiB short of what was asked when that is a multiple of 256 KiB: QEMU before
  9.0 loses guest stores while migrating under TCG on RAM blocks of such lengths (its fast
  dirty-bitmap sync does not reset the TCG TLB: QEMU commit "physmem: Fix migration dirty
  bitmap coherency with TCG memory access", which fixes aa8dc044772). Measured here with
  QEMU 7.2: a process writing pages while the guest migrates crashed or read back stale
  bytes at 512 MiB, and saw 0 wrong bytes over 3 migrations at 512 MiB - 8 KiB. The
  ivshmem BARs cannot dodge it (their size is a power of two): :mod:`vm.migratable`
  copies them from the source's files while the destination is still paused;
* ``pti=on`` in the guest: QEMU 7.2 still loses a store now and then (its TLB write path
  checks the dirty bitmap, then marks the TLB entry writable, and the migration thread
  can clear the bit in between; the entry then bypasses the bitmap until the TLB is
  flushed). With page-table isolation every kernel entry loads CR3, which under TCG
  flushes the whole TLB, so such an entry lives one timer tick at most. Measured with
  ``python -m vm.memcheck`` writing 32 MiB during each of 12 migrations: 3 lost stores
  without it, 0 with it.

A destination or a restore target gets the same command line plus ``-incoming defer``
(the caller then sets capabilities and starts listening over QMP) and ``-S``: it stays
paused once loaded, until the caller says ``cont``. Each machine has its
own directory for its sockets, pidfile and logs; :class:`Machine` tracks its pid and
ends it (SIGTERM, then SIGKILL) together with any helper it forked (``exec:`` migration
runs ``sh -c 'cat ...'`` under QEMU).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vm import procs
from vm.errors import BootError, VmError
from vm.guest import IVSHMEM_FIRST_SLOT
from vm.protocol import PORT_NAME
from vm.qmp import Qmp

MACHINE_TYPE = "q35,sata=off"
DIRTY_SYNC_SPAN = 64 * 4096  # bytes QEMU's fast dirty-bitmap sync takes at once (a word)
RAM_ALIGN = 8192  # QEMU rounds -m up to a multiple of this
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
KERNEL_ARGS = (
    "console=ttyS0",
    "intel_iommu=on",
    "panic=-1",  # with -no-reboot, a panicking guest ends its QEMU instead of hanging
    "init_on_free=1",  # freed pages read zero: QEMU sends them as such when migrating
    "pti=on",  # a TLB flush at every kernel entry under TCG: see the module docstring
    "quiet",  # the serial console is slow under TCG; errors still reach it
)


@dataclass(frozen=True)
class MachineSpec:
    """The hardware of a migratable guest (the same on every QEMU it moves through).

    Attributes:
        memory: guest RAM, in QEMU's syntax (the initramfs and every process live in it).
        cpus: virtual CPUs.
        append: extra kernel command-line arguments.
        devices: extra ``-device`` values (they must be migratable).
    """

    memory: str = "512M"
    cpus: int = 1
    append: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()


def guest_ram_bytes(memory: str) -> int:
    """The guest RAM for ``memory`` (QEMU's ``-m`` syntax, MiB without a suffix), in bytes:
    8 KiB less when it is a multiple of 256 KiB (see the module docstring for why).

    Raises:
        VmError: ``memory`` is not a size.
    """
    m = _SIZE.match(memory)
    if m is None:
        raise VmError(f"guest memory {memory!r} is not a size: write e.g. 512M or 1G")
    unit = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    size = int(m.group(1)) * unit[m.group(2).upper()]
    size -= size % RAM_ALIGN
    if size < 64 << 20:
        raise VmError(f"guest memory {memory!r} is too small: the initramfs alone needs 100 MB+")
    if size % DIRTY_SYNC_SPAN == 0:
        size -= RAM_ALIGN
    return size


@dataclass(frozen=True)
class MachineFiles:
    """The files of one QEMU process, in its own directory."""

    folder: Path

    @property
    def qmp(self) -> Path:
        return self.folder / "qmp.sock"

    @property
    def agent(self) -> Path:
        return self.folder / "agent.sock"

    @property
    def pidfile(self) -> Path:
        return self.folder / "qemu.pid"

    @property
    def console(self) -> Path:
        return self.folder / "console.log"

    @property
    def log(self) -> Path:
        return self.folder / "qemu.log"


def qemu_argv(
    qemu: Path,
    kernel: Path,
    initrd: Path,
    spec: MachineSpec,
    files: MachineFiles,
    shared_memory: Sequence[Path],
    *,
    incoming: bool = False,
) -> list[str]:
    """The QEMU command line of one machine.

    Args:
        qemu: the QEMU binary.
        kernel: the kernel image.
        initrd: the initramfs (:mod:`vm.initramfs`).
        spec: memory, CPUs, extra arguments and devices.
        files: where its sockets, pidfile and logs go.
        shared_memory: the ivshmem files, at slots 0x10, 0x11, ... in order.
        incoming: wait for an incoming migration (``-incoming defer``), and stay paused
            after it (``-S``).
    """
    argv = [
        str(qemu),
        "-name", "qathw-guest",
        "-machine", MACHINE_TYPE,
        "-accel", "tcg",
        "-cpu", "max",
        "-m", f"{guest_ram_bytes(spec.memory) // 1024}K",
        "-smp", str(spec.cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        "-append", " ".join((*KERNEL_ARGS, *spec.append)),
        "-chardev", f"file,id=qathwconsole,path={files.console}",
        "-serial", "chardev:qathwconsole",
        "-pidfile", str(files.pidfile),
        "-qmp", f"unix:{files.qmp},server=on,wait=off",
        # Before the devices it translates for: QEMU binds a device's DMA address space
        # when the device is created.
        "-device", "intel-iommu",
        "-chardev", f"socket,id=qathwagent,path={files.agent},server=on,wait=off",
        "-device", "virtio-serial-pci,id=qathwserial",
        "-device", f"virtserialport,bus=qathwserial.0,chardev=qathwagent,name={PORT_NAME}",
    ]  # fmt: skip
    for n, path in enumerate(shared_memory):
        size = path.stat().st_size
        argv += [
            "-object", f"memory-backend-file,id=qathwmem{n},mem-path={path.resolve()},"
                       f"size={size},share=on",
            "-device", f"ivshmem-plain,memdev=qathwmem{n},master=on,"
                       f"addr={IVSHMEM_FIRST_SLOT + n:#x}",
        ]  # fmt: skip
    for dev in spec.devices:
        argv += ["-device", dev]
    if incoming:
        argv += ["-incoming", "defer", "-S"]
    return argv


@dataclass
class Machine:
    """One running QEMU process; :meth:`end` stops it and every process it forked.

    Args:
        argv: its command line (:func:`qemu_argv`).
        files: its files (the directory must exist).

    Raises:
        BootError: QEMU exited at once or its QMP socket never answered (with its output).
    """

    argv: list[str]
    files: MachineFiles
    started: float = field(default_factory=time.monotonic)
    # QEMU's migration parameters as it started (``query-migrate-parameters``), once asked.
    migration_defaults: dict[str, Any] | None = None
    tuned: set[str] = field(default_factory=set)  # the parameters set on it since

    def __post_init__(self) -> None:
        log = open(self.files.log, "wb")
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal is ours to handle, not QEMU's
            )
        finally:
            log.close()
        self.tracked = procs.Tracked.of(self._proc.pid)
        self._token = procs.reaper.register(self.end)
        self._helpers: list[procs.Tracked] = []
        self._qmp: Qmp | None = None
        try:
            self._qmp = self._connect_qmp(30.0)
        except BaseException:
            self.end()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def qmp(self) -> Qmp:
        if self._qmp is None:
            raise VmError("this QEMU has ended")
        return self._qmp

    def _connect_qmp(self, timeout: float) -> Qmp:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise BootError(f"QEMU exited with {self.returncode} at start{self.output_tail()}")
            if self.files.qmp.exists():
                with contextlib.suppress(VmError):
                    return Qmp(self.files.qmp)
            if time.monotonic() > deadline:
                raise BootError(f"QEMU's QMP socket did not answer in {timeout:.0f}s")
            time.sleep(0.02)

    def helpers(self) -> list[int]:
        """Live processes QEMU forked (``exec:`` migration's shell and ``cat``), tracked."""
        known = {t.pid for t in self._helpers}
        for pid in _descendants(self.pid):
            if pid not in known:
                self._helpers.append(procs.Tracked.of(pid))
        return [t.pid for t in self._helpers if t.alive()]

    def pids(self) -> list[int]:
        """QEMU's pid and its helpers', while alive."""
        return ([self.pid] if self.tracked.alive() else []) + self.helpers()

    def output_tail(self, chars: int = 3000) -> str:
        """QEMU's own output (its errors), as a block to append to a message."""
        try:
            text = self.files.log.read_bytes()[-chars:].decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return f"\n--- QEMU said ---\n{text}" if text else ""

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for QEMU to exit; its status, ``None`` if it runs."""
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def quit(self, timeout: float = 10.0) -> None:
        """Ask QEMU to quit (QMP ``quit``), then make sure of it by pid."""
        if self.alive and self._qmp is not None:
            with contextlib.suppress(VmError, OSError):
                self._qmp.execute("quit")
            self.wait(timeout)
        self.end()

    def end(self) -> None:
        """End QEMU and its helpers by pid (SIGTERM, then SIGKILL). Idempotent."""
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self.alive:
            self.helpers()  # learn them while QEMU is still their parent
        self.tracked.end(grace=3.0)
        for helper in self._helpers:
            helper.end(grace=1.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5.0)
        procs.reaper.unregister(self._token)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
