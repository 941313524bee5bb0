"""Host processes that serve a guest: the fakedev backend behind an ivshmem file.

A :class:`HostProcess` is started, waited for until it prints its readiness line, tracked
by pid with the harness's reaper (so Ctrl-C, SIGTERM and interpreter exit end it too)
and stopped with SIGTERM, then SIGKILL. :func:`fakedev_backend` is the one the VM tests
use: ``python -m fakedev serve FILE``, the host side of an emulated endpoint whose file
QEMU shares with the guest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from vm import procs
from vm.errors import VmError
from vm.guest import PROJECT_ROOT


class HostProcess:
    """A helper process on the host, ready once it printed a line starting with ``ready``.

    Args:
        argv: the command.
        ready: the start of the line that says it is ready.
        timeout: seconds to wait for that line.

    Raises:
        VmError: it exited or stayed silent; the message has its output.
    """

    def __init__(self, argv: Sequence[str], *, ready: str, timeout: float = 30.0) -> None:
        self.argv = list(argv)
        # Output goes to a file, not a pipe: nobody reads a pipe once the process is
        # ready, and a full pipe would stall it.
        fd, name = tempfile.mkstemp(prefix="qathw-vm-host-", suffix=".log")
        self._log = Path(name)
        try:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self._log.unlink()
            raise
        finally:
            os.close(fd)
        self._tracked = procs.Tracked.of(self._proc.pid)
        self._token = procs.reaper.register(self.stop)
        self.output = ""
        try:
            self._wait_ready(ready, timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _wait_ready(self, ready: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.output = self._log.read_text(errors="replace")
            if any(line.startswith(ready) for line in self.output.splitlines()):
                return
            if self._proc.poll() is not None:
                self.output = self._log.read_text(errors="replace")
                break
            time.sleep(0.05)
        raise VmError(
            f"{' '.join(self.argv)} did not get ready (exit {self._proc.poll()}):\n{self.output}"
        )

    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; the exit status. Idempotent."""
        self._tracked.end(grace=5.0)
        try:
            code = self._proc.wait(5.0)
        except subprocess.TimeoutExpired:
            code = None
        if self._log.exists():
            self.output = self._log.read_text(errors="replace")
            self._log.unlink()
        procs.reaper.unregister(self._token)
        return code

    def __enter__(self) -> HostProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def fakedev_backend(
    path: str | os.PathLike[str], *, timeout: float = 30.0, services: str | None = None
) -> HostProcess:
    """Serve the emulated endpoint at ``path`` from the host: ``python -m fakedev serve``.

    ``services`` is the banks' ``cfg_services`` (fakedev's default when ``None``).
    """
    extra = ["--services", services] if services is not None else []
    return HostProcess(
        [sys.executable, "-m", "fakedev", "serve", *extra, str(Path(path))],
        ready="serving ",
        timeout=timeout,
    )
