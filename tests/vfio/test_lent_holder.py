"""The holder side of the section broker, on the host (no VFIO here; the guest test
tests/vm/test_broker_holders.py runs it on a real kernel).

Covered here: the IOVA range of a lease confines a holder's DMA, a lent view works on
its own duplicates of the lender's fds, a forked child never unmaps its parent's DMA, a
broken path fails ring pairs with the broker's error, and functions reached through
sysfs (fakedev on the host) never start a broker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import qathw
from fakedev import endpoint_file
from fakedev.device import Device
from qathw import vfio, vfio_lent
from qathw._uapi import vfio as uapi
from qathw.broker import protocol
from qathw.endpoint import Endpoint
from qathw.errors import BrokerGoneError, DmaError, QatError
from qathw.iova import lease_space
from qathw.mmio import Mmio
from qathw.paths import ENV_RUNTIME_DIR
from qathw.vfio_dma import VfioDmaPool
from tests.service import rig
from tests.transport.emu import null_requests
from tests.vfio.test_vfio_dma_pool import RecordingContainer

MIB = 1 << 20


def test_a_lease_space_hands_out_iovas_only_inside_the_window() -> None:
    space = lease_space([(0, 0xFEE0_0000), (0xFEF0_0000, 1 << 39)], (0xFE00_0000, 0xFF00_0000))
    got = [space.reserve(MIB) for _ in range(15)]  # 14 MiB below the MSI hole, 1 above
    assert all(0xFE00_0000 <= a and a + MIB <= 0xFF00_0000 for a in got)
    assert not any(0xFEE0_0000 <= a < 0xFEF0_0000 for a in got)
    with pytest.raises(DmaError, match="no free IOVA range"):
        space.reserve(MIB)


@pytest.fixture
def lent_container(monkeypatch: pytest.MonkeyPatch) -> vfio.VfioContainer:
    """A container view over a lender's fd (a memfd standing in); the kernel's answers
    to the version and extension ioctls are the only thing replaced."""
    answers = {uapi.VFIO_GET_API_VERSION: uapi.VFIO_API_VERSION, uapi.VFIO_CHECK_EXTENSION: 1}
    monkeypatch.setattr(vfio, "_ioctl", lambda fd, request, arg, what: answers[request])
    lender_fd = os.memfd_create("lent-container")
    view = vfio.VfioContainer.adopt(lender_fd, (0x4000_0000, 0x4040_0000))
    view.lender_fd = lender_fd  # type: ignore[attr-defined]
    return view


def test_a_lent_container_refuses_dma_outside_its_lease(
    lent_container: vfio.VfioContainer,
) -> None:
    with pytest.raises(DmaError, match=r"outside this process's lease \[0x40000000, 0x40400000\)"):
        lent_container.map_dma(0x1000, 0x4040_0000 - 0x1000, 0x2000)


def test_closing_a_lent_view_leaves_the_lenders_fd_open(
    lent_container: vfio.VfioContainer,
) -> None:
    lender_fd: int = lent_container.lender_fd  # type: ignore[attr-defined]
    assert lent_container.fd != lender_fd
    lent_container.close()
    os.fstat(lender_fd)  # still the lender's
    os.close(lender_fd)
    assert lent_container.unmap_dma(0x4000_0000, MIB) == 0  # the lender removes mappings


def test_a_forked_child_never_unmaps_its_parents_dma() -> None:
    container = RecordingContainer()
    pool = VfioDmaPool(container, 4 * MIB)
    pool.alloc(4096)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        pool.close()
        os.write(w, json.dumps(container.calls).encode())
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(child, 0)
    calls = json.loads(os.read(r, 65536))
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [c[0] for c in calls] == ["map"]
    pool.close()
    assert [c[0] for c in container.calls] == ["map", "unmap"]


def test_an_endpoint_whose_lender_ended_fails_its_pairs_with_the_lenders_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "4xxxvf.qat"
    endpoint_file.create(path, "4xxxvf", size=4 << 20)
    device = Device(path)
    gone: list[QatError] = []
    ep = Endpoint.from_emulated_bar(
        Mmio.map_file(path),
        mailbox_idle=device.step,
        mailbox_timeout=0.5,
        event_interval=0,
        broken=lambda: gone[0] if gone else None,
    )
    try:
        ep.connect()
        pair = ep.ring_pair(1, slots=16)
        pair.submit(null_requests(range(4), ep.request_size(1)))
        gone.append(BrokerGoneError("the section broker ended", hint="restart the process"))
        with pytest.raises(BrokerGoneError, match="restart the process"):
            pair.poll()  # the first empty poll looks out of band and finds it
        assert pair.lost == 4
        with pytest.raises(BrokerGoneError, match="restart the process"):
            pair.submit(null_requests(range(1), ep.request_size(1)))
        with pytest.raises(BrokerGoneError):
            ep.ring_pair(2, slots=16)
    finally:
        ep.close()
        device.close()


def test_a_function_reached_through_sysfs_never_starts_a_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(vfio_lent.ENV, raising=False)
    host = rig.build()
    try:
        with rig.environment(host), rig.running(host):
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                cy = next(i for i in insts.cy if i._channel is not None)
                key = bytes(range(16))
                with cy.cipher("AES-128-CBC", key) as session:
                    assert session.encrypt(bytes(32), bytes(16))
            rundir = Path(os.environ[ENV_RUNTIME_DIR])
            assert not (rundir / protocol.SOCKET_NAME).exists()
            assert not vfio_lent._leases
    finally:
        rig.remove(host)


def test_broker_off_in_the_environment_means_direct_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value, wanted in (("off", False), ("0", False), ("on", True), ("", True)):
        monkeypatch.setenv(vfio_lent.ENV, value)
        assert vfio_lent.wanted() is wanted, value
