"""A bug of the fake device is a fakedev defect, never a device status.

The engine is broken on purpose inside real ``fakedev serve`` processes: a wrapper program
makes the engine's request execution fail on requests of exactly 48 bytes, then runs the
CLI. The host meets the defect through the real request path, ``qathw.open_instances`` and
sessions; other requests keep working.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import qathw
from qathw.errors import FakedevDefectError, RequestError
from qathw.service.instance import Instances
from tests.fakedev_cli import run_fakedev
from tests.service import rig

ROOT = Path(__file__).resolve().parents[2]
KEY = bytes(range(16))
IV = bytes(16)
BROKEN = "deliberately broken engine"

# ``python -c`` program: the fakedev CLI (``sys.argv[1:]``), its engine failing on every LA
# request whose cipher or auth region is 48 bytes, every COMP request of 48 bytes, and
# every multi-buffer CBC job of exactly 3 requests.
BROKEN_BACKEND = f"""
import struct
import sys
from fakedev.__main__ import main
from fakedev.engine import mbcbc
from fakedev.engine.comp import CompHandler
from fakedev.engine.la import LaHandler

def broken(execute, *length_offsets):
    def _execute(self, request, memory):
        if 48 in [struct.unpack_from("<I", request, at)[0] for at in length_offsets]:
            raise ArithmeticError("{BROKEN}")
        return execute(self, request, memory)
    return _execute

LaHandler._execute = broken(LaHandler._execute, 60, 84)
CompHandler._execute = broken(CompHandler._execute, 56)
multibuffer = mbcbc.run

def run(cipher, requests, memory, out):
    if requests.shape[0] == 3:
        raise ArithmeticError("{BROKEN}")
    return multibuffer(cipher, requests, memory, out)

mbcbc.run = run
sys.exit(main(sys.argv[1:]))
"""
WHERE = r"__main__:_execute:\d+"  # the replaced function: where the engine failed


@dataclass
class Broken:
    host: rig.Host
    insts: Instances
    stderr: dict[str, Path]  # bdf -> the backend's stderr


def _fakedev(*args: str) -> subprocess.CompletedProcess[str]:
    return run_fakedev(*args)


def _status(path: Path) -> dict[str, Any]:
    done = _fakedev("status", str(path), "--json")
    assert done.returncode == 0, done.stderr
    st: dict[str, Any] = json.loads(done.stdout)
    return st


@pytest.fixture(scope="module")
def broken() -> Iterator[Broken]:
    """The default host, each endpoint served by a broken-engine ``fakedev serve`` process,
    and ``[SSL]``'s instances open on them."""
    host = rig.build()
    procs: list[subprocess.Popen[str]] = []
    try:
        stderr = {}
        for bdf, path in host.files.items():
            stderr[bdf] = host.root / f"backend-{bdf.replace(':', '-')}.err"
            with stderr[bdf].open("w") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-c", BROKEN_BACKEND, "serve", str(path),
                     "--services", host.services[bdf]],
                    stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                )  # fmt: skip
            procs.append(proc)
            assert proc.stdout is not None and "serving" in proc.stdout.readline()
        with rig.environment(host), qathw.user_start("SSL") as held:
            with qathw.open_instances(held) as insts:
                yield Broken(host, insts, stderr)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        rig.remove(host)


def _ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def _crypto(b: Broken) -> tuple[Path, Path]:
    bdf = rig.DEFAULT_ENDPOINTS[0].bdf
    return b.host.files[bdf], b.stderr[bdf]


def test_a_cipher_request_the_engine_fails_on_raises_fakedev_defect_error(
    broken: Broken,
) -> None:
    with broken.insts.cy[0].cipher("aes-128-ctr", KEY) as s:
        with pytest.raises(FakedevDefectError) as info:
            s.encrypt(b"x" * 48, IV)
    err = info.value
    assert not isinstance(err, RequestError)
    assert re.fullmatch(rf"{WHERE}: ArithmeticError: {BROKEN}", err.defect)
    assert "fakedev defect, not a device status" in str(err)
    assert f"({err.defect})" in str(err) and "FATAL_ERROR" not in str(err)
    assert err.hint is not None and "traceback" in err.hint and "stderr" in err.hint


def test_a_compression_the_engine_fails_on_raises_fakedev_defect_error(broken: Broken) -> None:
    with broken.insts.dc[0].compression() as c:
        with pytest.raises(FakedevDefectError) as info:
            c.compress(b"abc" * 16)
    assert not isinstance(info.value, RequestError)
    assert re.fullmatch(rf"{WHERE}: ArithmeticError: {BROKEN}", info.value.defect)


def test_the_backend_logs_each_defect_with_its_traceback_on_stderr(broken: Broken) -> None:
    _, stderr = _crypto(broken)
    before = stderr.read_text().count("Traceback (most recent call last)")
    with broken.insts.cy[0].hash("sha256") as h, pytest.raises(FakedevDefectError):
        h.digest(b"d" * 48)
    # The backend logs before it answers, so the text is there once the host has the error.
    text = stderr.read_text()
    assert text.count("Traceback (most recent call last)") == before + 1
    last = text.rsplit("fakedev: fakedev defect", 1)[1]
    assert re.match(rf" \(a bug of the fake, not a device status\): {WHERE}: ArithmeticError", last)
    assert 'File "<string>", line' in last and f"ArithmeticError: {BROKEN}" in last


def test_fakedev_status_counts_the_defects_and_shows_the_last(broken: Broken) -> None:
    path, _ = _crypto(broken)
    before = _status(path)["defect_count"]
    with broken.insts.cy[0].cipher("aes-128-ctr", KEY) as s:
        with pytest.raises(FakedevDefectError) as info:
            s.encrypt(b"y" * 48, IV)
    st = _status(path)
    assert (st["defect_count"], st["defect"]) == (before + 1, info.value.defect)
    assert info.value.count == before + 1
    shown = _fakedev("status", str(path)).stdout
    assert re.search(rf"^defects +{before + 1} ", shown, re.M)
    assert re.search(rf"^last defect +{re.escape(info.value.defect)}$", shown, re.M)


def test_a_defect_leaves_the_backend_serving_and_is_no_device_error(broken: Broken) -> None:
    path, _ = _crypto(broken)
    with broken.insts.cy[0].cipher("aes-128-ctr", KEY) as s:
        with pytest.raises(FakedevDefectError):
            s.encrypt(b"z" * 48, IV)
        assert s.encrypt(b"z" * 47, IV) == _ctr(b"z" * 47)
    st = _status(path)
    assert st["backend_alive"] and st["backend_state"] == "CONNECTED"
    assert st["device_error_count"] == 0


def test_only_the_request_the_engine_failed_on_ends_in_a_defect(broken: Broken) -> None:
    data = [b"a" * 16, b"b" * 48, b"c" * 32]
    with broken.insts.cy[0].hash("sha256") as h:
        out = broken.insts.cy[0].perform_batch(
            [h.digest_op(d) for d in data], return_exceptions=True
        )
    assert out[0] == hashlib.sha256(data[0]).digest()
    assert out[2] == hashlib.sha256(data[2]).digest()
    assert isinstance(out[1], FakedevDefectError)
    assert re.fullmatch(rf"{WHERE}: ArithmeticError: {BROKEN}", out[1].defect)


def test_a_failed_multi_buffer_job_ends_its_requests_in_defects_not_in_a_fallback(
    broken: Broken,
) -> None:
    with broken.insts.cy[0].cipher("aes-128-cbc", KEY) as s:
        out = broken.insts.cy[0].perform_batch(
            [s.encrypt_op(bytes([i]) * 32, IV) for i in range(3)], return_exceptions=True
        )
    assert all(isinstance(o, FakedevDefectError) for o in out), out
    assert isinstance(out[0], FakedevDefectError)
    assert re.fullmatch(rf"__main__:run:\d+: ArithmeticError: {BROKEN}", out[0].defect)
