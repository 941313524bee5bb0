"""The bottom of every sysfs and debugfs access: one small seam.

qathw reads and writes sysfs, debugfs and the emulated endpoints' ``resource2`` files
only through a :class:`SysfsIO`. The default, :class:`OsSysfsIO`, is the operating
system: a write is one ``write(2)`` on a file opened ``O_WRONLY``, so the kernel's errno
comes back as an :class:`OSError` with that errno.

A plain directory cannot refuse a write the way the kernel does (``EBUSY`` on
``sriov_numvfs``, ``EINVAL`` on ``cfg_services`` while the device is up). A fake tree
therefore serves these same calls with the kernel's rules (``fakedev.sysfs.FakeKernel``)
and is installed with :func:`using`. Nothing above this module asks which one it has.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol, runtime_checkable

from qathw.errors import DeviceAccessError, QatError
from qathw.paths import HostRoot

#: The most a sysfs attribute holds: its show() fills one page (the kernel's sysfs ABI,
#: Documentation/filesystems/sysfs.rst).
SYSFS_ATTR_MAX = 4096
#: The most read from a debugfs entry: seq_file entries (``dev_cfg``, telemetry) may
#: exceed a page; this only bounds them.
DEBUGFS_FILE_MAX = 1 << 20
_DEBUGFS_PARTS = HostRoot().debugfs.relative_to("/").parts
#: What to do about a sysfs file the kernel would not have served.
NOT_KERNEL_HINT = "the sysfs tree is not the kernel's; check --sysfs-root or QATHW_SYSFS_ROOT"


def file_kind(mode: int) -> str:
    """What ``stat``'s ``st_mode`` says a file is, in words ("a FIFO")."""
    for test, words in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def open_regular(
    path: str | os.PathLike[str], *, what: str, hint: str, error: type[QatError]
) -> int:
    """A descriptor of ``path`` opened for reading, once ``fstat`` shows a regular file.

    ``O_NONBLOCK``: opening a FIFO would otherwise wait for a writer, forever.

    Raises:
        OSError: opening failed, or ``path`` is a directory (EISDIR, as ``read(2)`` says).
        QatError: (``error``) a device, FIFO or socket; the message names it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    raise error(f"{os.fspath(path)} is {file_kind(mode)}, not {what}", hint=hint, path=path)


def read_regular(
    path: str | os.PathLike[str],
    limit: int,
    *,
    what: str,
    hint: str,
    error: type[QatError] = DeviceAccessError,
) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes.

    Checked as :func:`open_regular` does before any read, so a FIFO never blocks and a
    device (``/dev/zero``) is never read from.

    Args:
        path: the file (symbolic links are followed, as for any attribute).
        limit: the most bytes the file may hold.
        what: what the file should be, for the message ("a sysfs attribute").
        hint: what to do when it is not.
        error: the :class:`QatError` class to raise.

    Returns:
        The bytes.

    Raises:
        OSError: opening or reading failed (the kernel's errno), or a directory.
        QatError: (``error``) the file is not a regular file, or holds more than ``limit``.
    """
    fd = open_regular(path, what=what, hint=hint, error=error)
    try:
        chunks: list[bytes] = []
        size = 0
        # Unbuffered reads until end of file, never more than limit + 1 bytes in all.
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise error(
                    f"{os.fspath(path)} holds more than {limit} bytes, too many for {what}",
                    hint=hint,
                    path=path,
                )
        return b"".join(chunks)
    finally:
        os.close(fd)


@runtime_checkable
class SysfsIO(Protocol):
    """What qathw needs from sysfs: read, write, list, follow links.

    Every method raises :class:`OSError` with the errno the kernel (or the fake) gave.
    """

    def read(self, path: Path) -> bytes:
        """The whole content of an attribute file.

        Raises:
            OSError: the kernel's errno.
            DeviceAccessError: the file is not a regular file, or larger than a sysfs
                attribute (:data:`SYSFS_ATTR_MAX`; :data:`DEBUGFS_FILE_MAX` in debugfs).
        """
        ...

    def read_mapped(self, path: Path, length: int) -> bytes:
        """The first ``length`` bytes of a memory-mappable file (a PCI ``resourceN``).

        Raises:
            OSError: the kernel's errno.
            DeviceAccessError: the file is not a regular file (a FIFO, a device).
        """
        ...

    def write(self, path: Path, data: bytes) -> None:
        """Store ``data`` into an attribute with one write; short writes are errors."""
        ...

    def readlink(self, path: Path) -> str:
        """The target of a symbolic link (``driver``, ``iommu_group``, ``physfn``)."""
        ...

    def listdir(self, path: Path) -> list[str]:
        """The names in a directory, sorted."""
        ...

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists (a dangling link counts as existing)."""
        ...


class OsSysfsIO:
    """The real system calls."""

    def read(self, path: Path) -> bytes:
        # sysfs pages are at most 4 KiB but debugfs files (dev_cfg, telemetry) can be longer.
        in_debugfs = any(
            Path(path).parts[i : i + len(_DEBUGFS_PARTS)] == _DEBUGFS_PARTS
            for i in range(len(Path(path).parts))
        )
        if in_debugfs:
            return read_regular(
                path,
                DEBUGFS_FILE_MAX,
                what="a debugfs entry",
                hint=NOT_KERNEL_HINT,
            )
        return read_regular(
            path,
            SYSFS_ATTR_MAX,
            what="a sysfs attribute",
            hint=NOT_KERNEL_HINT,
        )

    def read_mapped(self, path: Path, length: int) -> bytes:
        # PCI resource files refuse read(2) (EIO) but map; regular files do both.
        fd = open_regular(
            path, what="a PCI resource file", hint=NOT_KERNEL_HINT, error=DeviceAccessError
        )
        try:
            with mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ) as m:
                return bytes(m[:length])
        finally:
            os.close(fd)

    def write(self, path: Path, data: bytes) -> None:
        # No O_CREAT: a missing attribute must fail (ENOENT), not appear as a new file.
        # O_TRUNC is what the shell's `echo x > attr` does; sysfs ignores it.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise OSError(0, f"short write ({written} of {len(data)} bytes)", str(path))

    def readlink(self, path: Path) -> str:
        return os.readlink(path)

    def listdir(self, path: Path) -> list[str]:
        return sorted(os.listdir(path))

    def exists(self, path: Path) -> bool:
        return os.path.lexists(path)


_OS = OsSysfsIO()
_CURRENT: ContextVar[SysfsIO | None] = ContextVar("qathw_sysfs_io", default=None)


def current() -> SysfsIO:
    """The seam in use: the operating system unless :func:`using` installed another."""
    return _CURRENT.get() or _OS


@contextmanager
def using(io: SysfsIO) -> Iterator[SysfsIO]:
    """Serve every sysfs access inside the ``with`` block from ``io``.

    Args:
        io: e.g. a ``fakedev.sysfs.FakeKernel`` that applies the kernel's write rules.

    Yields:
        ``io``.
    """
    token = _CURRENT.set(io)
    try:
        yield io
    finally:
        _CURRENT.reset(token)
