"""A device restart or fatal error in the middle of a stream, seen from a ring pair.

A restart on a real PF disables SR-IOV: the VF is removed and comes back as a new function
(docs/hardware.md#device-restart). The driver finds out of band (an empty poll that is
due for a look, or ``Endpoint.check_events``) and reopens the function in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev.device import Phase
from qathw.errors import DeviceFatalError, DeviceRestartError
from qathw.pci_regs import PCI_COMMAND_MASTER
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import ALL_ONES, RingPair, RingPairEvent
from tests.transport.emu import Rig, make_rig, null_requests

PF2VM = 0x1008  # a gen4 VF's PMISC, written out (docs/hardware.md#pfvf-mailbox)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.close()


def _stream(rig: Rig, pair: RingPair, start: int, n: int) -> list[int]:
    pair.submit(null_requests(range(start, start + n), pair.request_size))
    rig.step()
    return [int(x) for x in pair.poll()["opaque_data"]]


def _return(rig: Rig) -> None:
    """Let the removed function come back (the fake's removal time, on the rig's clock)."""
    rig.advance(1.0)
    rig.step(2)
    assert rig.phase() is Phase.RUNNING


def test_a_restart_removes_the_vf_and_its_registers_read_all_ones(rig: Rig) -> None:
    # adf_disable_sriov -> pci_disable_sriov: the VF disappears; a read of a function that is
    # gone returns all-ones, a write to it is lost.
    ep = rig.endpoint
    pair = ep.ring_pair(1, slots=16)
    rig.device.inject("restart")
    rig.step()
    assert ep.check_events() == [PfEvent.RESTARTING]  # quiesced, RESTARTING_COMPLETE sent
    rig.step()
    assert rig.phase() is Phase.REMOVED
    tail = pair.bank.ring_offset(pair.bank.layout.ring_tail, pair.tx_ring)
    assert pair.bank.mmio.read32(tail) == ALL_ONES
    assert ep.pmisc.read32(PF2VM) == ALL_ONES
    pair.bank.mmio.write32(tail, 0x80)
    rig.step()
    assert pair.bank.mmio.read32(tail) == ALL_ONES  # the write went nowhere
    rig.advance(1.0)
    rig.step()
    # Back as a new function: registers at reset values, Bus Master off.
    assert pair.bank.mmio.read32(tail) == 0
    assert rig.device.file.control is not None
    assert not rig.device.file.control.pci_command & PCI_COMMAND_MASTER


def test_requests_in_flight_are_lost_and_new_ones_work_after_the_reopen(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=32)
    events: list[RingPairEvent] = []
    pair.add_listener(events.append)
    assert _stream(rig, pair, 0, 10) == list(range(10))

    pair.submit(null_requests(range(10, 15)))
    rig.step()  # answered, not yet polled
    pair.submit(null_requests(range(15, 21)))  # queued, not yet consumed
    rig.device.inject("restart")
    rig.step()  # RESTARTING goes out; the device stops taking requests

    got = pair.poll()  # a look is due: RESTARTING, quiesce; what the device wrote is taken
    assert [int(x) for x in got["opaque_data"]] == list(range(10, 15))
    assert [(e.event, e.lost) for e in events] == [(PfEvent.RESTARTING, 6)]
    assert pair.poll().shape == (0,)
    assert pair.lost == 6 and pair.in_flight == 0
    with pytest.raises(DeviceRestartError, match="restarting") as info:
        pair.submit(null_requests([99]))
    assert "RESTARTED" in str(info.value.hint)

    rig.step()  # SR-IOV disabled: the function is gone
    assert pair.poll().shape == (0,)  # still gone: nothing to reopen
    _return(rig)
    assert pair.poll().shape == (0,)  # back: reopened, rings programmed again
    assert [e.event for e in events] == [PfEvent.RESTARTING, PfEvent.RESTARTED]
    assert rig.endpoint.watch.reopened == 1
    assert rig.device.file.control is not None
    assert rig.device.file.control.pci_command & PCI_COMMAND_MASTER  # enabled again
    assert rig.device.agent is not None and rig.device.agent.vf_init  # INIT again
    rig.step(3)
    assert pair.poll().shape == (0,)  # the lost requests never get a response
    assert _stream(rig, pair, 100, 4) == [100, 101, 102, 103]


def test_a_vf_that_missed_restarting_finds_its_function_gone(rig: Rig) -> None:
    # The PF waits 10 s for RESTARTING_COMPLETE, then removes the VF anyway; the VF's next
    # look reads all-ones. Its INIT survived, so the PF sends RESTARTED after the return:
    # the VF has reopened by then and takes it as the duplicate it is (qatlib does too).
    pair = rig.endpoint.ring_pair(1, slots=16)
    events: list[RingPairEvent] = []
    pair.add_listener(events.append)
    pair.submit(null_requests(range(3)))
    rig.device.inject("restart")
    rig.step()
    rig.advance(11.0)
    rig.step()
    assert rig.phase() is Phase.REMOVED
    assert pair.poll().shape == (0,)
    assert [(e.event, e.lost) for e in events] == [(PfEvent.RESTARTING, 3)]
    _return(rig)
    assert pair.poll().shape == (0,)
    rig.endpoint.check_events()
    assert [e.event for e in events] == [PfEvent.RESTARTING, PfEvent.RESTARTED]
    assert _stream(rig, pair, 7, 2) == [7, 8]


def test_every_ring_pair_of_the_vf_hears_the_restart(rig: Rig) -> None:
    pairs = [rig.endpoint.ring_pair(b, slots=16) for b in range(4)]
    for p in pairs:
        p.submit(null_requests([1], p.request_size))
    rig.device.inject("restart")
    rig.step()
    pairs[0].poll()  # one look at the mailbox serves every pair of the endpoint
    assert all(p.lost == 1 for p in pairs)
    rig.step()
    _return(rig)
    pairs[3].poll()
    assert [_stream(rig, p, 7, 1) for p in pairs] == [[7], [7], [7], [7]]


def test_the_device_removes_the_vf_anyway_when_it_does_not_answer(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    rig.device.inject("restart")
    rig.step(3)  # nobody looks at the mailbox: the PF waits ...
    assert rig.phase() is Phase.QUIESCING
    rig.advance(11.0)  # ... up to its timeout (the kernel PF waits 100 x 100 ms)
    rig.step()
    assert rig.phase() is Phase.REMOVED
    _return(rig)
    assert pair.bank.read_ring(pair.bank.layout.ring_config, pair.tx_ring) == 0


def test_fatal_error_stops_the_pair(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    events: list[RingPairEvent] = []
    pair.add_listener(events.append)
    pair.submit(null_requests(range(3)))
    rig.step()
    pair.submit(null_requests(range(3, 5)))
    rig.device.inject("fatal")
    rig.step(2)
    got = pair.poll()
    assert [int(x) for x in got["opaque_data"]] == [0, 1, 2]
    with pytest.raises(DeviceFatalError):
        pair.poll()  # the empty poll looks, and hears FATAL_ERROR
    assert [(e.event, e.lost) for e in events] == [(PfEvent.FATAL_ERROR, 2)]
    with pytest.raises(DeviceFatalError, match="fatal error"):
        pair.submit(null_requests([9]))
    # An administrator's restart brings it back.
    rig.device.inject("restart")
    for _ in range(4):
        rig.step()
        rig.advance(0.5)
        try:
            pair.poll()
        except DeviceFatalError:
            pass
    assert _stream(rig, pair, 50, 2) == [50, 51]


def test_a_pf_restarts_in_place(tmp_path: Path) -> None:
    # A PF is not removed by its own restart (only its VFs are); its rings are reset.
    r = make_rig(tmp_path, device="4xxx", size=8 << 20)
    try:
        pair = r.endpoint.ring_pair(1, slots=16)
        r.device.inject("restart")
        assert r.phase() is Phase.RUNNING
        assert pair.bank.read_ring(pair.bank.layout.ring_config, pair.tx_ring) == 0
    finally:
        r.close()


def test_unknown_faults_are_refused(rig: Rig) -> None:
    with pytest.raises(ValueError, match="restart, fatal"):
        rig.device.inject("melt")


def test_a_new_backend_takes_over_queued_requests(tmp_path: Path) -> None:
    # The backend process goes away with requests queued; the next one reads the ring
    # state from the registers and carries on (nothing consumed twice, nothing lost).
    from fakedev.device import Device

    r = make_rig(tmp_path)
    try:
        pair = r.endpoint.ring_pair(1, slots=32)
        assert _stream(r, pair, 0, 5) == list(range(5))
        pair.submit(null_requests(range(5, 9)))
        r.device.close()
        r.device = Device(r.path)
        r.step()
        assert [int(x) for x in pair.poll()["opaque_data"]] == [5, 6, 7, 8]
        assert _stream(r, pair, 9, 3) == [9, 10, 11]
    finally:
        r.close()
