"""Random and mutated request bytes thrown at the device.

Whatever handlers are registered (the default registry: NULL, and LA/COMP once the
engine exists), the device answers every request, once, in order, with a valid response
that echoes the request's type and cookie; it never raises, never stops, never fails in
its own code (no fakedev defect, whatever the bytes), and never changes a byte outside
device memory except the registers and control-page words the device owns.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakedev.device import Phase
from qathw import emulated
from qathw.emulated import qathw_emu_control
from qathw.fw import common
from qathw.transport.ring import RingPair
from tests.transport.emu import Rig, make_rig

SLOTS = 64


@dataclass
class Target:
    rig: Rig
    pair: RingPair
    addresses: list[int]  # inside a scratch buffer, at the window's edges, outside it
    owned: set[int]  # bytes outside device memory the device may write


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    rig = make_rig(tmp_path_factory.mktemp("fuzz"), size=2 << 20)
    pair = rig.endpoint.ring_pair(1, slots=SLOTS)
    # Addresses that land in device memory point into a scratch buffer (or the free end of
    # the window), never into the rings: a request that tells the device to overwrite its
    # own rings corrupts them on hardware too.
    scratch = rig.endpoint.dma.alloc(0x10000, 0x1000).iova
    win = rig.device.file.info.windows
    end = win.devmem_iova + win.devmem_size
    addresses = [
        scratch, scratch + 0x40, scratch + 3, scratch + 0x10000 - 8, end - 64, end - 1, end,
        win.devmem_iova - 64, 0, 1 << 63, (1 << 64) - 1,
    ]  # fmt: skip
    yield Target(rig, pair, addresses, _device_owned_offsets(rig))
    rig.close()


def _seed_requests() -> list[bytes]:
    null = common.null_request(0)
    la = bytearray(null)
    la[1], la[2] = 0, common.ServiceType.LA  # cipher
    la[6] = 1  # SGL pointers
    comp = bytearray(null)
    comp[1], comp[2] = 1, common.ServiceType.COMP
    return [null, bytes(la), bytes(comp), bytes(128)]


@st.composite
def requests(draw: st.DrawFn, addresses: list[int]) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(min_size=128, max_size=128))
    req = bytearray(draw(st.sampled_from(_seed_requests())))
    # Point the address fields (CD, src, dst, IV/AAD/digest pointers) at interesting places.
    for off in (8, 32, 40, 64, 88, 96):
        if draw(st.booleans()):
            struct.pack_into("<Q", req, off, draw(st.sampled_from(addresses)))
    for off in (48, 52, 56, 60, 80, 84):
        if draw(st.booleans()):
            struct.pack_into("<I", req, off, draw(st.sampled_from([0, 1, 16, 4096, 1 << 31])))
    for _ in range(draw(st.integers(0, 6))):
        req[draw(st.integers(0, 127))] = draw(st.integers(0, 255))
    return bytes(req)


def _outside_devmem(rig: Rig) -> bytes:
    f = rig.device.file
    assert f.control is not None
    return bytes(f.control_words.cast("B")) + bytes(f.csr.cast("B")) + bytes(f.pmisc.cast("B"))


def _device_owned_offsets(rig: Rig) -> set[int]:
    """Byte offsets (into control page + CSR + PMISC) the device may write."""
    owned: set[int] = set()
    for field in (
        "backend_heartbeat",
        "device_error_count",
        "device_error",
        "defect_count",
        "defect",
        "bank_counters",  # the device's own counters (docs/hardware.md#fake-counters)
    ):
        desc = getattr(qathw_emu_control, field)
        owned.update(range(desc.offset, desc.offset + desc.size))
    csr0 = emulated.CONTROL_PAGE_SIZE
    lay = rig.device.layout
    for bank in rig.device.banks:
        base = csr0 + bank.regs.base
        for pair in bank.pairs:
            for off in (lay.ring_head + 4 * pair.tx, lay.ring_tail + 4 * pair.rx):
                owned.update(range(base + off, base + off + 4))
        for off in (lay.e_stat, lay.exp_stat or lay.e_stat):
            owned.update(range(base + off, base + off + 4))
    return owned


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_request_gets_one_response_and_nothing_outside_is_touched(
    target: Target, data: st.DataObject
) -> None:
    rig, pair = target.rig, target.pair
    batch = data.draw(st.lists(requests(target.addresses), min_size=1, max_size=SLOTS - 1))
    rows = np.frombuffer(b"".join(batch), np.uint8).reshape(-1, 128).copy()
    rows[:, 24:32] = np.arange(len(batch), dtype="<u8").view(np.uint8).reshape(-1, 8)

    pair.submit(rows)
    got: list[np.void] = []
    changed: set[int] = set()
    for _ in range(10):
        before = _outside_devmem(rig)
        rig.step()  # only the device runs between the two snapshots
        after = _outside_devmem(rig)
        changed |= {i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
        got += list(pair.poll())
        if len(got) == len(batch):
            break

    assert rig.device.phase is Phase.RUNNING
    assert not rig.device.defects, rig.device.defects
    assert [int(r["opaque_data"]) for r in got] == list(range(len(batch)))
    for req, resp in zip(rows, got, strict=True):
        hdr = resp["comn_hdr"]
        assert hdr["hdr_flags"] & common.HDR_FLAG_VALID
        assert hdr["response_type"] == req[2]
        assert hdr["service_id"] == common.RespServiceId.CPM_FW
    assert changed <= target.owned
