"""Gen4 device telemetry from debugfs: ``qat_<class>_<bdf>/telemetry/``.

``control`` switches collection on (``1``: current values only; ``2``-``4``: also
min/max/average over that many one-second samples) or off (``0``). ``device_data``
holds the device counters; ``rp_A_data`` .. ``rp_D_data`` the counters of the ring
pair each slot was told to watch. Reads while collection is off fail with ``EPERM``.

Each line is a counter name left-justified to 23 columns and its value right-justified
to 20; with history, three more 20-column fields: min, max, avg. The first line is
``sample_cnt``; ring-pair files add ``rp_num`` and ``service_type``.

Source: Linux ``debugfs-driver-qat_telemetry``, ``adf_tl_debugfs.c``
(docs/hardware.md#debugfs).

An emulated endpoint has no debugfs: its device counts its own work in the control page
(:func:`qathw.emulated.read_counters`), always on, per bank. :class:`EndpointTelemetry`
reads those counters as the same :class:`Sample` (docs/hardware.md#fake-counters).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from qathw import debugfs, emulated, sysfsio
from qathw.errors import DeviceAccessError, DeviceError, DeviceStateError, QatError
from qathw.paths import HostRoot
from qathw.sysfsio import NOT_KERNEL_HINT, SysfsIO

MAX_HISTORY = 4
RP_SLOTS = ("A", "B", "C", "D")
#: The first line of every data file the kernel prints (``tl_print_msg_cnt``).
FIRST_COUNTER = "sample_cnt"
#: The counters of an emulated endpoint, per bank and (summed) per device.
ENDPOINT_COUNTERS = ("requests", "request_bytes", "response_bytes")


@dataclass(frozen=True)
class Counter:
    """One telemetry counter; ``min``/``max``/``avg`` are present when history is on."""

    name: str
    value: int
    min: int | None = None
    max: int | None = None
    avg: int | None = None


@dataclass(frozen=True)
class Sample:
    """One read of a telemetry file."""

    counters: tuple[Counter, ...]
    rp_num: int | None = None
    service_type: str | None = None

    def get(self, name: str) -> Counter | None:
        """The counter called ``name``, if the file had it."""
        for c in self.counters:
            if c.name == name:
                return c
        return None

    @property
    def sample_cnt(self) -> int | None:
        c = self.get("sample_cnt")
        return c.value if c else None


def parse(text: str) -> Sample:
    """Parse ``device_data`` or ``rp_<X>_data``.

    Args:
        text: the file's content.

    Returns:
        The counters in file order.

    Raises:
        ValueError: a line is neither a counter nor ``rp_num``/``service_type``.
    """
    counters = []
    rp_num = None
    service = None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        name, values = parts[0], parts[1:]
        if name == "service_type" and len(values) == 1:
            service = values[0]
            continue
        try:
            nums = [int(v) for v in values]
        except ValueError:
            raise ValueError(f"unexpected telemetry line {line!r}") from None
        if name == "rp_num" and len(nums) == 1:
            rp_num = nums[0]
        elif len(nums) == 1:
            counters.append(Counter(name, nums[0]))
        elif len(nums) == 4:
            counters.append(Counter(name, *nums))
        else:
            raise ValueError(f"unexpected telemetry line {line!r}")
    return Sample(tuple(counters), rp_num, service)


def format_line(counter: Counter) -> str:
    """One line as the kernel prints it (name to 23 columns, values to 20)."""
    line = f"{counter.name:<23}{counter.value:>20}"
    if counter.min is not None:
        line += f"{counter.min:>20}{counter.max:>20}{counter.avg:>20}"
    return line


class Telemetry:
    """The telemetry files of one PF.

    Args:
        host: the host root.
        class_name: kernel class name of the PF (``4xxx``, ``420xx``).
        bdf: the PF's address.
        io: the sysfs seam; the current one by default.
    """

    def __init__(
        self, host: HostRoot, class_name: str, bdf: str, *, io: SysfsIO | None = None
    ) -> None:
        self.bdf = bdf
        self.path = debugfs.directory(host, class_name, bdf) / "telemetry"
        self.io = io or sysfsio.current()

    def _error(self, exc: OSError, what: str, path: Path) -> QatError:
        if exc.errno == errno.ENOENT:
            return DeviceStateError(
                f"{self.bdf} has no telemetry ({path} does not exist)",
                hint="telemetry exists on gen4 PFs that are up, with Linux 6.8 or later, "
                "and debugfs mounted; try 'qathw up " + self.bdf + "'",
                errno=exc.errno,
                path=path,
            )
        if exc.errno == errno.EACCES:
            return DeviceAccessError(
                f"{what}: permission denied; 'qathw telemetry' needs root",
                hint="run it as root (sudo qathw ...): the kernel's debugfs is root's only",
                errno=exc.errno,
                path=path,
            )
        if exc.errno == errno.EPERM:
            return DeviceStateError(
                f"telemetry of {self.bdf} is not enabled",
                hint=f"enable it with 'qathw telemetry {self.bdf} --enable' (as root)",
                errno=exc.errno,
                path=path,
            )
        return DeviceError.from_oserror(exc, what)

    def control(self) -> int:
        """0 when collection is off, else the number of samples kept (1-4)."""
        path = self.path / "control"
        try:
            return int(self.io.read(path).strip(b"\x00\n "))
        except OSError as exc:
            raise self._error(exc, f"reading {path}", path) from exc

    def set_control(self, samples: int) -> None:
        """Start (``samples`` 1-4) or stop (``0``) collection; restarts it if running.

        Raises:
            ValueError: ``samples`` is not in 0..4.
            QatError: the kernel refused (not root, no telemetry, device down).
        """
        if not 0 <= samples <= MAX_HISTORY:
            raise ValueError(f"telemetry history must be 0-{MAX_HISTORY}, not {samples}")
        path = self.path / "control"
        try:
            self.io.write(path, f"{samples}\n".encode())
        except OSError as exc:
            raise self._error(exc, f"writing {samples} to {path}", path) from exc

    def select_rp(self, slot: str, ring_pair: int) -> None:
        """Make ``rp_<slot>_data`` watch ``ring_pair``.

        Raises:
            ValueError: unknown slot.
            QatError: the kernel refused (ring pair out of range: EINVAL).
        """
        if slot not in RP_SLOTS:
            raise ValueError(f"ring-pair slot must be one of {', '.join(RP_SLOTS)}, not {slot!r}")
        path = self.path / f"rp_{slot}_data"
        try:
            self.io.write(path, f"{ring_pair}\n".encode())
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise DeviceStateError(
                    f"{self.bdf} refused ring pair {ring_pair} for slot {slot}",
                    hint="ring pairs are numbered 0 to num_rps-1 (see 'qathw show')",
                    errno=exc.errno,
                    path=path,
                ) from exc
            raise self._error(exc, f"writing {ring_pair} to {path}", path) from exc

    def device(self) -> Sample:
        """Read ``device_data``."""
        return self._read(self.path / "device_data")

    def ring_pair(self, slot: str) -> Sample:
        """Read ``rp_<slot>_data``."""
        if slot not in RP_SLOTS:
            raise ValueError(f"ring-pair slot must be one of {', '.join(RP_SLOTS)}, not {slot!r}")
        return self._read(self.path / f"rp_{slot}_data")

    def _read(self, path: Path) -> Sample:
        try:
            text = self.io.read(path).decode("utf-8", "replace")
        except OSError as exc:
            raise self._error(exc, f"reading {path}", path) from exc
        first = text.split(maxsplit=1)[:1]
        if first != [FIRST_COUNTER]:
            # The kernel prints sample_cnt first, or fails the read (EPERM): an empty file,
            # or one holding what was written to it, is a plain file, not debugfs.
            raise DeviceError(
                f"{path} is not the kernel's telemetry (it does not begin with "
                f"{FIRST_COUNTER}: {text[:40]!r})",
                hint=NOT_KERNEL_HINT,
                path=path,
            )
        try:
            return parse(text)
        except ValueError as exc:
            raise DeviceError(
                f"cannot parse {path}: {exc}",
                hint="this kernel's telemetry format is new to qathw; please report it",
                path=path,
            ) from exc


class EndpointTelemetry:
    """The device counters of an emulated endpoint, read from its control page.

    Args:
        resource: the endpoint's memory (``resource2`` of its ivshmem function).
        bdf: the function's address, for messages.
        num_banks: the endpoint's bank count (its control page says).
        io: the sysfs seam; the current one by default.
    """

    def __init__(
        self, resource: Path, bdf: str, num_banks: int, *, io: SysfsIO | None = None
    ) -> None:
        self.path = resource
        self.bdf = bdf
        self.banks = min(num_banks, emulated.MAX_COUNTED_BANKS)
        self.io = io or sysfsio.current()

    def counters(self) -> tuple[emulated.BankCounters, ...]:
        """Every counted bank's counters, bank 0 first.

        Raises:
            QatError: the endpoint's memory cannot be read (root is needed on a real
                ivshmem function) or is too short.
        """
        try:
            raw = self.io.read_mapped(self.path, emulated.COUNTERS_END)
        except PermissionError as exc:
            raise DeviceAccessError(
                f"reading {self.path}: permission denied",
                hint="an ivshmem function's BAR2 is readable by root only; run as root",
                errno=exc.errno,
                path=self.path,
            ) from exc
        except (OSError, ValueError) as exc:
            raise DeviceError(
                f"cannot read the counters of {self.bdf} from {self.path}: {exc}",
                hint="the endpoint file is gone or truncated; 'qathw show "
                + self.bdf
                + "' says what is there",
                path=self.path,
            ) from exc
        return emulated.read_counters(raw, self.banks)

    def device(self) -> Sample:
        """The counters summed over the banks."""
        banks = self.counters()
        return Sample(
            tuple(Counter(name, sum(getattr(b, name) for b in banks)) for name in ENDPOINT_COUNTERS)
        )

    def ring_pair(self, bank: int) -> Sample:
        """One bank's counters (``rp_num`` is the bank).

        Raises:
            DeviceStateError: no such bank.
        """
        if not 0 <= bank < self.banks:
            raise DeviceStateError(
                f"{self.bdf} has no counted bank {bank}",
                hint=f"banks are numbered 0 to {self.banks - 1} (see 'qathw show {self.bdf}')",
            )
        b = self.counters()[bank]
        return Sample(tuple(Counter(n, getattr(b, n)) for n in ENDPOINT_COUNTERS), rp_num=bank)
