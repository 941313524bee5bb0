"""Shared test rigs: an emulated endpoint file, its device model and the driver on top.

A :class:`Rig` runs the device in this process, stepped by hand (``rig.step()``), so
every test is deterministic; the mailbox waits by stepping the device too. The device's
clock is the rig's (``rig.advance(seconds)``), and the endpoint looks for device events on
every empty poll (``event_interval=0``). Tests of the thread and process modes build their
own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fakedev import endpoint_file
from fakedev.device import Device, Phase
from fakedev.services import ServiceHandler
from qathw import ids
from qathw.endpoint import Endpoint, open_emulated
from qathw.fw.common import HDR_FLAG_VALID, NULL_REQ_SERV_ID, ServiceType


@dataclass
class Rig:
    path: Path
    device: Device
    endpoint: Endpoint
    now: float = 0.0

    def step(self, times: int = 1) -> int:
        return sum(self.device.step() for _ in range(times))

    def advance(self, seconds: float) -> None:
        """Move the device's clock on (restart timeouts, removal, coalescing delays)."""
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def phase(self) -> Phase:
        """The device's phase, read afresh (a call: type checkers do not pin it)."""
        return self.device.phase

    def close(self) -> None:
        self.endpoint.close()
        self.device.close()


def make_rig(
    tmp_path: Path,
    *,
    device: str = "4xxxvf",
    ring_service_map: int | None = None,
    handlers: Mapping[int, ServiceHandler] | None = None,
    connect: bool = True,
    size: int = 4 << 20,
) -> Rig:
    path = tmp_path / f"{device}.qat"
    endpoint_file.create(path, device, size=size)
    kwargs: dict[str, object] = {"handlers": handlers}
    if ring_service_map is not None:
        kwargs["ring_service_map"] = ring_service_map
    holder: list[Rig] = []
    dev = Device(path, clock=lambda: holder[0].now, **kwargs)  # type: ignore[arg-type]
    # The mailbox waits by stepping whichever device the rig has now (a test may swap it).
    ep = open_emulated(
        path, mailbox_idle=lambda: holder[0].device.step(), mailbox_timeout=0.5, event_interval=0
    )
    rig = Rig(path, dev, ep)
    holder.append(rig)
    if connect:
        ep.connect()
    return rig


def fake_ivshmem_dir(root: Path, endpoint: Path, bdf: str = "0000:00:04.0") -> Path:
    """The least of a sysfs PCI device directory: an ivshmem function whose resource2 is
    the endpoint file (what ``fakedev.sysfs`` builds in full)."""
    devdir = root / "sys" / "bus" / "pci" / "devices" / bdf
    devdir.mkdir(parents=True)
    (devdir / "vendor").write_text(f"0x{ids.IVSHMEM_VENDOR_ID:04x}\n")
    (devdir / "device").write_text(f"0x{ids.IVSHMEM_DEVICE_ID:04x}\n")
    os.symlink(endpoint, devdir / "resource2")
    return devdir


def null_requests(opaques: range | list[int], size: int = 128) -> npt.NDArray[np.uint8]:
    """NULL requests (service 0, command 1, valid) with the given opaque cookies."""
    ops = np.asarray(list(opaques), dtype="<u8")
    rows = np.zeros((len(ops), size), np.uint8)
    rows[:, 1] = NULL_REQ_SERV_ID
    rows[:, 2] = ServiceType.NULL
    rows[:, 3] = HDR_FLAG_VALID
    rows[:, 24:32] = ops.view(np.uint8).reshape(-1, 8)
    return rows
