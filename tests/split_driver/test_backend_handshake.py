"""The backend's half of the handshake: XenbusState transitions of blkif's diagram.

docs/split-driver.md#states: a starting backend publishes its features and waits in
InitWait; it is Connected once the frontend is Initialised (or Connected) under the
backend's epoch, back in InitWait when the frontend leaves, and Closing then Closed when
it stops. The frontend's words are written straight into the page here, as any frontend
(or a hostile guest) can write them.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev.device import Device, capabilities_for
from fakedev.runner import DeviceThread
from qathw.emulated import Feature, XenbusState
from qathw.transport import pfvf
from qathw.transport.csr import RING_SIZE_CODE_MAX, RING_SIZE_CODE_MIN, ring_bytes
from qathw.transport.pfvf import RingService
from tests.fakedev_cli import run_fakedev
from tests.split_driver.helpers import Page, new_endpoint, serving, wait_until


@pytest.fixture
def endpoint(tmp_path: Path) -> Path:
    return new_endpoint(tmp_path / "ep.qat")


@pytest.fixture
def device(endpoint: Path) -> Iterator[Device]:
    dev = Device(endpoint)
    dev.connect()
    yield dev
    dev.disconnect()
    dev.close()


def test_a_new_file_is_initialising_with_nothing_published(endpoint: Path) -> None:
    with Page(endpoint) as page:
        info = page.control()
    assert info.backend_state is XenbusState.INITIALISING
    assert not info.features.published and info.backend_epoch == 0


def test_a_served_endpoint_waits_in_init_wait_with_its_features_published(
    endpoint: Path,
) -> None:
    with serving(endpoint, "--services", "sym;dc") as proc, Page(endpoint) as page:
        info = page.control()
        assert info.backend_state is XenbusState.INIT_WAIT and info.backend_epoch != 0
        f = info.features
        assert f.flags == Feature.BANK_LINKS | Feature.SUSPEND | Feature.DEVICE_RESETS
        assert f.ring_service_map == pfvf.ring_service_map_from_names("sym;dc")
        services = pfvf.decode_ring_service_map(f.ring_service_map)
        assert f.capabilities == capabilities_for(services)
        assert (f.min_ring_bytes, f.max_ring_bytes) == (
            ring_bytes(RING_SIZE_CODE_MIN),
            ring_bytes(RING_SIZE_CODE_MAX),
        )
        assert proc.poll() is None


def test_the_backend_connects_once_the_frontend_is_initialised_under_its_epoch(
    endpoint: Path,
) -> None:
    with serving(endpoint), Page(endpoint) as page:
        page.handshake(XenbusState.INITIALISED)
        wait_until("Connected", lambda: page.control().backend_state is XenbusState.CONNECTED)


def test_a_frontend_that_closes_sends_the_backend_back_to_init_wait_for_the_next(
    endpoint: Path,
) -> None:
    with serving(endpoint), Page(endpoint) as page:
        page.handshake(XenbusState.CONNECTED)
        wait_until("Connected", lambda: page.control().backend_state is XenbusState.CONNECTED)
        page.set("frontend_state", XenbusState.CLOSED)
        wait_until("InitWait", lambda: page.control().backend_state is XenbusState.INIT_WAIT)
        page.handshake(XenbusState.INITIALISED)  # reconnect
        wait_until("Connected", lambda: page.control().backend_state is XenbusState.CONNECTED)


def test_a_frontend_initialised_under_an_older_epoch_does_not_connect_the_backend(
    device: Device, endpoint: Path
) -> None:
    with Page(endpoint) as page:
        page.set("frontend_epoch", page.get("backend_epoch") ^ 1)
        page.set("frontend_state", XenbusState.INITIALISED)
        device.step()
        device.step()
        assert page.control().backend_state is XenbusState.INIT_WAIT


@pytest.mark.parametrize("state", [XenbusState.INITIALISING, XenbusState.UNKNOWN, 77])
def test_a_frontend_in_no_connected_state_does_not_connect_the_backend(
    device: Device, endpoint: Path, state: int
) -> None:
    with Page(endpoint) as page:
        page.handshake()
        page.set("frontend_state", state)
        device.step()
        assert page.control().backend_state is XenbusState.INIT_WAIT


def test_every_backend_start_writes_a_new_nonzero_epoch(endpoint: Path) -> None:
    epochs = []
    for _ in range(3):
        with Device(endpoint) as dev:
            dev.connect()
            with Page(endpoint) as page:
                epochs.append(page.get("backend_epoch"))
            dev.disconnect()
    assert 0 not in epochs and len(set(epochs)) == 3


def test_stopping_goes_through_closing_to_closed_without_a_pid(
    device: Device, endpoint: Path
) -> None:
    with Page(endpoint) as page:
        device.closing()
        assert page.control().backend_state is XenbusState.CLOSING
        device.disconnect()
        info = page.control()
        assert info.backend_state is XenbusState.CLOSED and info.backend_pid == 0


def test_sigterm_leaves_the_endpoint_closed(endpoint: Path) -> None:
    with serving(endpoint) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    with Page(endpoint) as page:
        info = page.control()
        assert info.backend_state is XenbusState.CLOSED and info.backend_pid == 0


def test_a_device_thread_goes_to_init_wait_and_leaves_the_endpoint_closed(endpoint: Path) -> None:
    with DeviceThread(endpoint), Page(endpoint) as page:
        assert page.control().backend_state is XenbusState.INIT_WAIT
    with Page(endpoint) as page:
        assert page.control().backend_state is XenbusState.CLOSED


def test_a_never_connected_device_writes_no_state(endpoint: Path) -> None:
    # A device stepped by hand (unit tests) is no backend: the page's states are not its.
    with Device(endpoint) as dev, Page(endpoint) as page:
        dev.step()
        dev.disconnect()
        assert page.control().backend_state is XenbusState.INITIALISING


def test_a_gen2_backend_publishes_no_service_map(tmp_path: Path) -> None:
    path = new_endpoint(tmp_path / "c6xx.qat", "c6xxvf")
    with Device(path, ring_service_map=pfvf.DC_ONLY_RING_SVC_MAP) as dev, Page(path) as page:
        dev.connect()
        f = page.control().features
        assert f.published and f.ring_service_map == 0  # every bank serves everything
        assert f.capabilities == capabilities_for(tuple(RingService), dev.layout.generation)
        dev.disconnect()


def test_status_shows_the_split_driver_fields(endpoint: Path) -> None:
    with serving(endpoint), Page(endpoint) as page:
        page.handshake()
        page.link(2, page.get("backend_epoch"))
        page.link(3, 12345)  # another epoch: not current
        wait_until("Connected", lambda: page.control().backend_state is XenbusState.CONNECTED)
        st = json.loads(run_fakedev("status", str(endpoint), "--json").stdout)
        assert st["frontend_epoch"] == st["backend_epoch"] != 0
        assert st["features"]["published"] and st["features"]["services"] == "sym;asym"
        assert st["features"]["flags"] == ["BANK_LINKS", "SUSPEND", "DEVICE_RESETS"]
        assert st["pf_state"] == {"vf_compat": 0, "vf_init": 0}
        assert (st["device_resets"], st["suspend_request"]) == (0, 0)
        assert [link["current"] for link in st["links"]] == [False, False, True, False]
        text = run_fakedev("status", str(endpoint)).stdout
        assert "linked banks   2 (of 4)" in text and "suspend        none requested" in text
        assert "features       sym;asym (map 0x071c)" in text


def test_status_wait_accepts_a_backend_waiting_for_its_frontend(endpoint: Path) -> None:
    with serving(endpoint):
        done = run_fakedev("status", str(endpoint), "--wait", "5", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["backend_state"] == "INIT_WAIT"
