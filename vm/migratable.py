"""The migratable guest profile: a guest that moves between QEMU processes.

:class:`MigratableGuest` boots Debian's kernel with the initramfs of :mod:`vm.initramfs`
on the machine of :mod:`vm.machine` (TCG, q35 with ``sata=off``, intel-iommu, one
``ivshmem-plain,master=on`` per shared-memory file), and drives it through the guest
agent (``--persistent``: it keeps serving when the host reconnects) like the virtme-ng
profile's :class:`vm.guest.Guest` does — :meth:`~MigratableGuest.run`,
:meth:`~MigratableGuest.python`, :meth:`~MigratableGuest.qmp` — and adds:

* :meth:`~MigratableGuest.migrate`: live migration to a second QEMU on new
  shared-memory files over loopback TCP; from then on the object drives that QEMU;
* :meth:`~MigratableGuest.save`: the stopped guest's state into a file (``exec:cat``;
  QEMU 7.2 has no ``file:`` URI), then its QEMU ends;
* :meth:`~MigratableGuest.restore`: a new QEMU loads that file and the guest goes on.

Each QEMU, and whatever it forks, is ended by pid on every path — ``close()``,
exceptions, Ctrl-C, SIGTERM, interpreter exit — and the run directory is removed. A
failed migration leaves the guest running on its source; a failed save leaves it
running and no file behind; a failed restore leaves nothing running.

The backends behind the shared-memory files are the caller's: ``migrate`` calls
``before()`` right before QEMU starts migrating (stop the old backend there, after the
frontend is quiet) and ``after()`` once the guest runs on the destination (start the new
backend there); ``restore`` calls ``after()`` once the state is loaded, before the guest
runs again.

QEMU copies the shared memory as guest RAM while the guest runs, which is not enough for
an endpoint: it never sees the host backend's writes to the file (made outside QEMU),
and QEMU 7.2 under TCG may drop guest stores to blocks of a power-of-two size
(:mod:`vm.machine`). So the destination starts paused (``-S``) and, once it has loaded
the guest and the source has stopped for good, each destination file gets the whole
source file, the final bytes both sides wrote; then the guest runs. That copy is part of
the guest's pause (``MigrationReport.handover_ms``) beside QEMU's ``downtime``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vm import procs
from vm.agentclient import AgentChannel, AgentClient, ChannelClosedError
from vm.errors import BootError, MigrationError, RestoreError, SaveError, VmError
from vm.host import HostTools, find_tools
from vm.initramfs import Initramfs, ensure, touch
from vm.machine import Machine, MachineFiles, MachineSpec, qemu_argv
from vm.progress import BootProgress, Sink, StreamSink

Hook = Callable[[], object]
SAVE_MAGIC = b"QEVM"  # the first bytes of every QEMU migration stream
SAVE_BANDWIDTH = 16 << 30  # bytes/s: a stopped guest is saved as fast as it can be
POLL = 0.01  # seconds between looks at a migration's progress
HANDOVER_POLL = 0.002  # ... and at the destination's, while the guest is paused
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class MigrationTuning:
    """QEMU's migration settings (``migrate-set-parameters``, ``migrate-set-capabilities``).

    ``None`` leaves QEMU's default (7.2: downtime limit 300 ms, 128 MiB/s).

    Attributes:
        downtime_limit_ms: the longest pause QEMU aims for when it stops the guest to send
            the last dirty pages (it keeps copying while the guest runs until what is
            left fits).
        max_bandwidth: bytes per second QEMU may send.
        capabilities: capabilities to switch on, on both QEMUs (``auto-converge``,
            ``xbzrle``, ``multifd``, ...).
        parameters: further ``migrate-set-parameters`` arguments, by QMP name.
    """

    downtime_limit_ms: int | None = None
    max_bandwidth: int | None = None
    capabilities: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def qmp_parameters(self) -> dict[str, Any]:
        """The ``migrate-set-parameters`` arguments."""
        out: dict[str, Any] = dict(self.parameters)
        if self.downtime_limit_ms is not None:
            out["downtime-limit"] = int(self.downtime_limit_ms)
        if self.max_bandwidth is not None:
            out["max-bandwidth"] = int(self.max_bandwidth)
        return out


# Measured on the project's 2-core TCG machine (docs/testing.md#two-guest-profiles).
TUNED = MigrationTuning(downtime_limit_ms=50, max_bandwidth=4 << 30)


@dataclass(frozen=True)
class MigratableSpec:
    """How to build a migratable guest.

    Attributes:
        shared_memory: files to attach as ``ivshmem-plain`` devices (power-of-two sizes),
            at slots ``0x10``, ``0x11``, ... of ``pcie.0``, in order.
        memory: guest RAM (the initramfs and every process live in it, and all of it is
            looked at on every migration: keep it small).
        cpus: virtual CPUs.
        append: extra kernel command-line arguments.
        devices: extra ``-device`` values (they must be migratable).
        boot_timeout: seconds from start until the agent must have said hello.
        tuning: the migration settings :meth:`MigratableGuest.migrate` uses by default.
    """

    shared_memory: tuple[Path, ...] = ()
    memory: str = "512M"
    cpus: int = 1
    append: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    boot_timeout: float = 180.0
    tuning: MigrationTuning = TUNED

    @property
    def machine(self) -> MachineSpec:
        return MachineSpec(self.memory, self.cpus, self.append, self.devices)


@dataclass(frozen=True)
class MigrationReport:
    """How a migration went: QEMU's own figures and the host's clock.

    Attributes:
        total_ms: QEMU's total time, from ``migrate`` to completion.
        downtime_ms: QEMU's figure for how long the source had the guest stopped.
        handover_ms: the host's clock from seeing the migration completed until the guest
            ran on the destination: the destination loading the last of it, the shared
            memory copied from the source's files, ``cont``. The guest's pause is about
            ``downtime_ms + handover_ms``.
        setup_ms: QEMU's setup time.
        transferred_bytes: bytes QEMU sent (RAM, zero pages as markers, device state).
        iterations: passes over dirty memory (QEMU's dirty-sync count).
        wall_ms: the host's clock from ``migrate`` until the guest ran on the destination.
        tuning: the settings used.
        info: QEMU's last ``query-migrate`` answer on the source, whole.
    """

    total_ms: int
    downtime_ms: int
    handover_ms: float
    setup_ms: int
    transferred_bytes: int
    iterations: int
    wall_ms: float
    tuning: MigrationTuning
    info: dict[str, Any]


@dataclass(frozen=True)
class SaveReport:
    """A saved guest: the file, its size, how long it took (QEMU's figure and the host's)."""

    path: Path
    size_bytes: int
    total_ms: int
    wall_ms: float


@dataclass(frozen=True)
class RestoreReport:
    """A restore: loading the state (host clock), and until the agent answered again."""

    load_ms: float
    wall_ms: float


def _is_power_of_two(n: int) -> bool:
    return n >= 4096 and not n & (n - 1)


def _check_files(paths: Sequence[Path]) -> tuple[Path, ...]:
    out = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise VmError(f"shared-memory file {path} does not exist; create it first "
                          "(python -m fakedev create FILE)")  # fmt: skip
        size = path.stat().st_size
        if not _is_power_of_two(size):
            raise VmError(
                f"shared-memory file {path} is {size} bytes; ivshmem needs a power of two "
                "(QEMU aborts otherwise)"
            )
        if "," in str(path.resolve()):
            raise VmError(f"shared-memory path {path} has a comma, which QEMU options cannot hold")
        out.append(path)
    return tuple(out)


class MigratableGuest(AgentClient):
    """One guest of the migratable profile. Use as a context manager, or call :meth:`close`.

    Args:
        spec: what to boot.
        progress: where the boot progress line goes (stderr when ``None``).
        workdir: where the run directory (sockets, pidfiles, console logs) is made.
        initramfs: a built initramfs (default: :func:`vm.initramfs.ensure`, cached).

    Raises:
        VmUnavailableError: QEMU, a kernel, its modules or busybox-static are missing.
        BootError: the guest did not come up within ``spec.boot_timeout`` (console tail).
        VmError: bad input (a shared-memory file that is missing or not a power of two).
    """

    def __init__(
        self,
        spec: MigratableSpec | None = None,
        *,
        progress: Sink | None = None,
        workdir: str | os.PathLike[str] | None = None,
        initramfs: Initramfs | None = None,
    ) -> None:
        self.spec = spec or MigratableSpec()
        self.tools: HostTools = find_tools(vng=False)
        self.shared_memory = _check_files(self.spec.shared_memory)
        self._sizes = [p.stat().st_size for p in self.shared_memory]
        self.initramfs = initramfs or ensure(self.tools)
        # Sockets live here: keep the path short (a UNIX socket path has 108 bytes).
        self.run_dir = Path(tempfile.mkdtemp(prefix="qathw-vm-", dir=workdir or "/tmp"))
        self._closed = False
        self._token = procs.reaper.register(self.close)
        self._initrd = self._pin(self.initramfs)
        self._generation = 0
        self._machines: list[Machine] = []  # every QEMU not yet ended, the current last
        self._machine: Machine | None = None
        self._agent = AgentChannel(self.run_dir / "none")
        self.saved_to: Path | None = None
        self.hello: dict[str, Any] = {}
        self.boot_seconds = 0.0
        try:
            self._boot(progress if progress is not None else StreamSink())
        except BaseException:
            self.close()
            raise

    # --- state -----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``running``, ``saved`` (see :attr:`saved_to`) or ``closed``."""
        if self._closed:
            return "closed"
        return "saved" if self._machine is None else "running"

    @property
    def alive(self) -> bool:
        return self._machine is not None and self._machine.alive and not self._closed

    @property
    def qemu_pid(self) -> int | None:
        return self._machine.pid if self._machine is not None else None

    @property
    def pids(self) -> list[int]:
        """Every live process of this guest: each QEMU and what it forked."""
        return sorted({pid for m in self._machines for pid in m.pids()})

    @property
    def console_log(self) -> Path | None:
        """The serial console of the QEMU running the guest now."""
        return self._machine.files.console if self._machine is not None else None

    def _console_tail(self, lines: int = 25) -> str:
        machine = self._machine or (self._machines[-1] if self._machines else None)
        if machine is None:
            return ""
        try:
            text = machine.files.console.read_bytes()[-16384:].decode("utf-8", "replace")
        except OSError:
            text = ""
        tail = "\n".join(text.splitlines()[-lines:])
        block = f"\n--- last lines of the guest console ---\n{tail}" if tail else ""
        return block + machine.output_tail()

    # --- machines --------------------------------------------------------------------

    def _pin(self, built: Initramfs) -> Path:
        """The archive every QEMU of this guest reads: a link in the run directory where
        one can be made, so that the cache may drop its name meanwhile."""
        pinned = self.run_dir / "initramfs.cpio"
        try:
            os.link(built.path, pinned)
        except OSError:  # another file system: use it in the cache (kept while used)
            return built.path
        return pinned

    def _start(self, shared_memory: Sequence[Path], *, incoming: bool) -> Machine:
        if self._initrd == self.initramfs.path:
            touch(self.initramfs)
        folder = self.run_dir / f"q{self._generation}"
        self._generation += 1
        folder.mkdir()
        files = MachineFiles(folder)
        argv = qemu_argv(
            self.tools.qemu,
            self.tools.kernel,
            self._initrd,
            self.spec.machine,
            files,
            shared_memory,
            incoming=incoming,
        )
        machine = Machine(argv, files)
        self._machines.append(machine)
        return machine

    def _end(self, machine: Machine, *, quit: bool = False) -> None:
        if quit:
            machine.quit()
        else:
            machine.end()
        if machine in self._machines:
            self._machines.remove(machine)
        shutil.rmtree(machine.files.folder, ignore_errors=True)

    def _running(self) -> Machine:
        if self._closed:
            raise VmError("the guest is closed")
        if self._machine is None:
            raise VmError(f"the guest is saved in {self.saved_to}; restore() it first")
        return self._machine

    def _channel(self) -> AgentChannel:
        self._running()
        return self._agent

    def _died(self) -> bool:
        return self._machine is None or not self._machine.alive

    def _attach(self, machine: Machine, timeout: float) -> None:
        """Make ``machine`` the guest's, and reach the agent through it."""
        self._agent.close()
        self._machine = machine
        self._agent = AgentChannel(machine.files.agent)
        deadline = time.monotonic() + timeout
        while not self._agent.connect():
            if time.monotonic() > deadline or not machine.alive:
                raise VmError(f"cannot connect to the agent's port{self._console_tail()}")
            time.sleep(0.02)
        self.ping(timeout=max(1.0, deadline - time.monotonic()))

    # --- boot ------------------------------------------------------------------------

    def _boot(self, sink: Sink) -> None:
        label = (
            f"{self.tools.release}, TCG, {self.spec.cpus} CPU, "
            f"initramfs {self.initramfs.size / 1e6:.0f} MB"
        )
        progress = BootProgress(label, sink)
        started = time.monotonic()
        try:
            machine = self._start(self.shared_memory, incoming=False)
            self._machine = machine
            self._agent = AgentChannel(machine.files.agent)
            deadline = started + self.spec.boot_timeout
            while not self.hello:
                if not machine.alive:
                    raise BootError(
                        f"QEMU exited with {machine.returncode} before the agent started"
                        f"{self._console_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise BootError(
                        f"the guest did not come up in {self.spec.boot_timeout:.0f}s"
                        f"{self._console_tail()}"
                    )
                if not self._agent.connect():
                    time.sleep(0.02)
                else:
                    try:
                        received = self._agent.receive(0.1)
                    except ChannelClosedError as exc:
                        raise BootError(f"{exc}{self._console_tail()}") from None
                    for msg in received:
                        if "hello" in msg:
                            self.hello = msg["hello"]
                        else:
                            self._agent.keep([msg])
                progress.update(self._last_console_line())
        except BaseException:
            progress.finish("failed to boot")
            raise
        self.boot_seconds = time.monotonic() - started
        progress.finish("up")

    def _last_console_line(self) -> str:
        if self._machine is None:
            return ""
        try:
            with open(self._machine.files.console, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 512))
                tail = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def qmp(self, command: str, **arguments: Any) -> Any:
        """Run a QMP command on the QEMU running the guest now."""
        return self._running().qmp.execute(command, **arguments)

    # --- migration -------------------------------------------------------------------

    def _check_target(
        self, shared_memory: Sequence[Path], error: type[VmError]
    ) -> tuple[Path, ...]:
        try:
            files = _check_files(shared_memory)
        except VmError as exc:
            raise error(str(exc)) from None
        if len(files) != len(self._sizes):
            raise error(
                f"the guest has {len(self._sizes)} shared-memory device(s); "
                f"{len(files)} file(s) given: pass one per device, in the same order"
            )
        for path, size in zip(files, self._sizes, strict=True):
            if path.stat().st_size != size:
                raise error(
                    f"{path} is {path.stat().st_size} bytes but its device has {size}: the "
                    "destination's memory must be the same size (create it with the same size)"
                )
        return files

    def migrate(
        self,
        shared_memory: Sequence[Path],
        *,
        before: Hook | None = None,
        after: Hook | None = None,
        tuning: MigrationTuning | None = None,
        timeout: float = 120.0,
    ) -> MigrationReport:
        """Live-migrate the guest to a new QEMU whose devices use ``shared_memory``.

        The destination is started first (same command line, the new files, listening on
        a free loopback port); then ``before()``, QMP ``migrate`` on the source, and polls
        of ``query-migrate`` until it completed; once the guest runs on the destination,
        ``after()``; then the source QEMU is ended and the agent reached through the
        destination.

        Args:
            shared_memory: the destination's files, one per device, each the size of the
                one it replaces, not the same file (the source still maps that one).
            before: called right before the migration starts (stop the old backend here).
            after: called once the guest runs on the destination (start the new backend).
            tuning: migration settings (default: the spec's).
            timeout: seconds the migration may take before it is cancelled.

        Returns:
            QEMU's figures (total, downtime, setup, bytes) and the host's wall time.

        Raises:
            MigrationError: bad files (nothing was started), or the migration failed or
                timed out: the guest runs on its source again and the destination is ended
                (a ``before()`` already done is the caller's to undo).
            VmError: the guest is saved or closed.
        """
        source = self._running()
        files = self._check_target(shared_memory, MigrationError)
        for new, old in zip(files, self.shared_memory, strict=True):
            if new.resolve() == old.resolve():
                raise MigrationError(
                    f"{new} is the file the guest uses now: migrate to a new file (the "
                    "destination overwrites it with the guest's copy while the source runs)"
                )
        tuning = tuning or self.spec.tuning
        dest = self._start(files, incoming=True)
        started = 0.0
        try:
            for machine in (source, dest):
                _tune(machine, tuning)
            dest.qmp.execute("migrate-incoming", uri=f"tcp:{LOOPBACK}:0")
            port = _listening_port(dest)
            if before is not None:
                before()
            started = time.monotonic()
            source.qmp.execute("migrate", uri=f"tcp:{LOOPBACK}:{port}")
            info = _wait_migration(source, started + timeout, MigrationError, peer=dest)
            completed = time.monotonic()
            _wait_incoming(dest, started + timeout, MigrationError, "the migration")
            for old, new in zip(self.shared_memory, files, strict=True):
                _copy_contents(old, new)
            dest.qmp.execute("cont")
            _wait_running(dest, started + timeout)
            now = time.monotonic()
            wall, handover = (now - started) * 1000, (now - completed) * 1000
        except BaseException as exc:
            self._abandon(source, dest)
            if isinstance(exc, VmError) and not isinstance(exc, MigrationError):
                raise MigrationError(f"{exc}; the guest runs on its source again") from exc
            raise
        self.shared_memory = files
        self._machine = dest
        try:
            if after is not None:
                after()
        finally:
            self._end(source, quit=True)
            self._attach(dest, 60.0)
        ram = info.get("ram", {})
        return MigrationReport(
            total_ms=int(info.get("total-time", 0)),
            downtime_ms=int(info.get("downtime", 0)),
            handover_ms=round(handover, 1),
            setup_ms=int(info.get("setup-time", 0)),
            transferred_bytes=int(ram.get("transferred", 0)),
            iterations=int(ram.get("dirty-sync-count", 0)),
            wall_ms=round(wall, 1),
            tuning=tuning,
            info=info,
        )

    def _abandon(self, source: Machine, dest: Machine) -> None:
        """After a failed migration: the destination ended, the source running again."""
        self._end(dest)
        with contextlib.suppress(VmError, OSError):
            status = source.qmp.execute("query-migrate").get("status")
            if status in ("setup", "active", "pre-switchover", "device"):
                source.qmp.execute("migrate_cancel")
                _wait_migration(source, time.monotonic() + 30, MigrationError, settle=True)
        with contextlib.suppress(VmError, OSError):
            if source.qmp.execute("query-status").get("status") != "running":
                source.qmp.execute("cont")

    # --- save and restore ------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, before: Hook | None = None,
             timeout: float = 120.0) -> SaveReport:  # fmt: skip
        """Stop the guest, write its whole state to ``path``, end its QEMU.

        The file is written beside ``path`` under a temporary name and appears under
        ``path`` only once complete; it never replaces an existing file.

        Args:
            path: the file to create.
            before: called while the guest still runs, right before it is stopped.
            timeout: seconds the save may take.

        Returns:
            The file, its size and the time it took.

        Raises:
            SaveError: ``path`` exists, its directory is missing or not writable, or QEMU
                failed to write it: the guest runs on, and no file is left behind.
            VmError: the guest is saved or closed.
        """
        machine = self._running()
        target = Path(path).absolute()
        if os.path.lexists(target):
            raise SaveError(f"{target} exists: save never overwrites; remove it or pick a new name")
        if not target.parent.is_dir():
            raise SaveError(f"{target.parent} is not a directory: create it first")
        if not os.access(target.parent, os.W_OK | os.X_OK):
            raise SaveError(f"{target.parent} is not writable here: save somewhere else")
        partial = target.parent / f".{target.name}.partial-{os.getpid()}-{self._generation}"
        started = time.monotonic()
        stopped = False
        try:
            if before is not None:
                before()
            machine.qmp.execute("stop")
            stopped = True
            # Nothing runs while it saves: no downtime to aim for, only speed.
            _tune(machine, MigrationTuning(max_bandwidth=SAVE_BANDWIDTH))
            machine.qmp.execute("migrate", uri=f"exec:cat > {shlex.quote(str(partial))}")
            info = _wait_migration(machine, started + timeout, SaveError)
            with open(partial, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(partial, target)  # fails if someone made ``path`` meanwhile
            except OSError as exc:
                raise SaveError(f"cannot create {target}: {exc.strerror}") from None
        except BaseException as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            if stopped:
                with contextlib.suppress(VmError, OSError):
                    machine.qmp.execute("cont")
            if isinstance(exc, VmError) and not isinstance(exc, SaveError):
                raise SaveError(f"{exc}; the guest runs on") from exc
            raise
        partial.unlink()
        wall = (time.monotonic() - started) * 1000
        self._agent.close()
        self._machine = None
        self.saved_to = target
        self._end(machine, quit=True)
        return SaveReport(target, target.stat().st_size, int(info.get("total-time", 0)),
                          round(wall, 1))  # fmt: skip

    def restore(
        self,
        path: str | os.PathLike[str],
        shared_memory: Sequence[Path] | None = None,
        *,
        after: Hook | None = None,
        timeout: float = 120.0,
    ) -> RestoreReport:
        """Start a new QEMU that loads the guest saved in ``path``; the guest goes on.

        Args:
            path: a file :meth:`save` wrote (for this guest's kind of machine).
            shared_memory: the devices' files (default: those the guest had), each the
                size of its device; the saved contents are loaded into them.
            after: called once the state is loaded, before the guest runs again (start
                the backends here).
            timeout: seconds loading may take.

        Returns:
            How long loading took, and until the agent answered.

        Raises:
            RestoreError: ``path`` is missing or not a saved guest, the files do not fit,
                or QEMU failed to load it; nothing is left running (the guest stays saved).
            VmError: the guest is not saved (it runs, or it is closed).
        """
        if self._closed:
            raise VmError("the guest is closed")
        if self._machine is not None:
            raise VmError("the guest is running: restore() follows a save()")
        source = Path(path).absolute()
        if not source.is_file():
            raise RestoreError(f"{source} is not a file: pass the file save() wrote")
        with open(source, "rb") as f:
            if f.read(len(SAVE_MAGIC)) != SAVE_MAGIC:
                raise RestoreError(
                    f"{source} is not a saved guest (no QEMU migration stream in it)"
                )
        files = self._check_target(shared_memory or self.shared_memory, RestoreError)
        started = time.monotonic()
        machine = self._start(files, incoming=True)
        try:
            machine.qmp.execute("migrate-incoming", uri=f"exec:cat {shlex.quote(str(source))}")
            _wait_incoming(machine, started + timeout, RestoreError, str(source))
            load = (time.monotonic() - started) * 1000
            self._machine = machine  # for after(): the guest is here now, paused
            if after is not None:
                after()
            if machine.qmp.execute("query-status").get("status") != "running":
                machine.qmp.execute("cont")
            self._attach(machine, 60.0)
        except BaseException as exc:
            self._agent.close()
            self._machine = None
            self._end(machine)
            if isinstance(exc, VmError) and not isinstance(exc, RestoreError):
                raise RestoreError(f"{exc}; nothing is left running") from exc
            raise
        self.shared_memory = files
        self.saved_to = None
        return RestoreReport(round(load, 1), round((time.monotonic() - started) * 1000, 1))

    # --- shutdown --------------------------------------------------------------------

    def shutdown(self, timeout: float = 30.0) -> None:
        """Ask the agent to exit (the guest powers off), wait for QEMU, then clean up."""
        if self._closed:
            return
        try:
            machine = self._machine
            if machine is not None and machine.alive and self._agent.connected:
                self._request({"op": "shutdown"}, min(timeout, 10.0))
                machine.wait(timeout)
        except (VmError, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """End every QEMU of this guest by pid and remove its files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._agent.close()
        for machine in reversed(self._machines):
            machine.end()
        self._machines.clear()
        self._machine = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        procs.reaper.unregister(self._token)

    def __repr__(self) -> str:
        return f"<MigratableGuest {self.tools.release} {self.state} qemu pid {self.qemu_pid}>"


# --- QMP helpers -------------------------------------------------------------------------


def _tune(machine: Machine, tuning: MigrationTuning) -> None:
    """Give ``machine`` exactly ``tuning``: what it leaves out is QEMU's default again.

    A QEMU keeps what it was told: one that received a migration with ``multifd`` on
    would send with it too, and a destination that does not expect it fails.
    """
    if machine.migration_defaults is None:
        machine.migration_defaults = machine.qmp.execute("query-migrate-parameters")
    defaults = machine.migration_defaults
    wanted = tuning.qmp_parameters()
    machine.tuned |= {"downtime-limit", "max-bandwidth", *wanted}
    params = {k: wanted.get(k, defaults.get(k)) for k in sorted(machine.tuned)}
    machine.qmp.execute("migrate-set-parameters", **params)
    listed = machine.qmp.execute("query-migrate-capabilities")
    current = {c["capability"]: c["state"] for c in listed}
    unknown = sorted(set(tuning.capabilities) - set(current))
    if unknown:
        raise MigrationError(f"QEMU has no migration capability {', '.join(unknown)}")
    changes = [
        {"capability": name, "state": name in tuning.capabilities}
        for name, state in current.items()
        if state != (name in tuning.capabilities)
    ]
    if changes:
        machine.qmp.execute("migrate-set-capabilities", capabilities=changes)


def _listening_port(machine: Machine) -> int:
    info = machine.qmp.execute("query-migrate")
    for addr in info.get("socket-address", []):
        if addr.get("type") == "inet":
            return int(addr["port"])
    raise MigrationError(f"the destination QEMU did not say where it listens: {info}")


def _wait_migration(
    machine: Machine,
    deadline: float,
    error: type[VmError],
    *,
    peer: Machine | None = None,
    settle: bool = False,
) -> dict[str, Any]:
    """Poll ``query-migrate`` on the sending side until it completed; its last answer.

    With ``settle``, any end (completed, failed, cancelled) is fine.

    Raises:
        ``error``: it failed, was cancelled, ``peer`` (the destination) died, or the
            deadline passed (the migration is then cancelled).
    """
    while True:
        info: dict[str, Any] = machine.qmp.execute("query-migrate")
        status = info.get("status")
        if status == "completed" or (settle and status in ("failed", "cancelled")):
            return info
        if status in ("failed", "cancelled"):
            why = f": {info['error-desc']}" if "error-desc" in info else ""
            tail = machine.output_tail() + (peer.output_tail() if peer is not None else "")
            raise error(f"the migration {status}{why}{tail}")
        if peer is not None and not peer.alive:
            raise error(f"the destination QEMU exited with {peer.returncode}{peer.output_tail()}")
        if time.monotonic() > deadline:
            if not settle:
                with contextlib.suppress(VmError):
                    machine.qmp.execute("migrate_cancel")
            raise error(
                f"the migration did not complete in time (status {status}, "
                f"{info.get('ram', {}).get('remaining', '?')} bytes left): the guest dirties "
                "memory faster than it can be sent; allow more downtime (downtime_limit_ms) "
                "or bandwidth (max_bandwidth), or switch on auto-converge"
            )
        time.sleep(POLL)


def _wait_running(machine: Machine, deadline: float) -> None:
    """Wait until the destination runs the guest (it starts by itself once loaded)."""
    while True:
        if not machine.alive:
            raise MigrationError(
                f"the destination QEMU exited with {machine.returncode}{machine.output_tail()}"
            )
        status = machine.qmp.execute("query-status").get("status")
        if status == "running":
            return
        if time.monotonic() > deadline:
            raise MigrationError(f"the destination did not start the guest (status {status})")
        time.sleep(POLL)


def _wait_incoming(machine: Machine, deadline: float, error: type[VmError], what: str) -> None:
    """Wait until a receiving QEMU loaded the whole state (``what``: where it comes from)."""
    while True:
        if not machine.alive:
            raise error(
                f"QEMU could not load {what} (exit {machine.returncode}): the stream is "
                f"damaged or comes from a different machine{machine.output_tail()}"
            )
        try:
            status = machine.qmp.execute("query-migrate").get("status")
        except VmError:
            status = None  # QEMU is going away; the next look says how it ended
        if status == "completed":
            return
        if status == "failed":
            raise error(f"QEMU could not load {what}{machine.output_tail()}")
        if time.monotonic() > deadline:
            raise error(f"loading {what} did not complete in time (status {status})")
        time.sleep(HANDOVER_POLL)


def _copy_contents(source: Path, dest: Path) -> None:
    """Write the whole of ``source`` over ``dest`` in place (same size; QEMU maps ``dest``)."""
    with open(source, "rb") as src, open(dest, "r+b") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
