"""Who holds which internal section: ``user_start`` / ``user_stop``.

``user_start("SSL")`` gives the calling process the next free internal section of
``[SSL]`` over the started devices, in the driver's order (devices by accel id, process
index ascending; QAT.L.4.24 behaviour — see below), and with it that section's instances.
``user_stop()`` gives it back. A process holds at most one section, as in the driver.

How holding works — no daemon, no cleanup step:

* every internal section has a lock file in the runtime directory; holding a section
  means holding ``flock(LOCK_EX)`` on an open descriptor of that file. The kernel drops
  the lock when the last descriptor of that open file goes away — on ``user_stop()``, on
  exit, on ``kill -9`` alike — so a dead holder never blocks anyone;
* after locking, the holder writes its pid and command line into the file, for
  ``qathw sections`` and error messages. Whether a section is held is decided by the lock
  alone: a stale pid in an unlocked file means nothing;
* hand-out (and any probe by ``qathw sections``) happens under a short exclusive lock on
  ``assign.lock``, as the kernel assigns names under a global lock; so a probe never makes
  a starting process skip a free section.

Fork: a child created by ``fork()`` inherits the descriptor, so — as with the driver's
``/dev/qat_dev_processes`` file — the section stays held while the parent *or* any such
child lives (``exec`` closes it: descriptors are close-on-exec). A forked child does not
own its parent's section: ``user_stop()`` in the child is an error, and ``user_start()``
in the child first drops the child's inherited copy (without releasing the parent's hold)
and then takes a section of its own.

Driver quirk not reproduced: QAT1.7.L.4.8 and QAT20.L.1.1.50 hand the very first caller
``S_INT_0`` / ``S_DEV<first>_INT_0`` without checking that the first device defines
``S``; QAT.L.4.24 removed that shortcut and skips devices lacking ``S``, which is what
qathw does (``qathw config check`` warns about files where the two differ, rule R10).

Started devices: the host's accel devices come from discovery (:mod:`qathw.started`,
under the ``host`` given, else ``$QATHW_SYSFS_ROOT``, else ``/``); :mod:`qathw.config`
decides which of them are started by their files. When none is, the error says which
files were found and why each is not used (device down, file named for another device).

Runtime directory: :func:`qathw.paths.default_runtime_dir` — ``$QATHW_RUNTIME_DIR``; else
``<host root>/run/qathw`` where that can be created (root); else ``$XDG_RUNTIME_DIR/qathw``;
else ``/tmp/qathw-<uid>``. It is created
with mode 0700; one that is a symlink, not owned by this user, or writable by group or
others is refused.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from qathw import paths
from qathw.config import analysis as config_check
from qathw.config.devices import DeviceRef, UnusedFile
from qathw.config.diagnostics import Severity
from qathw.config.document import ConfigDocument
from qathw.config.expand import InternalSection
from qathw.config.profiles import is_user_section
from qathw.config.rings import Instance
from qathw.errors import (
    ConfigError,
    QatError,
    SectionError,
    SectionNotFoundError,
    SectionsExhaustedError,
    SectionStateError,
)
from qathw.paths import HostRoot
from qathw.started import discover_host_devices

_MUTEX = "assign.lock"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}")
#: ``icp_sal_userStart``: the name written to ``/dev/qat_dev_processes`` is 1..127 bytes.
_MAX_NAME = 127


class HeldSection:
    """An internal section held by this process; use it as a context manager.

    Attributes:
        name: the internal section (``SSL_DEV0_INT_2``).
        user_section: the name it was started with (``SSL``).
        instances: its instances, device by device.
        devices: the devices they are on.
        limit_dev_access: confined to one device.
        pid: the process that started it.
        host: the host root given to :func:`user_start` (``None``: the environment's);
            :func:`qathw.open_instances` opens the endpoints there.
    """

    def __init__(self, section: InternalSection, pid: int, host: HostRoot | None = None) -> None:
        self._section = section
        self.host = host
        self.name = section.name
        self.user_section = section.user_section
        self.instances: tuple[Instance, ...] = section.instances
        self.devices: tuple[DeviceRef, ...] = section.devices
        self.limit_dev_access = section.limit_dev_access
        self.pid = pid

    @property
    def held(self) -> bool:
        """Whether this process still holds the section."""
        state = _state
        return state is not None and state.section is self and state.pid == os.getpid()

    def stop(self) -> None:
        """Give the section back (``icp_sal_userStop``).

        Raises:
            SectionStateError: it is not held by this process (already stopped, or this
                is a forked child of the holder).
        """
        with _thread_lock:
            if _state is None or _state.section is not self:
                raise SectionStateError(
                    f"{self.name} is not held by this process", hint="it was already stopped"
                )
            if _state.pid != os.getpid():
                raise SectionStateError(
                    f"{self.name} was started by the parent process (pid {_state.pid}); "
                    "this forked child does not own it",
                    hint="the parent stops it; a child that needs a section calls user_start()",
                )
            _stop_locked()

    def __enter__(self) -> HeldSection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.held:
            self.stop()

    def __repr__(self) -> str:
        devices = ",".join(str(d.accel_id) for d in self.devices)
        return (
            f"<HeldSection {self.name} of [{self.user_section}]: {len(self.instances)} "
            f"instances on device(s) {devices}{'' if self.held else ', stopped'}>"
        )


@dataclass
class _Holding:
    pid: int
    fd: int
    section: HeldSection


_state: _Holding | None = None
_thread_lock = threading.Lock()


# --- runtime directory ----------------------------------------------------------------

# The rule lives in the seam layer, shared with the section broker (its socket is there).
default_runtime_dir = paths.default_runtime_dir


def _check_dir(st: os.stat_result, path: Path) -> None:
    hint = f"remove it, or set {paths.ENV_RUNTIME_DIR} to a private directory"
    if stat.S_ISLNK(st.st_mode):
        raise SectionError(f"runtime directory {path} is a symbolic link; refusing it", hint=hint)
    if not stat.S_ISDIR(st.st_mode):
        raise SectionError(f"runtime directory {path} is not a directory", hint=hint)
    if st.st_uid != os.geteuid():
        raise SectionError(
            f"runtime directory {path} belongs to uid {st.st_uid}, not to this user "
            f"({os.geteuid()})",
            hint=hint,
        )
    if st.st_mode & 0o022:
        raise SectionError(
            f"runtime directory {path} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o})",
            hint=f"chmod 0700 {path}, or set {paths.ENV_RUNTIME_DIR} to a private directory",
        )


def _open_dir(path: Path, *, create: bool) -> int | None:
    """Open (creating when asked) the runtime directory safely; ``None`` if absent."""
    if create:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SectionError.from_oserror(
                exc,
                f"cannot create the runtime directory {path}",
                hint=f"set {paths.ENV_RUNTIME_DIR} to a directory you can write",
            ) from exc
    try:
        _check_dir(os.lstat(path), path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise SectionError(
                f"the runtime directory {path} vanished while it was being opened"
            ) from None
        return None
    except OSError as exc:
        raise SectionError.from_oserror(exc, f"cannot open the runtime directory {path}") from exc
    try:
        _check_dir(os.fstat(fd), path)  # the directory seen by lstat is the one opened
    except QatError:
        os.close(fd)
        raise
    return fd


def _lock_file_name(section: str) -> str:
    if _SAFE_NAME.fullmatch(section):
        return f"{section}.lock"
    return "x-" + hashlib.sha256(section.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def _open_lock(dir_fd: int, section: str, *, create: bool) -> int | None:
    flags = os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDWR | os.O_CREAT if create else os.O_RDONLY)
    try:
        fd = os.open(_lock_file_name(section), flags, 0o600, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SectionError.from_oserror(exc, f"cannot open the lock file of {section}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise SectionError(
            f"the lock file of {section} is not a regular file of this user",
            hint="remove it from the runtime directory",
        )
    return fd


@contextlib.contextmanager
def _assignment_lock(dir_fd: int) -> Iterator[None]:
    try:
        fd = os.open(
            _MUTEX, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
        )
    except OSError:
        yield  # a reader without write access: probe without the mutex
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


# --- holder records -------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds a section, as its lock file says.

    Attributes:
        pid: the process that started the section (``None`` if the record is unreadable).
        command: its command line (from ``/proc`` while it runs, else as recorded).
        alive: the recorded process still runs (a forked child may hold the section
            after its parent exited).
        since: when it was started (Unix time).
    """

    pid: int | None
    command: str | None
    alive: bool
    since: float | None

    def describe(self) -> str:
        if self.pid is None:
            return "unknown holder"
        text = f"pid {self.pid}"
        if not self.alive:
            text += " (exited; a forked child still holds it)"
        return text

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "command": self.command, "alive": self.alive, "since": self.since}


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p) or None


def _write_record(fd: int, section: InternalSection) -> None:
    pid = os.getpid()
    record = {
        "section": section.name,
        "user_section": section.user_section,
        "pid": pid,
        "uid": os.geteuid(),
        "command": _cmdline(pid),
        "since": time.time(),
    }
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_record(fd: int) -> Holder:
    try:
        data = os.pread(fd, 65536, 0)
        record = json.loads(data)
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return Holder(None, None, False, None)
    live = _cmdline(pid)
    since = record.get("since")
    return Holder(
        pid,
        live or record.get("command"),
        live is not None,
        float(since) if isinstance(since, int | float) else None,
    )


# --- the public functions -------------------------------------------------------------


def _defined_user_sections(report: config_check.ConfigReport) -> list[str]:
    names: dict[str, None] = {}  # ordered and linear, however many sections
    for f in report.files:
        for name in f.document.sections:
            if is_user_section(name, f.device.profile):
                names.setdefault(name)
    return list(names)


def _defines(unused: UnusedFile, name: str) -> bool:
    try:
        return name in ConfigDocument.read(unused.path).sections
    except QatError:
        return False


def _not_found(name: str, report: config_check.ConfigReport, where: Path) -> SectionNotFoundError:
    # A section in a file that starts no device is the likeliest story: say so first.
    skipped = next((u for u in report.unused if _defines(u, name)), None)
    if skipped is not None:
        return SectionNotFoundError(
            f"could not find section {name!r} in the files of started devices: "
            f"{skipped.describe()}",
            hint=skipped.hint,
            path=skipped.path,
        )
    names = _defined_user_sections(report)
    near = next((n for n in names if n.lower() == name.lower()), None)
    near = near or next(iter(difflib.get_close_matches(name, names, n=1, cutoff=0.6)), None)
    if near is not None:
        hint = f"did you mean {near!r}? Section names are case-sensitive"
    elif names:
        hint = "the files define " + ", ".join(f"[{n}]" for n in names)
    else:
        hint = "the files define no user section"
    return SectionNotFoundError(
        f"could not find section {name!r} in any config file in {where}", hint=hint
    )


def _no_started_devices(report: config_check.ConfigReport, where: Path) -> SectionNotFoundError:
    if not report.unused:
        return SectionNotFoundError(
            f"no started devices: no <type>_dev<N>.conf file in {where}",
            hint=f"write one there, or set {paths.ENV_CONFIG_DIR}",
        )
    shown = report.unused[:3]
    more = len(report.unused) - len(shown)
    what = "; ".join(u.describe() for u in shown) + (f" (and {more} more)" if more else "")
    return SectionNotFoundError(
        f"no started devices: {what}", hint=shown[0].hint, path=shown[0].path
    )


def _load(where: Path, host: HostRoot | None) -> config_check.ConfigReport:
    devices = discover_host_devices(host if host is not None else HostRoot.from_env())
    return config_check.load(where, devices=devices)


def _stop_locked() -> None:
    global _state
    state = _state
    assert state is not None
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(state.fd, 0)  # the record is stale from now on
        fcntl.flock(state.fd, fcntl.LOCK_UN)
    finally:
        os.close(state.fd)
        _state = None


def user_start(
    name: str,
    *,
    config_dir: str | os.PathLike[str] | None = None,
    runtime_dir: str | os.PathLike[str] | None = None,
    host: HostRoot | None = None,
) -> HeldSection:
    """Give this process the next free internal section of user section ``name``.

    Args:
        name: the user section, exactly as in the files (case-sensitive), e.g. ``"SSL"``.
        config_dir: where ``<type>_dev<N>.conf`` are; ``$QATHW_CONFIG_DIR`` or ``/etc``.
        runtime_dir: where locks live; see :func:`default_runtime_dir`.
        host: the host root whose devices are started (``$QATHW_SYSFS_ROOT`` or ``/``);
            :func:`qathw.open_instances` uses it too.

    Returns:
        The held section (a context manager; ``.stop()`` gives it back).

    Raises:
        SectionStateError: this process already holds a section.
        SectionNotFoundError: no device is started (the message says which files were
            found and why each is not used), or no file of a started device defines
            ``name`` (the hint names the closest one).
        ConfigError: the configuration has errors (``qathw config check`` shows them).
        SectionsExhaustedError: every internal section is held by a live process.
        SectionError: the runtime directory is unusable.
    """
    global _state
    if not isinstance(name, str):
        raise TypeError(f"section name must be str, not {type(name).__name__}")
    with _thread_lock:
        if _state is not None:
            if _state.pid == os.getpid():
                raise SectionStateError(
                    f"this process already holds {_state.section.name} "
                    f"(started as {_state.section.user_section!r})",
                    hint="call user_stop() first: the driver allows one section per process",
                )
            # Inherited across fork(): drop the child's copy; the parent keeps its hold.
            with contextlib.suppress(OSError):
                os.close(_state.fd)
            _state = None
        if not name or len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME:
            raise SectionNotFoundError(
                f"invalid section name {name!r}", hint=f"use 1 to {_MAX_NAME} bytes"
            )
        where = Path(config_dir) if config_dir is not None else paths.config_dir()
        report = _load(where, host)
        if not report.files:
            raise _no_started_devices(report, where)
        if name not in _defined_user_sections(report):
            raise _not_found(name, report, where)
        errors = [d for d in report.all_diagnostics if d.severity is Severity.ERROR]
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ConfigError(
                f"the configuration in {where} is invalid: {errors[0].location}: "
                f"{errors[0].rule}: {errors[0].message}{more}",
                hint=f"run 'qathw config check {where}/*.conf' and fix the errors",
                path=errors[0].file,
            )
        candidates = report.expansion.candidates(name)
        if not candidates:
            raise SectionsExhaustedError(
                f"[{name}] has no internal sections: NumProcesses is 0 or missing on every device",
                hint="set NumProcesses to the number of processes that use it",
            )
        rdir = Path(runtime_dir) if runtime_dir is not None else default_runtime_dir(host)
        dir_fd = _open_dir(rdir, create=True)
        assert dir_fd is not None
        try:
            with _assignment_lock(dir_fd):
                holders: list[tuple[str, Holder]] = []
                for cand in candidates:
                    fd = _open_lock(dir_fd, cand.name, create=True)
                    assert fd is not None
                    if not _try_lock(fd):
                        holders.append((cand.name, _read_record(fd)))
                        os.close(fd)
                        continue
                    try:
                        _write_record(fd, cand)
                    except OSError as exc:
                        os.close(fd)
                        raise SectionError.from_oserror(
                            exc, f"cannot record the holder of {cand.name}"
                        ) from exc
                    held = HeldSection(cand, os.getpid(), host)
                    _state = _Holding(os.getpid(), fd, held)
                    return held
        finally:
            os.close(dir_fd)
        pids = ", ".join(f"{n} by {h.describe()}" for n, h in holders)
        raise SectionsExhaustedError(
            f"all {len(candidates)} internal sections of [{name}] are taken ({pids})",
            hint="stop one of those processes, or raise NumProcesses for more",
        )


def user_stop() -> None:
    """Give back the section this process holds (``icp_sal_userStop``).

    Raises:
        SectionStateError: this process holds none (or only inherited its parent's).
    """
    with _thread_lock:
        if _state is None:
            raise SectionStateError(
                "this process holds no section", hint="user_stop() follows user_start()"
            )
        if _state.pid != os.getpid():
            raise SectionStateError(
                f"this process did not start {_state.section.name}: it inherited it from "
                f"its parent (pid {_state.pid})",
                hint="the parent stops it; a child that needs a section calls user_start()",
            )
        _stop_locked()


def current() -> HeldSection | None:
    """The section this process holds, if any."""
    state = _state
    return state.section if state is not None and state.pid == os.getpid() else None


@dataclass(frozen=True)
class SectionStatus:
    """One internal section and who holds it (``holder`` is ``None`` when free)."""

    section: InternalSection
    holder: Holder | None

    def to_dict(self) -> dict[str, object]:
        return {
            **self.section.to_dict(),
            "holder": self.holder.to_dict() if self.holder else None,
        }


def list_sections(
    config_dir: str | os.PathLike[str] | None = None,
    runtime_dir: str | os.PathLike[str] | None = None,
    *,
    host: HostRoot | None = None,
) -> tuple[config_check.ConfigReport, tuple[SectionStatus, ...]]:
    """Every internal section of the started devices, held or free.

    Liveness comes from the locks: a section is held when its lock is held.

    Args:
        config_dir: as for :func:`user_start`.
        runtime_dir: as for :func:`user_start`.
        host: as for :func:`user_start`.

    Returns:
        The configuration report (for its diagnostics and the files that start no
        device) and the sections' status, in the order :func:`user_start` hands them out.
    """
    where = Path(config_dir) if config_dir is not None else paths.config_dir()
    report = _load(where, host)
    rdir = Path(runtime_dir) if runtime_dir is not None else default_runtime_dir(host)
    dir_fd = _open_dir(rdir, create=False)
    if dir_fd is None:
        return report, tuple(SectionStatus(s, None) for s in report.expansion.sections)
    out = []
    try:
        with _assignment_lock(dir_fd):
            for sec in report.expansion.sections:
                fd = _open_lock(dir_fd, sec.name, create=False)
                if fd is None:
                    out.append(SectionStatus(sec, None))
                    continue
                try:
                    if _try_lock(fd):
                        fcntl.flock(fd, fcntl.LOCK_UN)
                        out.append(SectionStatus(sec, None))
                    else:
                        out.append(SectionStatus(sec, _read_record(fd)))
                finally:
                    os.close(fd)
    finally:
        os.close(dir_fd)
    return report, tuple(out)


__all__ = [
    "HeldSection",
    "Holder",
    "SectionStatus",
    "current",
    "default_runtime_dir",
    "list_sections",
    "user_start",
    "user_stop",
]
