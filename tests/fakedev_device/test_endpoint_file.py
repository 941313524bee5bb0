"""Creating endpoint files: presets, sizes, and refusing to clobber a served file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.endpoint_file import EndpointFileError
from qathw import emulated
from qathw.emulated import XenbusState


@pytest.mark.parametrize(
    ("device", "pci_id", "banks", "rings", "gen"),
    [
        ("4xxxvf", 0x4941, 4, 2, 4),
        ("4xxx", 0x4940, 64, 2, 4),
        ("c6xxvf", 0x37C9, 1, 16, 2),
    ],
)
def test_presets(
    tmp_path: Path, device: str, pci_id: int, banks: int, rings: int, gen: int
) -> None:
    info = endpoint_file.create(tmp_path / device, device, size=8 << 20)
    assert (info.device_id, info.num_banks, info.rings_per_bank) == (pci_id, banks, rings)
    assert int(info.kind.generation) == gen
    assert info.backend_state == XenbusState.INITIALISING
    assert info.windows.devmem_iova == emulated.DEFAULT_DEVMEM_IOVA
    assert os.path.getsize(tmp_path / device) == 8 << 20


def test_a_size_that_is_not_a_power_of_two(tmp_path: Path) -> None:
    with pytest.raises(EndpointFileError, match="not a power of two"):
        endpoint_file.create(tmp_path / "x", size=3 << 20)
    assert not (tmp_path / "x").exists()


def test_a_size_with_no_room_for_device_memory(tmp_path: Path) -> None:
    with pytest.raises(EndpointFileError, match="use at least"):
        endpoint_file.create(tmp_path / "x", "4xxx", size=1 << 20)


@pytest.mark.parametrize(("name", "why"), [("8086vf", "unknown device"), ("6xxx", "gen6")])
def test_devices_that_cannot_be_emulated(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(EndpointFileError, match=why):
        endpoint_file.create(tmp_path / "x", name)


def test_an_existing_file_needs_force(tmp_path: Path) -> None:
    path = tmp_path / "ep"
    endpoint_file.create(path, size=1 << 20)
    with pytest.raises(EndpointFileError, match="--force"):
        endpoint_file.create(path, size=1 << 20)
    endpoint_file.create(path, "c6xxvf", size=1 << 20, force=True)
    assert endpoint_file.read_info(path).kind.class_name == "c6xxvf"


def test_force_does_not_replace_a_served_file(tmp_path: Path) -> None:
    path = tmp_path / "ep"
    endpoint_file.create(path, size=1 << 20)
    with endpoint_file.BackendLock(path):  # this very process "serves" it
        with pytest.raises(EndpointFileError, match=f"served by pid {os.getpid()}"):
            endpoint_file.create(path, size=1 << 20, force=True)


def test_a_file_whose_banks_disagree_with_its_device(tmp_path: Path) -> None:
    path = tmp_path / "ep"
    endpoint_file.create(path, size=1 << 20)
    with endpoint_file.EndpointFile(path) as f:
        assert f.control is not None
        f.control.num_banks = 3
    with pytest.raises(EndpointFileError, match="recreate"):
        endpoint_file.EndpointFile(path)
