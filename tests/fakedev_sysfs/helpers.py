"""Shared by the sysfs, PCI and admin-CLI tests: fake hosts, the CLI in-process, other users.

A fake host is built by :func:`fakedev.sysfs.build` in a temporary directory. The CLI runs
in this process (``qathw.cli.main``) with the fake kernel installed as the sysfs seam, so
writes get the kernel's rules. "Not root" runs in a real forked child that drops to
``nobody`` with ``setuid`` — the kernel (or the file modes of the fake tree) refuses it,
not a mock.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from fakedev import endpoint_file, sysfs
from fakedev.device import Device
from fakedev.topologies import Topology
from qathw import sysfsio
from qathw.cli import main
from qathw.emulated import XenbusState

NOBODY = 65534
T = TypeVar("T")


@dataclass
class Result:
    rc: int
    out: str
    err: str


def run_cli(fake: sysfs.FakeHost | None, *argv: str) -> Result:
    """Run ``qathw ARGV`` in this process, on ``fake`` (with its kernel) or the real host."""
    out, err = io.StringIO(), io.StringIO()
    args = list(argv)
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        if fake is not None:
            stack.enter_context(sysfsio.using(fake.kernel))
            args += ["--sysfs-root", str(fake.sysfs_root)]
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = int(exc.code or 0)
    return Result(rc, out.getvalue(), err.getvalue())


def as_user(uid: int, func: Callable[[], T], *, setup: Callable[[], object] | None = None) -> T:
    """Run ``func`` in a forked child that has dropped to ``uid`` (and its gid); return its result.

    ``setup`` runs in the child while it is still root (e.g. to set resource limits).
    Exceptions in the child come back re-raised as ``RuntimeError`` with their repr.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(r)
            try:
                if setup is not None:
                    setup()
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                data = pickle.dumps(("ok", func()))
                status = 0
            except BaseException as exc:
                data = pickle.dumps(("error", repr(exc)))
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(status)  # never return into the parent's pytest
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind != "ok":
        raise RuntimeError(f"child as uid {uid} failed: {value}")
    return value  # type: ignore[no-any-return]


# Fake trees are thousands of small files; on tmpfs (as sysfs itself is in memory) a
# tree builds 10-25x faster than on this machine's disk.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A temporary directory others may traverse (pytest's tmp_path is root-only)."""
    with tempfile.TemporaryDirectory(prefix="qathw-fake-", dir=FAST_TMP) as d:
        os.chmod(d, 0o755)
        yield Path(d)


def write_endpoint_file(path: Path, device: str = "4xxxvf", *, serving: bool = True) -> Path:
    """An emulated-endpoint file made by fakedev's device model (1 MiB).

    With ``serving`` a backend has claimed it (``Device.connect``: a new epoch, this
    process's pid, its features), as ``python -m fakedev serve`` does, and a frontend has
    handshaken under that epoch, so the backend state is Connected; without, it is as
    ``fakedev create`` leaves it (Initialising: no backend).
    """
    endpoint_file.create(path, device, size=1 << 20)
    if serving:
        with Device(path) as dev:
            dev.connect()
            page = dev.file.control
            assert page is not None
            page.frontend_epoch = page.backend_epoch  # what a frontend's open writes
            page.frontend_state = XenbusState.CONNECTED
            del page
            dev.step()  # the backend sees the handshake: Connected
    return path


FakeFactory = Callable[..., sysfs.FakeHost]


@pytest.fixture
def make_fake() -> Iterator[FakeFactory]:
    """Build a fake host: ``make_fake("seed")`` or ``make_fake(Topology(...))``."""
    count = 0
    with tempfile.TemporaryDirectory(prefix="qathw-fake-", dir=FAST_TMP) as d:

        def make(topology: Topology | str) -> sysfs.FakeHost:
            nonlocal count
            count += 1
            return sysfs.build(Path(d) / f"host{count}", topology)

        yield make
