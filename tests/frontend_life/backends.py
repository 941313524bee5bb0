"""Backends as real processes, and a host with one emulated endpoint for them to serve.

:class:`Served` is ``python -m fakedev serve FILE`` (what an operator runs); :class:`Forked`
is the same backend (:func:`fakedev.runner.serve`) in a fork of the test process, which
starts in a tenth of the time, for tests that kill many backends. Either is ended by its
pid: SIGKILL for a crash, SIGTERM for a planned stop.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import qathw
from fakedev.runner import serve
from qathw.service.instance import Instances
from tests.service import rig

ROOT = Path(__file__).resolve().parents[2]
BDF = "0000:00:10.0"
START_TIMEOUT = 30.0

# The services of each endpoint kind the tests use, and its configuration file.
CONFIG = {
    "4xxxvf": rig.GENERAL.format(services="asym;sym", depth=64) + rig.section("SSL", cy=1),
    "4xxx": rig.GENERAL.format(services="asym;sym", depth=64) + rig.section("SSL", cy=1),
    "c6xxvf": rig.GENERAL.format(services="cy", depth=64) + rig.section("SSL", cy=1),
}
SERVICES = {"4xxxvf": "asym;sym", "4xxx": "asym;sym", "c6xxvf": "sym;asym"}


def build_host(kind: str, size: int) -> rig.Host:
    """A host under /dev/shm with one emulated ``kind`` endpoint at :data:`BDF`, not served."""
    endpoint = rig.Endpoint(BDF, kind, SERVICES[kind], size=size)
    return rig.build((endpoint,), {f"{kind}_dev0.conf": CONFIG[kind]})


@contextlib.contextmanager
def instances(
    host: rig.Host, *, resubmit: bool = True, timeout: float = 10.0
) -> Iterator[Instances]:
    """``[SSL]`` of ``host`` started and its instances open, the host's environment set."""
    with (
        rig.environment(host),
        qathw.user_start("SSL") as held,
        qathw.open_instances(held, resubmit=resubmit, timeout=timeout) as insts,
    ):
        yield insts


class Served:
    """``python -m fakedev serve FILE --services S``, ready once it said it serves."""

    def __init__(self, path: Path, services: str) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fakedev", "serve", str(path), "--services", services],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("serving"):
            self.stop()
            raise AssertionError(f"the backend did not start: {line!r}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """A crash: SIGKILL, nothing written to the page."""
        self.proc.kill()
        self.proc.wait(START_TIMEOUT)

    def stop(self) -> None:
        """A planned stop (SIGTERM: Closing, then Closed); SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_FORK = multiprocessing.get_context("fork")


def _serve(path: Path, ring_service_map: int, ready: object) -> None:
    serve(path, ring_service_map=ring_service_map, ready=lambda _: ready.set())  # type: ignore[attr-defined]


class Forked:
    """The backend of :class:`Served` in a fork of this process (the same code, started fast)."""

    def __init__(self, path: Path, ring_service_map: int) -> None:
        ready = _FORK.Event()
        self.proc = _FORK.Process(target=_serve, args=(path, ring_service_map, ready), daemon=True)
        self.proc.start()
        if not ready.wait(START_TIMEOUT):
            self.kill()
            raise AssertionError(f"the backend of {path} did not start")

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def kill(self) -> None:
        """A crash: SIGKILL, nothing written to the page."""
        if self.proc.is_alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.join(START_TIMEOUT)

    def stop(self) -> None:
        if self.proc.is_alive():
            os.kill(self.pid, signal.SIGTERM)
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()
