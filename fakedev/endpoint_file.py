"""Create and open the shared-memory file of an emulated endpoint (layout v1).

The layout itself is defined in one place, :mod:`qathw.emulated`; this module chooses the
sizes for a device kind, writes the control page, and gives the device model typed views
of the windows. A new file is all zeros after the control page: every ring CSR reads 0,
which is the state of a device after reset.
"""

from __future__ import annotations

import ctypes
import mmap
import os
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
        EndpointFileError: bad size or device, the file exists, or it is being served.
    """
    spec = device_spec(device)
    try:
        win = emulated.plan_windows(spec.csr_size, spec.layout.pmisc_size, size, devmem_iova)
    except ValueError as exc:
        raise EndpointFileError(str(exc)) from None
    target = Path(path)
    if target.exists():
        if not force:
            raise EndpointFileError(f"{target} exists; pass --force to replace it")
        pid = _serving_pid(target)
        if pid:
            raise EndpointFileError(already_served(target, pid))
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o660)
    except OSError as exc:
        raise EndpointFileError(f"cannot create {target}: {exc.strerror}") from None
    try:
        os.ftruncate(fd, 0)
        os.ftruncate(fd, size)
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
    return read_info(target)


def already_served(path: str | os.PathLike[str], pid: int) -> str:
    """The message for an endpoint another live backend serves (with what to do)."""
    return (
        f"{path} is already served by pid {pid}; stop that backend first (kill {pid}), "
        "or serve another endpoint file"
    )


def read_info(path: str | os.PathLike[str]) -> ControlInfo:
    """Read and check the control page of an endpoint file.

    Raises:
        EndpointFileError: missing, not an endpoint, or a layout it does not fit.
    """
    try:
        with open(path, "rb") as f:
            page = f.read(emulated.CONTROL_PAGE_SIZE)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError as exc:
        raise EndpointFileError(
            f"cannot read {path}: {exc.strerror}; create it with 'python -m fakedev create {path}'"
        ) from None
    except OSError as exc:
        raise EndpointFileError(
            f"cannot read {path}: {exc.strerror}; check the path and its permissions"
        ) from None
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


def _serving_pid(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            raw = f.read(emulated.CONTROL_PAGE_SIZE)
    except OSError:
        return 0
    if len(raw) < emulated.CONTROL_PAGE_SIZE or not emulated.has_magic(raw):
        return 0
    page = qathw_emu_control.from_buffer_copy(raw)
    return page.backend_pid if page.backend_pid and pid_alive(page.backend_pid) else 0


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

    Raises:
        EndpointFileError: the file cannot be opened or is not an endpoint.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.info = read_info(self.path)
        name = self.info.kind.class_name
        self.spec = device_spec(name)
        if self.info.num_banks != self.spec.banks:
            raise EndpointFileError(
                f"{self.path}: control page says {self.info.num_banks} banks, a {name} has "
                f"{self.spec.banks}; recreate the file"
            )
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise EndpointFileError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            self._mm: mmap.mmap | None = mmap.mmap(fd, self.info.windows.total_size)
        finally:
            os.close(fd)
        win = self.info.windows
        whole = memoryview(self._mm)
        self._views = [whole]
        self.control: qathw_emu_control | None = qathw_emu_control.from_buffer(self._mm)
        self.control_words = self._keep(whole[: emulated.CONTROL_PAGE_SIZE].cast("I"))
        self.control_u64 = self._keep(whole[: emulated.CONTROL_PAGE_SIZE].cast("Q"))
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
