"""A frontend and its backend in one process, the backend stepped by hand.

The backend is a split driver's (``Device.connect``: features, an epoch, InitWait, banks
serviced only once linked), so the frontend's side of the protocol can be watched one step
at a time: :func:`stepped` opens the endpoint after the backend started, as a guest does;
:func:`replace_backend` drops the backend without a word (a crash: its lock goes with it)
and starts another on the file. The control page is read and written through the file
(:func:`page`, :func:`poke`), as host tooling does, so no view of a mapping outlives its
device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fakedev import endpoint_file
from fakedev.device import Device
from qathw import emulated
from qathw.endpoint import open_emulated
from qathw.service.buffers import DATA_ALIGN, DeviceBuffer, lines
from qathw.service.completion import Channel
from qathw.service.offers import EndpointOffer
from tests.transport.emu import Rig


def stepped(
    tmp_path: Path, device: str = "4xxxvf", *, size: int = 4 << 20, **device_args: Any
) -> Rig:
    """A connected backend on a new endpoint file, then the frontend opened and connected.

    The frontend looks for events on every empty poll (``event_interval=0``); its mailbox
    waits by stepping whichever device the rig holds.
    """
    path = tmp_path / f"{device}.qat"
    endpoint_file.create(path, device, size=size)
    holder: list[Rig] = []
    dev = Device(path, clock=lambda: holder[0].now, **device_args)
    dev.connect()
    ep = open_emulated(
        path, mailbox_idle=lambda: holder[0].device.step(), mailbox_timeout=0.5, event_interval=0
    )
    rig = Rig(path, dev, ep)
    holder.append(rig)
    ep.connect()
    rig.step()  # the backend sees the handshake: Connected
    return rig


def replace_backend(rig: Rig, **device_args: Any) -> Device:
    """The backend dies without a word (no Closing, no Closed) and another takes the file."""
    rig.device.close()  # its lock goes with it, as with SIGKILL
    rig.device = Device(rig.path, clock=rig.clock, **device_args)
    rig.device.connect()
    return rig.device


def page(rig: Rig) -> emulated.ControlInfo:
    """The control page as it is now."""
    return endpoint_file.read_info(rig.path)


def links(rig: Rig) -> dict[int, tuple[int, int]]:
    """Each bank's link: ``bank -> (epoch, suspend_ack)``."""
    raw = rig.path.read_bytes()[: emulated.LINKS_END]
    num_banks = page(rig).num_banks
    return {ln.bank: (ln.epoch, ln.suspend_ack) for ln in emulated.read_links(raw, num_banks)}


def poke(rig: Rig, field: str, value: int) -> None:
    """Write one integer field of the control page, as another party would."""
    desc = getattr(emulated.qathw_emu_control, field)
    fd = os.open(rig.path, os.O_RDWR)
    try:
        os.pwrite(fd, value.to_bytes(desc.size, "little"), desc.offset)
    finally:
        os.close(fd)


def poke_link(rig: Rig, bank: int, epoch: int) -> None:
    """Write bank ``bank``'s link epoch, as a (confused or hostile) frontend would."""
    at = emulated.link_offset(bank) + emulated.qathw_emu_bank_link.epoch.offset
    fd = os.open(rig.path, os.O_RDWR)
    try:
        os.pwrite(fd, epoch.to_bytes(8, "little"), at)
    finally:
        os.close(fd)


def poke_features(rig: Rig, **fields: int) -> None:
    """Overwrite some of the published features (a file recreated with other services)."""
    base = emulated.qathw_emu_control.features.offset
    fd = os.open(rig.path, os.O_RDWR)
    try:
        for name, value in fields.items():
            desc = getattr(emulated.qathw_emu_features, name)
            os.pwrite(fd, value.to_bytes(desc.size, "little"), base + desc.offset)
    finally:
        os.close(fd)


def channel(rig: Rig, bank: int = 1, *, resubmit: bool = True, slots: int = 64) -> Channel:
    """A completion channel on a ring pair of ``bank`` (sym on the default 4xxxvf map)."""
    ep = rig.endpoint
    pool = ep.bank_memory(bank)
    pair = ep.ring_pair(bank, slots=slots, pool=pool)
    return Channel(
        pair,
        pool,
        ep,
        name=f"bank {bank}",
        resubmit=resubmit,
        timeout=2.0,
        offer=EndpointOffer(ep.kind.generation, ep.kind.class_name, ep.capabilities),
        liveness=ep,
    )


def restart(rig: Rig, ch: Channel) -> None:
    """A whole device restart, stepped and looked at until the function is back."""
    rig.device.inject("restart")
    for _ in range(8):
        rig.step()
        rig.advance(0.5)
        ch.poll()
    assert rig.endpoint.watch.state.value == "running"


def alloc(ch: Channel, size: int) -> DeviceBuffer:
    """A buffer of the caller's in the channel's device memory (as ``instance.alloc``)."""
    return DeviceBuffer(ch.pool.alloc(lines(size), align=DATA_ALIGN), ch.pool, ch.owner, 0, size)
