"""A QEMU guest under TCG, booted by virtme-ng over the host root, driven by a guest agent.

:class:`Guest` boots Debian's kernel with ``vng --disable-kvm`` (KVM hangs on the
project's machines; it is never used), the host ``/`` read-only over 9p — so the guest
runs this checkout and its virtual env — and ``python -m vm.agent`` as the guest's one
command. The agent answers requests on a virtio-serial port whose host end is a UNIX
socket, so one boot serves many commands (``vng --exec`` alone boots once per command).

QEMU gets: a q35 machine (vng's choice without KVM), ``-device intel-iommu`` with
``intel_iommu=on`` so the guest can use ``vfio-pci``; an ``ivshmem-plain`` device
(``master=on``) per shared-memory file, on a fixed slot; extra devices the caller names;
a QMP socket; a pidfile. Every process started (vng, the shell and virtme-run under it,
QEMU) is ended by pid on every path — ``close()``, exceptions, Ctrl-C, SIGTERM, interpreter
exit — and the run directory (sockets, pidfile, console log) is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vm import procs
from vm.agentclient import HOST_MARGIN, AgentChannel, AgentClient, ChannelClosedError
from vm.errors import BootError, VmError
from vm.host import PROJECT_ROOT, HostTools, find_tools
from vm.progress import BootProgress, Sink, StreamSink
from vm.protocol import PORT_NAME
from vm.qmp import Qmp
from vm.results import Case, PytestRun, Result
from vm.results import parse_junit as _parse_junit

__all__ = [
    "HOST_MARGIN",
    "IVSHMEM_FIRST_SLOT",
    "PROJECT_ROOT",
    "Case",
    "Guest",
    "GuestSpec",
    "PytestRun",
    "Result",
]

IVSHMEM_FIRST_SLOT = 0x10  # on pcie.0, clear of the slots vng's own devices take
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")  # vng passes QEMU options through a shell


@dataclass(frozen=True)
class GuestSpec:
    """How to build a guest.

    Attributes:
        memory: guest RAM, in QEMU's syntax.
        cpus: virtual CPUs.
        shared_memory: files to attach as ``ivshmem-plain`` devices (power-of-two sizes),
            at slots ``0x10``, ``0x11``, ... of ``pcie.0``, in order.
        iommu: add ``-device intel-iommu`` and ``intel_iommu=on`` (needed for vfio-pci).
        devices: extra ``-device`` values, e.g. ``"edu,addr=0x18"``.
        append: extra kernel command-line arguments.
        boot_timeout: seconds from start until the agent must have said hello.
    """

    memory: str = "1G"
    cpus: int = 2
    shared_memory: tuple[Path, ...] = ()
    iommu: bool = True
    devices: tuple[str, ...] = ()
    append: tuple[str, ...] = ()
    boot_timeout: float = 300.0


class Guest(AgentClient):
    """One booted guest (the virtme-ng profile). Use as a context manager, or call :meth:`close`.

    Args:
        spec: what to boot.
        progress: where the boot progress line goes (stderr when ``None``).
        workdir: where the run directory (sockets, pidfile, console log) is made.

    Raises:
        VmUnavailableError: QEMU, a kernel or busybox-static is missing (says how to install).
        BootError: the guest did not come up within ``spec.boot_timeout`` (console tail).
        VmError: bad input (a shared-memory file that is missing or not a power of two).
    """

    def __init__(
        self,
        spec: GuestSpec | None = None,
        *,
        progress: Sink | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.spec = spec or GuestSpec()
        self.tools: HostTools = find_tools()
        self._check_spec()
        # Sockets live here: keep the path short (a UNIX socket path has 108 bytes).
        self.run_dir = Path(tempfile.mkdtemp(prefix="qathw-vm-", dir=workdir or "/tmp"))
        self._closed = False
        self._token = procs.reaper.register(self.close)
        self._vng: subprocess.Popen[bytes] | None = None
        self._group: list[procs.Tracked] = []
        self._qemu: procs.Tracked | None = None
        self._agent = AgentChannel(self._agent_sock)
        self._qmp: Qmp | None = None
        self.hello: dict[str, Any] = {}
        try:
            self._boot(progress if progress is not None else StreamSink())
        except BaseException:
            self.close()
            raise

    # --- paths -----------------------------------------------------------------------

    @property
    def console_log(self) -> Path:
        return self.run_dir / "console.log"

    @property
    def _agent_sock(self) -> Path:
        return self.run_dir / "agent.sock"

    @property
    def _qmp_sock(self) -> Path:
        return self.run_dir / "qmp.sock"

    @property
    def _pidfile(self) -> Path:
        return self.run_dir / "qemu.pid"

    @property
    def qemu_pid(self) -> int | None:
        return self._qemu.pid if self._qemu else None

    @property
    def pids(self) -> list[int]:
        """Every live process of this guest (vng, the shell and virtme-run, QEMU)."""
        self._track_children()
        tracked = [*self._group, *([self._qemu] if self._qemu else [])]
        return sorted({t.pid for t in tracked if t.alive()})

    @property
    def alive(self) -> bool:
        return not self._closed and self._vng is not None and self._vng.poll() is None

    # --- boot ------------------------------------------------------------------------

    def _check_spec(self) -> None:
        for path in self.spec.shared_memory:
            if not path.is_file():
                raise VmError(f"shared-memory file {path} does not exist")
            size = path.stat().st_size
            if size < 4096 or size & (size - 1):
                raise VmError(
                    f"shared-memory file {path} is {size} bytes; ivshmem needs a power of two "
                    "(QEMU aborts otherwise)"
                )
            if not _SAFE_PATH.match(str(path.resolve())):
                raise VmError(f"shared-memory path {path} has characters vng cannot pass on")
        for text in (*self.spec.devices, *self.spec.append):
            if not text or any(c.isspace() or c in "'\"$`;&|<>\\" for c in text):
                raise VmError(
                    f"{text!r}: QEMU device and kernel arguments are passed "
                    "through a shell by vng; no spaces or shell characters"
                )

    def _qemu_opts(self) -> list[str]:
        run = self.run_dir
        opts = [
            "-pidfile", f"{self._pidfile}",
            "-qmp", f"unix:{self._qmp_sock},server=on,wait=off",
            "-chardev", f"socket,id=qathwagent,path={self._agent_sock},server=on,wait=off",
            "-device", "virtio-serial-pci,id=qathwserial",
            "-device", f"virtserialport,bus=qathwserial.0,chardev=qathwagent,name={PORT_NAME}",
        ]  # fmt: skip
        if self.spec.iommu:
            # Before the devices it must translate for: QEMU binds a device's DMA address
            # space when the device is created.
            opts += ["-device", "intel-iommu"]
        for n, path in enumerate(self.spec.shared_memory):
            size = path.stat().st_size
            opts += [
                "-object", f"memory-backend-file,id=qathwmem{n},mem-path={path.resolve()},"
                           f"size={size},share=on",
                "-device", f"ivshmem-plain,memdev=qathwmem{n},master=on,"
                           f"addr={IVSHMEM_FIRST_SLOT + n:#x}",
            ]  # fmt: skip
        for dev in self.spec.devices:
            opts += ["-device", dev]
        assert all(" " not in o for o in opts), run
        return opts

    def _vng_argv(self) -> list[str]:
        argv = [
            str(self.tools.vng),
            "--run", str(self.tools.kernel),
            "--disable-kvm",
            "--user", "root",
            "--memory", self.spec.memory,
            "--cpus", str(self.spec.cpus),
            "--verbose",
        ]  # fmt: skip
        for arg in ("intel_iommu=on",) * self.spec.iommu + self.spec.append:
            argv.append(f"--append={arg}")
        # The "=" form: the value starts with "-", which argparse would take for an option.
        argv.append("--qemu-opts=" + " ".join(self._qemu_opts()))
        agent = f"{sys.executable} -m vm.agent --connect-timeout 120"
        argv += ["--exec", agent]
        return argv

    def _boot(self, sink: Sink) -> None:
        label = f"{self.tools.release}, TCG, {self.spec.cpus} CPUs"
        progress = BootProgress(label, sink)
        env = dict(os.environ)
        env["PATH"] = f"{self.tools.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        log = open(self.console_log, "wb")
        try:
            self._vng = subprocess.Popen(
                self._vng_argv(),
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._group.append(procs.Tracked.of(self._vng.pid))
        deadline = time.monotonic() + self.spec.boot_timeout
        try:
            while not self.hello:
                if self._vng.poll() is not None:
                    raise BootError(
                        f"the guest exited with {self._vng.returncode} before its agent "
                        f"started{self._console_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise BootError(
                        f"the guest did not come up in {self.spec.boot_timeout:.0f}s"
                        f"{self._console_tail()}"
                    )
                self._track_children()
                if not self._agent.connect():
                    time.sleep(0.05)
                else:
                    try:
                        received = self._agent.receive(0.25)
                    except ChannelClosedError as exc:
                        raise VmError(f"{exc}{self._console_tail()}") from None
                    for msg in received:
                        if "hello" in msg:
                            self.hello = msg["hello"]
                        else:
                            self._agent.keep([msg])
                progress.update(self._last_console_line())
        except BaseException:
            progress.finish("failed to boot")
            raise
        self._track_children()
        progress.finish("up")

    def _track_children(self) -> None:
        if self._qemu is None and self._pidfile.exists():
            try:
                pid = int(self._pidfile.read_text().strip())
            except ValueError:
                pid = 0
            if pid:
                self._qemu = procs.Tracked.of(pid)
        if self._vng is None:
            return
        known = {t.pid for t in self._group}
        for pid in _group_members(self._vng.pid):
            if pid not in known:
                self._group.append(procs.Tracked.of(pid))

    def _console_tail(self, lines: int = 25) -> str:
        try:
            text = self.console_log.read_bytes()[-16384:].decode("utf-8", "replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- last lines of the guest console ---\n{tail}" if tail else ""

    def _last_console_line(self) -> str:
        try:
            with open(self.console_log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 512))
                tail = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln for ln in tail.splitlines() if ln.strip()]
        return re.sub(r"\s+", " ", lines[-1]) if lines else ""

    # --- the agent channel -----------------------------------------------------------

    def _channel(self) -> AgentChannel:
        if self._closed or not self._agent.connected:
            raise VmError("the guest is closed")
        return self._agent

    def _died(self) -> bool:
        return self._vng is not None and self._vng.poll() is not None

    def pytest(
        self, *selection: str, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> PytestRun:
        """Run a pytest selection in the guest; per-test outcomes come from its JUnit XML.

        The run never writes into the read-only checkout (no cache provider, no bytecode).

        Args:
            selection: paths, node ids and options, as on the pytest command line.
            timeout: seconds for the whole run.
            env: variables added to the guest environment.
        """
        xml = f"/tmp/qathw-junit-{os.getpid()}-{self._agent.next_id}.xml"  # unique per request
        args = ("-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", f"--junitxml={xml}")
        result = self.run([sys.executable, *args, *selection], timeout=timeout, env=env)
        report = self.run(["cat", xml], timeout=30)
        cases = _parse_junit(report.stdout) if report.ok else {}
        return PytestRun(result, cases)

    def qmp(self, command: str, **arguments: Any) -> Any:
        """Run a QMP command on this guest's QEMU (``query-status``, ``system_reset``...)."""
        if self._closed:
            raise VmError("the guest is closed")
        if self._qmp is None:
            self._qmp = Qmp(self._qmp_sock)
        return self._qmp.execute(command, **arguments)

    # --- shutdown --------------------------------------------------------------------

    def shutdown(self, timeout: float = 30.0) -> None:
        """Ask the agent to exit (the guest powers off), wait, then clean up."""
        if self._closed:
            return
        try:
            if self._agent.connected and self.alive:
                self._request({"op": "shutdown"}, min(timeout, 10.0))
                if self._vng is not None:
                    self._vng.wait(timeout)
        except (VmError, subprocess.TimeoutExpired, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """End every process of this guest by pid and remove its files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        self._agent.close()
        self._track_children()
        if self._qemu is not None:
            self._qemu.end(grace=3.0)
        for tracked in reversed(self._group):
            tracked.end(grace=3.0)
        if self._vng is not None:
            try:
                self._vng.wait(5.0)
            except subprocess.TimeoutExpired:
                self._vng.kill()
                self._vng.wait(5.0)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        procs.reaper.unregister(self._token)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"qemu pid {self.qemu_pid}"
        return f"<Guest {self.tools.release} {state}>"


def _group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` (the session we started vng in)."""
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5, pgrp
            found.append(int(entry.name))
    return found
