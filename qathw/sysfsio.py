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

import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class SysfsIO(Protocol):
    """What qathw needs from sysfs: read, write, list, follow links.

    Every method raises :class:`OSError` with the errno the kernel (or the fake) gave.
    """

    def read(self, path: Path) -> bytes:
        """The whole content of an attribute file."""
        ...

    def read_mapped(self, path: Path, length: int) -> bytes:
        """The first ``length`` bytes of a memory-mappable file (a PCI ``resourceN``)."""
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
        # Unbuffered: one read per call, as the kernel's show() expects; sysfs pages are
        # at most 4 KiB but debugfs files (dev_cfg, telemetry) can be longer.
        with open(path, "rb", buffering=0) as f:
            return f.read()

    def read_mapped(self, path: Path, length: int) -> bytes:
        # PCI resource files refuse read(2) (EIO) but map; regular files do both.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
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
