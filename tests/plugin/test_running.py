"""``fakedev.running``: a fake host for a ``with`` block, for code not on pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import fakedev
import qathw
from fakedev import Endpoint, FakeHostError, Section
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from tests.plugin.procs import device_processes_under, is_device_process


def _aes_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def test_the_default_host_gives_ssl_a_cy_and_a_dc_instance_that_work() -> None:
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(128)
    text = b"fakedev " * 100
    with fakedev.running() as host, host.environment():
        with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
            got = insts.cy[0].cipher("aes-128-cbc", key).encrypt(data, iv)
            packed = insts.dc[0].compression().compress(text).output
    assert (len(insts.cy), len(insts.dc)) == (1, 1)
    assert got == _aes_cbc(key, iv, data)
    assert zlib.decompress(packed, -15) == text


def test_the_default_host_is_one_4xxx_vf_serving_sym_and_dc() -> None:
    with fakedev.running() as host:
        shown = [(e.bdf, e.kind, e.services, e.config_file.name) for e in host.endpoints]
    assert shown == [("0000:00:10.0", "4xxxvf", "sym;dc", "4xxxvf_dev0.conf")]


def test_the_environment_is_set_inside_the_block_and_restored_after() -> None:
    before = {k: os.environ.get(k) for k in (ENV_SYSFS_ROOT, ENV_CONFIG_DIR, ENV_RUNTIME_DIR)}
    with fakedev.running() as host:
        with host.environment():
            inside = {k: os.environ[k] for k in before}
    assert inside == host.env
    assert {k: os.environ.get(k) for k in before} == before


def test_a_subprocess_given_the_env_finds_the_host() -> None:
    with fakedev.running() as host:
        done = subprocess.run(
            [sys.executable, "-m", "qathw", "sections", "--json"],
            env={**os.environ, **host.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert '"SSL_INT_0"' in done.stdout


def test_leaving_the_block_ends_every_device_process_and_removes_the_files() -> None:
    with fakedev.running() as host:
        pids = host.pids
        assert [is_device_process(p) for p in pids] == [True]
    assert [is_device_process(p) for p in pids] == [False]
    assert not host.root.exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_in_the_block_still_ends_the_processes(error: type[BaseException]) -> None:
    seen: list[fakedev.QatHost] = []
    with pytest.raises(error):
        with fakedev.running() as host:
            seen.append(host)
            raise error("inside")
    assert [is_device_process(p) for p in seen[0].pids] == [False]
    assert not seen[0].root.exists()


def test_a_given_directory_is_used_and_left_empty(tmp_path: Path) -> None:
    with fakedev.running(directory=tmp_path) as host:
        assert host.root == tmp_path
        assert host.endpoints[0].path.parent.parent == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("keep")
    with pytest.raises(FakeHostError, match="is not an empty directory"):
        with fakedev.running(directory=tmp_path):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_a_device_process_that_does_not_serve_in_time_is_stopped(tmp_path: Path) -> None:
    root = tmp_path / "host"
    with pytest.raises(FakeHostError, match=r"did not serve within 1e-06 s"):
        with fakedev.running(directory=root, timeout=1e-6):
            pass
    assert device_processes_under(root) == []
    assert not root.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": ["9xxxvf"]}, "unknown device '9xxxvf'; use a QAT class name"),
        (
            {"endpoints": [Endpoint("4xxxvf", "sym;crypto")]},
            "unknown service 'crypto'; use sym, asym or dc",
        ),
        ({"endpoints": []}, "a fake host needs at least one endpoint"),
        ({"endpoints": "4xxxvf"}, "endpoints must be a list"),
        ({"endpoints": [Endpoint(size=3 << 20)]}, "is not a power of two"),
        (
            {
                "endpoints": [
                    Endpoint(bdf="0000:00:10.0"),
                    Endpoint("4xxxvf", "dc", bdf="0000:00:10.0"),
                ]
            },
            "two endpoints at 0000:00:10.0",
        ),
        (
            {"endpoints": [Endpoint("4xxxvf", "asym;sym")]},
            "section SSL asks for 1 Dc instance(s), but no endpoint serves dc",
        ),
        ({"sections": [Section("SSL", cy=0, dc=0)]}, "give it at least one instance"),
        ({"sections": [Section("GENERAL")]}, "'GENERAL' cannot name a user section"),
        ({"sections": [Section("SSL"), Section("SSL")]}, "section SSL is given twice"),
        ({"sections": [Section("SSL", cy="1")]}, "cy cannot be '1'"),  # type: ignore[arg-type]
        ({"topology": "nowhere"}, "unknown topology 'nowhere'; use one of awkward"),
        ({"timeout": 0}, "timeout must be a positive number"),
    ],
)
def test_bad_input_is_refused_before_anything_is_made(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    root = tmp_path / "host"
    with pytest.raises(FakeHostError) as caught:
        with fakedev.running(directory=root, **kwargs):  # type: ignore[arg-type]
            pass
    assert message in str(caught.value)
    assert not root.exists()


def test_a_section_the_endpoints_cannot_hold_is_refused_with_qathw_s_reason(
    tmp_path: Path,
) -> None:
    root = tmp_path / "host"
    with pytest.raises(FakeHostError) as caught:
        with fakedev.running(sections=[Section("SSL", cy=1, dc=1, processes=3)], directory=root):
            pass
    assert "qathw finds the configuration for these endpoints and sections invalid" in str(
        caught.value
    )
    # a process creates its Dc instances before its sym ones: Dc0 finds no third dc bank
    assert "R8: Don't have enough rings for instance Dc0 in process SSL_INT_2" in str(caught.value)
    assert device_processes_under(root) == []
    assert not root.exists()


def test_a_pf_style_endpoint_shares_one_section_between_two_processes() -> None:
    code = (
        "import qathw, sys\n"
        "with qathw.user_start('IPSec') as held, qathw.open_instances(held) as insts:\n"
        "    print(held.name, len(insts.cy), flush=True)\n"
        "    sys.stdin.read()\n"  # hold it until told to go
    )
    with fakedev.running(
        [Endpoint("4xxx", "asym;sym")], [Section("IPSec", cy=2, processes=2)]
    ) as host:
        env = {**os.environ, **host.env}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            got = sorted(p.stdout.readline().strip() for p in procs)  # type: ignore[union-attr]
        finally:
            for p in procs:
                p.communicate("", timeout=60)
    assert got == ["IPSec_INT_0 2", "IPSec_INT_1 2"]


def test_a_gen2_vf_serves_a_cy_instance() -> None:
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(64)
    with fakedev.running([Endpoint("c6xxvf")], [Section("SSL", cy=1)]) as host:
        with host.environment():
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                got = insts.cy[0].cipher("aes-128-cbc", key).encrypt(data, iv)
    assert host.endpoints[0].config_file.name == "c6xxvf_dev0.conf"
    assert got == _aes_cbc(key, iv, data)


def test_beside_a_topology_the_endpoints_files_continue_its_numbering() -> None:
    with fakedev.running(topology="seed") as host, host.environment():
        names = [e.config_file.name for e in host.endpoints]
        with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
            bdfs = sorted(str(i.record.device.bdf) for i in (*insts.cy, *insts.dc))
    # seed: two 4xxx PFs with 16 VFs each on vfio-pci, so 4xxxvf 0..31 are taken
    assert names == ["4xxxvf_dev32.conf"]
    assert bdfs == ["0000:00:10.0", "0000:00:10.0"]


def test_device_processes_end_when_the_process_that_started_them_is_killed(
    tmp_path: Path,
) -> None:
    code = (
        "import sys, fakedev\n"
        "with fakedev.running(directory=sys.argv[1]) as host:\n"
        "    print(*host.pids, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "host")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    pids = [int(p) for p in owner.stdout.readline().split()]
    assert [is_device_process(p) for p in pids] == [True]
    owner.kill()  # no cleanup runs in it: the kernel's SIGTERM must end them
    owner.wait()
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a measurement
    while any(is_device_process(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [is_device_process(p) for p in pids] == [False]
