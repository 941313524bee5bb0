"""Real worker processes for section tests: each calls user_start and reports over a pipe.

One pipe per worker: a worker killed with SIGKILL cannot corrupt shared state (a shared
``multiprocessing.Event`` would be left unusable by a waiter that was killed).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable
from dataclasses import dataclass

from qathw import QatError, user_start


@dataclass(frozen=True)
class Report:
    pid: int
    section: str | None
    instances: tuple[tuple[int, str], ...] = ()
    error: str | None = None
    error_type: str | None = None


def _worker(name: str, conn: multiprocessing.connection.Connection) -> None:
    try:
        held = user_start(name)
    except QatError as exc:
        conn.send(Report(os.getpid(), None, (), str(exc), type(exc).__name__))
        return
    conn.send(
        Report(os.getpid(), held.name, tuple((i.device.accel_id, i.name) for i in held.instances))
    )
    while conn.recv() != "stop":
        pass
    held.stop()


@dataclass
class Proc:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection

    def report(self, timeout: float = 10) -> Report:
        assert self.conn.poll(timeout), "worker did not report"
        got: Report = self.conn.recv()
        return got

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send("stop")
            except OSError:
                pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start(
    name: str, target: Callable[[str, multiprocessing.connection.Connection], None] = _worker
) -> Proc:
    """A process calling ``user_start(name)`` (environment inherited)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(name, child), daemon=True)
    proc.start()
    child.close()
    return Proc(proc, parent)
