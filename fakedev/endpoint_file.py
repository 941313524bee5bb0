"""Create and open the shared-memory file of an emulated endpoint (layout version 2).

The layout itself is defined in one place, :mod:`qathw.emulated`; this module chooses the
sizes for a device kind, writes the control page, and gives the device model typed views
of the windows. A new file is all zeros after the control page: every ring CSR reads 0,
which is the state of a device after reset.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from qathw import emulated, ids
from qathw.emulated import ControlInfo, qathw_emu_control
from qathw.errors import RingConfigError
from qathw.transport.csr import CsrLayout, layout_for

DEFAULT_SIZE = 16 << 20
DEFAULT_DEVICE = "4xxxvf"


class EndpointFileError(Exception):
    """An endpoint file cannot be created or opened; the message says what to do."""


@dataclass(frozen=True)
class DeviceSpec:
    """What an emulated endpoint presents: PCI identity and ring-CSR shape."""

    kind: ids.FunctionKind
    layout: CsrLayout
    banks: int

    @property
    def class_name(self) -> str:
        return self.kind.class_name

    @property
    def csr_size(self) -> int:
        return self.layout.csr_bar_size(self.banks, is_vf=self.kind.is_vf)


def device_spec(name: str) -> DeviceSpec:
    """The spec of a device named by its kernel class name (``4xxxvf``, ``4xxx``, ``c6xxvf``).

    Raises:
        EndpointFileError: unknown name, or a generation whose rings are not emulated.
    """
    kind = ids.family_by_class_name(name)
    if kind is None:
        raise EndpointFileError(
            f"unknown device '{name}'; use a QAT class name such as 4xxxvf, 4xxx or c6xxvf"
        )
    try:
        layout = layout_for(kind.generation)
    except RingConfigError as exc:  # its text names the generations that have ring layouts
        label = kind.generation.traits.label
        raise EndpointFileError(f"device '{name}' is {label}: {exc}") from None
    banks = kind.banks
    if not banks:
        raise EndpointFileError(f"device '{name}' has no known bank count")
    return DeviceSpec(kind=kind, layout=layout, banks=banks)


def create(
    path: str | os.PathLike[str],
    device: str = DEFAULT_DEVICE,
    *,
    size: int = DEFAULT_SIZE,
    devmem_iova: int = emulated.DEFAULT_DEVMEM_IOVA,
    force: bool = False,
) -> ControlInfo:
    """Create an endpoint file: control page written, registers in their reset state.

    Args:
        path: the file (``/dev/shm/qat0`` for ivshmem; any path for tests).
        device: kernel class name of the emulated function (``4xxxvf`` default).
        size: total bytes, a power of two (ivshmem requires it).
        devmem_iova: device address of the first device-memory byte.
        force: replace an existing file (never one a backend is serving).

    Returns:
        The control page as the driver will read it.

    Raises:
        EndpointFileError: bad size or device, the file exists (or is no regular file),
            it is being served, or its filesystem has no room for it (no file is left).
    """
    spec = device_spec(device)
    try:
        win = emulated.plan_windows(spec.csr_size, spec.layout.pmisc_size, size, devmem_iova)
    except ValueError as exc:
        raise EndpointFileError(str(exc)) from None
    target = Path(path)
    if target.exists():
        fd = open_regular(target)  # never a lock file beside /dev/zero, say
        try:
            what = "" if force else _older_layout(fd)
        finally:
            os.close(fd)
        if not force:
            raise EndpointFileError(f"{target} exists{what}; pass --force to replace it")
    # Holding the backend lock while the file is rewritten keeps a backend from starting
    # on it meanwhile, and refuses a file a backend serves.
    with BackendLock(target):
        fd = _create_allocated(target, size, force)
        _write_control_page(fd, spec, win, size)
    return read_info(target)


def _older_layout(fd: int) -> str:
    """`` (an endpoint of layout version N, ...)`` when ``fd`` holds an endpoint of another
    layout version, else ""."""
    head = os.pread(fd, qathw_emu_control.control_size.offset, 0)
    if not emulated.has_magic(head):
        return ""
    version = int.from_bytes(head[qathw_emu_control.layout_version.offset :][:4], "little")
    if version == emulated.EMU_LAYOUT_VERSION:
        return ""
    return (
        f" (an endpoint of layout version {version}; this fakedev serves version "
        f"{emulated.EMU_LAYOUT_VERSION} only)"
    )


def _create_allocated(target: Path, size: int, force: bool) -> int:
    """Open ``target`` anew with all ``size`` bytes allocated, or leave no file behind.

    A sparse file would fail later, when a page is first touched on a full filesystem:
    SIGBUS in the host and in the backend (and a guest decides which pages get touched).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    flags |= os.O_TRUNC if force else os.O_EXCL
    try:
        fd = os.open(target, flags, 0o660)
    except OSError as exc:
        raise EndpointFileError(f"cannot create {target}: {exc.strerror}") from None
    try:
        _check_regular(fd, target)
        os.ftruncate(fd, 0)
        os.posix_fallocate(fd, 0, size)
    except EndpointFileError:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise EndpointFileError(_no_room(target, size, exc)) from None
    return fd


def _no_room(target: Path, size: int, exc: OSError) -> str:
    where = target.resolve().parent
    need = f"the endpoint needs {size >> 20} MiB"
    if exc.errno == errno.ENOSPC:
        try:
            st = os.statvfs(where)
            free = f"{(st.f_bavail * st.f_frsize) >> 20} MiB free"
        except OSError:
            free = "not enough space"
        return (
            f"cannot create {target}: {where} has {free}, {need}; free some space there, "
            "pass a smaller --size, or create the file on another filesystem"
        )
    return f"cannot allocate {target} ({need}): {exc.strerror}; check the filesystem under {where}"


def _write_control_page(fd: int, spec: DeviceSpec, win: emulated.Windows, size: int) -> None:
    try:
        with mmap.mmap(fd, emulated.CONTROL_PAGE_SIZE) as mm:
            page = qathw_emu_control.from_buffer(mm)
            page.magic = emulated.EMU_MAGIC
            page.layout_version = emulated.EMU_LAYOUT_VERSION
            page.control_size = emulated.CONTROL_PAGE_SIZE
            page.total_size = size
            page.vendor_id = ids.INTEL_VENDOR_ID
            page.device_id = spec.kind.device_id
            page.subsystem_vendor_id = ids.INTEL_VENDOR_ID
            page.subsystem_id = 0
            page.generation = int(spec.kind.generation)
            page.is_vf = int(spec.kind.is_vf)
            page.num_banks = spec.banks
            page.rings_per_bank = spec.layout.rings_per_bank
            page.csr_offset, page.csr_size = win.csr_offset, win.csr_size
            page.pmisc_offset, page.pmisc_size = win.pmisc_offset, win.pmisc_size
            page.devmem_offset, page.devmem_size = win.devmem_offset, win.devmem_size
            page.devmem_iova = win.devmem_iova
            page.backend_state = emulated.XenbusState.INITIALISING
            del page
    finally:
        os.close(fd)


def already_served(path: str | os.PathLike[str], pid: int) -> str:
    """The message for an endpoint another live backend serves (with what to do)."""
    who = f"pid {pid}" if pid else "another process"
    stop = f" (kill {pid})" if pid else ""
    return (
        f"{path} is already served by {who}; stop that backend first{stop}, "
        "or serve another endpoint file"
    )


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_an_endpoint(path: str | os.PathLike[str], what: str) -> EndpointFileError:
    return EndpointFileError(
        f"{path} is {what}, not an endpoint file; create one with "
        "'python -m fakedev create PATH' and pass that path"
    )


def _check_regular(fd: int, path: str | os.PathLike[str]) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise _not_an_endpoint(path, next((n for t, n in _KINDS if t(mode)), "no regular file"))


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY) -> int:
    """Open an endpoint file, refusing at once anything but a regular file.

    O_NONBLOCK keeps a FIFO from blocking the open; the fstat check keeps it (or a device
    such as /dev/zero) from blocking or flooding the reads after it.

    Raises:
        EndpointFileError: missing, unreadable, or not a regular file (with a hint).
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise EndpointFileError(
            f"cannot read {path}: {exc.strerror}; create it with 'python -m fakedev create {path}'"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EISDIR:  # opened for writing
            raise _not_an_endpoint(path, "a directory") from None
        raise EndpointFileError(
            f"cannot read {path}: {exc.strerror}; check the path and its permissions"
        ) from None
    try:
        _check_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_page(fd: int, path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """The control page's bytes (maybe short) and the file size, read through ``fd``."""
    size = os.fstat(fd).st_size
    try:
        raw = os.pread(fd, emulated.CONTROL_PAGE_SIZE, 0)
    except OSError as exc:
        raise EndpointFileError(f"cannot read {path}: {exc.strerror}") from None
    return raw, size


def read_info(path: str | os.PathLike[str], fd: int | None = None) -> ControlInfo:
    """Read and check the control page of an endpoint file.

    Args:
        path: the file (how messages name it; opened unless ``fd`` is given).
        fd: an open descriptor of it, already checked to be a regular file.

    Raises:
        EndpointFileError: missing, not a regular file, not an endpoint, or a layout it
            does not fit.
    """
    own = fd is None
    use = open_regular(path) if fd is None else fd
    try:
        page, size = read_page(use, path)
    finally:
        if own:
            os.close(use)
    if size < emulated.CONTROL_PAGE_SIZE:
        raise EndpointFileError(
            f"{path} is {size} bytes, too small for an emulated endpoint (its control page "
            f"alone takes {emulated.CONTROL_PAGE_SIZE}); create one with 'python -m fakedev "
            f"create {path} --force'"
        )
    try:
        return emulated.read_control(page, mapped_size=size)
    except Exception as exc:  # DeviceError carries the hint
        raise EndpointFileError(f"{path}: {exc}") from None


# --- backend identity -------------------------------------------------------------------
#
# The control page is shared with the frontend, in a VM a guest that can write all of it,
# so nothing in it says which host process serves the endpoint. That is a lock file beside
# the endpoint, mode 0600, which the serving process holds with flock and in which it
# records its pid and start time (a pid alone may be reused by an unrelated process).


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The backend lock file of the endpoint ``path``.

    Beside the file itself, not a symlink to it: every path to one endpoint (a fake
    sysfs ``resource2`` links to it) names the one lock.
    """
    return Path(f"{os.path.realpath(path)}.lock")


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot), None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat_line = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    fields = stat_line[stat_line.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


class BackendLock:
    """The serving backend's hold on an endpoint: flock on ``lock_path(path)``.

    Args:
        path: the endpoint file.

    Raises:
        EndpointFileError: (on :meth:`acquire`) another process holds the lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = lock_path(path)
        self._endpoint = os.fspath(path)
        self._fd: int | None = None

    def acquire(self) -> BackendLock:
        while self._fd is None:
            try:
                fd = os.open(
                    self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
                )
            except OSError as exc:
                raise EndpointFileError(
                    f"cannot open the backend lock {self.path}: {exc.strerror}; check the "
                    "permissions of its directory"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise EndpointFileError(
                    already_served(self._endpoint, holder_pid(self._endpoint))
                ) from None
            # A releasing holder unlinks the file before it lets go: a lock taken on the
            # unlinked inode is no lock; take it again on the file that is there now.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {_start_time(os.getpid()) or 0}\n".encode(), 0)
            self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> BackendLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_pid(path: str | os.PathLike[str]) -> int:
    """The pid of the process holding the backend lock of ``path``, 0 if none is.

    Only a pid that holds the lock and whose start time matches the one it recorded is
    returned: never a pid read from the (guest-writable) control page.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: the record is the holder's
        else:
            return 0  # nobody holds it (left behind by a backend that was killed)
        try:
            pid_text, start_text = os.pread(fd, 64, 0).split()[:2]
            pid, start = int(pid_text), int(start_text)
        except ValueError:
            return 0  # the holder has not written its record yet
    finally:
        os.close(fd)
    return pid if pid > 0 and _start_time(pid) == start else 0


class EndpointFile:
    """An endpoint file mapped for the device model: typed views of every window.

    Attributes:
        info: the control page as read when opened (identity, windows).
        spec: the emulated device kind, CSR layout and bank count.
        control: the live control page (a ctypes view into the mapping).
        csr: the ring-CSR window as 32-bit words.
        pmisc: the PMISC window as 32-bit words.
        devmem: the device-memory window, bytes.
        control_words: the control page as 32-bit words (fast heartbeat and flags).
        counters: the device's per-bank counters as 64-bit words, three per bank in
            :class:`~qathw.emulated.qathw_emu_bank_counters` order.
        links: the bank links (frontend-written), bytes, one
            :class:`~qathw.emulated.qathw_emu_bank_link` per bank.
        pf_state: the PF agent's memory of the VF (``vf_compat``, ``vf_init``), bytes.

    Raises:
        EndpointFileError: the file cannot be opened or is not an endpoint.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = open_regular(self.path, os.O_RDWR)
        try:
            self.info = read_info(self.path, fd)
            name = self.info.kind.class_name
            self.spec = device_spec(name)
            if self.info.num_banks != self.spec.banks:
                raise EndpointFileError(
                    f"{self.path}: control page says {self.info.num_banks} banks, a {name} has "
                    f"{self.spec.banks}; recreate the file"
                )
            self._mm: mmap.mmap | None = mmap.mmap(fd, self.info.windows.total_size)
        finally:
            os.close(fd)
        win = self.info.windows
        whole = memoryview(self._mm)
        self._views = [whole]
        self.control: qathw_emu_control | None = qathw_emu_control.from_buffer(self._mm)
        self.control_words = self._keep(whole[: emulated.CONTROL_PAGE_SIZE].cast("I"))
        self.control_u64 = self._keep(whole[: emulated.CONTROL_PAGE_SIZE].cast("Q"))
        self.counters = self._keep(
            whole[emulated.COUNTERS_OFFSET : emulated.COUNTERS_END].cast("Q")
        )
        self.links = self._keep(whole[emulated.LINKS_OFFSET : emulated.LINKS_END])
        pf_state = qathw_emu_control.pf_state
        self.pf_state = self._keep(whole[pf_state.offset : pf_state.offset + pf_state.size])
        csr = whole[win.csr_offset : win.csr_offset + win.csr_size]
        self.csr = self._keep(csr.cast("I"))
        pmisc = whole[win.pmisc_offset : win.pmisc_offset + win.pmisc_size]
        self.pmisc = self._keep(pmisc.cast("I"))
        self.devmem = self._keep(whole[win.devmem_offset : win.devmem_offset + win.devmem_size])
        self._views.extend([csr, pmisc])

    def _keep(self, view: memoryview) -> memoryview:
        self._views.append(view)
        return view

    def set_device_error(self, message: str) -> None:
        """Record a loud device error in the control page (text and count)."""
        if self.control is None:
            return
        self._set_text(qathw_emu_control.device_error.offset, emulated.DEVICE_ERROR_LEN, message)
        self.control.device_error_count += 1

    def set_defect(self, text: str) -> None:
        """Record a fakedev defect in the control page: text first, then the count, so a
        host that sees the count (or the defect response) finds the text."""
        if self.control is None:
            return
        self._set_text(qathw_emu_control.defect.offset, emulated.DEFECT_TEXT_LEN, text)
        self.control.defect_count += 1

    def _set_text(self, offset: int, size: int, text: str) -> None:
        assert self.control is not None
        raw = emulated.clean_text(text.encode("utf-8", "replace"), size - 1).encode("ascii")
        at = ctypes.addressof(self.control) + offset
        ctypes.memset(at, 0, size)
        ctypes.memmove(at, raw, len(raw))

    def close(self) -> None:
        """Release every view and the mapping."""
        self.control = None
        for view in reversed(self._views):
            view.release()
        self._views.clear()
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def __enter__(self) -> EndpointFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
