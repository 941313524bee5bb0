"""A rig for the broker tests: a private runtime directory, a fake host's BDFs, real
broker processes (:mod:`tests.broker.fake_broker`) and holder processes
(:mod:`tests.broker.holder`) — everything the test started is killed at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qathw.broker import protocol, rundir

ROOT = Path(__file__).resolve().parents[2]
BDFS = ("0000:3d:01.0", "0000:3d:01.1")
WAIT = 30.0  # generous: the suite shares two cores with others


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` if it never becomes true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class Holder:
    """One holder process; :meth:`ask` sends a command line and returns its JSON answer."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.hello = self._read()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"holder {self.proc.pid} ended: {self.proc.wait()}")
        doc: dict[str, Any] = json.loads(line)
        return doc

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@dataclass
class Rig:
    runtime_dir: Path
    state: Path
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.runtime_dir / protocol.SOCKET_NAME

    def broker_cmd(self, linger: float = 0.2, slot_mib: int = 1024, *extra: str) -> list[str]:
        """The fake broker's command; ``extra`` are more of its options (``--start-delay``)."""
        cmd = [sys.executable, "-m", "tests.broker.fake_broker"]
        cmd += ["--runtime-dir", str(self.runtime_dir), "--state", str(self.state)]
        cmd += ["--linger", str(linger), "--slot-mib", str(slot_mib)]
        for bdf in BDFS:
            cmd += ["--bdf", bdf]
        return cmd + list(extra)

    def started(self) -> list[int]:
        """Pids of every fake broker started so far (serving or not)."""
        try:
            return [int(line) for line in (self.state / "started").read_text().split()]
        except FileNotFoundError:
            return []

    def start_broker(self, linger: float = 0.2, *extra: str) -> subprocess.Popen[bytes]:
        """A broker started directly (as an admin would), once its socket answers."""
        with open(self.state / "broker.err", "ab") as err:
            proc = subprocess.Popen(self.broker_cmd(linger, 1024, *extra), cwd=ROOT, stderr=err)
        self.procs.append(proc)
        wait_until("the broker listens", lambda: self.broker_pid() == proc.pid)
        return proc

    def broker_pid(self) -> int | None:
        """The pid holding broker.lock (the serving broker), if one does."""
        return rundir.lock_holder(self.runtime_dir)

    def holder(
        self, *, start: bool = True, linger: float = 0.2, broker_args: tuple[str, ...] = ()
    ) -> Holder:
        """A holder process, once it said hello; ``broker_args``: more options for the
        broker it may start."""
        return self.holders(1, start=start, linger=linger, broker_args=broker_args)[0]

    def holders(
        self,
        count: int,
        *,
        start: bool = True,
        linger: float = 0.2,
        broker_args: tuple[str, ...] = (),
    ) -> list[Holder]:
        """``count`` holder processes, all started before any hello is read."""
        cmd = [sys.executable, "-m", "tests.broker.holder", "--runtime-dir", str(self.runtime_dir)]
        cmd += ["--broker-cmd", json.dumps(self.broker_cmd(linger, 1024, *broker_args))]
        if not start:
            cmd.append("--no-start")
        procs = [
            subprocess.Popen(
                cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(count)
        ]
        self.procs.extend(procs)
        return [Holder(proc) for proc in procs]

    def unmaps(self) -> list[dict[str, Any]]:
        try:
            text = (self.state / "unmaps.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def rig() -> Iterator[Rig]:
    # Not under tmp_path: its parents are 0700, and some tests let another user in.
    top = Path(tempfile.mkdtemp(prefix="qathw-broker-test-"))
    runtime_dir = top / "run"
    state = top / "state"
    runtime_dir.mkdir(mode=0o700)
    state.mkdir()
    r = Rig(runtime_dir, state)
    env = os.environ.copy()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        yield r
    finally:
        os.environ.clear()
        os.environ.update(env)
        for proc in r.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        started = r.broker_pid()  # one a holder started on demand
        if started:
            os.kill(started, signal.SIGKILL)
            wait_until("the broker died", lambda: not pid_alive(started))
        for pid in r.started():  # brokers still starting, or that never served
            if pid_alive(pid) and _is_fake_broker(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(top, ignore_errors=True)


def _is_fake_broker(pid: int) -> bool:
    """Whether ``pid`` still runs the fake broker (not a process that reused the pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"tests.broker.fake_broker" in f.read()
    except OSError:
        return False
