"""One configurable root for every host path qathw touches.

Every path under ``/sys``, ``/dev`` and ``/run`` is derived from one :class:`HostRoot`,
so a fake tree in a temporary directory (``fakedev.sysfs``) and the real machine run the
same code. The tree below the prefix mirrors the real one: ``<prefix>/sys``,
``<prefix>/dev``, ``<prefix>/run``.

``/proc`` is not redirected: processes are always real.

Environment:
    QATHW_SYSFS_ROOT: the top of a fake tree (a directory holding ``sys/``, as
        ``python -m fakedev.sysfs DIR`` builds it), or the directory that plays ``/sys``
        itself (its parent is the prefix); :meth:`HostRoot.from_dir` tells them apart.
    QATHW_CONFIG_DIR: where ``<type>_dev<N>.conf`` files are read (default ``/etc``).
    QATHW_RUNTIME_DIR: where section locks and the section broker's socket live (default:
        :func:`default_runtime_dir`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

ENV_SYSFS_ROOT = "QATHW_SYSFS_ROOT"
ENV_CONFIG_DIR = "QATHW_CONFIG_DIR"
ENV_RUNTIME_DIR = "QATHW_RUNTIME_DIR"


@dataclass(frozen=True)
class HostRoot:
    """The prefix under which ``sys``, ``dev`` and ``run`` are found.

    Attributes:
        prefix: ``/`` on a real machine, a temporary directory for a fake tree.
    """

    prefix: Path = Path("/")

    @classmethod
    def from_sysfs_root(cls, sysfs_root: str | os.PathLike[str]) -> HostRoot:
        """The root whose ``sys`` directory is ``sysfs_root``.

        Args:
            sysfs_root: a directory playing ``/sys``, e.g. ``/tmp/t/sys``.

        Returns:
            The host root with prefix ``sysfs_root``'s parent.
        """
        return cls(Path(sysfs_root).absolute().parent)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str]) -> HostRoot:
        """The root a directory names: the top of a tree, or the ``sys`` of one.

        A directory holding ``sys/`` is the prefix itself (``/``, or the DIR of
        ``python -m fakedev.sysfs DIR``); any other is taken as the ``/sys`` of the root
        (real sysfs has no ``sys`` inside it).

        Args:
            directory: e.g. ``/tmp/t`` or ``/tmp/t/sys``.

        Returns:
            The host root.
        """
        path = Path(directory).absolute()
        if (path / "sys").is_dir():
            return cls(path)
        return cls.from_sysfs_root(path)

    @classmethod
    def from_env(cls) -> HostRoot:
        """The root named by ``$QATHW_SYSFS_ROOT`` (see :meth:`from_dir`), or the real one."""
        env = os.environ.get(ENV_SYSFS_ROOT)
        return cls.from_dir(env) if env else cls()

    @property
    def is_real(self) -> bool:
        """True when this is the machine's own ``/``."""
        return self.prefix == Path("/")

    @property
    def sys(self) -> Path:
        return self.prefix / "sys"

    @property
    def dev(self) -> Path:
        return self.prefix / "dev"

    @property
    def run(self) -> Path:
        return self.prefix / "run"

    @property
    def pci_devices(self) -> Path:
        """``/sys/bus/pci/devices``: one symlink per PCI function."""
        return self.sys / "bus" / "pci" / "devices"

    @property
    def pci_drivers(self) -> Path:
        """``/sys/bus/pci/drivers``."""
        return self.sys / "bus" / "pci" / "drivers"

    @property
    def iommu_groups(self) -> Path:
        """``/sys/kernel/iommu_groups``."""
        return self.sys / "kernel" / "iommu_groups"

    @property
    def debugfs(self) -> Path:
        """``/sys/kernel/debug``."""
        return self.sys / "kernel" / "debug"

    @property
    def vfio(self) -> Path:
        """``/dev/vfio``."""
        return self.dev / "vfio"

    def pci_device(self, bdf: str) -> Path:
        """The sysfs directory of one PCI function (``/sys/bus/pci/devices/<bdf>``)."""
        return self.pci_devices / bdf


def default_runtime_dir(host: HostRoot | None = None) -> Path:
    """Where section locks and the section broker's socket live (not created).

    The one rule, shared by :mod:`qathw.sections` and :mod:`qathw.broker` (which sit in
    different layers, both above this one): ``$QATHW_RUNTIME_DIR``; else
    ``<host root>/run/qathw`` where that exists privately or can be created (root); else
    ``$XDG_RUNTIME_DIR/qathw``; else ``/tmp/qathw-<uid>``. Every user thus gets a
    directory of their own; its users create it 0700 and refuse one that is not private.

    Args:
        host: the host root whose ``run`` directory is tried; ``$QATHW_SYSFS_ROOT`` or ``/``.

    Returns:
        The directory's path.
    """
    env = os.environ.get(ENV_RUNTIME_DIR)
    if env:
        return Path(env)
    run = (host if host is not None else HostRoot.from_env()).run
    system = run / "qathw"
    if (system.is_dir() and _private_dir(system)) or os.access(run, os.W_OK | os.X_OK):
        return system
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK | os.X_OK):
        return Path(xdg) / "qathw"
    return Path(f"/tmp/qathw-{os.geteuid()}")


def _private_dir(path: Path) -> bool:
    """A directory (not a symlink) of this user that group and others cannot write."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def config_dir() -> Path:
    """Where QAT configuration files are read: ``$QATHW_CONFIG_DIR`` or ``/etc``."""
    return Path(os.environ.get(ENV_CONFIG_DIR) or "/etc")
