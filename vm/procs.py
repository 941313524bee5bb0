"""Ending what the harness started, by pid, on every path.

Each process is tracked as a :class:`Tracked` (pid plus its start time from
``/proc/<pid>/stat``, so a recycled pid is never signalled). Cleanups are registered with
the module's reaper and run by the owner's ``close()``, at interpreter exit (``atexit``)
and on SIGTERM/SIGHUP (the handler runs them, then dies of the signal as before).
SIGINT stays Python's KeyboardInterrupt, which unwinds through ``close()``; the exit hook
catches whatever remains.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the ")" that ends the command name.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


@dataclass(frozen=True)
class Tracked:
    """A process we started (or one our child started), identified beyond its pid."""

    pid: int
    start_time: int | None

    @classmethod
    def of(cls, pid: int) -> Tracked:
        return cls(pid, _start_time(pid))

    def alive(self) -> bool:
        """Running (not gone, not a zombie) and still the same process."""
        state = _state(self.pid)
        if state is None or state in "ZX":
            return False
        return self.start_time is None or _start_time(self.pid) == self.start_time

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)

    def end(self, grace: float = 5.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL.

        A zombie counts as ended; its parent (a ``Popen`` owner) collects its status.
        """
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            self.signal(signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.02)


class _Reaper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cleanups: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count(1)
        self._installed = False

    def register(self, cleanup: Callable[[], object]) -> int:
        with self._lock:
            token = next(self._ids)
            self._cleanups[token] = cleanup
            if not self._installed:
                self._install()
            return token

    def unregister(self, token: int) -> None:
        with self._lock:
            self._cleanups.pop(token, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._cleanups)

    def reap_all(self) -> None:
        with self._lock:
            cleanups = list(self._cleanups.values())
            self._cleanups.clear()
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()

    def _install(self) -> None:
        self._installed = True
        atexit.register(self.reap_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.reap_all()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


reaper = _Reaper()
