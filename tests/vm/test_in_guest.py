"""One guest, booted once for this module: the harness API, then VFIO on a real kernel.

The guest (Debian's kernel under TCG, q35 + intel-iommu) gets an ivshmem-plain function
backed by an emulated QAT endpoint file written here, and QEMU's edu device behind a
PCIe-to-PCI bridge with a virtio-rng function (one IOMMU group, for the not-viable case).
The VFIO behaviours run inside the guest as one pytest run
(``tests/vm/guest/test_vfio_guest.py``); each of them is reported here as its own test.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm.endpoint_file import EndpointFacts, create_endpoint_file
from tests.vm.guest import test_vfio_guest as guest_suite_module
from vm.backend import HostProcess, fakedev_backend
from vm.errors import GuestCommandError
from vm.guest import PROJECT_ROOT, Guest, GuestSpec, PytestRun

pytestmark = pytest.mark.vm

GUEST_TESTS = sorted(n for n in vars(guest_suite_module) if n.startswith("test_"))
TOPOLOGY = (
    "pcie-pci-bridge,id=qathwbr,addr=0x18",
    "edu,bus=qathwbr,addr=0x1",
    "virtio-rng-pci,bus=qathwbr,addr=0x2",
)


@pytest.fixture(scope="module")
def endpoint_file(tmp_path_factory: pytest.TempPathFactory) -> EndpointFacts:
    return create_endpoint_file(tmp_path_factory.mktemp("vm") / "endpoint.qat")


@pytest.fixture(scope="module")
def backend(endpoint_file: EndpointFacts) -> Iterator[HostProcess]:
    """The host backend serving the endpoint the guest sees (python -m fakedev serve)."""
    with fakedev_backend(endpoint_file.path) as proc:
        yield proc


@pytest.fixture(scope="module")
def endpoint(endpoint_file: EndpointFacts, backend: HostProcess) -> EndpointFacts:
    return dataclasses.replace(endpoint_file, backend_pid=backend.pid)


@pytest.fixture(scope="module")
def guest_spec(endpoint: EndpointFacts) -> GuestSpec:
    return GuestSpec(shared_memory=(Path(endpoint.path),), devices=TOPOLOGY)


@pytest.fixture(scope="module")
def guest_suite(guest: Guest, endpoint: EndpointFacts) -> PytestRun:
    # These tests drive VFIO itself (busy groups, memlock, interrupts): each process opens
    # the group directly, not through the section broker (tests/vm/test_broker_holders.py).
    env = {**endpoint.as_env(), "QATHW_BROKER": "off"}
    return guest.pytest("tests/vm/guest", env=env, timeout=480)


# --- the harness ------------------------------------------------------------------------


def test_guest_runs_the_debian_kernel_it_was_given(guest: Guest) -> None:
    result = guest.run("uname -r", check=True)
    assert result.stdout.strip() == guest.tools.release == guest.hello["kernel"]


def test_exit_code_stdout_and_stderr_come_back_separately(guest: Guest) -> None:
    result = guest.run("echo out; echo err >&2; exit 7")
    assert (result.rc, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert not result.ok


def test_an_argv_command_is_not_parsed_by_a_shell(guest: Guest) -> None:
    result = guest.run(["printf", "%s|", "a b", "$HOME"], check=True)
    assert result.stdout == "a b|$HOME|"


def test_stdin_text_reaches_the_command(guest: Guest) -> None:
    assert guest.run("tr a-z A-Z", input="hello").stdout == "HELLO"


def test_commands_run_as_root_on_the_project_checkout_and_venv(guest: Guest) -> None:
    code = "import os, sys, qathw; print(os.getuid(), sys.prefix, qathw.__file__)"
    uid, prefix, module = guest.python("-c", code, check=True).stdout.split()
    assert uid == "0"
    assert prefix == sys.prefix
    assert module == str(PROJECT_ROOT / "qathw" / "__init__.py")


def test_a_command_past_its_timeout_is_killed_and_the_guest_stays_usable(guest: Guest) -> None:
    result = guest.run("sleep 60", timeout=1)
    assert result.timed_out and not result.ok
    assert result.seconds < 10
    assert guest.run("true").ok


def test_check_raises_with_the_commands_output(guest: Guest) -> None:
    with pytest.raises(GuestCommandError, match=r"(?s)exited 2.*boom"):
        guest.run("echo boom; exit 2", check=True)


def test_qmp_controls_the_guests_qemu(guest: Guest) -> None:
    assert guest.qmp("query-status")["status"] == "running"
    pci = guest.qmp("query-pci")
    devices = [(d["id"]["vendor"], d["id"]["device"]) for bus in pci for d in bus["devices"]]
    assert (0x1AF4, 0x1110) in devices  # the ivshmem function carrying the endpoint


def test_every_process_of_the_guest_is_known_by_pid(guest: Guest) -> None:
    assert guest.qemu_pid in guest.pids
    assert all(Path(f"/proc/{pid}").exists() for pid in guest.pids)


# --- VFIO in the guest -------------------------------------------------------------------


@pytest.fixture(scope="module")
def guest_cases(guest_suite: PytestRun) -> Iterator[PytestRun]:
    assert guest_suite.cases, (
        f"the guest pytest run produced no results (rc {guest_suite.result.rc})\n"
        f"{guest_suite.result.stdout[-3000:]}\n{guest_suite.result.stderr[-3000:]}"
    )
    yield guest_suite


@pytest.mark.parametrize("name", GUEST_TESTS)
def test_in_guest(name: str, guest_cases: PytestRun) -> None:
    case = guest_cases.cases.get(name)
    assert case is not None, f"{name} did not run in the guest"
    assert case.outcome == "passed", f"{name} {case.outcome} in the guest:\n{case.message}"


def test_the_guest_ran_exactly_the_guest_suite(guest_cases: PytestRun) -> None:
    assert sorted(guest_cases.cases) == GUEST_TESTS
    assert guest_cases.result.rc == 0


def test_the_backend_served_the_guest_to_the_end(
    guest_cases: PytestRun, backend: HostProcess
) -> None:
    assert backend.alive(), backend.output


def test_guest_writes_through_vfio_are_seen_in_the_host_file(
    guest_cases: PytestRun, endpoint: EndpointFacts
) -> None:
    mark = guest_suite_module.GUEST_MARK
    with open(endpoint.path, "rb") as f:
        f.seek(endpoint.total_size - guest_suite_module.MARK_SLOT)
        assert f.read(len(mark)) == mark
