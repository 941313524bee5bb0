"""A device restart or fatal error in the middle of a stream, seen from a ring pair."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev.device import Phase
from qathw.errors import DeviceFatalError, DeviceRestartError
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import RingPair, RingPairEvent
from tests.transport.emu import Rig, make_rig, null_requests


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.close()


def _stream(rig: Rig, pair: RingPair, start: int, n: int) -> list[int]:
    pair.submit(null_requests(range(start, start + n)))
    rig.step()
    return [int(x) for x in pair.poll()["opaque_data"]]


def test_restart_in_the_middle_of_a_stream(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=32)
    events: list[RingPairEvent] = []
    pair.add_listener(events.append)
    assert _stream(rig, pair, 0, 10) == list(range(10))

    pair.submit(null_requests(range(10, 15)))
    rig.step()  # answered, not yet polled
    pair.submit(null_requests(range(15, 21)))  # queued, not yet consumed
    rig.device.inject("restart")
    rig.step()  # RESTARTING goes out; the device stops taking requests

    got = pair.poll()  # hears RESTARTING: collects what was answered, quiesces
    assert [int(x) for x in got["opaque_data"]] == list(range(10, 15))
    assert [(e.event, e.lost) for e in events] == [(PfEvent.RESTARTING, 6)]
    assert pair.lost == 6 and pair.in_flight == 0
    with pytest.raises(DeviceRestartError, match="restarting") as info:
        pair.submit(null_requests([99]))
    assert "RESTARTED" in str(info.value.hint)

    rig.step(2)  # the device resets every bank, then sends RESTARTED
    assert rig.device.phase is Phase.RUNNING
    assert pair.poll().shape == (0,)  # hears RESTARTED and programs its rings again
    assert [e.event for e in events] == [PfEvent.RESTARTING, PfEvent.RESTARTED]
    bank = pair.bank
    assert bank.read_ring(bank.layout.ring_config, pair.tx_ring) != 0
    assert bank.arb_enabled() & 1

    # The lost requests never get a response; new ones do.
    rig.step(3)
    assert pair.poll().shape == (0,)
    assert _stream(rig, pair, 100, 4) == [100, 101, 102, 103]


def test_every_ring_pair_of_the_vf_hears_the_restart(rig: Rig) -> None:
    pairs = [rig.endpoint.ring_pair(b, slots=16) for b in range(4)]
    for p in pairs:
        p.submit(null_requests([1], p.request_size))
    rig.device.inject("restart")
    rig.step()
    pairs[0].poll()  # one poll handles the mailbox for all
    assert all(p.lost == 1 for p in pairs)
    rig.step(2)
    pairs[3].poll()
    for p in pairs:
        p.submit(null_requests([7], p.request_size))
    rig.step()
    assert [int(p.poll()["opaque_data"][0]) for p in pairs] == [7, 7, 7, 7]


def test_the_device_resets_anyway_when_the_vf_does_not_answer(tmp_path: Path) -> None:
    now = [0.0]
    r = make_rig(tmp_path)
    try:
        r.device._clock = lambda: now[0]
        pair = r.endpoint.ring_pair(1, slots=16)
        r.device.inject("restart")
        r.step(3)  # nobody polls the mailbox: the device waits ...
        assert r.device.phase.value == Phase.QUIESCING.value
        now[0] += 11.0  # ... up to its timeout (the kernel PF waits 10 s)
        r.step(2)
        assert r.device.phase is Phase.RUNNING
        assert pair.bank.read_ring(pair.bank.layout.ring_config, pair.tx_ring) == 0
    finally:
        r.close()


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
    assert [(e.event, e.lost) for e in events] == [(PfEvent.FATAL_ERROR, 2)]
    with pytest.raises(DeviceFatalError):
        pair.poll()
    with pytest.raises(DeviceFatalError, match="fatal error"):
        pair.submit(null_requests([9]))
    # An administrator's reset brings it back.
    rig.device.inject("restart")
    for _ in range(4):
        rig.step()
        try:
            pair.poll()
        except DeviceFatalError:
            pass
    assert _stream(rig, pair, 50, 2) == [50, 51]


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
