"""A new backend on a file an earlier one served: it adopts it, or refuses it clearly.

docs/split-driver.md#adoption: the file's layout version must be this fakedev's; the
features an earlier backend published must be the ones this backend would serve (else a
refusal that says what to do, the file untouched); the PF agent's memory of the VF
(``pf_state``) is adopted, so a VF that sent INIT to backend A hears a restart from
backend B (Linux carries the same two facts across a VF migration:
``adf_gen4_vfmig_save_generic`` saves ``vf_info->init`` and ``vf_compat_ver``).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.device import Device
from fakedev.endpoint_file import EndpointFileError
from qathw.emulated import qathw_emu_control, qathw_emu_features
from qathw.transport import pfvf
from qathw.transport.pfvf import Pf2VfType
from tests.fakedev_cli import run_fakedev
from tests.split_driver.helpers import Page, RawVf, new_endpoint, serving, wait_until


@pytest.fixture
def endpoint(tmp_path: Path) -> Path:
    return new_endpoint(tmp_path / "ep.qat")


def _make_v1(path: Path) -> None:
    with Page(path) as page:
        page.set("layout_version", 1)


# --- layout version -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "status"])
def test_a_layout_version_1_file_is_refused_with_a_hint(endpoint: Path, command: str) -> None:
    _make_v1(endpoint)
    before = endpoint.read_bytes()
    done = run_fakedev(command, str(endpoint))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "layout version 1, this qathw reads version 2" in done.stderr
    assert "recreate it with this qathw's fakedev" in done.stderr and "--force" in done.stderr
    assert endpoint.read_bytes() == before


def test_create_names_the_old_layout_of_a_file_it_will_not_replace(endpoint: Path) -> None:
    _make_v1(endpoint)
    done = run_fakedev("create", str(endpoint))
    assert done.returncode == 1
    assert "exists (an endpoint of layout version 1; this fakedev serves version 2 only)" in (
        done.stderr
    )
    assert "pass --force to replace it" in done.stderr
    assert run_fakedev("create", str(endpoint), "--force").returncode == 0
    assert endpoint_file.read_info(endpoint).backend_state.name == "INITIALISING"


def test_a_device_model_refuses_a_version_1_file(endpoint: Path) -> None:
    _make_v1(endpoint)
    with pytest.raises(EndpointFileError, match="layout version 1"):
        Device(endpoint)


# --- features -----------------------------------------------------------------------------


def test_a_backend_serving_other_services_is_refused_and_the_file_left_byte_identical(
    endpoint: Path,
) -> None:
    with serving(endpoint, "--services", "sym;asym"):
        pass  # served once: its features are published
    before = endpoint.read_bytes()
    done = run_fakedev("serve", str(endpoint), "--services", "dc")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    err = done.stderr
    assert "was served with ring-to-service map 0x071c (banks asym,sym,asym,sym)" in err
    assert "this backend would serve ring-to-service map 0x0492 (banks comp,comp,comp,comp)" in err
    assert "--services 'sym;asym'" in err and f"create {endpoint} --force" in err
    assert endpoint.read_bytes() == before
    assert not endpoint_file.lock_path(endpoint).exists()  # let go of the lock too


def test_a_refused_device_lets_go_of_the_file_and_the_lock(endpoint: Path) -> None:
    with Device(endpoint) as first:
        first.connect()
        first.disconnect()
    dev = Device(endpoint, ring_service_map=pfvf.DC_ONLY_RING_SVC_MAP)
    with pytest.raises(EndpointFileError, match="recreate the file"):
        dev.connect()
    dev.close()  # no view of the mapping kept alive by the refusal
    assert endpoint_file.holder_pid(endpoint) == 0


def test_a_backend_with_the_same_services_adopts_the_file(endpoint: Path) -> None:
    with serving(endpoint, "--services", "sym;dc"), Page(endpoint) as page:
        first = page.control()
    with serving(endpoint, "--services", "dc;sym"), Page(endpoint) as page:  # the same set
        second = page.control()
    assert second.features == first.features
    assert second.backend_epoch not in (0, first.backend_epoch)


def test_features_someone_wrote_by_hand_are_refused_without_a_services_hint(
    endpoint: Path,
) -> None:
    # published, with a map no cfg_services value lays out (a guest can write anything)
    at = qathw_emu_control.features.offset
    with Page(endpoint) as page:
        for field, value in (("flags", 7), ("ring_service_map", 0x0123)):
            off = at + getattr(qathw_emu_features, field).offset
            page.mm[off : off + 4] = value.to_bytes(4, "little")
    done = run_fakedev("serve", str(endpoint))
    assert done.returncode == 1
    assert "--services" not in done.stderr and "--force" in done.stderr


# --- the PF agent's memory of the VF ---------------------------------------------------


def test_the_pf_agent_mirrors_the_vfs_version_and_init_into_the_page(endpoint: Path) -> None:
    with Device(endpoint) as dev, Page(endpoint) as page:
        dev.connect()
        vf = RawVf(page, idle=dev.step)
        vf.send(pfvf.Vf2PfType.COMPAT_VER_REQ, 4)
        vf.receive()
        assert (page.get("pf_state") & 0xFFFF) == 4  # vf_compat 4, vf_init 0
        vf.send(pfvf.Vf2PfType.INIT)
        assert (page.get("pf_state") & 0xFFFF) == 4 | 1 << 8
        vf.send(pfvf.Vf2PfType.SHUTDOWN)
        assert (page.get("pf_state") & 0xFFFF) == 4
        dev.disconnect()


def test_a_vf_that_sent_init_to_backend_a_hears_the_restart_of_backend_b(
    endpoint: Path,
) -> None:
    with Page(endpoint) as page:
        with serving(endpoint):
            RawVf(page).init_v5()
            wait_until("the INIT mirrored", lambda: page.get("pf_state") & 0xFFFF == 0x105)
        with serving(endpoint):
            done = run_fakedev("inject", str(endpoint), "restart")
            assert done.returncode == 0, done.stderr
            word = RawVf(page).receive()
            assert pfvf.msg_type(word) == Pf2VfType.RESTARTING


def test_a_backend_killed_mid_life_leaves_what_it_knew_to_the_next(endpoint: Path) -> None:
    with Page(endpoint) as page:
        with serving(endpoint) as proc:
            RawVf(page).init_v5()
            wait_until("the INIT mirrored", lambda: page.get("pf_state") & 0xFFFF == 0x105)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        with Device(endpoint) as dev:
            dev.connect()
            assert dev.agent is not None
            assert (dev.agent.vf_compat, dev.agent.vf_init) == (5, True)
            dev.disconnect()


@pytest.mark.parametrize(
    ("vf_compat", "vf_init"),
    [(pfvf.COMPAT_THIS_VERSION + 1, 1), (255, 1), (5, 2), (5, 255)],
    ids=["newer-version", "version-255", "init-2", "init-255"],
)
def test_a_pf_state_no_pf_would_hold_is_not_adopted(
    endpoint: Path, vf_compat: int, vf_init: int
) -> None:
    with Page(endpoint) as page:
        page.set("pf_state", vf_compat | vf_init << 8)
        with Device(endpoint) as dev:
            dev.connect()
            assert dev.agent is not None
            want = (
                vf_compat if vf_compat <= pfvf.COMPAT_THIS_VERSION else 0,
                vf_init == 1,
            )
            assert (dev.agent.vf_compat, dev.agent.vf_init) == want
            assert page.get("pf_state") & 0xFFFF == want[0] | int(want[1]) << 8
            dev.disconnect()


def test_a_connected_backend_clears_a_pending_suspend_request(endpoint: Path) -> None:
    with Page(endpoint) as page:
        page.set("suspend_request", 41)
        with Device(endpoint) as dev:
            dev.connect()
            assert page.get("suspend_request") == 0
            dev.disconnect()
