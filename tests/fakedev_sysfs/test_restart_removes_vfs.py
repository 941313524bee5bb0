"""A PF restart in a fake tree: the VFs disappear and come back (``pci_disable_sriov``).

docs/hardware.md#device-restart: Linux's restart disables SR-IOV, so every VF function
(its sysfs directory, its ``virtfn`` link) is gone until SR-IOV is enabled again; an
emulated endpoint presented as an ivshmem function does the same when its backend
restarts, and qathw reopens it when it is back.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fakedev.runner import DeviceThread
from fakedev.sysfs.builder import FunctionPresence
from fakedev.topologies import EmulatedSpec, Topology
from qathw.endpoint import open_endpoint
from qathw.transport.mailbox import PfEvent
from tests.fakedev_sysfs.helpers import FakeFactory, write_endpoint_file
from tests.transport.emu import null_requests

PF = "0000:6b:00.0"
BDF = "0000:00:10.0"


def test_a_pf_restart_removes_its_vfs_and_brings_them_back_bound_as_before(
    make_fake: FakeFactory,
) -> None:
    fake = make_fake("seed")
    pf = fake.host.pci_device(PF)
    vfs = sorted(Path(os.readlink(p)).name for p in pf.iterdir() if p.name.startswith("virtfn"))
    assert len(vfs) == 16
    with fake.restart(PF):
        assert not any(fake.host.pci_device(v).exists() for v in vfs)
        assert not [p for p in pf.iterdir() if p.name.startswith("virtfn")]
        assert (pf / "sriov_numvfs").read_text().strip() == "0"
    assert all(fake.host.pci_device(v).exists() for v in vfs)
    drivers = {Path(os.readlink(fake.host.pci_device(v) / "driver")).name for v in vfs}
    assert drivers == {"vfio-pci"}


def test_an_emulated_vf_leaves_the_tree_during_a_restart_and_qathw_reopens_it(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    path = write_endpoint_file(tmp_path / "qat0", serving=False)
    fake = make_fake(Topology(name="one", emulated=(EmulatedSpec(BDF, path),)))
    presence = FunctionPresence(fake.prefix, BDF)
    with DeviceThread(path, presence=presence) as backend, open_endpoint(BDF, host=fake.host) as ep:
        ep.connect()
        pair = ep.ring_pair(1, slots=16)
        events: list[PfEvent] = []
        pair.add_listener(lambda e: events.append(e.event))
        backend.device.inject("restart")
        seen_gone = False
        deadline = time.monotonic() + 10
        while PfEvent.RESTARTED not in events:  # the driver keeps looking, out of band
            assert time.monotonic() < deadline, "the function did not come back"
            ep.check_events()
            seen_gone = seen_gone or not fake.host.pci_device(BDF).exists()
            time.sleep(0.002)
        assert seen_gone  # it left the tree ...
        assert fake.host.pci_device(BDF).exists()  # ... and came back
        assert events == [PfEvent.RESTARTING, PfEvent.RESTARTED]
        pair.submit(null_requests(range(4)))
        got: list[int] = []
        while len(got) < 4:
            assert time.monotonic() < deadline + 10, "no responses after the reopen"
            got += [int(x) for x in pair.poll()["opaque_data"]]
        assert got == [0, 1, 2, 3]
