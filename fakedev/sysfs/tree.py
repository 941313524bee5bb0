"""The fake host's files, and the kernel's state that is not a file.

A :class:`Tree` is the directory that plays ``/``. It writes attributes with their modes
and makes the kernel's links, says what a function's directory shows (its kind, driver,
IOMMU group), and keeps the kernel's mutable state that no file holds — version, in-use
and in-reset marks, accel ids, telemetry selections, the kernel log — in
``<prefix>/.fakedev/kernel.json``, so that a second process (or a tree opened later)
sees the same host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qathw import ids
from qathw.paths import HostRoot

State = dict[str, Any]
STATE_FILE = ".fakedev/kernel.json"
_DMESG_LINES = 200  # the log keeps the newest lines, as the kernel's ring buffer does


def kernel_error(code: int, path: Path | str) -> OSError:
    """The error a refused write gets: ``code`` as errno, as the kernel returns it."""
    return OSError(code, os.strerror(code), str(path))


class Tree:
    """A fake host's directory tree.

    Args:
        prefix: the directory that plays ``/`` (holds ``sys``, ``dev``, ``lib``...).
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.prefix = Path(prefix).absolute()
        self.host = HostRoot(self.prefix)
        self.sys = self.prefix / "sys"

    # --- the kernel's state ---------------------------------------------------------------

    def load(self) -> State:
        """The kernel's state as saved last (defaults for a new tree)."""
        path = self.prefix / STATE_FILE
        try:
            with open(path) as f:
                state: State = json.load(f)
        except FileNotFoundError:
            state = {}
        state.setdefault("kernel", [6, 8])
        state.setdefault("iommu", "on")
        state.setdefault("next_group", 1)
        state.setdefault("in_use", [])
        state.setdefault("in_reset", [])
        state.setdefault("accel_ids", {})
        state.setdefault("vf_driver", {})
        state.setdefault("rp2srv", {})
        state.setdefault("telemetry", {})
        state.setdefault("new_ids", {})
        state.setdefault("denylist_disabled", False)
        state.setdefault("dmesg", [])
        return state

    @contextmanager
    def state(self) -> Iterator[State]:
        """The kernel's state, saved when the block ends. Blocks must not nest."""
        # Saved even when the operation fails: the kernel's log of a refusal stays, and
        # every refusal is checked before anything is changed.
        state = self.load()
        try:
            yield state
        finally:
            self._save(state)

    def _save(self, state: State) -> None:
        path = self.prefix / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def log(self, state: State, bdf: str, text: str) -> None:
        """Add a line to the kernel log (``dmesg``), prefixed with the device."""
        state["dmesg"].append(f"{bdf}: {text}")
        del state["dmesg"][:-_DMESG_LINES]

    @staticmethod
    def busy(state: State, bdf: str) -> bool:
        """In use (kernel crypto users, an open VF) or in reset."""
        return bdf in state["in_use"] or bdf in state["in_reset"]

    # --- files ----------------------------------------------------------------------------

    def put(self, path: Path, text: str | bytes, mode: int = 0o444) -> None:
        """Write a file with ``mode`` (its directory made if needed)."""
        data = text.encode() if isinstance(text, str) else text
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, mode)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, mode)
        except PermissionError:
            # A tree its (unprivileged) user owns: the kernel still rewrites its own
            # read-only files, as root's writes would.
            os.chmod(path, 0o600)
            fd = os.open(path, flags, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)  # the mode of an existing file, and past the umask
        finally:
            os.close(fd)

    def symlink(self, link: Path, target: Path) -> None:
        """Point ``link`` at ``target`` by a relative path, as sysfs links are."""
        rel = os.path.relpath(target, link.parent)
        try:
            os.symlink(rel, link)
        except FileNotFoundError:
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(rel, link)
        except FileExistsError:
            link.unlink()
            os.symlink(rel, link)

    @staticmethod
    def text(path: Path) -> str:
        """An attribute's value, without the newline."""
        return path.read_text().strip()

    # --- what a function's directory says --------------------------------------------------

    def dev_dir(self, bdf: str) -> Path:
        """The real directory of a function (``sys/devices/pci<d>:<b>/<bdf>``)."""
        return Path(os.path.realpath(self.host.pci_device(bdf)))

    def kind(self, d: Path) -> ids.FunctionKind | None:
        """The QAT family and role of the function, ``None`` if it is not QAT."""
        return ids.lookup(int(self.text(d / "vendor"), 16), int(self.text(d / "device"), 16))

    def pf(self, d: Path) -> ids.FunctionKind:
        """The kind of a function that only a QAT PF has attributes for."""
        kind = self.kind(d)
        assert kind is not None and not kind.is_vf
        return kind

    @staticmethod
    def driver(d: Path) -> str | None:
        """The bound driver's name, ``None`` when unbound."""
        link = d / "driver"
        return Path(os.readlink(link)).name if os.path.lexists(link) else None

    @staticmethod
    def group(d: Path) -> str | None:
        """The IOMMU group's name, ``None`` without one."""
        link = d / "iommu_group"
        return Path(os.readlink(link)).name if os.path.lexists(link) else None

    def firmware(self, name: str) -> bool:
        """Whether ``lib/firmware`` holds ``name`` (plain or compressed, as the loader looks)."""
        fw = self.prefix / "lib" / "firmware"
        return any((fw / (name + ext)).exists() for ext in ("", ".xz", ".zst"))

    def exists(self, bdf: str) -> bool:
        """Whether ``bus/pci/devices`` lists the function."""
        return os.path.lexists(self.host.pci_device(bdf))
