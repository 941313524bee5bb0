"""Register semantics of the device model (fakedev.csr): status words, arbitration,
validation of what the host programs, and resets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw.transport import csr
from qathw.transport.bank import Bank
from tests.transport.emu import Rig, make_rig, null_requests


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.close()


def test_e_stat_follows_the_rings(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16, head_write_threshold=15)
    bank = pair.bank
    rig.step()
    assert bank.empty_status() == 0b11  # both rings empty
    rig.device.file.control_words[31] = 0  # no bus master: requests stay queued
    pair.submit(null_requests([1]))
    rig.step()
    assert bank.empty_status() & 0b01 == 0  # request ring not empty
    rig.device.file.control_words[31] = 0x6
    rig.step()
    assert bank.empty_status() == 0b01  # consumed; a response not acknowledged yet
    pair.poll()
    pair.flush_head()
    rig.step()
    assert bank.empty_status() == 0b11


def test_a_ring_out_of_arbitration_is_not_serviced(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.bank.arb_disable(pair.tx_ring)
    pair.submit(null_requests([1, 2]))
    assert rig.step(3) == 0
    pair.bank.arb_enable(pair.tx_ring)
    assert rig.step() == 2
    assert list(pair.poll()["opaque_data"]) == [1, 2]


def test_status_registers_are_plain_storage(rig: Rig) -> None:
    bank = rig.endpoint.bank(2)
    bank.mmio.write32(bank.layout.int_col_ctl, 0x800027FF)
    rig.step()
    assert bank.mmio.read32(bank.layout.int_col_ctl) == 0x800027FF
    assert bank.mmio.read32(bank.layout.stat or 0) == 0


def _program_raw(
    bank: Bank,
    tx_iova: int,
    tx_config: int,
    rx_iova: int,
    rx_config: int,
) -> None:
    """Program ring pair 0/1 with raw values, as a driver with a bug might."""
    lay = bank.layout
    bank.write_ring(lay.ring_lbase, 0, tx_iova & 0xFFFFFFFF)
    bank.write_ring(lay.ring_ubase, 0, tx_iova >> 32)
    bank.write_ring(lay.ring_lbase, 1, rx_iova & 0xFFFFFFFF)
    bank.write_ring(lay.ring_ubase, 1, rx_iova >> 32)
    bank.write_ring(lay.ring_config, 0, tx_config)
    bank.write_ring(lay.ring_config, 1, rx_config)
    bank.arb_enable(0)


# (what is wrong, tx offset, tx code, rx offset, rx code, expected device message)
MISPROGRAMMED = [
    ("size code", 0x0, 0x11, 0x10000, 0x04, "size code 0x11 out of range"),
    ("unaligned base", 0x800, 0x06, 0x10000, 0x04, "not aligned to its size"),
    ("outside memory", -0x1000_0000, 0x06, 0x10000, 0x04, "outside device memory"),
    ("overlap", 0x0, 0x06, 0x0, 0x04, "overlap"),
]


@pytest.mark.parametrize(
    ("what", "tx_off", "tx_code", "rx_off", "rx_code", "message"),
    MISPROGRAMMED,
    ids=[m[0] for m in MISPROGRAMMED],
)
def test_a_misprogrammed_ring_is_a_loud_device_error(
    rig: Rig, what: str, tx_off: int, tx_code: int, rx_off: int, rx_code: int, message: str
) -> None:
    # Bank 1 serves SYM: 128-byte requests; code 6 = 4 KiB = 32 requests, code 4 = 1 KiB
    # = 32 responses: a well-formed pair, except for what each case breaks.
    base = rig.endpoint.dma.alloc(0x20000, 0x10000).iova
    bank = rig.endpoint.bank(1)
    _program_raw(bank, base + tx_off, tx_code, base + rx_off, rx_code)
    bank.write_ring(bank.layout.ring_tail, 0, 128)  # one request (all 0x00: unsupported)
    assert rig.step() == 0
    assert message in rig.device.errors[-1]
    assert bank.exception_status() == 0b11
    ctl = rig.device.file.control
    assert ctl is not None and message in ctl.device_error.decode()
    count = ctl.device_error_count
    del ctl
    rig.step(3)
    assert rig.device.file.control is not None
    assert rig.device.file.control.device_error_count == count  # reported once, not per step
    # Programmed properly again, the pair works and the exception clears.
    _program_raw(bank, base, 0x06, base + 0x10000, 0x04)
    assert rig.step() == 1
    assert bank.exception_status() == 0


def test_a_tail_that_is_not_a_slot_boundary(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.bank.write_ring(pair.bank.layout.ring_tail, pair.tx_ring, 100)
    rig.step()
    assert "TX tail 0x64 is not a slot" in rig.device.errors[-1]


def test_an_unprogrammed_ring_is_ignored_quietly(rig: Rig) -> None:
    bank = rig.endpoint.bank(1)
    bank.arb_enable(0)
    bank.write_ring(bank.layout.ring_tail, 0, 128)
    assert rig.step(2) == 0
    assert not rig.device.errors


def test_reprogramming_a_pair_resets_the_device_pointers(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.submit(null_requests(range(5)))
    rig.step()
    pair.poll()
    # The same base and size again: only the zeroed TX HEAD / RX TAIL tell the device.
    # Five new requests put the tail exactly where the device's old head was.
    pair.program()
    pair.submit(null_requests(range(100, 105)))
    rig.step()
    assert list(pair.poll()["opaque_data"]) == [100, 101, 102, 103, 104]


def test_ring_pair_reset_drops_work_in_flight(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    rig.device.file.control_words[31] = 0  # hold the device
    pair.submit(null_requests(range(3)))
    assert rig.endpoint.mailbox is not None
    rig.device.file.control_words[31] = 0x6
    rig.device.reset_bank(1)  # what RP_RESET does
    assert rig.step() == 0  # nothing left to answer: the pair must be programmed again
    assert pair.bank.read_ring(pair.bank.layout.ring_config, pair.tx_ring) == 0


def test_size_codes_used_by_the_fake_are_the_reference_ones() -> None:
    assert csr.ring_bytes(0x06) == 4096 and csr.ring_bytes(0x04) == 1024


def test_request_and_response_rings_may_hold_different_numbers_of_messages(rig: Rig) -> None:
    # Linux adf_create_ring sizes each ring on its own; the device takes requests only while
    # the response ring has room. Bank 1 (SYM): an 8 KiB request ring (64 requests of 128
    # bytes) with a 1 KiB response ring (32 responses).
    base = rig.endpoint.dma.alloc(0x20000, 0x10000).iova
    bank = rig.endpoint.bank(1)
    _program_raw(bank, base, 0x07, base + 0x10000, 0x04)
    requests = rig.device.memory.view(base, 40 * 128)
    requests[:] = null_requests(range(40)).tobytes()
    requests.release()
    responses = rig.device.memory.view(base + 0x10000, 0x400)
    responses[:] = b"\x7f" * 0x400
    responses.release()
    bank.write_ring(bank.layout.ring_tail, 0, 40 * 128)
    assert rig.step() == 31  # the response ring holds 32 less the one kept free
    assert not rig.device.errors
    bank.write_ring(bank.layout.ring_head, 1, 31 * 32)  # the host takes them
    assert rig.step() == 9  # the rest follow
