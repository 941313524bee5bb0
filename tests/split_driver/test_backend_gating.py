"""Bank links: a backend services a bank only while it is linked under the backend's epoch.

docs/split-driver.md#bank-links: the frontend writes a bank's link (the epoch it knows)
right after it has programmed the bank's rings. A backend never resumes work an earlier
backend left half done (the bug: a new backend on the same file took the requests the
killed one had left in the rings, and ran half-transformed in-place requests again), and
when a link becomes the epoch the device forgets its own state of the bank's rings and
starts from the registers the frontend just programmed.

The rings are programmed by qathw's ring pair; the links are written here by hand, over
whatever the frontend wrote, so each test decides what is linked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakedev.device import Device
from qathw.endpoint import Endpoint, open_emulated
from qathw.transport.ring import RingPair
from tests.split_driver.helpers import Page, new_endpoint
from tests.transport.emu import null_requests

BANK = 1  # a SYM bank of the default map: 128-byte requests


@dataclass
class Rig:
    path: Path
    devices: list[Device]  # the current backend last
    endpoint: Endpoint
    page: Page
    pair: RingPair

    @property
    def device(self) -> Device:
        return self.devices[-1]

    @property
    def epoch(self) -> int:
        return self.page.get("backend_epoch")

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.device.step()

    def opaques(self) -> list[int]:
        return [int(x) for x in self.pair.poll()["opaque_data"]]

    def tx_head_and_tail(self) -> tuple[int, int]:
        bank, lay = self.pair.bank, self.pair.bank.layout
        tx = self.pair.tx_ring
        return bank.read_ring(lay.ring_head, tx), bank.read_ring(lay.ring_tail, tx)


def _rig(tmp_path: Path, *, connect: bool) -> Rig:
    path = new_endpoint(tmp_path / "ep.qat")
    devices = [Device(path)]
    if connect:
        devices[0].connect()
    ep = open_emulated(path, mailbox_idle=lambda: devices[-1].step(), mailbox_timeout=2.0)
    ep.connect()
    pair = ep.ring_pair(BANK, slots=16)
    return Rig(path, devices, ep, Page(path), pair)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = _rig(tmp_path, connect=True)
    yield r
    r.endpoint.close()
    r.page.close()
    for dev in r.devices:
        dev.disconnect()
        dev.close()


def test_a_bank_linked_under_another_epoch_is_not_serviced_until_linked(rig: Rig) -> None:
    rig.page.link(BANK, rig.epoch ^ 0x5A)  # stale: programmed under another backend
    rig.pair.submit(null_requests(range(3)))
    rig.step(3)
    head, tail = rig.tx_head_and_tail()
    assert (head, tail) == (0, 3 * 128)  # the doorbell rang; nothing was taken
    assert rig.opaques() == []
    assert not rig.device.linked(BANK)
    rig.page.link(BANK, rig.epoch)
    rig.step()
    assert rig.device.linked(BANK)
    assert rig.opaques() == [0, 1, 2]


def test_a_bank_without_a_link_is_not_serviced(rig: Rig) -> None:
    rig.page.link(BANK, 0)
    rig.pair.submit(null_requests(range(2)))
    rig.step(2)
    assert rig.opaques() == [] and rig.tx_head_and_tail()[0] == 0


def test_only_the_linked_bank_is_serviced(rig: Rig) -> None:
    other = rig.endpoint.ring_pair(3, slots=16)
    rig.page.link(BANK, rig.epoch)
    rig.page.link(3, 0)
    rig.pair.submit(null_requests(range(2)))
    other.submit(null_requests(range(10, 12)))
    rig.step(2)
    assert rig.opaques() == [0, 1]
    assert [int(x) for x in other.poll()["opaque_data"]] == []


def test_a_new_backend_does_not_take_what_the_old_one_left_in_the_rings(rig: Rig) -> None:
    rig.page.link(BANK, rig.epoch)
    rig.pair.submit(null_requests(range(2)))
    rig.step()
    assert rig.opaques() == [0, 1]
    rig.pair.submit(null_requests(range(2, 5)))  # queued when the backend dies
    old_epoch = rig.epoch
    rig.device.close()  # killed: no Closed, no disconnect
    rig.devices.append(Device(rig.path))
    rig.device.connect()
    assert rig.epoch != old_epoch
    rig.step(3)
    assert rig.tx_head_and_tail() == (2 * 128, 5 * 128)  # left where the old one stopped
    assert rig.opaques() == []


def test_a_pair_refused_for_a_bad_doorbell_is_serviced_again_once_its_bank_is_relinked(
    rig: Rig,
) -> None:
    # A refused ring is not looked at again until it is programmed again (fakedev/csr.py);
    # a bank linked anew was programmed again, even when its registers read the same.
    rig.page.link(BANK, rig.epoch)
    bank, lay, tx = rig.pair.bank, rig.pair.bank.layout, rig.pair.tx_ring
    bank.write_ring(lay.ring_tail, tx, 0x13)  # not a slot: a loud device error
    rig.step()
    assert rig.page.get("device_error_count") == 1
    bank.write_ring(lay.ring_tail, tx, 0)
    rig.pair.submit(null_requests(range(2)))
    rig.step(2)
    assert rig.tx_head_and_tail() == (0, 2 * 128)  # the same configuration: still refused
    rig.page.link(BANK, 0)
    rig.step()
    rig.page.link(BANK, rig.epoch)
    rig.step()
    assert rig.opaques() == [0, 1]
    assert rig.page.get("device_error_count") == 1


def test_a_hostile_link_only_means_not_serviced(rig: Rig) -> None:
    for bank in range(4):
        rig.page.link(bank, (1 << 64) - 1 - bank)
    rig.page.ack(BANK, 0xFFFF_FFFF)
    rig.pair.submit(null_requests(range(2)))
    rig.step(3)
    assert rig.opaques() == []
    assert rig.page.get("device_error_count") == 0 and rig.page.get("defect_count") == 0


def test_a_device_never_connected_services_every_bank_without_links(tmp_path: Path) -> None:
    r = _rig(tmp_path, connect=False)
    try:
        r.page.link(BANK, 0)
        r.pair.submit(null_requests(range(3)))
        r.step()
        assert r.device.linked(BANK)
        assert r.opaques() == [0, 1, 2]
    finally:
        r.endpoint.close()
        r.page.close()
        r.device.close()
