"""Ring pairs against the device model, stepped by hand.

Round trips on every ring pair, and the cases where real hardware differs from a naive
model (docs/hardware.md#submit-and-poll, #empty-signature, #ring-config): tail jumps of
many slots, a full response ring, late acknowledgement, wrap-around, torn responses, the
slots-1 rule, misprogramming.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qathw.errors import RingConfigError, RingFullError, TransportError
from qathw.fw import common
from qathw.fw.common import icp_qat_fw_comn_req
from qathw.fw.dtypes import numpy_dtype
from qathw.transport.ring import RESPONSE_DTYPE, RingPair
from tests.transport.emu import Rig, make_rig, null_requests


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.close()


@pytest.fixture
def pair(rig: Rig) -> RingPair:
    return rig.endpoint.ring_pair(1, slots=16)  # a SYM bank: 128-byte requests


def test_null_round_trip_on_every_ring_pair_of_a_vf(rig: Rig) -> None:
    pairs = [rig.endpoint.ring_pair(b, slots=32) for b in range(rig.endpoint.num_banks)]
    for b, p in enumerate(pairs):
        p.submit(null_requests(range(100 * b, 100 * b + 5), p.request_size))
    rig.step()
    for b, p in enumerate(pairs):
        got = p.poll()
        assert list(got["opaque_data"]) == list(range(100 * b, 100 * b + 5))
        hdr = got["comn_hdr"]
        assert (hdr["comn_status"] == 0).all()
        assert (hdr["hdr_flags"] & common.HDR_FLAG_VALID).all()
        assert (hdr["response_type"] == common.ServiceType.NULL).all()
        assert (hdr["cmd_id"] == common.NULL_REQ_SERV_ID).all()
        assert p.in_flight == 0


def test_asym_banks_take_64_byte_requests(rig: Rig) -> None:
    # Default ring-to-service map: banks 0 and 2 are ASYM.
    p = rig.endpoint.ring_pair(0, slots=16)
    assert p.request_size == 64
    p.submit(null_requests(range(3), 64))
    rig.step()
    assert list(p.poll()["opaque_data"]) == [0, 1, 2]


def test_one_tail_jump_of_many_slots_is_consumed_in_order(rig: Rig) -> None:
    p = rig.endpoint.ring_pair(1, slots=512)
    p.submit(null_requests(range(511)))
    assert rig.step() == 511
    assert list(p.poll()["opaque_data"]) == list(range(511))


def test_the_slots_minus_one_rule(pair: RingPair) -> None:
    assert pair.capacity == 15
    assert pair.submit(null_requests(range(15))) == 15
    with pytest.raises(RingFullError, match="1 requests do not fit, 0 of 15"):
        pair.submit(null_requests([99]))


def test_a_batch_that_does_not_fit_sends_nothing(pair: RingPair) -> None:
    pair.submit(null_requests(range(10)))
    with pytest.raises(RingFullError):
        pair.submit(null_requests(range(10, 20)))
    assert pair.in_flight == 10


def test_partial_submit_is_back_pressure(rig: Rig, pair: RingPair) -> None:
    pair.submit(null_requests(range(10)))
    assert pair.submit(null_requests(range(10, 20)), partial=True) == 5
    assert pair.submit(null_requests([99]), partial=True) == 0
    rig.step()
    assert list(pair.poll()["opaque_data"]) == list(range(15))


def test_wrap_around_keeps_order(rig: Rig, pair: RingPair) -> None:
    sent = 0
    seen: list[int] = []
    for batch in (7, 11, 13, 5, 15, 9, 14):
        pair.submit(null_requests(range(sent, sent + batch)))
        sent += batch
        for _ in range(3):  # a lazily acknowledged device may need a second look
            rig.step()
            seen += [int(x) for x in pair.poll()["opaque_data"]]
        assert pair.in_flight == 0
    assert seen == list(range(sent))


def test_responses_wait_while_the_response_ring_is_full(rig: Rig) -> None:
    # The host acknowledges only when told: the device must stall, not overwrite.
    p = rig.endpoint.ring_pair(1, slots=16, head_write_threshold=15)
    p.submit(null_requests(range(15)))
    rig.step()
    first = p.poll(max_responses=10)
    assert list(first["opaque_data"]) == list(range(10))  # read, not acknowledged
    p.submit(null_requests(range(15, 25)))
    rig.step(3)
    rest = p.poll()
    # Only 5 more fit until the host writes RX HEAD; nothing lost, nothing overwritten.
    assert list(rest["opaque_data"]) == list(range(10, 15))
    assert p.in_flight == 10
    p.flush_head()
    rig.step()
    assert list(p.poll()["opaque_data"]) == list(range(15, 25))


def test_late_acknowledgement_is_honoured(rig: Rig) -> None:
    p = rig.endpoint.ring_pair(1, slots=16, head_write_threshold=15)
    total: list[int] = []
    sent = 0
    for _ in range(20):  # many laps, acknowledging only every 15 responses
        n = p.free_slots
        p.submit(null_requests(range(sent, sent + n)))
        sent += n
        rig.step()
        total += [int(x) for x in p.poll()["opaque_data"]]
    assert total == list(range(len(total)))
    assert len(total) >= sent - 15


def test_device_needs_no_acknowledgement_below_the_threshold(rig: Rig) -> None:
    # Default threshold on 16 slots is 8: the device is never left waiting.
    p = rig.endpoint.ring_pair(1, slots=16)
    for i in range(40):
        p.submit(null_requests([i]))
        rig.step()
        assert list(p.poll()["opaque_data"]) == [i]


def test_a_half_written_response_is_not_taken(rig: Rig, pair: RingPair) -> None:
    # Bytes 4..31 of slot 0 are written but dword 0 is still the empty signature.
    pair.submit(null_requests([1]))
    rx = pair._rx
    assert rx is not None
    body = common.null_request(1)  # any bytes
    rx[0, 4:] = np.frombuffer(body[4:32], np.uint8)
    assert pair.poll().shape == (0,)
    rig.step()  # the device writes the real response: dword 0 last
    got = pair.poll()
    assert list(got["opaque_data"]) == [1]


def test_device_writes_dword0_last(rig: Rig, pair: RingPair) -> None:
    # Record the order of the device's stores into the response ring.
    pair.submit(null_requests(range(4)))
    dev_pair = rig.device.banks[1].pairs[0]
    dev_pair.service()  # configure
    order: list[object] = []

    class Recording(np.ndarray):
        def __setitem__(self, key: Any, value: Any) -> None:
            order.append(key)
            super().__setitem__(key, value)

    ring = dev_pair._rx_ring
    assert ring is not None
    dev_pair._rx_ring = ring.view(Recording)
    pair.submit(null_requests(range(4, 8)))
    dev_pair.service()
    dev_pair._rx_ring = ring  # no array of ours outlives the test (the mapping must close)
    del ring
    dword0_stores = [i for i, k in enumerate(order) if isinstance(k, tuple) and k[1] == 0]
    body_stores = [i for i, k in enumerate(order) if isinstance(k, tuple) and k[1] != 0]
    assert body_stores and dword0_stores and max(body_stores) < min(dword0_stores)


def test_structured_arrays_are_accepted(rig: Rig, pair: RingPair) -> None:
    reqs = np.zeros(3, numpy_dtype(icp_qat_fw_comn_req))
    reqs["comn_hdr"]["service_cmd_id"] = common.NULL_REQ_SERV_ID
    reqs["comn_hdr"]["hdr_flags"] = common.HDR_FLAG_VALID
    reqs["comn_mid"]["opaque_data"] = [7, 8, 9]
    pair.submit(reqs)
    pair.submit(b"".join(common.null_request(i) for i in (10, 11)))
    rig.step()
    got = pair.poll()
    assert got.dtype == RESPONSE_DTYPE
    assert list(got["opaque_data"]) == [7, 8, 9, 10, 11]


def test_a_batch_of_partial_requests_is_refused(pair: RingPair) -> None:
    with pytest.raises(ValueError, match="whole number of 128-byte requests"):
        pair.submit(b"\0" * 200)
    with pytest.raises(TypeError):
        pair.submit([1, 2, 3])


@pytest.mark.parametrize("slots", [3, 48, 1 << 16])
def test_ring_sizes_the_hardware_does_not_know(rig: Rig, slots: int) -> None:
    with pytest.raises(RingConfigError, match="hardware knows"):
        rig.endpoint.ring_pair(1, slots=slots)


def test_threshold_that_could_deadlock_is_refused(rig: Rig) -> None:
    with pytest.raises(RingConfigError, match=r"1\.\.15"):
        rig.endpoint.ring_pair(1, slots=16, head_write_threshold=16)


def test_a_ring_misprogrammed_by_the_host_is_a_loud_device_error(rig: Rig, pair: RingPair) -> None:
    # Someone rewrites the request ring's base behind the ring pair's back.
    bank = pair.bank
    lbase = bank.read_ring(bank.layout.ring_lbase, pair.tx_ring)
    bank.write_ring(bank.layout.ring_lbase, pair.tx_ring, lbase + 0x40)
    pair.submit(null_requests([1]))
    rig.step()
    with pytest.raises(TransportError, match="not aligned to its size") as info:
        pair.poll()
    assert "bank 1" in str(info.value) and info.value.hint
    with pytest.raises(TransportError, match="refused"):
        pair.submit(null_requests([2]))
    assert rig.device.file.control is not None
    assert rig.device.file.control.device_error_count == 1


def test_close_unprograms_and_frees_the_rings(rig: Rig) -> None:
    pool = rig.endpoint.dma
    free = pool.free_bytes  # type: ignore[attr-defined]
    p = rig.endpoint.ring_pair(1, slots=64)
    p.close()
    p.close()
    assert pool.free_bytes == free  # type: ignore[attr-defined]
    bank = p.bank
    assert bank.read_ring(bank.layout.ring_config, p.tx_ring) == 0
    assert not bank.arb_enabled() & 1
    with pytest.raises(TransportError, match="closed"):
        p.submit(null_requests([1]))
