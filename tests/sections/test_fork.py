"""fork(): a child inherits its parent's hold, and cannot stop it, but may start its own."""

from __future__ import annotations

import multiprocessing.connection
import os
import signal
import time
from pathlib import Path

import qathw
from qathw.errors import SectionStateError
from qathw.sections import list_sections
from tests.sections.procs import start


def _fork_then_exit(name: str, conn: multiprocessing.connection.Connection) -> None:
    """Start a section, fork a child that just waits, and exit without stopping."""
    held = qathw.user_start(name)
    child = os.fork()
    if child == 0:  # the child keeps the inherited descriptor and waits to be killed
        while True:
            time.sleep(1)
    conn.send((held.name, child))
    os._exit(0)


def _child_starts_its_own(name: str, conn: multiprocessing.connection.Connection) -> None:
    held = qathw.user_start(name)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        out = []
        try:
            qathw.user_stop()
        except SectionStateError as exc:
            out.append(f"stop: {exc.what}")
        try:
            held.stop()
        except SectionStateError as exc:
            out.append(f"held.stop: {exc.what}")
        out.append(f"own: {qathw.user_start(name).name}")
        os.write(w, "\n".join(out).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(child, 0)
    got = os.read(r, 4096).decode()
    conn.send((held.name, held.held, got))


def test_a_forked_child_keeps_the_section_held_after_its_parent_exits(seed_env: Path) -> None:
    proc = start("SSL", _fork_then_exit)
    name, child = proc.conn.recv()
    proc.process.join()
    try:
        status = next(s for s in list_sections()[1] if s.section.name == name)
        assert status.holder is not None and status.holder.pid == proc.process.pid
        assert not status.holder.alive
        assert "exited; a forked child still holds it" in status.holder.describe()
        with qathw.user_start("SSL") as held:
            assert held.name != name
    finally:
        os.kill(child, signal.SIGKILL)  # the grandchild is not ours to reap: poll instead
    deadline = time.monotonic() + 5
    while next(s for s in list_sections()[1] if s.section.name == name).holder is not None:
        assert time.monotonic() < deadline, "the section stayed held after the child died"
        time.sleep(0.01)


def test_a_forked_child_cannot_stop_its_parents_section_but_can_start_its_own(
    seed_env: Path,
) -> None:
    proc = start("SSL", _child_starts_its_own)
    parent_name, still_held, child_said = proc.conn.recv()
    proc.process.join()
    assert parent_name == "SSL_DEV0_INT_0" and still_held
    lines = child_said.splitlines()
    assert lines[0].startswith("stop: this process did not start SSL_DEV0_INT_0")
    assert lines[1].startswith("held.stop: SSL_DEV0_INT_0 was started by the parent process")
    assert lines[2] == "own: SSL_DEV0_INT_1"
