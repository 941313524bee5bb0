"""Where the section broker's socket, lock and log live: the sections' runtime directory.

The rule is :func:`qathw.paths.default_runtime_dir` (re-exported here), the one the
sections use too: ``$QATHW_RUNTIME_DIR``; else ``<host root>/run/qathw`` where that can
be created (root); else ``$XDG_RUNTIME_DIR/qathw``; else ``/tmp/qathw-<uid>``. Every user
thus has a directory of their own, mode 0700, and the socket in it is reachable by that
user (and root) only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from qathw import paths
from qathw.broker import protocol
from qathw.errors import BrokerPermissionError
from qathw.paths import default_runtime_dir

__all__ = [
    "check_private_dir",
    "default_runtime_dir",
    "lock_holder",
    "make_private_dir",
    "spawn_lock",
]


def check_private_dir(path: Path) -> None:
    """Refuse a directory that is a symlink, another user's, or writable by group/others.

    Args:
        path: the directory.

    Raises:
        BrokerPermissionError: it is not a private directory of this user (or is missing).
    """
    hint = f"remove it (the broker re-creates it), or set {paths.ENV_RUNTIME_DIR}"
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise BrokerPermissionError.from_oserror(
            exc, f"cannot inspect the broker's directory {path}", hint=hint
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise BrokerPermissionError(
            f"the broker's directory {path} is not a directory (or is a symbolic link)",
            hint=hint,
            errno=errno.ENOTDIR,
            path=path,
        )
    if st.st_uid != os.geteuid():
        raise BrokerPermissionError(
            f"the broker's directory {path} belongs to uid {st.st_uid}, not to this user "
            f"({os.geteuid()})",
            hint=hint,
            errno=errno.EPERM,
            path=path,
        )
    if st.st_mode & 0o022:
        raise BrokerPermissionError(
            f"the broker's directory {path} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o})",
            hint=f"chmod 0700 {path}",
            errno=errno.EPERM,
            path=path,
        )


def make_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 (parents too) unless it exists, then check it.

    Raises:
        BrokerPermissionError: it cannot be created, or is not private (see
            :func:`check_private_dir`).
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise BrokerPermissionError.from_oserror(
            exc,
            f"cannot create the broker's directory {path}",
            hint=f"set {paths.ENV_RUNTIME_DIR} to a directory you can write",
        ) from exc
    check_private_dir(path)


def lock_holder(runtime_dir: Path) -> int | None:
    """The pid written in ``broker.lock`` while a live process holds that lock, else None.

    The serving broker holds the lock for its whole life (0 if it wrote no pid yet). For
    ``qathw doctor``: a lock held by a broker that does not answer is a broker that hangs.
    """
    path = runtime_dir / protocol.LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        return None
    finally:
        os.close(fd)


_LOCK_POLL = 0.02  # seconds between attempts at a lock another process holds


@contextlib.contextmanager
def spawn_lock(runtime_dir: Path, deadline: float) -> Iterator[bool]:
    """Hold ``spawn.lock`` (flock): only its holder starts a broker in ``runtime_dir``.

    Without it, holders starting together would each start a broker: all but one lose
    the ``broker.lock`` race, and on a slow machine the losers' start-up alone can take
    longer than a client waits. The lock is released on leaving the block (or when the
    holder dies: the kernel drops a dead process's flock).

    Args:
        runtime_dir: the broker's directory (it must exist).
        deadline: ``time.monotonic()`` value after which to stop waiting for the lock.

    Yields:
        True with the lock held; False when another process still held it at
        ``deadline`` (the lock is then not held).

    Raises:
        BrokerPermissionError: the lock file cannot be opened, or is not this user's.
    """
    path = runtime_dir / protocol.SPAWN_LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BrokerPermissionError.from_oserror(
            exc,
            f"cannot open the broker's start lock {path}",
            hint=f"remove it, or set {paths.ENV_RUNTIME_DIR} to a private directory of yours",
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise BrokerPermissionError(
                f"the broker's start lock {path} is not a regular file of this user",
                hint="remove it",
                errno=errno.EPERM,
                path=path,
            )
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(_LOCK_POLL)
        yield True
    finally:
        os.close(fd)  # closing the only descriptor of this open file releases the flock
