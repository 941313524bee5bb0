"""One guest, booted once for this module: the harness API, VFIO on a real kernel, requests.

The guest (Debian's kernel under TCG, q35 + intel-iommu) gets two ivshmem-plain functions
backed by emulated QAT endpoint files written here, each served by its own ``python -m
fakedev serve``: a gen4 VF (``4xxxvf``, 00:10.0) and a gen2 VF (``c6xxvf``, 00:11.0); and
QEMU's edu device behind a PCIe-to-PCI bridge with a virtio-rng function (one IOMMU group,
for the not-viable case). The VFIO behaviours run inside the guest as one pytest run on
the gen4 endpoint (``tests/vm/guest/test_vfio_guest.py``); each of them is reported here
as its own test. Then the request layer runs there through VFIO on both endpoints
(``tests/vm/guest_requests.py``, and ``qathw sample cipher`` as users run it): the guest
computes with qathw on inputs made here, and this process checks the outputs against
``cryptography``, ``hashlib`` and ``zlib``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR
from tests.vm import guest_requests
from tests.vm.endpoint_file import EndpointFacts, create_endpoint_file, ivshmem_bdf
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
GEN4_DEVICE, GEN2_DEVICE, GEN2_SIZE = "4xxxvf", "c6xxvf", 1 << 20
# One process opens the VFIO groups itself: no section broker to start (seconds under
# TCG) nor left lingering over the groups; the broker path has tests/vm/test_seed_through_vfio.py.
REQUEST_ENV = {
    "QATHW_BROKER": "off",
    ENV_CONFIG_DIR: "/tmp/qathw-requests/etc",  # in the guest's own /tmp
    ENV_RUNTIME_DIR: "/tmp/qathw-requests/run",
}
SAMPLE_COUNT = 100  # DES encryptions of 'qathw sample cipher' (each about 10 ms under TCG)


@pytest.fixture(scope="module")
def endpoint_file(tmp_path_factory: pytest.TempPathFactory) -> EndpointFacts:
    return create_endpoint_file(tmp_path_factory.mktemp("vm") / "endpoint.qat", device=GEN4_DEVICE)


@pytest.fixture(scope="module")
def backend(endpoint_file: EndpointFacts) -> Iterator[HostProcess]:
    """The host backend serving the gen4 endpoint (python -m fakedev serve): sym and dc."""
    with fakedev_backend(endpoint_file.path, services=guest_requests.GEN4_SERVICES) as proc:
        yield proc


@pytest.fixture(scope="module")
def endpoint(endpoint_file: EndpointFacts, backend: HostProcess) -> EndpointFacts:
    return dataclasses.replace(endpoint_file, backend_pid=backend.pid, bdf=ivshmem_bdf(0))


@pytest.fixture(scope="module")
def gen2_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """A gen2 VF endpoint (DES runs there, on no gen4 one), served by its own backend."""
    path = tmp_path_factory.mktemp("vm-gen2") / "gen2.qat"
    create_endpoint_file(path, device=GEN2_DEVICE, total_size=GEN2_SIZE)
    with fakedev_backend(path) as proc:
        yield proc


@pytest.fixture(scope="module")
def guest_spec(endpoint: EndpointFacts, gen2_backend: HostProcess) -> GuestSpec:
    # In this order: the gen4 endpoint at ivshmem_bdf(0), the gen2 one at ivshmem_bdf(1).
    files = (Path(endpoint.path), Path(gen2_backend.argv[-1]))
    return GuestSpec(shared_memory=files, devices=TOPOLOGY)


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


# --- the request layer in the guest, through VFIO ----------------------------------------


@dataclasses.dataclass(frozen=True)
class RequestsRun:
    """What the guest was given (hex, made here) and what it computed with qathw."""

    work: dict[str, Any]
    out: dict[str, Any]


def _low_entropy(rng: random.Random, size: int) -> bytes:
    """Compressible bytes: a few letters, and runs of them."""
    out = bytearray()
    while len(out) < size:
        out += bytes([rng.choice(b"qathw ")]) * rng.randint(1, 9)
    return bytes(out[:size])


def _work() -> dict[str, Any]:
    """Random keys, IVs, nonces and data for the guest, as hex."""
    rng = random.Random(os.urandom(8))
    rand = os.urandom
    dc_data = [_low_entropy(rng, n) for n in (1, 1000, 16 << 10)]
    return {
        "des": {
            "key": rand(8).hex(),
            "items": [{"iv": rand(8).hex(), "data": rand(n).hex()} for n in (8, 64, 1024)],
        },
        "gcm": {
            "algorithm": "aes-256-gcm",
            "key": rand(32).hex(),
            "items": [
                {"nonce": rand(12).hex(), "aad": rand(a).hex(), "data": rand(n).hex()}
                for n, a in ((0, 13), (1, 0), (100, 20), (1500, 13))
            ],
        },
        "sha256": [rand(n).hex() for n in (0, 1, 55, 56, 64, 1000, 4103)],
        "deflate": {
            "compress": [d.hex() for d in dc_data],
            "decompress": [
                {"stream": _raw_deflate(d, level, strategy).hex(), "size": len(d)}
                for d, (level, strategy) in zip(dc_data, ZLIB_BLOCKS, strict=True)
            ],
        },
    }


# zlib's level and strategy for the streams the guest inflates: a stored block, fixed
# Huffman codes, dynamic ones.
ZLIB_BLOCKS = ((0, zlib.Z_DEFAULT_STRATEGY), (6, zlib.Z_FIXED), (9, zlib.Z_DEFAULT_STRATEGY))


def _raw_deflate(data: bytes, level: int, strategy: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush()


def _inflate(stream: bytes) -> tuple[bytes, bool]:
    """``stream`` inflated by zlib as raw deflate; whether it ended with its final block."""
    d = zlib.decompressobj(-15)
    return d.decompress(stream) + d.flush(), d.eof


@pytest.fixture(scope="module")
def requests_run(guest: Guest, request: pytest.FixtureRequest) -> RequestsRun:
    """``tests/vm/guest_requests.py`` run once in the guest on this module's work.

    It binds both endpoints to vfio-pci and leaves the configuration in the guest, where
    the ``qathw sample cipher`` test uses it.
    """
    work = _work()
    result = guest.run(
        [sys.executable, "-m", "tests.vm.guest_requests"],
        input=json.dumps(work),
        env=REQUEST_ENV,
        timeout=300,
        check=True,
    )
    out = result.json()
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:  # where the guest time goes (the rest: interpreter, imports)
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in out["seconds"].items())
        terminal.write_line(f"\nthe request run took {result.seconds:.1f} s in the guest: {parts}")
    return RequestsRun(work, out)


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text)


def test_requests_run_through_vfio_on_the_gen2_and_the_gen4_endpoint(
    requests_run: RequestsRun,
) -> None:
    gen4 = {"bdf": ivshmem_bdf(0), "class_name": GEN4_DEVICE, "access": "vfio"}
    gen2 = {"bdf": ivshmem_bdf(1), "class_name": GEN2_DEVICE, "access": "vfio"}
    assert requests_run.out["instances"] == {
        guest_requests.GEN2_CY: gen2,
        guest_requests.GEN4_CY: gen4,
        guest_requests.GEN4_DC: gen4,
    }
    assert len(requests_run.out["vfio_groups"]) == 2  # both groups open in that process


def test_des_sample_in_the_guest_matches_cryptography_on_the_host(
    requests_run: RequestsRun,
) -> None:
    des = requests_run.work["des"]
    key = _bytes(des["key"])  # single DES: 3DES with K1 = K2 = K3
    expected = [
        Cipher(TripleDES(key * 3), modes.CBC(_bytes(i["iv"]))).encryptor().update(_bytes(i["data"]))
        for i in des["items"]
    ]
    assert [_bytes(c) for c in requests_run.out["des"]] == expected


def test_aes_gcm_in_the_guest_matches_cryptography_on_the_host(requests_run: RequestsRun) -> None:
    gcm = requests_run.work["gcm"]
    aead = AESGCM(_bytes(gcm["key"]))
    expected = [
        aead.encrypt(_bytes(i["nonce"]), _bytes(i["data"]), _bytes(i["aad"])) for i in gcm["items"]
    ]
    assert [_bytes(c) for c in requests_run.out["gcm"]] == expected


def test_sha256_in_the_guest_matches_hashlib_on_the_host(requests_run: RequestsRun) -> None:
    expected = [hashlib.sha256(_bytes(d)).hexdigest() for d in requests_run.work["sha256"]]
    assert requests_run.out["sha256"] == expected


def test_deflate_from_the_guest_inflates_with_zlib_on_the_host(requests_run: RequestsRun) -> None:
    inputs = [_bytes(d) for d in requests_run.work["deflate"]["compress"]]
    produced = requests_run.out["deflate"]["compressed"]
    assert [_inflate(_bytes(p["stream"])) for p in produced] == [(d, True) for d in inputs]
    assert [p["crc32"] for p in produced] == [zlib.crc32(d) for d in inputs]
    assert all(p["end_of_stream"] for p in produced)


def test_the_guest_inflates_deflate_streams_made_by_zlib_on_the_host(
    requests_run: RequestsRun,
) -> None:
    inputs = requests_run.work["deflate"]["compress"]  # what the streams were made from
    assert requests_run.out["deflate"]["decompressed"] == inputs


def test_qathw_sample_cipher_des_cbc_passes_in_the_guest_on_the_gen2_endpoint(
    guest: Guest, requests_run: RequestsRun
) -> None:
    # As users run it: the command on PATH, its default section [SSL] (on the gen2 endpoint
    # alone, in the files the request run left), every ciphertext checked against cryptography.
    n, section, cy = SAMPLE_COUNT, guest_requests.SAMPLE_SECTION, guest_requests.SAMPLE_CY
    done = guest.run(
        ["qathw", "sample", "cipher", "--alg", "des-cbc", "-n", str(n)],
        env=REQUEST_ENV,
        timeout=300,
    )
    assert done.rc == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        f"des-cbc: {n} x 64 bytes on {cy} ({section}_DEV1_INT_0, qat_dev1 {ivshmem_bdf(1)}, "
        "bank 0)",
        f"verified against cryptography: {n} of {n}, all match",
    ]
