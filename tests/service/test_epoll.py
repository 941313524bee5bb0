"""Epoll instances (``IsPolled = 2``): a file descriptor that real select/epoll wait on.

The device model signals a bank's eventfd when it posts responses on a ring whose
interrupt the driver enabled; the backend hands the eventfd out over its Unix socket.
"""

from __future__ import annotations

import asyncio
import os
import select
import selectors
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import qathw
from fakedev.device import Device
from fakedev.engine import LaHandler
from fakedev.memory import DeviceMemory
from qathw.endpoint import open_emulated
from qathw.errors import DeviceError
from qathw.fw.common import ServiceType
from qathw.service.completion import Handle
from tests.service import rig

KEY, IV = bytes(range(16)), bytes(16)


def _cbc(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def test_epoll_wakes_when_responses_arrive_and_stays_quiet_otherwise(live: rig.Host) -> None:
    with qathw.user_start("EPOLL") as held, qathw.open_instances(held) as insts:
        (ep0,) = insts.cy
        assert ep0.polling == "epoll"
        s = ep0.cipher("aes-128-cbc", KEY)
        ep = select.epoll()
        try:
            ep.register(ep0.fileno(), select.EPOLLIN)
            assert ep.poll(0.05) == []  # nothing in flight: nothing to say
            done: list[Handle[object]] = []
            h = ep0.submit(s.encrypt_op(b"q" * 64, IV), callback=done.append)
            deadline = time.monotonic() + 5
            while not done and time.monotonic() < deadline:
                if ep.poll(1.0):  # blocks in the kernel until the device signals
                    ep0.poll()
            assert done == [h] and h.result() == _cbc(b"q" * 64)
            assert ep.poll(0.05) == []  # poll() consumed the signal
        finally:
            ep.close()


def test_an_epoll_instance_works_with_selectors(live: rig.Host) -> None:
    with qathw.user_start("EPOLL") as held, qathw.open_instances(held) as insts:
        inst = insts.cy[0]
        s = inst.cipher("aes-128-cbc", KEY)
        sel = selectors.DefaultSelector()
        sel.register(inst, selectors.EVENT_READ)  # the instance itself is the file object
        handles = [inst.submit(s.encrypt_op(bytes([i]) * 16, IV)) for i in range(40)]
        while not all(h.done() for h in handles):
            for key, _ in sel.select(1.0):
                key.fileobj.poll()  # type: ignore[union-attr]
        sel.close()
        assert [h.result() for h in handles] == [_cbc(bytes([i]) * 16) for i in range(40)]


class _Slow:
    """The LA engine, 30 ms late: long enough that a spinning wait would show."""

    def __init__(self) -> None:
        self.engine = LaHandler()

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        time.sleep(0.03)
        return self.engine(request, memory)


@pytest.mark.parametrize(("section", "most"), [("EPOLL", 6), ("SSL", None)])
def test_an_epoll_instance_waits_on_its_fd_a_polled_one_polls(
    host: rig.Host, section: str, most: int | None
) -> None:
    with rig.environment(host), rig.running(host, {int(ServiceType.LA): _Slow()}):
        with qathw.user_start(section) as held, qathw.open_instances(held) as insts:
            inst = insts.cy[0]
            s = inst.cipher("aes-128-cbc", KEY)
            ch = inst.channel
            calls = 0
            inner = ch._poll

            def counted(limit: int | None = None) -> object:
                nonlocal calls
                calls += 1
                return inner(limit)

            ch._poll = counted  # type: ignore[assignment]
            for _ in range(3):
                assert s.encrypt(b"w" * 16, IV) == _cbc(b"w" * 16)
            if most is not None:
                assert calls <= 3 * most  # woken by the device, not by looking
            else:
                assert calls > 3 * 6  # a polled instance looks again and again


def test_asyncio_uses_the_fd_with_add_reader(live: rig.Host) -> None:
    with qathw.user_start("EPOLL") as held, qathw.open_instances(held) as insts:
        inst = insts.cy[0]
        s = inst.cipher("aes-128-cbc", KEY)

        async def main() -> list[object]:
            return list(
                await asyncio.gather(
                    *(inst.perform_async(s.encrypt_op(bytes([i]) * 32, IV)) for i in range(30))
                )
            )

        assert asyncio.run(main()) == [_cbc(bytes([i]) * 32) for i in range(30)]


def test_a_device_nobody_serves_interrupts_for_says_so(host: rig.Host) -> None:
    path = host.files["0000:00:10.0"]
    dev = Device(path)  # stepped by hand: no backend process, no interrupt server
    try:
        dev.connect()
        ep = open_emulated(path, mailbox_idle=dev.step, mailbox_timeout=0.5)
        try:
            ep.connect()
            pair = ep.ring_pair(1, slots=16, pool=ep.bank_memory(1))
            with pytest.raises(DeviceError) as info:
                ep.interrupt(pair)
            assert "no backend hands out interrupts" in info.value.what
            assert "IsPolled = 1" in str(info.value)
        finally:
            ep.close()
    finally:
        dev.close()


def test_an_emulated_endpoint_reached_through_vfio_has_no_interrupts(host: rig.Host) -> None:
    from fakedev import endpoint_file
    from qathw.endpoint import Endpoint
    from qathw.mmio import Mmio

    path = host.root / "pf"  # a PF-style endpoint: no mailbox to wait on
    endpoint_file.create(path, "4xxx", size=16 << 20)
    bar = Mmio.map_file(path, name="BAR2")
    with Endpoint.from_emulated_bar(bar, host_interrupts=False) as ep:
        pair = ep.ring_pair(1, slots=16, pool=ep.bank_memory(1))
        with pytest.raises(DeviceError) as info:
            ep.interrupt(pair)
    assert "ivshmem-plain in a guest" in info.value.what
    assert "no MSI-X vector, no INTx pin" in info.value.what
    assert info.value.hint == "use polled instances (IsPolled = 1) in the guest"


def test_eventfd_signals_are_only_sent_for_enabled_rings(live: rig.Host) -> None:
    # Interrupt disabled (INT_COL_EN bit cleared): the device must not signal.
    with qathw.user_start("EPOLL") as held, qathw.open_instances(held) as insts:
        inst = insts.cy[0]
        irq = inst.channel.interrupt
        assert irq is not None
        irq.disable()
        s = inst.cipher("aes-128-cbc", KEY)
        h = inst.submit(s.encrypt_op(b"d" * 16, IV))
        time.sleep(0.05)  # the device thread answers meanwhile
        assert select.select([irq.fileno()], [], [], 0.05)[0] == []
        irq.enable()
        assert h.result() == _cbc(b"d" * 16)
        assert os.get_blocking(irq.fileno()) is False
