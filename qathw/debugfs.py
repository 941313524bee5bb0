"""The QAT driver's debugfs directory of a PF: ``<debugfs>/qat_<class>_<bdf>/``.

``dev_cfg`` (the driver's configuration store) exists from probe on; ``heartbeat/``,
``fw_counters`` and ``telemetry/`` only while the device is up, and only for PFs.
debugfs is root-only on a normal system: without privilege every field reads as
``"access denied"``.

Source: Linux ``Documentation/ABI/testing/debugfs-driver-qat`` and ``adf_dbgfs.c``,
``adf_cfg.c``, ``adf_fw_counters.c``, ``adf_heartbeat_dbgfs.c``
(docs/hardware.md#debugfs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from qathw import sysfsio
from qathw.paths import HostRoot
from qathw.pci import AttrReader
from qathw.sysfsio import SysfsIO


def directory(host: HostRoot, class_name: str, bdf: str) -> Path:
    """``<debugfs>/qat_<class>_<bdf>``: the driver's per-device directory.

    Args:
        host: the host root.
        class_name: the kernel class name (``4xxx`` also for 401xx and 402xx).
        bdf: the full PCI address, ``0000:6b:00.0``.

    Returns:
        The path (which may not exist).
    """
    return host.debugfs / f"qat_{class_name}_{bdf}"


@dataclass(frozen=True)
class Heartbeat:
    """``heartbeat/``: ``status`` 0 alive, -1 unresponsive; query counters."""

    status: int | None
    queries_sent: int | None
    queries_failed: int | None

    @property
    def alive(self) -> bool | None:
        return None if self.status is None else self.status == 0


@dataclass(frozen=True)
class FwCounter:
    """One row of ``fw_counters``: requests and responses seen by one accel engine."""

    engine: int
    requests: int
    responses: int


@dataclass(frozen=True)
class DebugfsInfo:
    """What the driver's debugfs directory showed.

    Attributes:
        path: the directory.
        present: whether it exists (``None`` when debugfs itself could not be listed).
        dev_cfg: section → key → value of the configuration store.
        heartbeat: the heartbeat files, ``None`` when absent (device down, or gen2 < 6.6).
        fw_counters: one row per engine, ``None`` when absent.
        telemetry_control: ``telemetry/control`` (0 off, 1-4 on), ``None`` when absent.
        unreadable: field → reason.
    """

    path: Path
    present: bool | None
    dev_cfg: Mapping[str, Mapping[str, str]] | None = None
    heartbeat: Heartbeat | None = None
    fw_counters: tuple[FwCounter, ...] | None = None
    telemetry_control: int | None = None
    unreadable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def services(self) -> str | None:
        """``ServicesEnabled`` of the GENERAL section, when the store has one."""
        if self.dev_cfg is None:
            return None
        return self.dev_cfg.get("GENERAL", {}).get("ServicesEnabled")


def parse_dev_cfg(text: str) -> dict[str, dict[str, str]]:
    """Parse a ``dev_cfg`` dump: ``[SECTION]`` lines, then ``key = value`` lines."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and " = " in line:
            key, _, value = line.partition(" = ")
            current[key.strip()] = value.strip()
    return sections


def parse_fw_counters(text: str) -> tuple[FwCounter, ...]:
    """Parse ``fw_counters``: a header, then ``NN:`` + requests + responses per engine."""
    rows = []
    for line in text.splitlines():
        head, sep, rest = line.partition(":")
        if not sep or not head.strip().isdigit():
            continue
        values = rest.split()
        if len(values) >= 2 and values[0].isdigit() and values[1].isdigit():
            rows.append(FwCounter(int(head), int(values[0]), int(values[1])))
    return tuple(rows)


def read(host: HostRoot, class_name: str, bdf: str, *, io: SysfsIO | None = None) -> DebugfsInfo:
    """Read the debugfs directory of one QAT PF.

    Args:
        host: the host root.
        class_name: kernel class name of the PF.
        bdf: its address.
        io: the sysfs seam; the current one by default.

    Returns:
        What could be read; nothing raises for missing or unreadable files.
    """
    io = io or sysfsio.current()
    path = directory(host, class_name, bdf)
    r = AttrReader(io, path)
    names = r.names(name="debugfs")
    if names is None:
        if "debugfs" in r.unreadable:
            return DebugfsInfo(path, None, unreadable=MappingProxyType(dict(r.unreadable)))
        return DebugfsInfo(path, False)
    dev_cfg_text = r.text("dev_cfg", "dev_cfg") if "dev_cfg" in names else None
    heartbeat = None
    if "heartbeat" in names:
        heartbeat = Heartbeat(
            status=r.integer("heartbeat/status", "heartbeat"),
            queries_sent=r.integer("heartbeat/queries_sent", "heartbeat"),
            queries_failed=r.integer("heartbeat/queries_failed", "heartbeat"),
        )
    counters_text = r.text("fw_counters", "fw_counters") if "fw_counters" in names else None
    control = r.integer("telemetry/control", "telemetry") if "telemetry" in names else None
    return DebugfsInfo(
        path=path,
        present=True,
        dev_cfg=MappingProxyType(
            {k: MappingProxyType(v) for k, v in parse_dev_cfg(dev_cfg_text).items()}
        )
        if dev_cfg_text is not None
        else None,
        heartbeat=heartbeat,
        fw_counters=parse_fw_counters(counters_text) if counters_text is not None else None,
        telemetry_control=control,
        unreadable=MappingProxyType(dict(r.unreadable)),
    )
