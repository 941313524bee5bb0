"""Discovery through the broker: when the kernel refuses the sysfs map of an ivshmem
function's BAR2 (vfio-pci claimed it for the broker's holders), the broker reads the
control page through its device fd — and reads nothing it has not opened or that is not
an emulated endpoint."""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import sysfs
from fakedev.topologies import EmulatedSpec, Topology
from qathw import discovery, emulated
from qathw.broker import client, protocol
from qathw.errors import DeviceNotFoundError
from qathw.paths import ENV_RUNTIME_DIR
from qathw.sysfsio import OsSysfsIO
from tests.broker.conftest import BDFS, Rig
from tests.fakedev_sysfs.helpers import FakeFactory, make_fake, write_endpoint_file

__all__ = ["make_fake"]

PAGE = emulated.CONTROL_PAGE_SIZE


class RefusedMap(OsSysfsIO):
    """The kernel's answer to a sysfs map of a BAR vfio-pci has claimed (EINVAL)."""

    def __init__(self, bdf: str) -> None:
        self.bdf = bdf

    def read_mapped(self, path: Path, length: int) -> bytes:
        if path.name == "resource2" and path.parent.name == self.bdf:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(path))
        return super().read_mapped(path, length)


@pytest.fixture
def endpoints(tmp_path: Path, make_fake: FakeFactory) -> Iterator[tuple[sysfs.FakeHost, Path]]:
    """A fake host with two emulated endpoints bound to vfio-pci (at the rig's BDFs)."""
    ep0 = write_endpoint_file(tmp_path / "ep0", "4xxxvf")
    ep1 = write_endpoint_file(tmp_path / "ep1", "4xxxvf")
    specs = (EmulatedSpec(BDFS[0], ep0, "vfio-pci"), EmulatedSpec(BDFS[1], ep1, "vfio-pci"))
    yield make_fake(Topology("two-endpoints", emulated=specs)), ep0


def _numbers(inv: discovery.Inventory) -> list[tuple[str, int | None]]:
    return [(f.bdf, f.accel_id) for f in inv.functions]


def test_discovery_keeps_the_numbering_when_the_broker_owns_the_function(
    rig: Rig, endpoints: tuple[sysfs.FakeHost, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, ep0 = endpoints
    holder = rig.holder(broker_args=("--ivshmem", f"{BDFS[0]}={ep0}"))
    assert "error" not in holder.ask(f"lend {BDFS[0]}")
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(rig.runtime_dir))
    inv = discovery.discover(fake.host, io=RefusedMap(BDFS[0]))
    assert (_numbers(inv), inv.unidentified) == ([(BDFS[0], 0), (BDFS[1], 1)], ())
    assert inv.functions[0].control is not None and inv.functions[0].state == "up"


def test_without_a_broker_the_refused_function_keeps_its_reason(
    rig: Rig, endpoints: tuple[sysfs.FakeHost, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _ = endpoints
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(rig.runtime_dir))
    inv = discovery.discover(fake.host, io=RefusedMap(BDFS[0]))
    assert [(u.pci.bdf, u.reason) for u in inv.unidentified] == [(BDFS[0], "invalid argument")]
    assert _numbers(inv) == [(BDFS[1], 0)]
    assert rig.started() == []  # asking does not start a broker


def test_identify_returns_the_control_page_head(rig: Rig, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep", "4xxxvf")
    holder = rig.holder(broker_args=("--ivshmem", f"{BDFS[0]}={ep}"))
    holder.ask(f"lend {BDFS[0]}")
    head = client.control_head(BDFS[0], PAGE, runtime_dir=rig.runtime_dir)
    assert head == ep.read_bytes()[:PAGE]


def test_identify_refuses_an_endpoint_the_broker_has_not_opened(rig: Rig, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep", "4xxxvf")
    holder = rig.holder(broker_args=("--ivshmem", f"{BDFS[1]}={ep}"))
    holder.ask(f"lend {BDFS[0]}")
    with pytest.raises(DeviceNotFoundError, match=rf"has not opened {BDFS[1]}"):
        client.control_head(BDFS[1], PAGE, runtime_dir=rig.runtime_dir)
    status = client.status(runtime_dir=rig.runtime_dir)
    assert status is not None and [e.bdf for e in status.endpoints] == [BDFS[0]]  # not opened


def test_identify_refuses_a_function_that_is_not_an_emulated_endpoint(rig: Rig) -> None:
    holder = rig.holder()
    holder.ask(f"lend {BDFS[0]}")
    with pytest.raises(DeviceNotFoundError, match="not an ivshmem function"):
        client.control_head(BDFS[0], PAGE, runtime_dir=rig.runtime_dir)


def test_identify_of_a_bdf_that_is_not_a_pci_address_ends_the_connection(rig: Rig) -> None:
    rig.start_broker()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(30)
    sock.connect(os.fspath(rig.socket))
    protocol.send(sock, {"op": "hello", "version": protocol.VERSION, "role": "status"})
    assert protocol.recv(sock, protocol.MAX_REPLY) is not None
    sock.send(json.dumps({"op": "identify", "bdf": "../../../dev/mem"}).encode())
    reply = protocol.recv(sock, protocol.MAX_REPLY)
    assert reply is not None and "not a PCI address" in reply.body["error"]["what"]
    assert protocol.recv(sock, protocol.MAX_REPLY) is None


def test_identify_without_a_broker_is_none(rig: Rig) -> None:
    assert client.control_head(BDFS[0], PAGE, runtime_dir=rig.runtime_dir) is None
