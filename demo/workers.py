"""Worker processes of the demo: each starts a section and then does its work.

A worker is a real OS process (``fork``). It calls :func:`qathw.user_start`, reports what
it got over its own pipe, runs a *workload* with the held section, and exits when told
to (or is killed). The workload is the seam for later layers: today :func:`idle` only
waits; the request layer will pass one that sends traffic on the held instances.

One pipe per worker (not a shared ``multiprocessing.Event``): a worker killed with
SIGKILL while waiting on a shared condition would leave it unusable for everyone else.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from qathw import QatError, user_start
from qathw.sections import HeldSection

Workload = Callable[[HeldSection, multiprocessing.connection.Connection], None]


def idle(held: HeldSection, conn: multiprocessing.connection.Connection) -> None:
    """The default workload: hold the section until the parent says ``"stop"``."""
    while conn.recv() != "stop":
        pass


@dataclass(frozen=True)
class Started:
    """What a worker reports after ``user_start``: its section or the error."""

    pid: int
    asked: str
    section: str | None
    instances: tuple[tuple[int, str, tuple[int, ...]], ...]  # (device, name, banks)
    error: str | None = None
    seconds: float = 0.0  # how long user_start took


def _main(section: str, conn: multiprocessing.connection.Connection, workload: Workload) -> None:
    start = time.monotonic()
    try:
        held = user_start(section)
    except QatError as exc:
        took = time.monotonic() - start
        conn.send(Started(os.getpid(), section, None, (), str(exc), took))
        return
    took = time.monotonic() - start
    with held:
        insts = tuple((i.device.accel_id, i.name, i.banks) for i in held.instances)
        conn.send(Started(os.getpid(), section, held.name, insts, None, took))
        workload(held, conn)


@dataclass
class Worker:
    """A running worker process and the parent's end of its pipe."""

    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    started: Started | None = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def wait_started(self, timeout: float = 10.0) -> Started:
        """Wait for the worker's report of its ``user_start``."""
        if self.started is None:
            if not self.conn.poll(timeout):
                raise TimeoutError(f"worker {self.pid} did not report within {timeout} s")
            self.started = self.conn.recv()
        return self.started

    def stop(self) -> None:
        """Ask the worker to give its section back and exit; wait for it."""
        if self.process.is_alive():
            try:
                self.conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
        self.process.join(10)
        self.conn.close()


def spawn(section: str, workload: Workload = idle) -> Worker:
    """Start a worker process that calls ``user_start(section)``.

    The environment (``QATHW_CONFIG_DIR``, ``QATHW_RUNTIME_DIR``) is inherited.
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_main, args=(section, child, workload), daemon=True)
    proc.start()
    child.close()
    return Worker(proc, parent)
