"""Register and ring rules where qathw and fakedev must both follow the hardware.

Numbers are written out from docs/hardware.md (#ring-csrs, #interrupts, #submit-and-poll),
never computed from the tables under test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.device import Device
from qathw.endpoint import open_emulated
from qathw.errors import TransportError
from qathw.transport import csr
from qathw.transport.interrupts import BankInterrupt
from qathw.transport.mailbox import PfEvent
from qathw.transport.pfvf import Pf2VfType
from tests.transport.emu import Rig, make_rig, null_requests

PF2VM = 0x1008
INT_COL_EN, INT_COL_CTL, EXP_STAT = 0x17C, 0x180, 0x188


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.close()


# --- item 12: gen2 rings 0 and 1 are asym (64-byte requests) ------------------------------


def test_the_default_ring_pair_of_a_c6xx_vf_is_asym_with_64_byte_requests(
    tmp_path: Path,
) -> None:
    # gen2 has no ring-to-service map: request rings 0 and 1 carry 64-byte asym requests
    # (DPDK qat_gen1_qps), the others 128-byte ones.
    path = tmp_path / "c6xxvf.qat"
    endpoint_file.create(path, "c6xxvf", size=1 << 20)
    with Device(path) as dev, open_emulated(path) as ep:
        pair = ep.ring_pair(0, slots=16)
        assert (pair.tx_ring, pair.request_size) == (0, 64)
        assert ep.ring_pair(0, tx_ring=2, slots=16).request_size == 128
        pair.submit(null_requests(range(3), 64))
        dev.step()
        assert list(pair.poll()["opaque_data"]) == [0, 1, 2]
        assert not dev.errors


# --- item 8: INT_COL_CTL bit 31 enables coalescing ----------------------------------------


def test_int_col_ctl_bit_31_turns_on_coalescing_with_a_delay_in_256_ns_units() -> None:
    assert csr.int_col_ctl(10_000) == 0x8000_0027  # qatlib's 10 us default: count 39
    assert csr.int_col_ctl(0) == 0  # no coalescing: an interrupt per response
    assert csr.coalescing_delay_ns(0x8000_27FF) == 0x27FF * 256  # Linux's: about 2.6 ms
    assert csr.coalescing_delay_ns(0x27FF) is None  # bit 31 clear: no delay at all


def test_qathw_enables_a_ring_interrupt_with_qatlibs_10_us_coalescing(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    irq = BankInterrupt(pair.bank, pair.rx_ring, os.eventfd(0))
    try:
        irq.enable()
        assert pair.bank.mmio.read32(INT_COL_EN) & 1 << pair.rx_ring
        assert pair.bank.mmio.read32(INT_COL_CTL) == 0x8000_0027
    finally:
        irq.close()


def _interrupting_pair(rig: Rig, col_ctl: int) -> tuple[int, object]:
    pair = rig.endpoint.ring_pair(1, slots=16)
    fd = rig.device.interrupt_eventfd(1)
    pair.bank.mmio.write32(INT_COL_EN, 1 << pair.rx_ring)
    pair.bank.mmio.write32(INT_COL_CTL, col_ctl)
    return fd, pair


def _signalled(fd: int) -> bool:
    try:
        return os.eventfd_read(fd) > 0
    except BlockingIOError:
        return False


def test_without_coalescing_every_response_interrupts_at_once(rig: Rig) -> None:
    fd, pair = _interrupting_pair(rig, 0)
    pair.submit(null_requests([1]))  # type: ignore[attr-defined]
    rig.step()
    assert _signalled(fd)


def test_with_coalescing_the_interrupt_waits_for_the_delay(rig: Rig) -> None:
    fd, pair = _interrupting_pair(rig, 0x8000_0027)  # 39 x 256 ns = 9984 ns
    pair.submit(null_requests([1]))  # type: ignore[attr-defined]
    rig.step()
    assert not _signalled(fd)  # held ...
    rig.advance(5e-6)
    rig.step()
    assert not _signalled(fd)
    rig.advance(5e-6)
    rig.step()
    assert _signalled(fd)  # ... until the delay has passed


# --- item 9: no register read on the data path --------------------------------------------


def test_submit_and_poll_read_no_register(rig: Rig) -> None:
    # DPDK and qatlib read no CSR per request: a notification waiting in PF2VM and a ring
    # exception stay unseen while requests flow, and are found by an out-of-band look.
    pair = rig.endpoint.ring_pair(1, slots=16)
    rig.endpoint.watch.interval = 3600.0
    rig.endpoint.check_events()  # looked just now: the next look is an hour away
    rig.endpoint.watch.due()
    assert rig.device.agent is not None
    rig.device.agent.notify(Pf2VfType.FATAL_ERROR)
    rig.step()
    for start in (0, 10, 20):
        pair.submit(null_requests(range(start, start + 3)))
        rig.step()
        assert len(pair.poll()) == 3
        assert pair.poll().shape == (0,)  # empty, but no look is due
    assert rig.endpoint.pmisc.read32(PF2VM) & 1  # never read and acknowledged
    assert rig.endpoint.check_events() == [PfEvent.FATAL_ERROR]


def test_exp_stat_is_the_ring_exception_status_checked_out_of_band(rig: Rig) -> None:
    # Any bit of the pair's rings in EXP_STAT is an exception (Linux bank-state restore).
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.submit(null_requests([1]))
    rig.step()
    pair.bank.mmio.write32(EXP_STAT, 1 << pair.rx_ring)  # an exception on the response ring
    assert len(pair.poll()) == 1  # the data path does not look
    with pytest.raises(TransportError, match="refused"):
        pair.check()
    with pytest.raises(TransportError, match="refused"):
        pair.submit(null_requests([2]))


def test_an_empty_poll_looks_at_the_device_when_a_look_is_due(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    assert rig.device.agent is not None
    rig.device.agent.notify(Pf2VfType.FATAL_ERROR)
    rig.step()
    with pytest.raises(Exception, match="fatal error"):
        pair.poll()  # the rig's interval is 0: every empty poll looks
