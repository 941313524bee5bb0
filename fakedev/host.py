"""``fakedev.running(...)``: a whole fake QAT host for the length of a ``with`` block.

What an application's tests need on a machine without QAT: emulated endpoints, each served
by its own device process (``python -m fakedev serve``), presented in a fake sysfs tree,
and the configuration files of the sections the application starts. Inside the block,
with :meth:`QatHost.environment` applied, ``qathw.user_start("SSL")`` and
``qathw.open_instances(...)`` work as on a real host. The pytest plugin
(:mod:`fakedev.pytest_plugin`) is this, as a fixture.

The device processes are ended by pid when the block is left, however it is left
(return, exception, ``KeyboardInterrupt``): SIGTERM, a wait, then SIGKILL. They also get
SIGTERM from the kernel if the thread that started them dies without that (``kill -9``
of the test runner), so none outlives its host. Every file is made under one directory,
removed at the end.

Two questions only qathw can answer are put to its command line, as a user would, since
fakedev may not import qathw's configuration or discovery code
(docs/design.md#layers): whether the files are valid (``qathw config check``, before any
process starts), and, on a topology with other QAT functions, which ``N`` each endpoint's
``<class>_dev<N>.conf`` has (``qathw list``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fakedev import endpoint_file, sysfs
from fakedev.endpoint_file import EndpointFileError
from fakedev.hostspec import (
    DEFAULT_ENDPOINTS,
    DEFAULT_SECTIONS,
    Endpoint,
    FakeHostError,
    PlannedEndpoint,
    Section,
    config_text,
    plan_endpoints,
    plan_sections,
)
from fakedev.topologies import NAMED, EmulatedSpec, Topology
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
_PR_SET_PDEATHSIG = 1
_POLL = 0.005
_checked: set[tuple[object, ...]] = set()  # configurations qathw already found valid
_checked_lock = threading.Lock()


@dataclass(frozen=True)
class HostEndpoint:
    """One running endpoint of a :class:`QatHost`.

    Attributes:
        bdf: its ivshmem function in the fake sysfs tree.
        kind: its class name (``4xxxvf``).
        services: ``ServicesEnabled`` of its configuration file.
        path: the endpoint file.
        config_file: its ``<class>_dev<N>.conf``.
        pid: its device process.
    """

    bdf: str
    kind: str
    services: str
    path: Path
    config_file: Path
    pid: int


@dataclass(frozen=True)
class QatHost:
    """A running fake host: where everything is, and the environment that points at it.

    Attributes:
        root: the directory holding all of it.
        sysfs_root: the fake tree's ``sys`` directory (``$QATHW_SYSFS_ROOT``).
        config_dir: the configuration files (``$QATHW_CONFIG_DIR``).
        runtime_dir: where section locks go (``$QATHW_RUNTIME_DIR``; made on first use).
        endpoints: the endpoints, in the order given.
        sections: the user sections the files define.
    """

    root: Path
    sysfs_root: Path
    config_dir: Path
    runtime_dir: Path
    endpoints: tuple[HostEndpoint, ...]
    sections: tuple[Section, ...]

    @property
    def env(self) -> dict[str, str]:
        """The three variables qathw reads (docs/testing.md#three-environment-variables)."""
        return {
            ENV_SYSFS_ROOT: str(self.sysfs_root),
            ENV_CONFIG_DIR: str(self.config_dir),
            ENV_RUNTIME_DIR: str(self.runtime_dir),
        }

    @property
    def pids(self) -> tuple[int, ...]:
        """The device processes, one per endpoint."""
        return tuple(ep.pid for ep in self.endpoints)

    @contextlib.contextmanager
    def environment(self) -> Iterator[QatHost]:
        """Set :attr:`env` in ``os.environ`` for a ``with`` block; restore it after."""
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@contextlib.contextmanager
def running(
    endpoints: Sequence[Endpoint | str] = DEFAULT_ENDPOINTS,
    sections: Sequence[Section | str] = DEFAULT_SECTIONS,
    *,
    topology: Topology | str = "empty",
    directory: str | os.PathLike[str] | None = None,
    timeout: float = START_TIMEOUT,
) -> Iterator[QatHost]:
    """Build and serve a fake QAT host; stop and remove it when the block ends.

    The default host has one 4xxx VF (``0000:00:10.0`` serving ``sym;dc``) and ``[SSL]``
    with one Cy and one Dc instance per process
    (:data:`fakedev.hostspec.DEFAULT_ENDPOINTS`)::

        with fakedev.running() as host, host.environment():
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                ...

    Args:
        endpoints: the emulated endpoints (:class:`Endpoint`, or a class name such as
            ``"4xxx"`` for its defaults).
        sections: the user sections (:class:`Section`, or a name for one Cy instance).
        topology: other QAT functions the fake tree shows besides the endpoints: a name in
            :data:`fakedev.topologies.NAMED` or a :class:`Topology` (they cannot be opened;
            they are there for discovery and the admin commands).
        directory: where to put everything: an empty or missing directory. Default: a
            new one under ``/dev/shm`` (where ivshmem files live), else the temp dir.
        timeout: seconds to wait for each device process to serve.

    Yields:
        The running host; apply :meth:`QatHost.environment` (or pass :attr:`QatHost.env`
        to a subprocess) for qathw to find it.

    Raises:
        FakeHostError: bad endpoints, sections or topology, configuration qathw finds
            invalid (its diagnostics quoted), a directory that is not empty, or a device
            process that did not start. Nothing is left running or on disk.
    """
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise FakeHostError(f"timeout must be a positive number of seconds, not {timeout!r}")
    planned = plan_endpoints(endpoints)
    secs = plan_sections(sections, planned)
    topo = _topology(topology)
    root, made = _root(directory)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        host = _build(root, planned, secs, topo, procs, timeout)
        yield host
    finally:
        try:
            stop(procs)
        finally:
            _remove(root, made)


def _topology(topology: Topology | str) -> Topology:
    if isinstance(topology, Topology):
        return topology
    if topology not in NAMED:
        raise FakeHostError(
            f"unknown topology {topology!r}; use one of {', '.join(sorted(NAMED))} "
            "or a fakedev.topologies.Topology"
        )
    return NAMED[topology]


def _root(directory: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """The host's directory, and whether it was made here (then it is removed at the end)."""
    if directory is None:
        shm = Path("/dev/shm")
        where = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        return Path(tempfile.mkdtemp(prefix="qathw-host-", dir=where)), True
    root = Path(directory).absolute()
    if root.exists():
        if not root.is_dir() or any(root.iterdir()):
            raise FakeHostError(f"{root} is not an empty directory; give an empty or new one")
        return root, False
    root.mkdir(parents=True, mode=0o700)
    return root, True


def _remove(root: Path, made: bool) -> None:
    if made:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in root.iterdir():  # a directory given empty is left empty
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _build(
    root: Path,
    planned: tuple[PlannedEndpoint, ...],
    secs: tuple[Section, ...],
    topo: Topology,
    procs: list[subprocess.Popen[bytes]],
    timeout: float,
) -> QatHost:
    files = [root / "endpoints" / f"qat{i}" for i in range(len(planned))]
    files[0].parent.mkdir()
    try:
        for ep, path in zip(planned, files, strict=True):
            endpoint_file.create(path, ep.kind, size=ep.size)
        shown = tuple(EmulatedSpec(ep.bdf, path) for ep, path in zip(planned, files, strict=True))
        fake = sysfs.build(root / "host", replace(topo, emulated=topo.emulated + shown))
    except (EndpointFileError, ValueError) as exc:
        raise FakeHostError(str(exc)) from None
    numbers = _numbers(planned, topo, fake.prefix)
    config_dir = root / "etc"
    config_dir.mkdir()
    conf_files = []
    for ep in planned:
        conf = config_dir / f"{ep.kind}_dev{numbers[ep.bdf]}.conf"
        conf.write_text(config_text(ep, secs))
        conf_files.append(conf)
    _check(conf_files)
    for ep, path in zip(planned, files, strict=True):
        procs.append(_serve(path, ep.serve_services))
    for proc, path in zip(procs, files, strict=True):
        _wait_serving(proc, path, timeout)
    return QatHost(
        root=root,
        sysfs_root=fake.sysfs_root,
        config_dir=config_dir,
        runtime_dir=root / "run",
        endpoints=tuple(
            HostEndpoint(ep.bdf, ep.kind, ep.services, path, conf, proc.pid)
            for ep, path, conf, proc in zip(planned, files, conf_files, procs, strict=True)
        ),
        sections=secs,
    )


# --- asking qathw, as a user does ---------------------------------------------------------


def _child_env() -> dict[str, str]:
    """This environment, with the fakedev (and qathw) this process runs first on the path:
    the children must run the same code, from a checkout as from an installed package."""
    top = str(Path(__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": top + (os.pathsep + rest if rest else "")}


def _qathw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qathw", *args],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=tempfile.gettempdir(),  # never a directory whose modules could shadow ours
        timeout=120,
        check=False,
    )


def _numbers(planned: Sequence[PlannedEndpoint], topo: Topology, prefix: Path) -> dict[str, int]:
    """``N`` of each endpoint's ``<class>_dev<N>.conf``, by bdf."""
    if not topo.pfs and not topo.emulated:
        # Alone in the tree, emulated endpoints count per class in address order
        # (qathw.discovery's rule 3; docs/hardware.md#config-files).
        per_class: dict[str, int] = {}
        out: dict[str, int] = {}
        for ep in sorted(planned, key=lambda e: e.bdf):
            out[ep.bdf] = per_class.get(ep.kind, 0)
            per_class[ep.kind] = out[ep.bdf] + 1
        return out
    done = _qathw("list", "--json", "--emulated", "--sysfs-root", str(prefix))
    if done.returncode != 0:
        raise FakeHostError(f"'qathw list' could not number the endpoints: {done.stderr.strip()}")
    found = {f["bdf"]: f.get("inst_id") for f in json.loads(done.stdout)["functions"]}
    missing = [ep.bdf for ep in planned if found.get(ep.bdf) is None]
    if missing:
        raise FakeHostError(f"'qathw list' does not number the endpoints at {', '.join(missing)}")
    return {ep.bdf: int(found[ep.bdf]) for ep in planned}


def _check(files: Sequence[Path]) -> None:
    """Refuse files qathw finds invalid (once per distinct set of texts in a process)."""
    key = tuple((f.name, f.read_text()) for f in files)
    with _checked_lock:
        if key in _checked:
            return
    done = _qathw("config", "check", *map(str, files))
    if done.returncode != 0:
        raise FakeHostError(
            "qathw finds the configuration for these endpoints and sections invalid "
            "(lower the processes or instances, or add endpoints):\n"
            + (done.stdout + done.stderr).strip()
        )
    with _checked_lock:
        _checked.add(key)


# --- device processes ---------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when this thread dies."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def _serve(path: Path, services: str | None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "fakedev", "serve", str(path)]
    if services is not None:
        argv += ["--services", services]
    with open(_log(path), "wb") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=path.parent,  # holds no module: nothing shadows fakedev for python -m
            env=_child_env(),
            preexec_fn=_die_with_parent(),
        )


def _log(path: Path) -> Path:
    return path.with_name(path.name + ".log")


def _wait_serving(proc: subprocess.Popen[bytes], path: Path, timeout: float) -> None:
    """Return once ``proc`` says it serves ``path``.

    Raises:
        FakeHostError: it exited first (its output quoted), or ``timeout`` passed.
    """
    deadline = time.monotonic() + timeout
    log = _log(path)
    while True:
        text = log.read_bytes().decode(errors="replace")
        if text.startswith("serving "):
            return
        if proc.poll() is not None:
            raise FakeHostError(
                f"the device process for {path} exited with status {proc.returncode}: "
                f"{text.strip() or 'no output'}"
            )
        if time.monotonic() > deadline:
            raise FakeHostError(
                f"the device process for {path} (pid {proc.pid}) did not serve within "
                f"{timeout:g} s; pass a longer timeout on a loaded machine"
            )
        time.sleep(_POLL)


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT) -> None:
    """End processes by pid: SIGTERM, wait up to ``timeout`` in all, then SIGKILL.

    Every process is reaped before this returns, even when it is interrupted.
    """
    try:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
