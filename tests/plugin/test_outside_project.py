"""An application's own CI: a project outside this repository, whose tests use only the
``qat_host`` fixture and ``import qathw``, run by ``python -m pytest`` in its directory.

The plugin comes from the installed package (its ``pytest11`` entry point); nothing of
this repository's tests, conftest or settings is on the project's path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.plugin.procs import RECORD, hosts_seen, is_device_process, run_pytest

APP_TESTS = (
    """
import os
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import qathw
"""
    + RECORD
    + """

def test_ssl_encrypts_as_cryptography_does(qat_host):
    record(qat_host, "encrypt")
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(256)
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        got = insts.cy[0].cipher("aes-128-cbc", key).encrypt(data, iv)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    assert got == enc.update(data) + enc.finalize()


def test_ssl_compresses_what_zlib_inflates(qat_host):
    record(qat_host, "compress")
    data = b"the quick brown fox jumps over the lazy dog " * 50
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        out = insts.dc[0].compression().compress(data).output
    assert zlib.decompress(out, -15) == data


@pytest.mark.parametrize("n", [1, 2])
def test_the_environment_points_at_this_test_s_host(qat_host, n):
    record(qat_host, f"environment{n}")
    assert os.environ["QATHW_CONFIG_DIR"] == str(qat_host.config_dir)
    assert os.environ["QATHW_SYSFS_ROOT"] == str(qat_host.sysfs_root)
    with qathw.user_start("SSL") as held:
        assert held.name == "SSL_INT_0"


def test_the_environment_is_restored_after_the_fixture():
    assert "QATHW_CONFIG_DIR" not in os.environ
"""
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The application's repository: one test file, nothing else."""
    root = tmp_path / "app"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_app.py").write_text(textwrap.dedent(APP_TESTS))
    return root


def _leftovers(seen: list[dict[str, object]]) -> tuple[list[int], list[str]]:
    pids = [pid for s in seen for pid in s["pids"] if is_device_process(pid)]  # type: ignore[attr-defined]
    roots = [str(s["root"]) for s in seen if Path(str(s["root"])).exists()]
    return pids, roots


def test_an_outside_project_passes_with_the_fixture_alone(project: Path, tmp_path: Path) -> None:
    done = run_pytest(project, "-q", "-p", "no:xdist", seen=tmp_path / "seen")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
    seen = hosts_seen(tmp_path / "seen")
    assert len({s["root"] for s in seen}) == len(seen) == 4  # a host of its own per test
    assert _leftovers(seen) == ([], [])


def test_an_outside_project_passes_under_xdist_with_a_host_per_worker(
    project: Path, tmp_path: Path
) -> None:
    done = run_pytest(project, "-q", "-n", "2", seen=tmp_path / "seen")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
    seen = hosts_seen(tmp_path / "seen")
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}
    assert len({s["root"] for s in seen}) == len(seen) == 4
    assert _leftovers(seen) == ([], [])
