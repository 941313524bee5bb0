"""open_endpoint(bdf): the access path is chosen at the bottom, by what the system offers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file, sysfs
from fakedev.runner import DeviceThread
from fakedev.topologies import EmulatedSpec
from qathw.endpoint import open_endpoint
from qathw.errors import DeviceError, DeviceNotFoundError
from qathw.paths import HostRoot
from tests.transport.emu import null_requests


@pytest.fixture
def host_with_endpoint(tmp_path: Path) -> Iterator[tuple[HostRoot, Path]]:
    path = tmp_path / "ep.qat"
    endpoint_file.create(path, "4xxxvf", size=1 << 20)
    prefix = Path(f"/dev/shm/qathw-open-{tmp_path.name}")
    fake = sysfs.build(prefix, "seed")
    fake.add_emulated(EmulatedSpec("0000:00:10.0", path))
    yield fake.host, path
    shutil.rmtree(prefix, ignore_errors=True)


def test_an_emulated_endpoint_opens_through_sysfs_and_round_trips(
    host_with_endpoint: tuple[HostRoot, Path],
) -> None:
    host, path = host_with_endpoint
    with DeviceThread(path), open_endpoint("0000:00:10.0", host=host) as ep:
        ep.connect()
        assert ep.kind.class_name == "4xxxvf"
        pair = ep.ring_pair(1, slots=16)
        pair.submit(null_requests([7, 8]))
        got: list[int] = []
        for _ in range(10_000):
            got += list(pair.poll()["opaque_data"])
            if len(got) == 2:
                break
        assert got == [7, 8]


def test_a_real_vf_not_on_vfio_is_refused_with_the_bind_hint(
    host_with_endpoint: tuple[HostRoot, Path],
) -> None:
    host, _ = host_with_endpoint
    with pytest.raises(DeviceError) as info:
        open_endpoint("0000:6b:00.0", host=host)  # the 4xxx PF, on its kernel driver
    assert "VFIO" in info.value.what
    assert info.value.hint == "bind it to vfio-pci: 'qathw bind 0000:6b:00.0 vfio-pci'"


def test_a_missing_function_is_not_found(host_with_endpoint: tuple[HostRoot, Path]) -> None:
    host, _ = host_with_endpoint
    with pytest.raises(DeviceNotFoundError):
        open_endpoint("0000:99:00.0", host=host)


def test_a_function_that_is_not_qat_is_refused(tmp_path: Path) -> None:
    host = HostRoot(tmp_path)
    devdir = host.pci_device("0000:00:1f.0")
    devdir.mkdir(parents=True)
    (devdir / "config").write_bytes(bytes.fromhex("86803415") + bytes(60))  # 8086:1534
    with pytest.raises(DeviceError, match=r"8086:1534\) is not a QAT function"):
        open_endpoint("0000:00:1f.0", host=host)
