"""The adversarial campaign, bounded and seeded: a hostile guest finds nothing, and each
of the campaign's checks does catch what it checks for.

A few thousand hostile requests (bare ones, and valid ones from
:mod:`tests.fakedev_device.campaign_seeds` mutated) and register, mailbox and control-page
stores at each of a 4xxx PF, a 4xxx VF and a c6xx VF (``make fuzz`` runs a million of each).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakedev import campaign
from fakedev.device import Device
from fakedev.memory import DeviceMemory
from fakedev.services import null_service
from qathw.fw.common import ServiceType
from tests.fakedev_device import campaign_seeds

STEP_BOUND = 1.0  # seconds: no step of the device model may come near it


@pytest.mark.parametrize("device", campaign.DEVICES)
def test_a_hostile_guest_finds_no_failure(tmp_path: Path, device: str) -> None:
    stats = campaign.run_target(
        tmp_path, device, requests=2000, stores=2000, seed=1, seeds=campaign_seeds.build
    )
    assert stats.failures == []
    assert not stats.failed
    assert stats.requests >= 2000
    assert stats.register_stores >= 2000
    assert stats.max_step_seconds < STEP_BOUND


def test_the_campaign_splits_its_counts_among_the_devices() -> None:
    stats = campaign.run(requests=300, stores=300, seed=2)
    assert stats.requests >= 300
    assert stats.register_stores == 300


def _defective(request: bytes, memory: DeviceMemory) -> bytes:
    raise RuntimeError("a bug of the fake")


def test_a_fakedev_defect_fails_the_campaign(tmp_path: Path) -> None:
    stats = campaign.run_target(
        tmp_path,
        "4xxxvf",
        requests=100,
        stores=0,
        seed=3,
        handlers={ServiceType.NULL: _defective},
    )
    assert stats.defects > 0
    assert stats.failed


def _slow(request: bytes, memory: DeviceMemory) -> bytes:
    time.sleep(0.2)
    return null_service(request, memory)


def test_a_step_past_the_hang_bound_is_a_hang(tmp_path: Path) -> None:
    stats = campaign.run_target(
        tmp_path,
        "4xxxvf",
        requests=10,
        stores=0,
        seed=4,
        hang_seconds=0.05,
        handlers={ServiceType.NULL: _slow},
    )
    assert stats.hangs > 0
    assert stats.failed


def _reaching_past_the_end(request: bytes, memory: DeviceMemory) -> bytes:
    end = memory.iova_base + memory.size
    memory.view(end - 16, 64)
    return null_service(request, memory)


def test_an_access_past_the_window_is_caught_even_if_the_window_lets_it_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DeviceMemory, "contains", lambda self, iova, length: True)
    stats = campaign.run_target(
        tmp_path,
        "4xxxvf",
        requests=10,
        stores=0,
        seed=5,
        handlers={ServiceType.NULL: _reaching_past_the_end},
    )
    assert stats.out_of_window > 0
    assert stats.failed


def test_a_device_write_outside_the_bytes_it_owns_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = Device.step

    def scribbling_step(self: Device) -> int:
        self.file.pmisc[-1] ^= 1  # the last PMISC word: no register the device writes
        return step(self)

    monkeypatch.setattr(Device, "step", scribbling_step)
    stats = campaign.run_target(tmp_path, "4xxxvf", requests=10, stores=0, seed=6)
    assert stats.outside_writes > 0
    assert stats.failed


def test_the_report_names_every_count() -> None:
    stats = campaign.Stats(requests=5, register_stores=7, crashes=1)
    text = campaign.report(stats, 1.0)
    for name in (
        "requests            5",
        "register stores     7",
        "crashes             1",
        "hangs",
        "out-of-window",
        "defects",
        "max step time",
        "peak RSS",
    ):
        assert name in text
    assert text.endswith("FAILED")
